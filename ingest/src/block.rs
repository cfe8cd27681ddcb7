//! Events in bulk: runs of compact rows that a reader hands over whole to a
//! consumer that asks for them ([`crate::EventSink::takes_blocks`]), instead
//! of one [`Event`] call per event. The Parquet writer builds its columns from
//! them column by column; turning each record into an [`Event`] and back
//! into columns cost the trace.dat reader's merging thread more than
//! decoding it (docs/performance.md). Long runs of one CPU's records go over
//! as [`Rows`] of the decoder's own buffer, without a copy
//! ([`crate::EventSink::run`]).
//!
//! A row holds numbers and name ids; the names behind the ids come from the
//! block's [`BlockNames`], shared by every block of one read. Blocks carry
//! what trace.dat records have: flags and preempt depth on every event, no
//! thread-group id.

use std::sync::Arc;

use crate::event::{Event, IrqFlags, NameIds};

/// An absent 64-bit number in a [`BlockRow`].
pub const NONE64: u64 = u64::MAX;
/// An absent 32-bit number or name id in a [`BlockRow`].
pub const NONE32: u32 = u32::MAX;

/// Bits of [`BlockRow::flags`].
pub mod flag {
    /// Interrupts were disabled.
    pub const IRQS_OFF: u8 = 1;
    /// In hard interrupt context.
    pub const HARDIRQ: u8 = 1 << 1;
    /// In softirq context.
    pub const SOFTIRQ: u8 = 1 << 2;
    /// In NMI context.
    pub const NMI: u8 = 1 << 3;
}

/// One event of a block. Absent numbers are [`NONE64`] or [`NONE32`].
/// The fields most events lack are in an [`Extra`] beside the rows: a
/// function trace's rows are 40 bytes instead of 88, and the decoders
/// write and the builder reads every row (docs/performance.md). The task
/// name follows from the thread id ([`BlockNames::comm_of`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockRow {
    /// Timestamp, ns.
    pub ts: i64,
    /// Address of the traced function.
    pub ip: u64,
    /// Address of its caller.
    pub parent_ip: u64,
    /// CPU.
    pub cpu: u32,
    /// Thread id.
    pub pid: i32,
    /// Index of the row's [`Extra`] among its block's ([`NONE32`]: none,
    /// every field of [`Extra::NONE`]).
    pub extra: u32,
    /// Name id of the event name ([`BlockNames::event`]), or
    /// [`EVENT_IN_EXTRA`] (then it is [`Extra::event`]).
    pub event: u16,
    /// Interrupt flags ([`flag`] bits).
    pub flags: u8,
    /// Preemption depth.
    pub preempt: u8,
}

/// [`BlockRow::event`] of an event id past 16 bits.
pub const EVENT_IN_EXTRA: u16 = u16::MAX;

/// The fields of a [`BlockRow`] that only some events have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Extra {
    /// Name id of the event name, when [`BlockRow::event`] is
    /// [`EVENT_IN_EXTRA`] (a file of 65,535 event formats or more).
    pub event: u32,
    /// Entry time of the call (`funcgraph_exit`; the last repetition's time
    /// for `func_repeats`).
    pub calltime: u64,
    /// Return time of the call.
    pub rettime: u64,
    /// Symbol id of the traced function ([`BlockNames::symbol`]; its module
    /// is [`BlockNames::module`] of the same id), that is of `ip`:
    /// [`NONE32`] when the reader left addresses to the consumer
    /// ([`BlockNames::symbol_at`] gives it).
    pub function: u32,
    /// Symbol id of the caller (of `parent_ip`, likewise).
    pub parent: u32,
    /// Call depth.
    pub depth: u32,
    /// Repeat count.
    pub repeats: u32,
    /// Start of the printed body in [`EventBlock::text`] ([`NONE32`]: no body).
    pub info: u32,
    /// Length of the printed body.
    pub info_len: u32,
}

impl Extra {
    /// Every field absent.
    pub const NONE: Extra = Extra {
        event: NONE32,
        calltime: NONE64,
        rettime: NONE64,
        function: NONE32,
        parent: NONE32,
        depth: NONE32,
        repeats: NONE32,
        info: NONE32,
        info_len: 0,
    };

    /// The printed body, if any, in `text`.
    pub fn info<'a>(&self, text: &'a str) -> Option<&'a str> {
        if self.info == NONE32 {
            return None;
        }
        let start = self.info as usize;
        Some(
            text.get(start..start + self.info_len as usize)
                .unwrap_or(""),
        )
    }
}

/// The names behind a block's ids.
pub trait BlockNames: Send + Sync + std::fmt::Debug {
    /// Task name of comm id `id`.
    fn comm(&self, id: u32) -> &str;
    /// Comm id of the task name of thread `pid`.
    fn comm_of(&self, pid: i32) -> u32;
    /// Event name of event id `id`.
    fn event(&self, id: u32) -> &str;
    /// Function name of symbol `id` (`None`: no name).
    fn symbol(&self, id: u32) -> Option<&str>;
    /// Module of symbol `id` (`None`: the core kernel, or no symbol).
    fn module(&self, id: u32) -> Option<&str>;
    /// Symbol id of the symbol covering `addr` ([`NONE32`]: none).
    fn symbol_at(&self, addr: u64) -> u32;
}

/// Bits of [`EventBlock::may_hold`]: optional fields some row of a block
/// may hold.
pub mod field {
    /// `depth`.
    pub const DEPTH: u8 = 1;
    /// `repeats` (and a graph exit's overrun, stored there).
    pub const REPEATS: u8 = 1 << 1;
    /// `calltime`.
    pub const CALLTIME: u8 = 1 << 2;
    /// `rettime`.
    pub const RETTIME: u8 = 1 << 3;
    /// A printed body.
    pub const INFO: u8 = 1 << 4;
}

