//! Merging the per-CPU record streams into one time-ordered event stream,
//! exactly as `trace-cmd report` orders them, and handing the events to the
//! sink.
//!
//! trace-cmd peeks the next record of every CPU and takes the one with the
//! smallest timestamp, the lowest CPU on ties (`tracecmd_peek_next_data` uses
//! a strict `<` while scanning CPUs upwards). Within a CPU the ring order is
//! kept even when timestamps go backwards. A min-heap on (timestamp, CPU)
//! gives the same order; a CPU whose records keep coming before every other
//! CPU's next one is emitted as a run, without a heap operation per record.
//!
//! Each CPU is decoded on its own thread (unless asked not to) and sends
//! batches through a bounded channel, so memory stays flat and the output is
//! deterministic: the order depends only on the records.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use super::cursor::Fault;
use super::meta::Meta;
use super::stream::{Batch, CpuStats, CpuStream, Kind, Rec, NONE32, NONE64};
use crate::error::Error;
use crate::event::{Event, EventSink, IrqFlags, NameIds, NO_ID};

/// Records per batch (about 90 KiB).
const BATCH: usize = 1024;
/// Batches in flight per CPU.
const DEPTH: usize = 2;

/// What the merge produced.
#[derive(Clone, Debug, Default)]
pub(crate) struct MergeOut {
    /// Events delivered.
    pub events: u64,
    /// Events of each kind: function, func_repeats, graph entry, graph exit, other, unknown.
    pub kinds: [u64; 6],
    /// Per-CPU counters, by CPU id.
    pub cpus: Vec<(u32, CpuStats)>,
}

enum Msg {
    Batch(Batch),
    End(CpuStats),
    Fail(Fault),
}

enum Source<'a> {
    Local(Box<CpuStream<'a>>),
    Remote(Receiver<Msg>),
}

impl Source<'_> {
    fn next(&mut self) -> Msg {
        match self {
            Source::Local(s) => pull(s),
            Source::Remote(rx) => rx.recv().unwrap_or_else(|_| {
                Msg::Fail(Fault::invalid(0, "CPU data (decoder thread stopped)"))
            }),
        }
    }
}

fn pull(s: &mut CpuStream<'_>) -> Msg {
    match s.next_batch(BATCH) {
        Ok(Some(b)) => Msg::Batch(b),
        Ok(None) => Msg::End(s.stats),
        Err(f) => Msg::Fail(f),
    }
}

fn worker(mut s: CpuStream<'_>, tx: SyncSender<Msg>) {
    loop {
        let m = pull(&mut s);
        let last = !matches!(m, Msg::Batch(_));
        if tx.send(m).is_err() || last {
            return;
        }
    }
}

/// Decode and merge `streams` (sorted by CPU id), delivering events to `sink`.
pub(crate) fn run(
    meta: &Meta,
    streams: Vec<CpuStream<'_>>,
    parallel: bool,
    path: &Path,
    sink: &mut dyn EventSink,
) -> Result<MergeOut, Error> {
    let busy = streams.iter().filter(|s| !s.is_empty()).count();
    if !parallel || busy < 2 {
        let cpus = streams.iter().map(|s| (s.buffer, s.cpu)).collect();
        let sources = streams
            .into_iter()
            .map(|s| Source::Local(Box::new(s)))
            .collect();
        return merge(meta, cpus, sources, path, sink);
    }
    std::thread::scope(|scope| {
        let cpus = streams.iter().map(|s| (s.buffer, s.cpu)).collect();
        let mut sources = Vec::new();
        for s in streams {
            if s.is_empty() {
                sources.push(Source::Local(Box::new(s)));
                continue;
            }
            let (tx, rx) = sync_channel(DEPTH);
            scope.spawn(move || worker(s, tx));
            sources.push(Source::Remote(rx));
        }
        // Dropping the receivers (on return, also on error) stops the workers.
        merge(meta, cpus, sources, path, sink)
    })
}

struct Head {
    batch: Batch,
    pos: usize,
    /// Next entry of `batch.missed` to announce.
    missed: usize,
}

