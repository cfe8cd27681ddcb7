//! trace-cmd `trace.dat` files (format versions 6 and 7), read event for event
//! the way `trace-cmd report` reads them.
//!
//! The file is parsed straight from its bytes (the caller memory-maps it):
//! metadata first (`meta`: header page layout, event formats, kallsyms,
//! saved cmdlines, options; v7 sections are decompressed as needed), then one
//! buffer's per-CPU ring-buffer pages (`ring`) are decoded, one thread per
//! CPU, and merged by timestamp (`merge`) into [`crate::Event`]s.
//!
//! Compatibility with `trace-cmd report` (3.1) is the goal: same record order
//! (timestamp, then lowest CPU), same timestamps (including trace.dat time
//! offsets and TSC conversion), same task names (`<idle>`, `<...>`), same
//! function names (libtraceevent's symbol search, aliases included).
//!
//! Event fields: every event has flags and preempt depth; `function` and
//! `func_repeats` carry `ip`/`parent_ip`, their names and the module (from
//! the file's kallsyms; `None` when an address resolves to nothing);
//! `func_repeats` puts its count in `repeats` and the time of the last
//! repetition in `calltime`; `funcgraph_entry`/`funcgraph_exit` carry the
//! function, `depth` and (exit) `calltime`, `rettime` and the overrun in
//! `repeats`; other events carry their printed body in `info`.
//!
//! What is read: little- and big-endian files, 32- and 64-bit kernels,
//! uncompressed and zstd/zlib-compressed v7 files, the top buffer or a named
//! instance, flyrecord buffers and latency (text) buffers (handed to the text
//! parser). Not applied: guest/host time synchronisation (`TIME_SHIFT`).

mod cmdlines;
#[cfg(test)]
mod corrupt_tests;
mod cursor;
mod format;
mod header;
mod kallsyms;
mod merge;
mod meta;
mod names;
mod options;
mod printfmt;
mod printk;
pub(crate) mod release;
mod ring;
mod sections;
mod stream;
#[cfg(test)]
mod tests;

use std::path::Path;
use std::sync::Arc;

use crate::error::Error;
use crate::event::{EventSink, TraceInfo};
use crate::progress::Progress;
use cursor::{Cursor, DatResult, Fault};
use meta::{read_cpu_table, read_v6_tag, Meta, V6Data};
use options::{parse_cpustat, Buffer, CpuData, FileOptions};
use sections::{chunk_table, section_header, ChunkStream};
use stream::{CpuStream, PageSource};

/// How to read a trace.dat.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Options {
    /// Trace instance (buffer) to read. `None` (the default) reads the top
    /// buffer, which is what `trace-cmd record` writes without `-B`.
    pub instance: Option<String>,
    /// Decode the CPUs one after another on the calling thread. The default
    /// (`false`) decodes each CPU on its own thread; the output is identical.
    pub sequential: bool,
    /// Where to count the ring-buffer bytes decoded (disabled by default).
    pub progress: Progress,
    /// The bytes given to [`parse`] are a read-only memory map of the file:
    /// decoded pages are given back to the kernel as the reader goes, so
    /// resident memory does not grow with the file. Set by
    /// [`crate::read_trace`]; must stay false for bytes in ordinary memory.
    pub mapped: bool,
    /// Without an [`Options::instance`]: read the top buffer and every named
    /// ring buffer of the file, merged in time order as `trace-cmd report`
    /// shows them; the sink learns each event's buffer
    /// ([`EventSink::buffers`](crate::EventSink::buffers)). Latency buffers
    /// are not merged (the top buffer alone is read then).
    pub all_buffers: bool,
}

impl Options {
    /// Options that read the instance `name` (`""` is the top buffer).
    pub fn with_instance(mut self, name: &str) -> Options {
        self.instance = Some(name.to_string());
        self
    }

    /// Options that count decoded bytes into `progress`.
    pub fn with_progress(mut self, progress: &Progress) -> Options {
        self.progress = progress.clone();
        self
    }

    /// Options for bytes that are a read-only map of the file ([`Options::mapped`]).
    pub fn with_mapped(mut self, mapped: bool) -> Options {
        self.mapped = mapped;
        self
    }

    /// Options with [`Options::all_buffers`] set as given.
    pub fn with_all_buffers(mut self, all: bool) -> Options {
        self.all_buffers = all;
        self
    }

