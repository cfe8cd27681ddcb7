//! Everything a trace.dat says besides the records: page layout, event
//! formats, kallsyms, printk formats, saved cmdlines and options, read from
//! the v6 sequential header or from the v7 sections the options point to.
//!
//! v6 layout after the initial header:
//!
//! ```text
//! header_page/header_event
//! <ftrace format count:4> { <size:8> format }*
//! <system count:4> { "system\0" <count:4> { <size:8> format }* }*
//! <kallsyms size:4> text   <printk size:4> text   <cmdlines size:8> text
//! <cpus:4> ["options  \0" options] ("flyrecord\0" {<offset:8> <size:8>}*cpus
//!                                    [<trace_clock size:8> text] | "latency  \0" text)
//! ```

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

/// Event ids below this are looked up in a table (kernels number them from 1
/// up, a few thousand at most).
const DENSE_IDS: u64 = 1 << 16;

use super::cmdlines::Cmdlines;
use super::cursor::{Cursor, DatResult, Fault};
use super::format::{EventFormat, Field, FieldKind, LazyFormat};
use super::header::{parse_file_header, read_header_info, FileHeader, PageLayout};
use super::kallsyms::{self, Kallsyms};
use super::options::{read_v6_options, read_v7_options, CpuData, FileOptions, Tsc2Nsec, MAX_CPUS};
use super::printfmt::{PrintFmt, Printk};
use super::sections::{id, section_body, Compression, Decompressor};

/// How records of one event format are decoded.
#[derive(Clone, Debug)]
pub(crate) enum Plan {
    /// ftrace `function`.
    Function {
        /// `ip`.
        ip: Field,
        /// `parent_ip`.
        parent: Option<Field>,
        /// Offsets of `ip` and `parent_ip` when both are little-endian
        /// 64-bit numbers, read without going through their [`Field`]s.
        le64: Option<(usize, usize)>,
    },
    /// ftrace `func_repeats`.
    FuncRepeats {
        /// `ip`.
        ip: Field,
        /// `parent_ip`.
        parent: Option<Field>,
        /// `count`.
        count: Option<Field>,
        /// `top_delta_ts`.
        top: Option<Field>,
        /// `bottom_delta_ts`.
        bottom: Option<Field>,
    },
    /// ftrace `funcgraph_entry`.
    GraphEntry {
        /// `func`.
        func: Field,
        /// `depth`.
        depth: Option<Field>,
    },
    /// ftrace `funcgraph_exit`.
    GraphExit {
        /// `func`.
        func: Field,
        /// `depth`.
        depth: Option<Field>,
        /// `overrun`.
        overrun: Option<Field>,
        /// `calltime`.
        calltime: Option<Field>,
        /// `rettime`.
        rettime: Option<Field>,
    },
    /// Any other event; body from its print format when it compiles.
    Other {
        /// Compiled print format, compiled when the first record of the
        /// event is decoded (a trace.dat describes ~1,800 events; most
        /// traces hold a few of them).
        print: OnceLock<Option<PrintFmt>>,
    },
}

/// The common fields every record starts with.
#[derive(Clone, Debug)]
pub(crate) struct Common {
    /// `common_type`: the event id.
    pub type_field: Field,
    /// `common_flags`.
    pub flags: Option<Field>,
    /// `common_preempt_count`.
    pub pc: Option<Field>,
    /// `common_pid`.
    pub pid: Option<Field>,
    /// The fields are the usual ones of a little-endian file: `common_type`
    /// 2 bytes at 0, `common_flags` and `common_preempt_count` 1 byte at 2
    /// and 3, `common_pid` 4 bytes at 4; read at those offsets directly.
    pub usual_le: bool,
}

