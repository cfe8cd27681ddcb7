//! Events handed from the reading thread to a builder thread as compact,
//! owned rows, so that building the row group's columns (dictionary keys,
//! validity) runs beside the decoding and merging instead of after each
//! event on the same thread: the reading thread was the one always busy
//! while the second core idled a third of the time (docs/performance.md).
//!
//! Names travel as numbers: each distinct name (per column) gets a writer id
//! in first-seen order, found by the reader's id when it gives one, else by
//! the name itself; a chunk of rows carries the names first used in it, and
//! the builder keeps them all (their number is bounded by the trace's
//! distinct names, not its length).

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

use polars::prelude::{polars_err, PolarsResult};
use polars_parquet::write::KeyValue;
use rustc_hash::FxHashMap;

use super::background::Background;
use super::batch::Batch;
use super::BATCH_ROWS;
use crate::block::EventBlock;
use crate::event::{Event, IrqFlags, NameIds, NO_ID};

/// Rows per chunk handed over.
const CHUNK_ROWS: usize = 8 << 10;
/// Chunks in flight (the builder's queue).
const DEPTH: usize = 2;

/// Name columns, in [`Row::names`] order.
const COMM: usize = 0;
const EVENT: usize = 1;
const FUNCTION: usize = 2;
const PARENT: usize = 3;
const MODULE: usize = 4;

/// Presence bits of [`Row::present`].
const TGID: u16 = 1;
const IP: u16 = 1 << 1;
const PARENT_IP: u16 = 1 << 2;
const FLAGS: u16 = 1 << 3;
const PREEMPT: u16 = 1 << 4;
const INFO: u16 = 1 << 5;
const DEPTH_: u16 = 1 << 6;
const CALLTIME: u16 = 1 << 7;
const RETTIME: u16 = 1 << 8;
const REPEATS: u16 = 1 << 9;

/// One event, owned: numbers, writer ids of its names ([`NO_ID`] for
/// none), and which optional fields are present.
#[derive(Clone, Copy, Debug)]
struct Row {
    ts: i64,
    ip: u64,
    parent_ip: u64,
    calltime: u64,
    rettime: u64,
    cpu: u32,
    pid: i32,
    tgid: i32,
    depth: u32,
    repeats: u32,
    names: [u32; 5],
    /// Range of the body in the chunk's text.
    info: (u32, u32),
    present: u16,
    flags: u8,
    preempt: u8,
}

/// A run of rows, the bodies they refer to, and the names first used in
/// them (per column, continuing the writer ids of earlier chunks).
#[derive(Debug, Default)]
struct Chunk {
    rows: Vec<Row>,
    text: String,
    names: [Vec<Box<str>>; 5],
}

impl Chunk {
    fn clear(&mut self) {
        self.rows.clear();
        self.text.clear();
        for n in &mut self.names {
            n.clear();
        }
    }
}

/// Writer ids of one name column, on the reading thread.
#[derive(Debug, Default)]
struct Ids {
    /// Writer id by the reader's id.
    by_reader: Vec<u32>,
    /// Writer id by name.
    by_name: FxHashMap<Box<str>, u32>,
    /// Names so far, by writer id.
    names: Vec<Box<str>>,
    /// The id of the last name looked up by text.
    last: u32,
}

/// Reader ids past this are not remembered (the table stays small).
const MAX_READER_ID: u32 = 1 << 22;

impl Ids {
    /// The writer id of `name` (whose reader id is `reader`), adding it to
    /// `fresh` if it is new.
    #[inline(always)]
    fn id(&mut self, name: Option<&str>, reader: u32, fresh: &mut Vec<Box<str>>) -> u32 {
        let Some(name) = name else {
            return NO_ID;
        };
        match self.by_reader.get(reader as usize) {
            Some(&id) if id != NO_ID => id,
            _ => self.id_of(name, reader, fresh),
        }
    }

    #[inline(never)]
    fn id_of(&mut self, name: &str, reader: u32, fresh: &mut Vec<Box<str>>) -> u32 {
        let id = match self.names.get(self.last as usize) {
            Some(last) if **last == *name => self.last,
            _ => {
                let id = match self.by_name.get(name) {
                    Some(&id) => id,
                    None => {
                        let id = self.names.len() as u32;
                        self.names.push(name.into());
                        self.by_name.insert(name.into(), id);
                        fresh.push(name.into());
                        id
                    }
                };
                self.last = id;
                id
            }
        };
        if reader < MAX_READER_ID {
            let r = reader as usize;
            if r >= self.by_reader.len() {
                self.by_reader.resize(r + 1, NO_ID);
            }
            self.by_reader[r] = id;
        }
        id
    }
}

