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
//! A sink that takes blocks gets each run copied into its block whole.
//!
//! Each CPU is decoded on its own thread (unless asked not to) and sends
//! batches through a bounded channel, so memory stays flat and the output is
//! deterministic: the order depends only on the records.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;

use super::cursor::Fault;
use super::names::DatNames;
use super::stream::{Batch, CpuStats, CpuStream};
use crate::block::{BlockNames, EventBlock, Rows};
use crate::error::Error;
use crate::event::EventSink;

/// Records per batch (160 KiB of 40-byte rows).
const BATCH: usize = 4096;
/// Rows per block handed to a sink that takes blocks.
const BLOCK_ROWS: usize = 2 << 10;
/// Runs of at least this many records go to a sink straight from the
/// decoder's batch ([`EventSink::run`]) rather than copied into a block
/// first (a copy of every row that cost 3 % of ingest); shorter ones are
/// gathered into blocks, a call per few rows costing more than the copy.
const DIRECT_RUN: usize = 128;
/// Batches in flight per CPU. A CPU's decoder may run this far ahead of
/// the merge: where one CPU's records dominate a stretch of the trace the
/// merge waits on that CPU's decoder alone, and the other decoder, with
/// room to go on, keeps the second core busy meanwhile (2 batches: 4 %
/// slower than 8; with 88-byte rows 16 were slower again, the batches
/// falling out of cache, but with 40-byte rows 16 were 0.97x the time of 8
/// and 32 no better; since the rows are streamed past the caches
/// (`stream::push_row`) 8 and 16 are even; docs/performance.md).
pub(crate) const DEPTH: usize = 16;

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
    /// A decoder thread's batches, and the way back for the spent ones.
    Remote(Receiver<Msg>, SyncSender<Batch>),
}

impl Source<'_> {
    fn next(&mut self) -> Msg {
        match self {
            Source::Local(s) => pull(s),
            Source::Remote(rx, _) => rx.recv().unwrap_or_else(|_| {
                Msg::Fail(Fault::invalid(0, "CPU data (decoder thread stopped)"))
            }),
        }
    }

    /// Give back a batch whose records are all delivered.
    fn recycle(&mut self, batch: Batch) {
        match self {
            Source::Local(s) => s.recycle(batch),
            // A full way back or a stopped decoder: the batch is freed.
            Source::Remote(_, back) => {
                let _ = back.try_send(batch);
            }
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

fn worker(mut s: CpuStream<'_>, tx: SyncSender<Msg>, back: Receiver<Batch>) {
    loop {
        while let Ok(b) = back.try_recv() {
            s.recycle(b);
        }
        let m = pull(&mut s);
        let last = !matches!(m, Msg::Batch(_));
        if tx.send(m).is_err() || last {
            return;
        }
    }
}

/// Decode and merge `streams` (sorted by CPU id), delivering events to
/// `sink`, their names being `names`.
pub(crate) fn run(
    names: &Arc<DatNames>,
    mut streams: Vec<CpuStream<'_>>,
    parallel: bool,
    path: &Path,
    sink: &mut dyn EventSink,
) -> Result<MergeOut, Error> {
    // A sink that takes blocks resolves addresses itself, once per address.
    let blocks = sink.takes_blocks();
    for s in &mut streams {
        s.set_resolve(!blocks);
    }
    let busy = streams.iter().filter(|s| !s.is_empty()).count();
    if !parallel || busy < 2 {
        let cpus = streams.iter().map(|s| (s.buffer, s.cpu)).collect();
        let sources = streams
            .into_iter()
            .map(|s| Source::Local(Box::new(s)))
            .collect();
        return merge(names, cpus, sources, path, sink);
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
            let (back_tx, back) = sync_channel(DEPTH + 2);
            let spawned = std::thread::Builder::new()
                .name("hap-decode".into())
                .spawn_scoped(scope, move || worker(s, tx, back));
            if let Err(e) = spawned {
                return Err(Error::io(path, e));
            }
            sources.push(Source::Remote(rx, back_tx));
        }
        // Dropping the receivers (on return, also on error) stops the workers.
        merge(names, cpus, sources, path, sink)
    })
}

struct Head {
    batch: Batch,
    pos: usize,
    /// Next entry of `batch.missed` to announce.
    missed: usize,
}

/// Where merged records go: one event at a time, or in blocks.
enum Out<'s> {
    Events {
        sink: &'s mut dyn EventSink,
        names: &'s DatNames,
        several_buffers: bool,
    },
    Blocks {
        sink: &'s mut dyn EventSink,
        block: EventBlock,
    },
}