impl Common {
    fn is_usual(&self) -> bool {
        let at = |f: Option<&Field>, offset: usize, size: usize| {
            f.is_some_and(|f| f.offset == offset && f.size == size && f.kind == FieldKind::Scalar)
        };
        at(Some(&self.type_field), 0, 2)
            && at(self.flags.as_ref(), 2, 1)
            && at(self.pc.as_ref(), 3, 1)
            && at(self.pid.as_ref(), 4, 4)
    }
}

/// What v6 says after the options.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) enum V6Data {
    /// Not a v6 file.
    #[default]
    None,
    /// Flyrecord CPU table of the top buffer.
    Flyrecord(Vec<CpuData>),
    /// Latency text starting at this file offset.
    Latency(u64),
}

/// The parsed metadata.
#[derive(Debug)]
pub(crate) struct Meta {
    /// Initial header.
    pub header: FileHeader,
    /// Page header layout.
    pub layout: PageLayout,
    /// Event formats whose name and ID could be read (parsed on first use).
    pub formats: Vec<LazyFormat>,
    /// Format index by event id, for ids below [`DENSE_IDS`] (one lookup
    /// per record: an array, not a hash).
    dense_ids: Vec<u32>,
    /// Format index by event id, for larger ids.
    ids: HashMap<u64, u32>,
    /// Common fields.
    pub common: Common,
    /// Decoding plan per format (made on first use; `None`: the format
    /// does not parse).
    plans: Vec<OnceLock<Option<Plan>>>,
    /// Symbols.
    pub kallsyms: Arc<Kallsyms>,
    /// Task names.
    pub cmdlines: Arc<Cmdlines>,
    /// printk formats.
    pub printk: Printk,
    /// Options.
    pub opts: FileOptions,
    /// CPU count trace-cmd reports for the file before a buffer is chosen.
    pub cpus: u32,
    /// v6 top-buffer data.
    pub v6: V6Data,
    /// v6 trace_clock file text, if stored.
    pub v6_clock: Option<String>,
    /// TSC to ns conversion applied to timestamps.
    pub tsc2nsec: Option<Tsc2Nsec>,
    /// Offset added to every timestamp.
    pub ts_offset: i64,
    /// Event formats whose name or ID could not be read.
    scan_errors: usize,
}

#[derive(Default)]
struct Parts {
    layout: Option<PageLayout>,
    formats: Vec<LazyFormat>,
    scan_errors: usize,
    kallsyms: Kallsyms,
    cmdlines: Cmdlines,
    printk: Printk,
}

/// Where the format texts a cursor reads are kept: in the section they
/// are read from (a v7 section, at `base` in the file), shared by its
/// formats, or (a v6 file, read in place) each in a copy of its own.
#[derive(Clone, Copy)]
enum Texts<'s> {
    Section(&'s Arc<Vec<u8>>, u64),
    Copied,
}

/// The format of `size` bytes at the cursor.
fn push_format(
    p: &mut Parts,
    c: &mut Cursor<'_>,
    size: u64,
    what: &str,
    texts: Texts<'_>,
    system: &Arc<str>,
) -> DatResult<()> {
    let at = c.offset();
    let text = c.bytes(size, what)?;
    let scanned = match texts {
        Texts::Section(section, base) => {
            let start = (at - base) as usize;
            LazyFormat::scan(section, start..start + text.len(), system)
        }
        Texts::Copied => LazyFormat::scan(&Arc::new(text.to_vec()), 0..text.len(), system),
    };
    match scanned {
        Ok(f) => p.formats.push(f),
        Err(_) => p.scan_errors += 1,
    }
    Ok(())
}

fn read_ftrace_formats(c: &mut Cursor<'_>, p: &mut Parts, texts: Texts<'_>) -> DatResult<()> {
    let count = c.u32("ftrace format count")?;
    let system: Arc<str> = "ftrace".into();
    for _ in 0..count {
        let size = c.u64("ftrace format size")?;
        push_format(p, c, size, "ftrace format", texts, &system)?;
    }
    Ok(())
}