enum Msg {
    Rows(Chunk),
    Block(EventBlock),
    Finish(Vec<KeyValue>),
}

/// The reading thread's end: fills chunks and hands them to the builder.
pub(super) struct Handoff {
    chunk: Chunk,
    ids: [Ids; 5],
    tx: Option<SyncSender<Msg>>,
    /// Emptied chunks coming back for reuse.
    back: Receiver<Chunk>,
    /// Emptied blocks coming back for reuse.
    blocks_back: Receiver<EventBlock>,
    builder: Option<JoinHandle<PolarsResult<u64>>>,
}

impl Handoff {
    /// Start the builder thread, which builds row groups and gives them to
    /// `writer`, the first one on from `batch` if given.
    pub(super) fn start(writer: Background, batch: Option<Box<Batch>>) -> std::io::Result<Handoff> {
        let (tx, rx) = sync_channel(DEPTH);
        let (back_tx, back) = sync_channel(DEPTH + 1);
        let (blocks_tx, blocks_back) = sync_channel(DEPTH + 1);
        let builder = std::thread::Builder::new()
            .name("hap-columns".into())
            .spawn(move || build(rx, (back_tx, blocks_tx), writer, batch))?;
        Ok(Handoff {
            chunk: Chunk::default(),
            ids: Default::default(),
            tx: Some(tx),
            back,
            blocks_back,
            builder: Some(builder),
        })
    }

    /// Take one event.
    #[inline]
    pub(super) fn push(&mut self, e: &Event<'_>) -> PolarsResult<()> {
        let ids = &e.ids;
        let fresh = &mut self.chunk.names;
        let [comm, event, function, parent, module] = &mut self.ids;
        let names = [
            comm.id(Some(e.comm), ids.comm, &mut fresh[COMM]),
            event.id(Some(e.event), ids.event, &mut fresh[EVENT]),
            function.id(e.function, ids.function, &mut fresh[FUNCTION]),
            parent.id(e.parent, ids.parent, &mut fresh[PARENT]),
            module.id(e.module, ids.module, &mut fresh[MODULE]),
        ];
        let mut present = 0;
        let mut bit = |on: bool, b: u16| {
            if on {
                present |= b;
            }
        };
        bit(e.tgid.is_some(), TGID);
        bit(e.ip.is_some(), IP);
        bit(e.parent_ip.is_some(), PARENT_IP);
        bit(e.flags.is_some(), FLAGS);
        bit(e.preempt_depth.is_some(), PREEMPT);
        bit(e.info.is_some(), INFO);
        bit(e.depth.is_some(), DEPTH_);
        bit(e.calltime.is_some(), CALLTIME);
        bit(e.rettime.is_some(), RETTIME);
        bit(e.repeats.is_some(), REPEATS);
        let info = match e.info {
            Some(s) => {
                let start = self.chunk.text.len() as u32;
                self.chunk.text.push_str(s);
                (start, s.len() as u32)
            }
            None => (0, 0),
        };
        let flags = e.flags.map_or(0, |f| {
            u8::from(f.irqs_off)
                | u8::from(f.hardirq) << 1
                | u8::from(f.softirq) << 2
                | u8::from(f.nmi) << 3
        });
        self.chunk.rows.push(Row {
            ts: e.ts_ns,
            ip: e.ip.unwrap_or(0),
            parent_ip: e.parent_ip.unwrap_or(0),
            calltime: e.calltime.unwrap_or(0),
            rettime: e.rettime.unwrap_or(0),
            cpu: e.cpu,
            pid: e.pid,
            tgid: e.tgid.unwrap_or(0),
            depth: e.depth.unwrap_or(0),
            repeats: e.repeats.unwrap_or(0),
            names,
            info,
            present,
            flags,
            preempt: e.preempt_depth.unwrap_or(0),
        });
        if self.chunk.rows.len() >= CHUNK_ROWS {
            self.send_chunk()?;
        }
        Ok(())
    }

    /// Take a block of events; returns an empty one to fill next.
    pub(super) fn block(&mut self, block: EventBlock) -> PolarsResult<EventBlock> {
        if !self.chunk.rows.is_empty() {
            self.send_chunk()?;
        }
        let next = match self.blocks_back.try_recv() {
            Ok(b) => b,
            Err(_) => EventBlock::with_capacity(block.names.clone(), block.rows.len()),
        };
        self.send(Msg::Block(block))?;
        Ok(next)
    }

    fn send_chunk(&mut self) -> PolarsResult<()> {
        let next = self.back.try_recv().unwrap_or_default();
        let chunk = std::mem::replace(&mut self.chunk, next);
        self.chunk.rows.reserve(CHUNK_ROWS);
        self.send(Msg::Rows(chunk))
    }

