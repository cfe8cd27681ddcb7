//! The events Parquet file: one row per event, zstd-compressed, with the
//! trace's file-level facts in the key-value metadata.
//!
//! Writing is streamed in batches of [`BATCH_ROWS`] rows (one row group each),
//! so memory stays flat however long the trace. The schema is documented in
//! `docs/formats.md`; column names are the constants in [`col`].

use std::fs::File;
use std::path::{Path, PathBuf};

use polars::prelude::*;
use polars_parquet::write::{self, KeyValue};

use crate::atomic::AtomicFile;
use crate::block::{EventBlock, Rows};
use crate::error::{Error, ErrorKind};
use crate::event::{Event, EventSink, IrqFlags, NameIds, TraceInfo};

mod background;
mod batch;
mod column;
mod encode;
mod file;
mod handoff;
mod stage;
use background::Background;
use stage::Stage;

/// Rows per row group: 131,072 (DuckDB writes 122,880 by default). Twice
/// that, the two builders (one filling, one encoding) took 2,100 more page
/// faults on the benchmark trace and the last row group, encoded after the
/// last event was read, twice as long: 0.966x the time at 1.07x the size
/// (docs/performance.md).
pub const BATCH_ROWS: usize = 1 << 17;

/// Bytes of the events file buffered before a write.
const OUT_BUFFER: usize = 256 << 10;

/// zstd level of the events file's pages: 1 rather than zstd's default 3
/// (which polars uses). Level 2 was 5–8 % faster than 3 at 1–2 % larger
/// files; with row groups of 131,072 rows most pages are under 256 KB,
/// where zstd's level 2 switches to its slower `dfast` strategy, and level
/// 1 (still `fast`) took 5 % less time for 0.7 % more bytes
/// (docs/performance.md).
const ZSTD_LEVEL: i32 = 1;

/// Have the kernel start writing what `file` holds so far to disk, without
/// waiting for it: the `fsync` before the file is moved into place then has
/// only the last row group left to write (it took 2.5-2.9 ms of the
/// benchmark's end, docs/performance.md). Failure changes nothing.
fn start_writeback(file: &File) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: a plain system call on an open descriptor we own, with
        // no memory passed.
        unsafe { libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE) };
    }
    #[cfg(not(target_os = "linux"))]
    let _ = file;
}

/// Column names of the events schema.
pub use crate::columns as col;

/// The events schema, in column order.
pub fn schema() -> Schema {
    use col::*;
    Schema::from_iter([
        Field::new(TS_NS.into(), DataType::Int64),
        Field::new(CPU.into(), DataType::UInt32),
        Field::new(PID.into(), DataType::Int32),
        Field::new(TGID.into(), DataType::Int32),
        Field::new(COMM.into(), DataType::String),
        Field::new(EVENT.into(), DataType::String),
        Field::new(FUNCTION.into(), DataType::String),
        Field::new(PARENT.into(), DataType::String),
        Field::new(MODULE.into(), DataType::String),
        Field::new(IP.into(), DataType::UInt64),
        Field::new(PARENT_IP.into(), DataType::UInt64),
        Field::new(IRQS_OFF.into(), DataType::Boolean),
        Field::new(HARDIRQ.into(), DataType::Boolean),
        Field::new(SOFTIRQ.into(), DataType::Boolean),
        Field::new(NMI.into(), DataType::Boolean),
        Field::new(PREEMPT_DEPTH.into(), DataType::UInt32),
        Field::new(INFO.into(), DataType::String),
        Field::new(DEPTH.into(), DataType::UInt32),
        Field::new(CALLTIME.into(), DataType::UInt64),
        Field::new(RETTIME.into(), DataType::UInt64),
        Field::new(REPEATS.into(), DataType::UInt32),
    ])
}

/// Streams events into a Parquet file; the file appears at its final path
/// only after [`EventsWriter::finish`].
pub struct EventsWriter {
    path: PathBuf,
    /// Builds the row groups and writes them on a thread of its own
    /// (stopped before `out` removes an unfinished file).
    stage: Stage,
    out: AtomicFile,
    arrow_schema: ArrowSchema,
    rows: u64,
}

impl std::fmt::Debug for EventsWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventsWriter")
            .field("path", &self.path)
            .field("rows", &self.rows)
            .finish()
    }
}