fn read_event_formats(c: &mut Cursor<'_>, p: &mut Parts, texts: Texts<'_>) -> DatResult<()> {
    let systems = c.u32("event system count")?;
    for _ in 0..systems {
        let system: Arc<str> = String::from_utf8_lossy(c.cstr("event system name")?).into();
        let count = c.u32("event format count")?;
        for _ in 0..count {
            let size = c.u64("event format size")?;
            push_format(p, c, size, "event format", texts, &system)?;
        }
    }
    Ok(())
}

fn read_kallsyms(c: &mut Cursor<'_>, p: &mut Parts) -> DatResult<()> {
    let size = c.u32("kallsyms size")?;
    p.kallsyms = Kallsyms::parse(c.bytes(u64::from(size), "kallsyms")?);
    Ok(())
}

/// The kallsyms section at `offset`: read (decompressed with a
/// decompressor of its own) and parsed on the calling thread, for
/// [`Kallsyms::coming`].
fn kallsyms_table(
    data: &[u8],
    offset: u64,
    big: bool,
    compression: Option<Compression>,
) -> DatResult<kallsyms::Table> {
    let mut dec = compression.map(Decompressor::new);
    let (body, base) = section_body(data, offset, id::KALLSYMS, big, dec.as_mut())?;
    let mut c = Cursor::new(&body, base, big);
    let size = c.u32("kallsyms size")?;
    let start = (c.offset() - base) as usize;
    let end = start + c.bytes(u64::from(size), "kallsyms")?.len();
    Ok(match body {
        Cow::Owned(bytes) => kallsyms::Table::parse_in(bytes, start..end),
        Cow::Borrowed(bytes) => kallsyms::Table::parse(&bytes[start..end]),
    })
}

fn read_printk(c: &mut Cursor<'_>, p: &mut Parts) -> DatResult<()> {
    let size = c.u32("printk formats size")?;
    p.printk = Printk::parse(c.bytes(u64::from(size), "printk formats")?);
    Ok(())
}

fn read_cmdlines(c: &mut Cursor<'_>, p: &mut Parts) -> DatResult<()> {
    let size = c.u64("saved cmdlines size")?;
    p.cmdlines = Cmdlines::parse(c.bytes(size, "saved cmdlines")?);
    Ok(())
}

/// Read a v6 CPU table of `cpus` entries.
pub(crate) fn read_cpu_table(c: &mut Cursor<'_>, cpus: u32) -> DatResult<Vec<CpuData>> {
    if u64::from(cpus) * 16 > c.remaining() as u64 {
        return Err(Fault::invalid(
            c.offset(),
            format!("flyrecord CPU table ({cpus} CPUs do not fit in the file)"),
        ));
    }
    (0..cpus)
        .map(|cpu| {
            Ok(CpuData {
                cpu,
                offset: c.u64("CPU data offset")?,
                size: c.u64("CPU data size")?,
            })
        })
        .collect()
}

/// Read a 10-byte v6 data tag; `options  ` tags are followed by options that are
/// merged into `o`. Returns the offset where the data description starts and
/// whether it is latency text.
pub(crate) fn read_v6_tag(c: &mut Cursor<'_>, big: bool, o: &mut FileOptions) -> DatResult<bool> {
    let at = c.offset();
    let mut tag = c.bytes(10, "data tag")?;
    if tag.starts_with(b"options") {
        read_v6_options(c, big, o)?;
        tag = c.bytes(10, "data tag")?;
    }
    if tag.starts_with(b"latency") {
        Ok(true)
    } else if tag.starts_with(b"flyrecord") {
        Ok(false)
    } else {
        Err(Fault::invalid(
            at,
            format!(
                "data tag {:?} (expected options, latency or flyrecord)",
                String::from_utf8_lossy(tag)
            ),
        ))
    }
}