    fn send(&mut self, msg: Msg) -> PolarsResult<()> {
        match &self.tx {
            Some(tx) if tx.send(msg).is_ok() => Ok(()),
            _ => Err(self.failure()),
        }
    }

    /// Why the builder stopped early (it only does on an error).
    fn failure(&mut self) -> polars::prelude::PolarsError {
        self.tx = None;
        super::background::stopped(self.builder.take(), "builder")
    }

    fn join(&mut self) -> PolarsResult<u64> {
        super::background::join(self.builder.take(), "builder")
    }

    /// Hand over the last rows, have the file finished with `key_value`
    /// metadata, and wait for it. Returns the file's size.
    pub(super) fn finish(mut self, key_value: Vec<KeyValue>) -> PolarsResult<u64> {
        if !self.chunk.rows.is_empty() {
            self.send_chunk()?;
        }
        self.send(Msg::Finish(key_value))?;
        self.tx = None;
        self.join()
    }
}

impl Drop for Handoff {
    fn drop(&mut self) {
        // Without messages the builder stops, and with it the writer thread.
        self.tx = None;
        let _ = self.join();
    }
}

/// The builder thread: rows into row groups, row groups to the writer.
fn build(
    rx: Receiver<Msg>,
    (back, blocks_back): (SyncSender<Chunk>, SyncSender<EventBlock>),
    mut writer: Background,
    batch: Option<Box<Batch>>,
) -> PolarsResult<u64> {
    let mut names: [Vec<Box<str>>; 5] = Default::default();
    // The first builder is made when the first rows come.
    let Ok(first) = rx.recv() else {
        return Err(polars_err!(ComputeError: "events writer stopped before the footer"));
    };
    let mut batch = batch.unwrap_or_else(|| writer.first_batch());
    for msg in std::iter::once(first).chain(rx) {
        let mut chunk = match msg {
            Msg::Rows(chunk) => chunk,
            Msg::Block(mut block) => {
                writer.build(&mut batch, block.rows(0..block.rows.len()))?;
                block.clear();
                let _ = blocks_back.try_send(block);
                continue;
            }
            Msg::Finish(key_value) => {
                if batch.len() > 0 {
                    writer.write_last(batch)?;
                }
                return writer.finish(key_value);
            }
        };
        for (all, new) in names.iter_mut().zip(&mut chunk.names) {
            all.append(new);
        }
        for row in &chunk.rows {
            batch.push(&event(row, &names, &chunk.text));
            if batch.len() >= BATCH_ROWS {
                batch = writer.write(batch)?;
            }
        }
        chunk.clear();
        // The reading thread may have stopped; then nothing is reused.
        let _ = back.try_send(chunk);
    }
    Err(polars_err!(ComputeError: "events writer stopped before the footer"))
}

/// The event of `row`, its names ids being the writer's.
#[inline(always)]
fn event<'a>(row: &Row, names: &'a [Vec<Box<str>>; 5], text: &'a str) -> Event<'a> {
    let name = |column: usize| -> Option<&'a str> {
        let id = row.names[column];
        (id != NO_ID).then(|| &*names[column][id as usize])
    };
    let has = |b: u16| row.present & b != 0;
    let f = row.flags;
    Event {
        ts_ns: row.ts,
        cpu: row.cpu,
        pid: row.pid,
        tgid: has(TGID).then_some(row.tgid),
        comm: name(COMM).unwrap_or(""),
        event: name(EVENT).unwrap_or(""),
        function: name(FUNCTION),
        parent: name(PARENT),
        module: name(MODULE),
        ip: has(IP).then_some(row.ip),
        parent_ip: has(PARENT_IP).then_some(row.parent_ip),
        flags: has(FLAGS).then_some(IrqFlags {
            irqs_off: f & 1 != 0,
            hardirq: f & 2 != 0,
            softirq: f & 4 != 0,
            nmi: f & 8 != 0,
        }),
        preempt_depth: has(PREEMPT).then_some(row.preempt),
        info: has(INFO).then(|| {
            let (start, len) = row.info;
            &text[start as usize..(start + len) as usize]
        }),
        depth: has(DEPTH_).then_some(row.depth),
        calltime: has(CALLTIME).then_some(row.calltime),
        rettime: has(RETTIME).then_some(row.rettime),
        repeats: has(REPEATS).then_some(row.repeats),
        ids: NameIds {
            comm: row.names[COMM],
            event: row.names[EVENT],
            function: row.names[FUNCTION],
            parent: row.names[PARENT],
            module: row.names[MODULE],
        },
    }
}