impl EventsWriter {
    /// Start writing `path` (through a temporary file beside it).
    pub fn create(path: &Path) -> Result<EventsWriter, Error> {
        let out = AtomicFile::create(path).map_err(|e| Error::io(path, e))?;
        let file = out.try_clone().map_err(|e| Error::io(path, e))?;
        let perr = |e| Error::parquet(path, e);
        // What polars' ParquetWriter uses by default: zstd at its default
        // level, statistics (min, max, null count), version 1 pages.
        let options = write::WriteOptions {
            statistics: write::StatisticsOptions::default(),
            compression: write::CompressionOptions::Zstd(None),
            version: write::Version::V1,
            data_page_size: None,
        };
        let arrow_schema = schema().to_arrow(CompatLevel::newest());
        let parquet_schema = write::to_parquet_schema(&arrow_schema).map_err(perr)?;
        // Each column chunk is written as its pages and its metadata: two
        // writes, small ones for most columns, buffered into a few per row
        // group (and flushed after each).
        let file = std::io::BufWriter::with_capacity(OUT_BUFFER, file);
        let writer = file::FileWriter::new(file, parquet_schema, &options).map_err(perr)?;
        let flushing = out.try_clone().map_err(|e| Error::io(path, e))?;
        let writer = Background::start(writer, ZSTD_LEVEL, move || start_writeback(&flushing))
            .map_err(|e| Error::io(path, e))?;
        Ok(EventsWriter {
            path: path.to_path_buf(),
            stage: Stage::new(writer),
            out,
            arrow_schema,
            rows: 0,
        })
    }

    /// Write the last batch and the footer with `info` as key-value metadata,
    /// then move the file into place. Returns the number of rows written.
    pub fn finish(self, info: &TraceInfo) -> Result<u64, Error> {
        let EventsWriter {
            path,
            stage,
            out,
            arrow_schema,
            rows,
        } = self;
        let mut kv = vec![write::schema_to_metadata_key(&arrow_schema)];
        kv.extend(
            info.to_key_values()
                .into_iter()
                .map(|(key, value)| KeyValue {
                    key,
                    value: Some(value),
                }),
        );
        stage.finish(kv).map_err(|e| Error::parquet(&path, e))?;
        out.commit().map_err(|e| Error::io(&path, e))?;
        Ok(rows)
    }
}

impl EventSink for EventsWriter {
    fn event(&mut self, event: &Event<'_>) -> Result<(), Error> {
        self.stage
            .push(event)
            .map_err(|e| Error::parquet(&self.path, e))?;
        self.rows += 1;
        Ok(())
    }

    fn takes_blocks(&self) -> bool {
        true
    }

    fn end_of_events(&mut self) -> Result<(), Error> {
        self.stage
            .end_of_events()
            .map_err(|e| Error::parquet(&self.path, e))
    }

    fn run(&mut self, rows: Rows<'_>) -> Result<bool, Error> {
        let n = rows.rows.len() as u64;
        let taken = self
            .stage
            .run(rows)
            .map_err(|e| Error::parquet(&self.path, e))?;
        if taken {
            self.rows += n;
        }
        Ok(taken)
    }

    fn block(&mut self, block: EventBlock) -> Result<EventBlock, Error> {
        let n = block.rows.len() as u64;
        let next = self
            .stage
            .block(block)
            .map_err(|e| Error::parquet(&self.path, e))?;
        self.rows += n;
        Ok(next)
    }
}

/// Read the trace facts stored in an events Parquet file.
pub fn read_info(path: &Path) -> Result<TraceInfo, Error> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut reader = ParquetReader::new(file);
    let meta = reader.get_metadata().map_err(|e| Error::parquet(path, e))?;
    let kv = meta.key_value_metadata.clone().unwrap_or_default();
    let info = TraceInfo::from_key_values(
        kv.iter()
            .map(|k| (k.key.as_str(), k.value.as_deref().unwrap_or(""))),
    );
    if info.format.is_empty() {
        return Err(Error::new(ErrorKind::Missing(
            "hap events metadata (hap.format); not an events file written by `hap ingest`".into(),
        ))
        .with_path(path));
    }
    Ok(info)
}