/// Read the v7 section `sid` at `off` into `p`.
fn read_section(
    data: &[u8],
    sid: u16,
    off: u64,
    big: bool,
    dec: Option<&mut Decompressor>,
    p: &mut Parts,
) -> DatResult<()> {
    let (body, base) = section_body(data, off, sid, big, dec)?;
    if matches!(sid, id::FTRACE_EVENTS | id::EVENT_FORMATS) {
        // The formats share the section's bytes: a compressed section's
        // own buffer, or one copy of an uncompressed one.
        let body = Arc::new(body.into_owned());
        let mut c = Cursor::new(&body, base, big);
        let texts = Texts::Section(&body, base);
        return match sid {
            id::FTRACE_EVENTS => read_ftrace_formats(&mut c, p, texts),
            _ => read_event_formats(&mut c, p, texts),
        };
    }
    let mut c = Cursor::new(&body, base, big);
    match sid {
        id::HEADER_INFO => p.layout = Some(read_header_info(&mut c, big)?.layout),
        id::KALLSYMS => read_kallsyms(&mut c, p)?,
        id::PRINTK => read_printk(&mut c, p)?,
        id::CMDLINES => read_cmdlines(&mut c, p)?,
        _ => {}
    }
    Ok(())
}

impl Meta {
    /// Read all metadata of the file in `data`.
    pub fn load<'scope, 'env>(
        scope: &'scope std::thread::Scope<'scope, 'env>,
        data: &'env [u8],
    ) -> DatResult<Meta> {
        let header = parse_file_header(data)?;
        let big = header.big_endian;
        let mut parts = Parts::default();
        let mut opts = FileOptions::default();
        let mut v6 = V6Data::None;
        let mut v6_clock = None;
        let cpus;
        if header.version < 7 {
            let mut c = Cursor::new(data, 0, big);
            c.skip(header.body, "header")?;
            parts.layout = Some(read_header_info(&mut c, big)?.layout);
            read_ftrace_formats(&mut c, &mut parts, Texts::Copied)?;
            read_event_formats(&mut c, &mut parts, Texts::Copied)?;
            read_kallsyms(&mut c, &mut parts)?;
            read_printk(&mut c, &mut parts)?;
            read_cmdlines(&mut c, &mut parts)?;
            let count_at = c.offset();
            let header_cpus = c.u32("CPU count")?;
            if header_cpus > MAX_CPUS {
                return Err(Fault::invalid(count_at, format!("CPU count {header_cpus}")));
            }
            let latency = read_v6_tag(&mut c, big, &mut opts)?;
            // A CPUCOUNT option overrides the header count (and sizes the table).
            cpus = opts.cpu_count.unwrap_or(header_cpus);
            if latency {
                v6 = V6Data::Latency(c.offset());
            } else {
                v6 = V6Data::Flyrecord(read_cpu_table(&mut c, cpus)?);
                if opts.trace_clock.is_some() {
                    // The trace_clock file follows the table (trace-cmd
                    // falls back to "local" if it cannot be read).
                    let clock = c
                        .u64("trace_clock size")
                        .and_then(|n| c.bytes(n, "trace_clock"))
                        .map(|b| String::from_utf8_lossy(b).into_owned());
                    v6_clock = Some(clock.unwrap_or_else(|_| "[local]".to_string()));
                }
            }
        } else {
            let mut dec = header.compression.map(Decompressor::new);
            let first = header.first_options.unwrap_or(0);
            if first == 0 {
                return Err(Fault::missing(header.body, "options section"));
            }
            opts = read_v7_options(data, first, big, dec.as_mut())?;
            // trace-cmd handles the sections last-named first, so the
            // kallsyms section it keeps is the first one named. That one
            // (~7 MB of text, the largest part of the metadata) is
            // decompressed and parsed on a thread of its own (in `scope`)
            // while the other sections are read and then while the events
            // are: waiting for it here held the decoding back by 7 ms
            // (docs/performance.md). Its error, if any, still comes in its
            // turn when a section handled after it fails; otherwise it comes
            // with the first use of the table, which the reader reports
            // before its own result ([`Kallsyms::failure`]).
            let kept = opts
                .sections
                .iter()
                .find(|s| s.0 == id::KALLSYMS)
                .map(|s| s.1);
            let compression = header.compression;
            let mut pending = kept.map(|off| {
                let (tx, rx) = std::sync::mpsc::sync_channel(1);
                let spawned = std::thread::Builder::new()
                    .name("hap-kallsyms".into())
                    .spawn_scoped(scope, move || {
                        let _ = tx.send(kallsyms_table(data, off, big, compression));
                    });
                match spawned {
                    Ok(_) => Kallsyms::coming(rx),
                    // No thread to be had: read it here.
                    Err(_) => Kallsyms::read(kallsyms_table(data, off, big, compression)),
                }
            });
            let mut due = false;
            for &(sid, off) in opts.sections.iter().rev() {
                if sid == id::KALLSYMS && Some(off) == kept && !due {
                    due = true;
                    continue;
                }
                if let Err(e) = read_section(data, sid, off, big, dec.as_mut(), &mut parts) {
                    if let (true, Some(ks)) = (due, &pending) {
                        if let Some(f) = ks.failure() {
                            return Err(f.clone());
                        }
                    }
                    return Err(e);
                }
            }
            if let Some(ks) = pending.take() {
                parts.kallsyms = ks;
            }
            let top = opts
                .buffers
                .iter()
                .filter(|b| !b.latency)
                .map(|b| b.cpus.iter().map(|c| c.cpu + 1).max().unwrap_or(0))
                .max()
                .unwrap_or(0);
            cpus = opts.cpu_count.unwrap_or(0).max(top);
        }
        let layout = parts
            .layout
            .ok_or_else(|| Fault::missing(header.body, "header_page (no header section)"))?;
        let mut common = common_fields(&parts.formats)
            .ok_or_else(|| Fault::missing(header.body, "common_type field (no event formats)"))?;
        common.usual_le = !layout.big_endian && common.is_usual();
        let mut ids = HashMap::new();
        let mut dense_ids = Vec::new();
        for (i, f) in parts.formats.iter().enumerate() {
            let id = u64::from(f.id);
            let slot = if id < DENSE_IDS {
                let id = id as usize;
                if id >= dense_ids.len() {
                    dense_ids.resize(id + 1, u32::MAX);
                }
                &mut dense_ids[id]
            } else {
                ids.entry(id).or_insert(u32::MAX)
            };
            // The first format with the ID that parses wins, as when every
            // format was parsed up front: a rare second format with an ID
            // has the ones before it parsed to decide.
            let held = *slot as usize;
            if *slot == u32::MAX || parts.formats[held].get().is_none() {
                *slot = i as u32;
            }
        }
        let plans = parts.formats.iter().map(|_| OnceLock::new()).collect();
        let tsc2nsec = opts.tsc2nsec.filter(|t| t.mult != 0);
        let ts_offset = opts.ts_offset();
        Ok(Meta {
            header,
            layout,
            formats: parts.formats,
            dense_ids,
            ids,
            common,
            plans,
            kallsyms: Arc::new(parts.kallsyms),
            cmdlines: Arc::new(parts.cmdlines),
            printk: parts.printk,
            opts,
            cpus,
            v6,
            v6_clock,
            tsc2nsec,
            ts_offset,
            scan_errors: parts.scan_errors,
        })
    }