impl Out<'_> {
    /// Deliver records `run` of `head`, from source (`buffer`, `cpu`).
    fn run(
        &mut self,
        head: &mut Head,
        run: std::ops::Range<usize>,
        (buffer, cpu): (u32, u32),
    ) -> Result<(), Error> {
        match self {
            Out::Events {
                sink,
                names,
                several_buffers,
            } => {
                for i in run {
                    if *several_buffers {
                        sink.buffer(buffer as usize)?;
                    }
                    if let Some(&(at, count)) = head.batch.missed.get(head.missed) {
                        if at == i {
                            head.missed += 1;
                            sink.lost(cpu, count)?;
                        }
                    }
                    let rec = &head.batch.recs[i];
                    sink.event(&rec.event(&head.batch.extras, &head.batch.text, *names))?;
                }
                Ok(())
            }
            Out::Blocks { sink, block } => {
                if run.len() >= DIRECT_RUN {
                    if !block.rows.is_empty() {
                        hand_over(&mut **sink, block)?;
                    }
                    let rows = Rows {
                        rows: &head.batch.recs[run.clone()],
                        extras: &head.batch.extras,
                        text: &head.batch.text,
                        names: &block.names,
                        may_hold: head.batch.may_hold,
                    };
                    if sink.run(rows)? {
                        return Ok(());
                    }
                }
                let mut at = run.start;
                while at < run.end {
                    block.may_hold |= head.batch.may_hold;
                    let room = BLOCK_ROWS - block.rows.len();
                    let end = run.end.min(at + room);
                    let recs = &head.batch.recs[at..end];
                    let (extras, text) = (&head.batch.extras, &head.batch.text);
                    if extras.is_empty() {
                        // Common fields only.
                        block.rows.extend_from_slice(recs);
                    } else {
                        for r in recs {
                            let mut r = *r;
                            if let Some(x) = extras.get(r.extra as usize) {
                                let mut x = *x;
                                if let Some(body) = x.info(text) {
                                    x.info = block.text.len() as u32;
                                    block.text.push_str(body);
                                }
                                r.extra = block.extras.len() as u32;
                                block.extras.push(x);
                            }
                            block.rows.push(r);
                        }
                    }
                    if block.rows.len() >= BLOCK_ROWS {
                        hand_over(&mut **sink, block)?;
                    }
                    at = end;
                }
                Ok(())
            }
        }
    }

    fn sink(&mut self) -> &mut dyn EventSink {
        match self {
            Out::Events { sink, .. } | Out::Blocks { sink, .. } => &mut **sink,
        }
    }

    /// Hand over a partly filled block.
    fn flush(&mut self) -> Result<(), Error> {
        match self {
            Out::Blocks { sink, block } if !block.rows.is_empty() => hand_over(&mut **sink, block),
            _ => Ok(()),
        }
    }
}

/// Give `block` to `sink`, and take the next one to fill.
fn hand_over(sink: &mut dyn EventSink, block: &mut EventBlock) -> Result<(), Error> {
    let names = block.names.clone();
    let full = std::mem::replace(block, EventBlock::with_capacity(names, 0));
    *block = sink.block(full)?;
    block.clear();
    Ok(())
}

/// Merge the sources, each identified by (buffer, CPU), in trace-cmd's order:
/// by timestamp, then buffer (top first), then CPU.
fn merge(
    names: &Arc<DatNames>,
    cpus: Vec<(u32, u32)>,
    mut sources: Vec<Source<'_>>,
    path: &Path,
    sink: &mut dyn EventSink,
) -> Result<MergeOut, Error> {
    let mut out = MergeOut::default();
    let mut heads: Vec<Option<Head>> = (0..sources.len()).map(|_| None).collect();
    let mut heap = BinaryHeap::new();
    let mut to = if sink.takes_blocks() {
        let names: Arc<dyn BlockNames> = names.clone();
        Out::Blocks {
            sink,
            block: EventBlock::with_capacity(names, BLOCK_ROWS),
        }
    } else {
        Out::Events {
            sink,
            names,
            several_buffers: cpus.iter().any(|c| c.0 != 0),
        }
    };
    for i in 0..sources.len() {
        fill(i, &cpus, &mut sources, &mut heads, &mut heap, &mut out)
            .map_err(|f| f.into_error(path))?;
    }
    while let Some(Reverse((_, key, i))) = heap.pop() {
        let Some(head) = heads[i].as_mut() else {
            continue;
        };
        // This source stays first while its records come before the next
        // source's head: that run goes out without the heap.
        let next = heap.peek().map(|Reverse(k)| (k.0, k.1));
        let recs = &head.batch.recs;
        let mut end = head.pos + 1;
        while end < recs.len() && next.is_none_or(|n| (recs[end].ts as u64, key) < n) {
            end += 1;
        }
        out.events += (end - head.pos) as u64;
        let start = head.pos;
        to.run(head, start..end, key)
            .map_err(|e| e.with_path(path))?;
        head.pos = end;
        match head.batch.recs.get(end) {
            Some(r) => heap.push(Reverse((r.ts as u64, key, i))),
            None => {
                if let Some(spent) = heads[i].take() {
                    sources[i].recycle(spent.batch);
                }
                fill(i, &cpus, &mut sources, &mut heads, &mut heap, &mut out)
                    .map_err(|f| f.into_error(path))?;
            }
        }
    }
    to.flush().map_err(|e| e.with_path(path))?;
    to.sink().end_of_events().map_err(|e| e.with_path(path))?;
    out.cpus.sort_by_key(|c| c.0);
    for (_, s) in &out.cpus {
        for (all, n) in out.kinds.iter_mut().zip(s.kinds) {
            *all += n;
        }
    }
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
                    heap.push(Reverse((r.ts as u64, cpus[i], i)));
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