/// Read an events Parquet file and hand each event to `sink`, in file order.
/// Only the columns named in `columns` are read; the others come back empty
/// (zero, `""` or `None`).
pub fn read_events(path: &Path, columns: &[&str], sink: &mut dyn EventSink) -> Result<u64, Error> {
    use col::*;
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let df = ParquetReader::new(file)
        .with_columns(Some(columns.iter().map(|c| c.to_string()).collect()))
        .finish()
        .map_err(|e| Error::parquet(path, e))?;
    let perr = |e: PolarsError| Error::parquet(path, e);
    let has = |name: &str| columns.contains(&name);
    let n = df.height();
    macro_rules! get {
        ($name:expr, $as:ident) => {
            if has($name) {
                Some(df.column($name).map_err(perr)?.$as().map_err(perr)?)
            } else {
                None
            }
        };
    }
    let ts = get!(TS_NS, i64);
    let cpu = get!(CPU, u32);
    let pid = get!(PID, i32);
    let tgid = get!(TGID, i32);
    let comm = get!(COMM, str);
    let event = get!(EVENT, str);
    let function = get!(FUNCTION, str);
    let parent = get!(PARENT, str);
    let module = get!(MODULE, str);
    let ip = get!(IP, u64);
    let parent_ip = get!(PARENT_IP, u64);
    let irqs_off = get!(IRQS_OFF, bool);
    let hardirq = get!(HARDIRQ, bool);
    let softirq = get!(SOFTIRQ, bool);
    let nmi = get!(NMI, bool);
    let preempt = get!(PREEMPT_DEPTH, u32);
    let info = get!(INFO, str);
    let depth = get!(DEPTH, u32);
    let calltime = get!(CALLTIME, u64);
    let rettime = get!(RETTIME, u64);
    let repeats = get!(REPEATS, u32);
    for i in 0..n {
        let flags = match (irqs_off, hardirq, softirq, nmi) {
            (Some(a), Some(b), Some(c), Some(d)) => {
                match (a.get(i), b.get(i), c.get(i), d.get(i)) {
                    (Some(irqs_off), Some(hardirq), Some(softirq), Some(nmi)) => Some(IrqFlags {
                        irqs_off,
                        hardirq,
                        softirq,
                        nmi,
                    }),
                    _ => None,
                }
            }
            _ => None,
        };
        let ev = Event {
            ts_ns: ts.and_then(|c| c.get(i)).unwrap_or(0),
            cpu: cpu.and_then(|c| c.get(i)).unwrap_or(0),
            pid: pid.and_then(|c| c.get(i)).unwrap_or(0),
            tgid: tgid.and_then(|c| c.get(i)),
            comm: comm.and_then(|c| c.get(i)).unwrap_or(""),
            event: event.and_then(|c| c.get(i)).unwrap_or(""),
            function: function.and_then(|c| c.get(i)),
            parent: parent.and_then(|c| c.get(i)),
            module: module.and_then(|c| c.get(i)),
            ip: ip.and_then(|c| c.get(i)),
            parent_ip: parent_ip.and_then(|c| c.get(i)),
            flags,
            preempt_depth: preempt.and_then(|c| c.get(i)).map(|d| d.min(255) as u8),
            info: info.and_then(|c| c.get(i)),
            depth: depth.and_then(|c| c.get(i)),
            calltime: calltime.and_then(|c| c.get(i)),
            rettime: rettime.and_then(|c| c.get(i)),
            repeats: repeats.and_then(|c| c.get(i)),
            ids: NameIds::default(),
        };
        sink.event(&ev).map_err(|e| e.with_path(path))?;
    }
    Ok(n as u64)
}

#[cfg(test)]
mod tests {
    //! Oracle: polars' Parquet reader. Whatever the encoders wrote must come
    //! back value for value, row for row.

    use super::*;
    use crate::event::NO_ID;

    /// An events writer that takes its events one at a time, never in blocks.
    struct OneByOne(EventsWriter);

    impl EventSink for OneByOne {
        fn event(&mut self, e: &Event<'_>) -> Result<(), Error> {
            self.0.event(e)
        }
    }

    /// Every row of an events file, every column, and its trace facts.
    fn contents(path: &Path) -> (Vec<Row>, TraceInfo) {
        (read_rows(path), read_info(path).unwrap())
    }