    /// The parsed format at index `i`, if it parses.
    #[inline]
    pub fn format(&self, i: usize) -> Option<&EventFormat> {
        self.formats.get(i)?.get()
    }

    /// The decoding plan of the format at index `i`, if it parses.
    #[inline]
    pub fn plan(&self, i: usize) -> Option<&Plan> {
        let big = self.layout.big_endian;
        self.plans
            .get(i)?
            .get_or_init(|| self.format(i).map(|f| plan_for(f, big)))
            .as_ref()
    }

    /// Event formats that could not be parsed (skipped, like
    /// libtraceevent); parses every format not parsed yet.
    pub fn format_errors(&self) -> usize {
        self.scan_errors + self.formats.iter().filter(|f| f.get().is_none()).count()
    }

    /// Run `work` while a thread parses, on CPU time nothing else wants,
    /// the formats no record needed (only to count those that do not parse,
    /// [`Meta::format_errors`], which parses what is left); the thread stops
    /// when `work` is done.
    pub fn parsing_formats_when_idle<T>(&self, work: impl FnOnce() -> T) -> T {
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = AtomicBool::new(false);
        std::thread::scope(|scope| {
            let _ = std::thread::Builder::new()
                .name("hap-formats".into())
                .spawn_scoped(scope, || {
                    crate::sched::run_when_idle();
                    for f in &self.formats {
                        if stop.load(Ordering::Relaxed) {
                            return;
                        }
                        f.get();
                    }
                });
            let out = work();
            stop.store(true, Ordering::Relaxed);
            out
        })
    }