    /// Options with [`Options::sequential`] set as given.
    pub fn with_sequential(mut self, sequential: bool) -> Options {
        self.sequential = sequential;
        self
    }
}

/// What reading a trace.dat saw besides the events.
#[derive(Clone, Debug, Default)]
pub struct DatStats {
    /// Events delivered.
    pub events: u64,
    /// CPUs of the trace (what `trace-cmd report` prints as `cpus=`).
    pub cpus: u32,
    /// Events the kernel reported lost, by CPU id (from page headers).
    pub lost_events_per_cpu: Vec<u64>,
    /// File format version (6 or 7).
    pub version: u32,
    /// Compression and its version (`zstd 1.5.4`); `None` if uncompressed.
    pub compression: Option<String>,
    /// Pages of events lost without a recorded count, by CPU id.
    pub lost_unknown_pages_per_cpu: Vec<u64>,
    /// Ring-buffer pages read.
    pub pages: u64,
    /// Ring-buffer page size.
    pub page_size: u32,
    /// Instance read (`""`: the top buffer).
    pub instance: String,
    /// Named instances in the file.
    pub instances: Vec<String>,
    /// Trace clock (`local`, `global`, ...), if stored.
    pub clock: Option<String>,
    /// The buffer was a latency (text) buffer.
    pub latency: bool,
    /// Event formats that could not be parsed (their events show as `unknown`).
    pub format_errors: u64,
    /// Symbols loaded from the file's kallsyms.
    pub symbols: u64,
}

/// Which bytes hold the chosen buffer.
enum Selected<'a> {
    /// Flyrecord CPU streams, sorted by CPU id.
    Fly {
        streams: Vec<CpuStream<'a>>,
        page_size: u32,
        cpus: u32,
    },
    /// Latency text.
    Text(Vec<u8>),
}

fn cpu_streams<'a>(
    meta: &'a Meta,
    data: &'a [u8],
    mut table: Vec<CpuData>,
    compressed: bool,
    page_size: u32,
) -> DatResult<Vec<CpuStream<'a>>> {
    table.sort_by_key(|c| c.cpu);
    if let Some(w) = table.windows(2).find(|w| w[0].cpu == w[1].cpu) {
        return Err(Fault::invalid(
            w[1].offset,
            format!("buffer (two data blocks for CPU {})", w[1].cpu),
        ));
    }
    let len = data.len() as u64;
    let mut out = Vec::with_capacity(table.len());
    for c in table {
        let end = c.offset.checked_add(c.size);
        if c.size > 0 && end.is_none_or(|e| e > len) {
            return Err(Fault::invalid(
                c.offset,
                format!(
                    "CPU {} data ({} bytes at offset {}, but the file has {len}: truncated?)",
                    c.cpu, c.size, c.offset
                ),
            ));
        }
        let s = if c.size == 0 {
            let src = PageSource::Plain {
                data: &[],
                base: c.offset,
                pos: 0,
                release: Default::default(),
            };
            CpuStream::new(meta, c.cpu, src, 0, page_size as usize)
        } else if compressed {
            let kind = meta.header.compression.ok_or_else(|| {
                Fault::invalid(
                    c.offset,
                    "buffer (compressed, but the file names no compression)",
                )
            })?;
            let z = ChunkStream::new(
                data,
                chunk_table(data, c.offset, meta.header.big_endian)?,
                kind,
            );
            let total = z.total();
            CpuStream::new(
                meta,
                c.cpu,
                PageSource::Chunked(z),
                total,
                page_size as usize,
            )
        } else {
            let start = c.offset as usize;
            let src = PageSource::Plain {
                data: &data[start..start + c.size as usize],
                base: c.offset,
                pos: 0,
                release: Default::default(),
            };
            CpuStream::new(meta, c.cpu, src, c.size, page_size as usize)
        };
        out.push(s);
    }
    Ok(out)
}

/// The CPU streams of every named flyrecord buffer, tagged 1, 2, … in file
/// order, with their names; none if any of them is a latency buffer.
fn other_buffers<'a>(
    meta: &'a Meta,
    data: &'a [u8],
) -> DatResult<(Vec<String>, Vec<CpuStream<'a>>)> {
    let mut names = Vec::new();
    let mut streams = Vec::new();
    for b in meta.opts.buffers.iter().filter(|b| !b.name.is_empty()) {
        match select(meta, data, &b.name)? {
            (Selected::Fly { streams: s, .. }, _) => {
                names.push(b.name.clone());
                let tag = names.len() as u32;
                streams.extend(s.into_iter().map(|st| st.in_buffer(tag)));
            }
            (Selected::Text(_), _) => return Ok((Vec::new(), Vec::new())),
        }
    }
    Ok((names, streams))
}