/// Merge the sources, each identified by (buffer, CPU), in trace-cmd's order:
/// by timestamp, then buffer (top first), then CPU.
fn merge(
    meta: &Meta,
    cpus: Vec<(u32, u32)>,
    mut sources: Vec<Source<'_>>,
    path: &Path,
    sink: &mut dyn EventSink,
) -> Result<MergeOut, Error> {
    let mut out = MergeOut::default();
    let mut heads: Vec<Option<Head>> = (0..sources.len()).map(|_| None).collect();
    let mut heap = BinaryHeap::new();
    let mut scratch = String::new();
    let several_buffers = cpus.iter().any(|c| c.0 != 0);
    for i in 0..sources.len() {
        fill(i, &cpus, &mut sources, &mut heads, &mut heap, &mut out)
            .map_err(|f| f.into_error(path))?;
    }
    while let Some(Reverse((_, _, i))) = heap.pop() {
        let (buffer, cpu) = cpus[i];
        // This source stays first while its records come before the next
        // source's head: emit that run without going through the heap.
        let next = heap.peek().map(|Reverse(k)| (k.0, k.1));
        while let Some(head) = heads[i].as_mut() {
            let rec = head.batch.recs[head.pos];
            if several_buffers {
                sink.buffer(buffer as usize)
                    .map_err(|e| e.with_path(path))?;
            }
            if let Some(&(at, count)) = head.batch.missed.get(head.missed) {
                if at == head.pos {
                    head.missed += 1;
                    sink.lost(cpu, count).map_err(|e| e.with_path(path))?;
                }
            }
            emit(
                meta,
                cpu,
                &rec,
                &head.batch.text,
                &mut scratch,
                &mut out,
                sink,
            )
            .map_err(|e| e.with_path(path))?;
            head.pos += 1;
            match head.batch.recs.get(head.pos) {
                Some(r) if next.is_none_or(|n| (r.ts, cpus[i]) < n) => {}
                Some(r) => {
                    heap.push(Reverse((r.ts, cpus[i], i)));
                    break;
                }
                None => {
                    heads[i] = None;
                    fill(i, &cpus, &mut sources, &mut heads, &mut heap, &mut out)
                        .map_err(|f| f.into_error(path))?;
                    break;
                }
            }
        }
    }
    out.cpus.sort_by_key(|c| c.0);
    Ok(out)
}

/// Heap entries: (timestamp, (buffer, CPU), source index).
type Key = Reverse<(u64, (u32, u32), usize)>;

fn fill(
    i: usize,
    cpus: &[(u32, u32)],
    sources: &mut [Source<'_>],
    heads: &mut [Option<Head>],
    heap: &mut BinaryHeap<Key>,
    out: &mut MergeOut,
) -> Result<(), Fault> {
    loop {
        match sources[i].next() {
            Msg::Batch(b) => {
                if let Some(r) = b.recs.first() {
                    heap.push(Reverse((r.ts, cpus[i], i)));
                    heads[i] = Some(Head {
                        batch: b,
                        pos: 0,
                        missed: 0,
                    });
                    return Ok(());
                }
            }
            Msg::End(stats) => {
                out.cpus.push((cpus[i].1, stats));
                return Ok(());
            }
            Msg::Fail(f) => return Err(f),
        }
    }
}

fn emit(
    meta: &Meta,
    cpu: u32,
    rec: &Rec,
    text: &str,
    scratch: &mut String,
    out: &mut MergeOut,
    sink: &mut dyn EventSink,
) -> Result<(), Error> {
    let ks = &meta.kallsyms;
    let kind_ix = match rec.kind {
        Kind::Function => 0,
        Kind::FuncRepeats => 1,
        Kind::GraphEntry => 2,
        Kind::GraphExit => 3,
        Kind::Other => 4,
        Kind::Unknown => 5,
    };
    out.kinds[kind_ix] += 1;
    out.events += 1;
    let some64 = |v: u64| (v != NONE64).then_some(v);
    let some32 = |v: u32| (v != NONE32).then_some(v);
    let (name, info) = match rec.kind {
        Kind::Unknown => {
            scratch.clear();
            scratch.push_str("type=");
            scratch.push_str(&rec.event.to_string());
            ("unknown", Some(scratch.as_str()))
        }
        Kind::Other => {
            let (a, n) = rec.info;
            let body = text.get(a as usize..(a + n) as usize).unwrap_or("");
            (meta.formats[rec.event as usize].name.as_str(), Some(body))
        }
        _ => (meta.formats[rec.event as usize].name.as_str(), None),
    };
    let f = rec.flags;
    let graph = matches!(rec.kind, Kind::GraphEntry | Kind::GraphExit);
    let ev = Event {
        ts_ns: rec.ts as i64,
        cpu,
        pid: rec.pid,
        tgid: None,
        comm: meta.cmdlines.name(rec.comm),
        event: name,
        function: ks.name(rec.sym),
        parent: ks.name(rec.psym),
        module: ks.module(rec.sym),
        ip: some64(rec.ip),
        parent_ip: some64(rec.parent_ip),
        flags: Some(IrqFlags {
            irqs_off: f & 0x01 != 0,
            hardirq: f & 0x08 != 0,
            softirq: f & 0x10 != 0,
            nmi: f & 0x40 != 0,
        }),
        preempt_depth: Some(rec.pc & 0x0f),
        info,
        depth: if graph { some32(rec.depth) } else { None },
        calltime: some64(rec.t1),
        rettime: some64(rec.t2),
        repeats: some32(rec.count),
        ids: NameIds {
            comm: meta.cmdlines.id(rec.comm),
            event: if rec.kind == Kind::Unknown {
                NO_ID
            } else {
                rec.event
            },
            function: rec.sym,
            parent: rec.psym,
            module: rec.sym,
        },
    };
    sink.event(&ev)
}