    /// Index of the format whose ID is `id`.
    #[inline]
    pub fn format_index(&self, id: u64) -> Option<usize> {
        let i = if id < DENSE_IDS {
            self.dense_ids.get(id as usize).copied()
        } else {
            self.ids.get(&id).copied()
        };
        i.filter(|&i| i != u32::MAX).map(|i| i as usize)
    }

    /// The trace clock name (`local`, `global`, ...), if the file says.
    pub fn clock(&self) -> Option<String> {
        let text = self
            .opts
            .trace_clock
            .as_deref()
            .or(self.v6_clock.as_deref())?;
        // "local [global] counter ..." names the current clock in brackets.
        let sel = text.split_whitespace().find(|w| w.starts_with('['))?;
        let inner = sel.trim_start_matches('[');
        Some(inner.split(']').next().unwrap_or(inner).to_string())
    }
}

fn common_fields(formats: &[LazyFormat]) -> Option<Common> {
    let f = formats
        .iter()
        .filter_map(LazyFormat::get)
        .find(|f| f.any_field("common_type").is_some())?;
    Some(Common {
        type_field: f.any_field("common_type")?.clone(),
        flags: f.any_field("common_flags").cloned(),
        pc: f.any_field("common_preempt_count").cloned(),
        pid: f.any_field("common_pid").cloned(),
        usual_le: false,
    })
}

fn plan_for(f: &EventFormat, big: bool) -> Plan {
    let get = |n: &str| f.field(n).cloned();
    if f.system == "ftrace" {
        match f.name.as_str() {
            "function" => {
                if let Some(ip) = get("ip") {
                    let parent = get("parent_ip");
                    let u64_field = |f: &Field| f.size == 8 && f.kind == FieldKind::Scalar;
                    let le64 = match &parent {
                        Some(p) if !big && u64_field(&ip) && u64_field(p) => {
                            Some((ip.offset, p.offset))
                        }
                        _ => None,
                    };
                    return Plan::Function { ip, parent, le64 };
                }
            }
            "func_repeats" => {
                if let Some(ip) = get("ip") {
                    return Plan::FuncRepeats {
                        ip,
                        parent: get("parent_ip"),
                        count: get("count"),
                        top: get("top_delta_ts"),
                        bottom: get("bottom_delta_ts"),
                    };
                }
            }
            "funcgraph_entry" => {
                if let Some(func) = get("func") {
                    return Plan::GraphEntry {
                        func,
                        depth: get("depth"),
                    };
                }
            }
            "funcgraph_exit" => {
                if let Some(func) = get("func") {
                    return Plan::GraphExit {
                        func,
                        depth: get("depth"),
                        overrun: get("overrun"),
                        calltime: get("calltime"),
                        rettime: get("rettime"),
                    };
                }
            }
            _ => {}
        }
    }
    Plan::Other {
        print: OnceLock::new(),
    }
}