    /// Every row of an events file, every column.
    fn read_rows(path: &Path) -> Vec<Row> {
        let schema = schema();
        let all: Vec<&str> = schema.iter_names().map(|s| s.as_str()).collect();
        let mut rows = Vec::new();
        read_events(path, &all, &mut |e: &Event<'_>| {
            rows.push(row(e));
            Ok(())
        })
        .unwrap();
        rows
    }

    #[test]
    fn blocks_and_single_events_write_the_same_events() {
        // Real captures (function tracer, v7 and a whole-file-compressed v6,
        // modules with KASLR) and the synthetic files (function_graph, other events with bodies, both
        // byte orders, 32-bit, several CPUs). The oracle is the event path
        // (checked against trace-cmd report and DuckDB). The bytes are the
        // same too in a process of their own; here other tests share the
        // encoders' threads and zstd contexts, whose history can change how
        // a page compresses, so the contents are compared.
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/dat");
        let mut files = vec![
            root.join("steady-6.1.v7.dat"),
            root.join("steady-6.1.v6.dat.zst"),
            root.join("fileio-kaslr-6.12.v7.dat"),
        ];
        let mut synthetic: Vec<PathBuf> = std::fs::read_dir(root.join("synthetic"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        synthetic.sort();
        files.extend(synthetic);
        let dir = tempfile::tempdir().unwrap();
        let (blocks, single) = (dir.path().join("b.parquet"), dir.path().join("s.parquet"));
        for f in &files {
            let mut w = EventsWriter::create(&blocks).unwrap();
            let read = crate::read_trace(f, &crate::Options::default(), &[], &mut w).unwrap();
            w.finish(&read.info).unwrap();
            let mut w = OneByOne(EventsWriter::create(&single).unwrap());
            let again = crate::read_trace(f, &crate::Options::default(), &[], &mut w).unwrap();
            w.0.finish(&again.info).unwrap();
            let (a, b) = (contents(&blocks), contents(&single));
            assert!(read.events > 0, "{}", f.display());
            assert_eq!(a.0.len() as u64, read.events, "{}", f.display());
            assert_eq!(a.1, b.1, "{}: trace facts", f.display());
            for (i, (x, y)) in a.0.iter().zip(&b.0).enumerate() {
                assert_eq!(x, y, "{}: row {i}", f.display());
            }
            assert_eq!(a.0.len(), b.0.len(), "{}", f.display());
        }
    }

    #[test]
    fn names_keyed_by_address_read_back_row_for_row() {
        // 0x100 and 0x400 are two static functions named `f`, 0x200 is `g`:
        // the function and parent dictionaries name each address, `f`
        // twice (batch.rs); the rows read back by polars are the names.
        use crate::block::{BlockNames, BlockRow, NONE32, NONE64};
        let names: std::sync::Arc<dyn BlockNames> = std::sync::Arc::new(batch::tests::TwinNames);
        let pairs = [
            (0x100, 0x200),
            (0x400, 0x100),
            (NONE64, 0x400),
            (0x200, 0x400),
            (0x400, NONE64),
        ];
        let mut block = EventBlock::with_capacity(names.clone(), pairs.len());
        for (i, &(ip, parent_ip)) in pairs.iter().enumerate() {
            block.rows.push(BlockRow {
                ts: i as i64,
                ip,
                parent_ip,
                cpu: 0,
                pid: 7,
                extra: NONE32,
                event: 0,
                flags: 0,
                preempt: 0,
            });
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.parquet");
        let mut w = EventsWriter::create(&path).unwrap();
        w.block(block).unwrap();
        w.end_of_events().unwrap();
        w.finish(&TraceInfo::default()).unwrap();
        let got: Vec<_> = read_rows(&path)
            .into_iter()
            .map(|r| (r.ip, r.function, r.parent_ip, r.parent))
            .collect();
        let s = |v: &str| Some(v.to_string());
        let want = vec![
            (Some(0x100), s("f"), Some(0x200), s("g")),
            (Some(0x400), s("f"), Some(0x100), s("f")),
            (None, None, Some(0x400), s("f")),
            (Some(0x200), s("g"), Some(0x400), s("f")),
            (Some(0x400), s("f"), None, None),
        ];
        assert_eq!(got, want);
    }

    /// Owned copy of an event, without the reader's ids.
    #[derive(Debug, PartialEq, Eq)]
    struct Row {
        ts: i64,
        cpu: u32,
        pid: i32,
        tgid: Option<i32>,
        comm: String,
        event: String,
        function: Option<String>,
        parent: Option<String>,
        module: Option<String>,
        ip: Option<u64>,
        parent_ip: Option<u64>,
        flags: Option<IrqFlags>,
        preempt: Option<u8>,
        info: Option<String>,
        depth: Option<u32>,
        calltime: Option<u64>,
        rettime: Option<u64>,
        repeats: Option<u32>,
    }

    fn row(e: &Event<'_>) -> Row {
        Row {
            ts: e.ts_ns,
            cpu: e.cpu,
            pid: e.pid,
            tgid: e.tgid,
            comm: e.comm.to_string(),
            event: e.event.to_string(),
            function: e.function.map(String::from),
            parent: e.parent.map(String::from),
            module: e.module.map(String::from),
            ip: e.ip,
            parent_ip: e.parent_ip,
            flags: e.flags,
            preempt: e.preempt_depth,
            info: e.info.map(String::from),
            depth: e.depth,
            calltime: e.calltime,
            rettime: e.rettime,
            repeats: e.repeats,
        }
    }

    #[test]
    fn every_column_reads_back_as_written_across_row_groups() {
        // More rows than a row group; 5,000 function names (13-bit keys),
        // long runs and scattered values, nulls mixed into every optional
        // column, negative and extreme numbers.
        let n = BATCH_ROWS + 40_000;
        // Symbols 3 and 4,999 share a name (static functions) but not their
        // module.
        let names: Vec<String> = (0..5_000)
            .map(|i| format!("fn_{}", if i == 4_999 { 3 } else { i }))
            .collect();
        let comms = ["bash", "redis-server", "<idle>", "kworker/0:1"];
        let mut infos = Vec::new();
        let mut rows = Vec::new();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.parquet");
        let mut w = EventsWriter::create(&path).unwrap();
        for i in 0..n {
            let r = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40;
            let sym = match i % 1_000 {
                0..300 => 7,
                300..302 => 3 + 4_996 * (i % 2),
                _ => (r % 5_000) as usize,
            };
            let with_ip = i % 97 != 5;
            infos.push(format!("prev_pid={} next_comm=x{}", i, r % 13));
            let e = Event {
                ts_ns: if i == 3 {
                    i64::MIN
                } else {
                    1_000_000 + (i as i64) * 37 - (r % 50) as i64
                },
                cpu: (i / 5_000 % 3) as u32,
                pid: if i % 11 == 0 { -1 } else { (i / 700) as i32 },
                tgid: (i % 3 == 0).then_some((i / 900) as i32),
                comm: comms[i / 3_000 % 4],
                event: if i % 50 == 0 {
                    "sched_switch"
                } else {
                    "function"
                },
                function: with_ip.then(|| names[sym].as_str()),
                parent: (i % 13 != 0).then(|| names[(sym + 1) % 5_000].as_str()),
                module: if sym == 4_999 {
                    Some("xfs")
                } else {
                    (sym % 10 == 3).then_some("kvm")
                },
                ip: with_ip.then_some(0xffff_ffff_8100_0000 + sym as u64 * 16),
                parent_ip: (i % 13 != 0).then_some(u64::MAX - r),
                flags: (i % 17 != 0).then_some(IrqFlags {
                    irqs_off: r % 2 == 0,
                    hardirq: i % 100 < 3,
                    softirq: r % 7 == 0,
                    nmi: false,
                }),
                preempt_depth: (i % 19 != 0).then_some((r % 3) as u8),
                info: (i % 50 == 0).then_some(infos.last().unwrap().as_str()),
                depth: (i % 4 == 1).then_some((r % 30) as u32),
                calltime: (i % 4 == 2).then_some(r << 20),
                rettime: (i % 4 == 2).then_some(u64::MAX - i as u64),
                repeats: (i % 23 == 0).then_some(u32::MAX - (i % 2) as u32),
                ids: NameIds {
                    function: if with_ip { sym as u32 } else { NO_ID },
                    module: if with_ip { sym as u32 } else { NO_ID },
                    ..NameIds::default()
                },
            };
            rows.push(row(&e));
            w.event(&e).unwrap();
        }
        assert_eq!(w.finish(&TraceInfo::default()).unwrap(), n as u64);
        let back = read_rows(&path);
        assert_eq!(back.len(), rows.len());
        for (i, (a, b)) in back.iter().zip(&rows).enumerate() {
            assert_eq!(a, b, "row {i}");
        }
    }
}