/// A run of events in file order, with the bodies and names they refer to.
#[derive(Debug)]
pub struct EventBlock {
    /// The events.
    pub rows: Vec<BlockRow>,
    /// Their fields beyond the common ones ([`BlockRow::extra`]).
    pub extras: Vec<Extra>,
    /// Printed bodies ([`BlockRow::info`]).
    pub text: String,
    /// Names of the ids.
    pub names: Arc<dyn BlockNames>,
    /// The optional fields ([`field`] bits) rows may hold: a clear bit
    /// promises that no row holds the field, so a consumer skips it
    /// without looking (a function trace holds none of them).
    pub may_hold: u8,
}

/// Rows of a block, or of a reader's own buffer, with what they refer to.
#[derive(Clone, Copy, Debug)]
pub struct Rows<'a> {
    /// The events.
    pub rows: &'a [BlockRow],
    /// Their fields beyond the common ones ([`BlockRow::extra`] indexes
    /// this whole slice).
    pub extras: &'a [Extra],
    /// Printed bodies ([`BlockRow::info`]).
    pub text: &'a str,
    /// Names of the ids.
    pub names: &'a Arc<dyn BlockNames>,
    /// As [`EventBlock::may_hold`].
    pub may_hold: u8,
}

impl EventBlock {
    /// Rows `range` of the block.
    pub fn rows(&self, range: std::ops::Range<usize>) -> Rows<'_> {
        Rows {
            rows: &self.rows[range],
            extras: &self.extras,
            text: &self.text,
            names: &self.names,
            may_hold: self.may_hold,
        }
    }

    /// An empty block with room for `rows` rows.
    pub fn with_capacity(names: Arc<dyn BlockNames>, rows: usize) -> EventBlock {
        EventBlock {
            rows: Vec::with_capacity(rows),
            extras: Vec::new(),
            text: String::new(),
            names,
            may_hold: 0,
        }
    }

    /// Empty the block, keeping its memory.
    pub fn clear(&mut self) {
        self.rows.clear();
        self.extras.clear();
        self.text.clear();
        self.may_hold = 0;
    }

    /// Row `i` as an [`Event`].
    pub fn event(&self, i: usize) -> Event<'_> {
        self.rows[i].event(&self.extras, &self.text, &*self.names)
    }
}

impl BlockRow {
    /// The row's [`Extra`] among `extras`.
    #[inline(always)]
    pub fn extra<'a>(&self, extras: &'a [Extra]) -> &'a Extra {
        extras.get(self.extra as usize).unwrap_or(&Extra::NONE)
    }

    /// The event name id, its extras in `extras`.
    #[inline(always)]
    pub fn event_id(&self, extras: &[Extra]) -> u32 {
        match self.event {
            EVENT_IN_EXTRA => self.extra(extras).event,
            e => u32::from(e),
        }
    }

    /// The printed body, if any, its extras in `extras` and bodies in `text`.
    pub fn info<'a>(&self, extras: &[Extra], text: &'a str) -> Option<&'a str> {
        self.extra(extras).info(text)
    }

    /// This row as an [`Event`], its extras in `extras`, bodies in `text`
    /// and names in `names`.
    pub fn event<'a>(
        &self,
        extras: &[Extra],
        text: &'a str,
        names: &'a dyn BlockNames,
    ) -> Event<'a> {
        let x = self.extra(extras);
        let (comm, event) = (names.comm_of(self.pid), self.event_id(extras));
        let some64 = |v: u64| (v != NONE64).then_some(v);
        let some32 = |v: u32| (v != NONE32).then_some(v);
        let symbol = |id: u32, addr: u64| match (id, addr) {
            (NONE32, NONE64) => NONE32,
            (NONE32, addr) => names.symbol_at(addr),
            (id, _) => id,
        };
        let (function, parent) = (
            symbol(x.function, self.ip),
            symbol(x.parent, self.parent_ip),
        );
        let f = self.flags;
        Event {
            ts_ns: self.ts,
            cpu: self.cpu,
            pid: self.pid,
            tgid: None,
            comm: names.comm(comm),
            event: names.event(event),
            function: names.symbol(function),
            parent: names.symbol(parent),
            module: names.module(function),
            ip: some64(self.ip),
            parent_ip: some64(self.parent_ip),
            flags: Some(IrqFlags {
                irqs_off: f & flag::IRQS_OFF != 0,
                hardirq: f & flag::HARDIRQ != 0,
                softirq: f & flag::SOFTIRQ != 0,
                nmi: f & flag::NMI != 0,
            }),
            preempt_depth: Some(self.preempt),
            info: x.info(text),
            depth: some32(x.depth),
            calltime: some64(x.calltime),
            rettime: some64(x.rettime),
            repeats: some32(x.repeats),
            ids: NameIds {
                comm,
                event,
                function,
                parent,
                module: function,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_40_bytes_and_event_ids_past_16_bits_live_in_the_extra() {
        assert_eq!(std::mem::size_of::<BlockRow>(), 40);
        let row = |event, extra| BlockRow {
            ts: 0,
            ip: NONE64,
            parent_ip: NONE64,
            cpu: 0,
            pid: 0,
            extra,
            event,
            flags: 0,
            preempt: 0,
        };
        let extras = [Extra {
            event: 70_000,
            ..Extra::NONE
        }];
        assert_eq!(row(7, NONE32).event_id(&extras), 7);
        assert_eq!(row(EVENT_IN_EXTRA, 0).event_id(&extras), 70_000);
        assert_eq!(row(EVENT_IN_EXTRA - 1, 0).event_id(&extras), 65_534);
    }
}