fn select<'a>(
    meta: &'a Meta,
    data: &'a [u8],
    wanted: &str,
) -> DatResult<(Selected<'a>, Option<String>)> {
    let big = meta.header.big_endian;
    let names = || {
        let n: Vec<&str> = meta
            .opts
            .buffers
            .iter()
            .map(|b| b.name.as_str())
            .filter(|n| !n.is_empty())
            .collect();
        if n.is_empty() {
            "none".to_string()
        } else {
            n.join(", ")
        }
    };
    if meta.header.version < 7 {
        let page_size = meta.header.page_size;
        let clock = meta.clock();
        let v6 = if wanted.is_empty() {
            meta.v6.clone()
        } else {
            let b = meta
                .opts
                .buffers
                .iter()
                .find(|b| b.name == wanted)
                .ok_or_else(|| {
                    Fault::missing(0, format!("instance {wanted:?} (instances: {})", names()))
                })?;
            let start = usize::try_from(b.offset)
                .ok()
                .filter(|&o| o <= data.len())
                .ok_or_else(|| Fault::invalid(b.offset, "instance offset (beyond end of file)"))?;
            let mut c = Cursor::new(&data[start..], b.offset, big);
            let mut scratch = FileOptions::default();
            if read_v6_tag(&mut c, big, &mut scratch)? {
                V6Data::Latency(c.offset())
            } else {
                V6Data::Flyrecord(read_cpu_table(&mut c, meta.cpus)?)
            }
        };
        return Ok(match v6 {
            V6Data::Latency(off) => (Selected::Text(data[off as usize..].to_vec()), clock),
            V6Data::Flyrecord(table) => (
                Selected::Fly {
                    streams: cpu_streams(meta, data, table, false, page_size)?,
                    page_size,
                    cpus: meta.cpus,
                },
                clock,
            ),
            V6Data::None => return Err(Fault::missing(0, "flyrecord data")),
        });
    }
    let b: &Buffer = meta
        .opts
        .buffers
        .iter()
        .find(|b| b.name == wanted)
        .ok_or_else(|| {
            if wanted.is_empty() {
                Fault::missing(0, "top buffer (no BUFFER option)")
            } else {
                Fault::missing(0, format!("instance {wanted:?} (instances: {})", names()))
            }
        })?;
    let h = section_header(data, b.offset, big)?;
    let clock = b.clock.clone().or_else(|| meta.clock());
    if b.latency {
        let text = if h.compressed() {
            let kind = meta.header.compression.ok_or_else(|| {
                Fault::invalid(
                    b.offset,
                    "latency buffer (compressed, no compression named)",
                )
            })?;
            let mut z = ChunkStream::new(data, chunk_table(data, h.body, big)?, kind);
            let mut text = Vec::new();
            while let Some((p, _)) = z.next_page(1 << 20)? {
                text.extend_from_slice(p);
            }
            text
        } else {
            let start = h.body as usize;
            let end = start
                .saturating_add(usize::try_from(h.size).unwrap_or(usize::MAX))
                .min(data.len());
            data[start..end].to_vec()
        };
        return Ok((Selected::Text(text), clock));
    }
    let page_size = b
        .page_size
        .filter(|&p| p > 0)
        .unwrap_or(meta.header.page_size);
    if page_size < 64 || !page_size.is_power_of_two() || page_size > (1 << 24) {
        return Err(Fault::invalid(
            b.offset,
            format!("buffer page size {page_size}"),
        ));
    }
    let top = b.cpus.iter().map(|c| c.cpu + 1).max().unwrap_or(0);
    let cpus = meta.opts.cpu_count.unwrap_or(0).max(top);
    let streams = cpu_streams(meta, data, b.cpus.clone(), h.compressed(), page_size)?;
    Ok((
        Selected::Fly {
            streams,
            page_size,
            cpus,
        },
        clock,
    ))
}

fn push(info: &mut TraceInfo, key: &str, value: impl ToString) {
    info.extra.push((key.to_string(), value.to_string()));
}

fn describe(meta: &Meta, stats: &DatStats, info: &mut TraceInfo) {
    push(info, "dat.version", meta.header.version);
    push(
        info,
        "dat.compression",
        stats.compression.as_deref().unwrap_or("none"),
    );
    if let Some(c) = &stats.clock {
        push(info, "dat.clock", c);
    }
    if let Some(u) = &meta.opts.uname {
        push(info, "dat.uname", u);
        if let Some(v) = u.split_whitespace().nth(2) {
            push(info, "dat.kernel_version", v);
        }
    }
    if let Some(v) = &meta.opts.version {
        push(info, "dat.trace_cmd_version", v);
    }
    if let Some(t) = meta.tsc2nsec {
        push(
            info,
            "dat.tsc2nsec",
            format!("mult={} shift={} offset={}", t.mult, t.shift, t.offset),
        );
    }
    if meta.ts_offset != 0 {
        push(info, "dat.offset", meta.ts_offset);
    }
    if meta.opts.time_shift {
        push(info, "dat.time_shift", "present (not applied)");
    }
    if let Some(id) = meta.opts.trace_id {
        push(info, "dat.trace_id", format!("{id:#x}"));
    }
    push(
        info,
        "dat.endian",
        if meta.header.big_endian {
            "big"
        } else {
            "little"
        },
    );
    push(info, "dat.long_size", meta.layout.commit_size);
    push(info, "dat.user_long_size", meta.header.user_long_size);
    push(info, "dat.page_size", stats.page_size);
    if !stats.instance.is_empty() {
        push(info, "dat.instance", &stats.instance);
    }
    if !stats.instances.is_empty() {
        push(info, "dat.instances", stats.instances.join(","));
    }
    for (cpu, n) in stats.lost_events_per_cpu.iter().enumerate() {
        push(info, &format!("dat.lost_cpu{cpu}"), n);
    }
    for (cpu, n) in stats.lost_unknown_pages_per_cpu.iter().enumerate() {
        if *n > 0 {
            push(info, &format!("dat.lost_unknown_pages_cpu{cpu}"), n);
        }
    }
    for text in &meta.opts.cpustats {
        let Some((cpu, pairs)) = parse_cpustat(text) else {
            continue;
        };
        for (k, v) in pairs {
            let key = match k.as_str() {
                "overrun" => "overrun",
                "commit overrun" => "commit_overrun",
                "dropped events" => "dropped",
                _ => continue,
            };
            push(info, &format!("dat.{key}_cpu{cpu}"), v);
        }
    }
    if stats.format_errors > 0 {
        push(info, "dat.format_errors", stats.format_errors);
    }
}

/// Parse a whole trace.dat from its bytes (memory-map the file and pass the
/// map), sending events to `sink` in `trace-cmd report` order and file-level
/// facts to `info` (`format = "trace-cmd-dat"`, CPUs, lost events, tracer
/// inferred from the events, and `dat.*` extras). `path` names the file in
/// errors, which carry the byte offset of the problem.
///
/// Damaged CPU data is reported when the merge reaches it: the events before
/// it have been delivered by then.
pub fn parse(
    data: &[u8],
    path: &Path,
    options: &Options,
    info: &mut TraceInfo,
    sink: &mut dyn EventSink,
) -> Result<DatStats, Error> {
    std::thread::scope(|scope| {
        let meta = Meta::load(scope, data).map_err(|f| f.into_error(path))?;
        let read = meta.parsing_formats_when_idle(|| read(&meta, data, path, options, info, sink));
        // A kallsyms section that could not be read is the error, whatever
        // came after it: before its reading went on beside the events', it
        // stopped the reading before the first event.
        match meta.kallsyms.failure() {
            Some(f) => Err(f.clone().into_error(path)),
            None => read,
        }
    })
}

/// [`parse`] once the metadata is read.
fn read(
    meta: &Meta,
    data: &[u8],
    path: &Path,
    options: &Options,
    info: &mut TraceInfo,
    sink: &mut dyn EventSink,
) -> Result<DatStats, Error> {
    info.format = "trace-cmd-dat".into();
    let wanted = options.instance.as_deref().unwrap_or("");
    let (mut selected, clock) = select(meta, data, wanted).map_err(|f| f.into_error(path))?;
    let mut buffer_names = Vec::new();
    if options.all_buffers && options.instance.is_none() {
        if let Selected::Fly { streams, .. } = &mut selected {
            let (names, more) = other_buffers(meta, data).map_err(|f| f.into_error(path))?;
            if !names.is_empty() {
                streams.extend(more);
                buffer_names = std::iter::once(String::new()).chain(names).collect();
            }
        }
    }
    let mut stats = DatStats {
        version: meta.header.version,
        compression: meta
            .header
            .compression
            .and(meta.header.compression_label.as_ref())
            .map(|(n, v)| format!("{n} {v}")),
        page_size: meta.header.page_size,
        instance: wanted.to_string(),
        instances: meta
            .opts
            .buffers
            .iter()
            .filter(|b| !b.name.is_empty())
            .map(|b| b.name.clone())
            .collect(),
        clock,
        ..DatStats::default()
    };
    match selected {
        Selected::Text(text) => {
            stats.latency = true;
            stats.cpus = meta.cpus;
            let t = crate::text::parse(
                &text[..],
                path,
                &crate::text::Options::default(),
                info,
                sink,
            )?;
            stats.events = t.events;
        }
        Selected::Fly {
            mut streams,
            page_size,
            cpus,
        } => {
            for s in &mut streams {
                s.set_mapped(options.mapped);
                if options.progress.is_enabled() {
                    options.progress.add_total(s.remaining());
                    s.progress = options.progress.clone();
                }
            }
            stats.page_size = page_size;
            stats.cpus = cpus;
            info.cpus = Some(cpus);
            sink.begin(info)?;
            if !buffer_names.is_empty() {
                sink.buffers(&buffer_names)?;
            }
            let names = Arc::new(names::DatNames {
                kallsyms: meta.kallsyms.clone(),
                cmdlines: meta.cmdlines.clone(),
                events: meta.formats.iter().map(|f| f.name.clone()).collect(),
            });
            let out = merge::run(&names, streams, !options.sequential, path, sink)?;
            stats.events = out.events;
            let n = cpus.max(out.cpus.iter().map(|c| c.0 + 1).max().unwrap_or(0)) as usize;
            stats.lost_events_per_cpu = vec![0; n];
            stats.lost_unknown_pages_per_cpu = vec![0; n];
            // Loss counts come from page headers: a damaged file can make
            // them huge, so they saturate instead of overflowing.
            for (cpu, s) in &out.cpus {
                let c = *cpu as usize;
                stats.lost_events_per_cpu[c] = stats.lost_events_per_cpu[c].saturating_add(s.lost);
                stats.lost_unknown_pages_per_cpu[c] += s.lost_unknown_pages;
                stats.pages += s.pages;
            }
            let lost = stats
                .lost_events_per_cpu
                .iter()
                .fold(0u64, |a, &b| a.saturating_add(b));
            info.lost_events = info.lost_events.saturating_add(lost);
            let [func, repeats, entry, exit, _, _] = out.kinds;
            if entry + exit > 0 {
                info.tracer = Some("function_graph".into());
            } else if func + repeats > 0 {
                info.tracer = Some("function".into());
            }
        }
    }
    if stats.cpus > 0 || info.cpus.is_none() {
        info.cpus = Some(stats.cpus);
    }
    // (Counted last: symbols and formats are parsed while reading goes on.)
    stats.symbols = meta.kallsyms.len() as u64;
    stats.format_errors = meta.format_errors() as u64;
    describe(meta, &stats, info);
    Ok(stats)
}

/// Entry point for the `event_format` fuzz target (not a stable API): parse
/// `text` as one event's format file (as a trace.dat stores it), compile its
/// `print fmt` and, when that succeeds, render the body of a record whose
/// payload is `record`, in both byte orders. Returns the rendered bodies.
#[doc(hidden)]
pub fn fuzz_event_format(text: &str, record: &[u8]) -> Result<Vec<String>, String> {
    let ev = format::parse_format(text, "fuzz")?;
    let Some(print) = printfmt::PrintFmt::compile(&ev) else {
        return Ok(Vec::new());
    };
    let kallsyms = kallsyms::Kallsyms::parse(b"ffffffff81000000 T _stext\n");
    let printk = printk::Printk::parse(b"");
    let mut bodies = Vec::new();
    for big_endian in [false, true] {
        let cx = printfmt::Ctx {
            big_endian,
            kallsyms: &kallsyms,
            printk: &printk,
        };
        let mut out = String::new();
        if print.render(&ev, record, &cx, &mut out) {
            bodies.push(out);
        }
    }
    Ok(bodies)
}
