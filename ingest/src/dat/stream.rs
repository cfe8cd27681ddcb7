//! One CPU's flyrecord data, page after page, decoded into owned batches of
//! compact records that can cross threads.
//!
//! Pages are walked the way trace-cmd does (`get_next_page`): from the CPU's
//! first byte in steps of the page size, stopping after the page in which the
//! data ends. Compressed data is decompressed one chunk at a time. Each record
//! is decoded here, on the CPU's own thread: common fields, timestamp
//! correction, symbol lookups and, for other events, the printed body.

use std::fmt::Write;

use super::cursor::{DatResult, Fault};
use super::format::Field;
use super::kallsyms::SymCache;
use super::meta::{Meta, Plan};
use super::printfmt::{raw_fields, Ctx, PrintFmt};
use super::release::Releaser;
use super::ring::{page_header, Missed, PageRecords, RawRecord};
use super::sections::ChunkStream;
use crate::block::{flag, BlockRow, Extra, EVENT_IN_EXTRA, NONE32, NONE64};
use crate::progress::Progress;

/// Kinds of records, as counted in [`CpuStats::kinds`].
pub(crate) mod kind {
    /// ftrace `function`.
    pub const FUNCTION: usize = 0;
    /// ftrace `func_repeats`.
    pub const FUNC_REPEATS: usize = 1;
    /// ftrace `funcgraph_entry`.
    pub const GRAPH_ENTRY: usize = 2;
    /// ftrace `funcgraph_exit`.
    pub const GRAPH_EXIT: usize = 3;
    /// Any other known event (body in the batch text).
    pub const OTHER: usize = 4;
    /// A record whose type id has no format.
    pub const UNKNOWN: usize = 5;
}

/// The optional fields records of each [`kind`] may hold.
const MAY_HOLD: [u8; 6] = {
    use crate::block::field::*;
    [
        0,
        REPEATS | CALLTIME,
        DEPTH,
        DEPTH | REPEATS | CALLTIME | RETTIME,
        INFO,
        INFO,
    ]
};

/// Records of one CPU, in ring order, with the text they refer to.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    /// Records, as the rows of an event block.
    pub recs: Vec<BlockRow>,
    /// Their fields beyond the common ones ([`BlockRow::extra`]).
    pub extras: Vec<Extra>,
    /// Bodies of non-function events.
    pub text: String,
    /// Lost events announced by a page header, as (index in `recs` of the
    /// page's first record, count or `None` if the kernel did not store one).
    pub missed: Vec<(usize, Option<u64>)>,
    /// Optional fields the records may hold ([`crate::block::field`] bits).
    pub may_hold: u8,
}

/// Per-CPU counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct CpuStats {
    /// Pages read.
    pub pages: u64,
    /// Events lost (from page headers with a stored count).
    pub lost: u64,
    /// Pages flagged as having lost events without a count.
    pub lost_unknown_pages: u64,
    /// Records of each [`kind`].
    pub kinds: [u64; 6],
}

/// Where a CPU's pages come from.
#[derive(Debug)]
pub(crate) enum PageSource<'a> {
    /// Uncompressed: a slice of the file that starts at this file offset.
    Plain {
        /// The CPU's bytes.
        data: &'a [u8],
        /// File offset of `data[0]`.
        base: u64,
        /// Bytes consumed.
        pos: usize,
        /// Gives back decoded pages when `data` is a file map.
        release: Releaser,
    },
    /// Compressed chunks.
    Chunked(ChunkStream<'a>),
}

/// One CPU's record decoder.
#[derive(Debug)]
pub(crate) struct CpuStream<'a> {
    meta: &'a Meta,
    /// CPU id.
    pub cpu: u32,
    /// Ring buffer: 0 for the top one, 1… for named instances (all-buffers reads).
    pub buffer: u32,
    source: PageSource<'a>,
    page_size: usize,
    remaining: u64,
    /// A failure to report after the records decoded before it.
    pending: Option<Fault>,
    /// Counters so far.
    pub stats: CpuStats,
    /// Where to count the bytes of each page decoded.
    pub progress: Progress,
    /// Symbol lookups of this CPU's records.
    syms: Lookups,
    /// Batches the consumer is done with, to be refilled.
    spares: Vec<Batch>,
}

/// Batches kept for refilling, at most (more than are ever in flight).
const SPARES: usize = super::merge::DEPTH + 2;

/// Lookups a CPU's decoder remembers.
#[derive(Debug)]
pub(crate) struct Lookups {
    /// Symbols by address; `None` when the records' consumer resolves
    /// addresses itself (an event block's rows then carry no symbol ids).
    syms: Option<SymCache>,
}

impl<'a> CpuStream<'a> {
    /// A decoder for CPU `cpu` reading `source` of `size` bytes in pages of `page_size`.
    pub fn new(
        meta: &'a Meta,
        cpu: u32,
        source: PageSource<'a>,
        size: u64,
        page_size: usize,
    ) -> Self {
        CpuStream {
            meta,
            cpu,
            buffer: 0,
            source,
            page_size,
            remaining: size,
            pending: None,
            stats: CpuStats::default(),
            progress: Progress::default(),
            // No symbol cache until asked for one (`set_resolve`): a
            // sink that takes blocks resolves addresses itself, and the
            // cache's 256 KB were filled for nothing.
            syms: Lookups { syms: None },
            spares: Vec::new(),
        }
    }

    /// Take back a batch the consumer is done with: the next one is
    /// decoded into its memory, still in cache and already faulted in,
    /// instead of a fresh allocation (each CPU fills hundreds of them).
    pub fn recycle(&mut self, mut batch: Batch) {
        if self.spares.len() < SPARES {
            batch.recs.clear();
            batch.extras.clear();
            batch.text.clear();
            batch.missed.clear();
            batch.may_hold = 0;
            self.spares.push(batch);
        }
    }

    /// Release decoded pages of a memory-mapped file as the stream goes.
    pub fn set_mapped(&mut self, mapped: bool) {
        match &mut self.source {
            PageSource::Plain { release, .. } => release.set_mapped(mapped),
            PageSource::Chunked(z) => z.set_mapped(mapped),
        }
    }

    /// Resolve the records' addresses to symbols (the default), or leave
    /// [`BlockRow::function`] and [`BlockRow::parent`] unset for a
    /// consumer that resolves them once per distinct address.
    pub fn set_resolve(&mut self, resolve: bool) {
        self.syms.syms = resolve.then(SymCache::default);
    }

    /// This stream, tagged as belonging to ring buffer `buffer`.
    pub fn in_buffer(mut self, buffer: u32) -> Self {
        self.buffer = buffer;
        self
    }

    /// Bytes of ring-buffer pages left to decode.
    pub fn remaining(&self) -> u64 {
        self.remaining
    }

    /// True if there is nothing (left) to read.
    pub fn is_empty(&self) -> bool {
        self.remaining == 0
    }

    /// Decode whole pages until at least `want` records are collected; `None`
    /// at the end. A damaged page ends the stream with an error, returned by
    /// the call after the one that returns the records decoded before it.
    pub fn next_batch(&mut self, want: usize) -> DatResult<Option<Batch>> {
        if let Some(f) = self.pending.take() {
            self.remaining = 0;
            return Err(f);
        }
        // Room for the last page's records too (at least 8 bytes each):
        // growing the vector copied every batch several times.
        let mut batch = self.spares.pop().unwrap_or_default();
        batch
            .recs
            .reserve(want + self.page_size / 8 - batch.recs.len());
        let filled = self.fill(&mut batch, want);
        // Rows written with non-temporal stores ([`push_row`]) are seen by
        // another thread only after a store fence.
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `sfence` has no preconditions (SSE, part of x86-64).
        unsafe {
            std::arch::x86_64::_mm_sfence()
        };
        match filled {
            Ok(()) => {}
            Err(f) if batch.recs.is_empty() => {
                self.remaining = 0;
                return Err(f);
            }
            Err(f) => {
                self.pending = Some(f);
                return Ok(Some(batch));
            }
        }
        Ok((!batch.recs.is_empty() || self.remaining > 0).then_some(batch))
    }

    fn fill(&mut self, batch: &mut Batch, want: usize) -> DatResult<()> {
        while batch.recs.len() < want && self.remaining > 0 {
            let len = (self.page_size as u64).min(self.remaining) as usize;
            let meta = self.meta;
            let cpu = self.cpu;
            let compressed = matches!(self.source, PageSource::Chunked(_));
            let (page, page_at) = match &mut self.source {
                PageSource::Plain {
                    data,
                    base,
                    pos,
                    release,
                } => {
                    release.consumed(data, *pos);
                    let page = &data[*pos..*pos + len];
                    let at = *base + *pos as u64;
                    *pos += len;
                    (page, at)
                }
                PageSource::Chunked(z) => match z.next_page(len)? {
                    Some(p) => p,
                    None => {
                        return Err(Fault::invalid(
                            z.chunk_offset(),
                            format!("CPU {cpu} data (compressed chunks end early)"),
                        ))
                    }
                },
            };
            decode_page(
                meta,
                cpu,
                (page, page_at),
                compressed,
                batch,
                &mut self.stats,
                &mut self.syms,
            )?;
            self.progress.add(len as u64);
            if self.remaining <= self.page_size as u64 {
                self.remaining = 0;
            } else {
                self.remaining -= self.page_size as u64;
            }
        }
        Ok(())
    }
}

/// Decode one page (`page`, and the file offset it is reported at) into `batch`.
fn decode_page(
    meta: &Meta,
    cpu: u32,
    (page, page_at): (&[u8], u64),
    compressed: bool,
    batch: &mut Batch,
    stats: &mut CpuStats,
    syms: &mut Lookups,
) -> DatResult<()> {
    let fault = |at: usize, what: String| {
        if compressed {
            Fault::invalid(
                page_at,
                format!(
                    "{what} (CPU {cpu}, page of the compressed chunk at this offset, byte {at})"
                ),
            )
        } else {
            Fault::invalid(page_at + at as u64, format!("{what} (CPU {cpu})"))
        }
    };
    let h = page_header(page, &meta.layout).map_err(|e| fault(e.at, e.what))?;
    stats.pages += 1;
    let first = batch.recs.len();
    let missed = match h.missed {
        Missed::None => None,
        Missed::Unknown => {
            stats.lost_unknown_pages += 1;
            Some(None)
        }
        Missed::Count(n) => {
            stats.lost = stats.lost.saturating_add(n);
            Some(Some(n))
        }
    };
    for r in PageRecords::new(page, &meta.layout, &h) {
        let r = r.map_err(|e| fault(e.at, e.what))?;
        decode_record(meta, cpu, &r, batch, stats, syms).map_err(|what| fault(r.offset, what))?;
    }
    // Reported with the page's first record, as trace-cmd does; a page
    // without records carries its notice nowhere.
    if let (Some(m), true) = (missed, batch.recs.len() > first) {
        batch.missed.push((first, m));
    }
    Ok(())
}

#[inline(always)]
fn opt_u64(f: &Option<Field>, data: &[u8], big: bool) -> u64 {
    f.as_ref().and_then(|f| f.uint(data, big)).unwrap_or(NONE64)
}

/// `mul_u64_u32_shr` as trace-cmd implements it.
fn mul_u64_u32_shr(a: u64, mul: u64, shift: u32) -> u64 {
    let al = a & 0xffff_ffff;
    let ah = a >> 32;
    let mut ret = al.wrapping_mul(mul) >> (shift & 63);
    if ah != 0 {
        ret = ret.wrapping_add(ah.wrapping_mul(mul) << (32u32.wrapping_sub(shift) & 63));
    }
    ret
}

/// ftrace's `TRACE_FLAG_*` bits of `common_flags` as [`flag`] bits.
fn irq_flags(f: u8) -> u8 {
    let bit = |mask: u8, to: u8| if f & mask != 0 { to } else { 0 };
    bit(0x01, flag::IRQS_OFF)
        | bit(0x08, flag::HARDIRQ)
        | bit(0x10, flag::SOFTIRQ)
        | bit(0x40, flag::NMI)
}

fn decode_record(
    meta: &Meta,
    cpu: u32,
    r: &RawRecord<'_>,
    batch: &mut Batch,
    stats: &mut CpuStats,
    lookups: &mut Lookups,
) -> Result<(), String> {
    let syms = &mut lookups.syms;
    let big = meta.layout.big_endian;
    let data = r.data;
    let c = &meta.common;
    let (type_id, flags, pc, pid) = match data.get(..8) {
        Some(d) if c.usual_le => (
            u64::from(u16::from_le_bytes([d[0], d[1]])),
            d[2],
            d[3],
            i32::from_le_bytes([d[4], d[5], d[6], d[7]]),
        ),
        _ => {
            let type_id = c.type_field.uint(data, big).ok_or_else(|| {
                format!("record ({} bytes, too short for common_type)", data.len())
            })?;
            let flags = c
                .flags
                .as_ref()
                .and_then(|f| f.uint(data, big))
                .unwrap_or(0) as u8;
            let pc = c.pc.as_ref().and_then(|f| f.uint(data, big)).unwrap_or(0) as u8;
            let pid = c.pid.as_ref().and_then(|f| f.int(data, big)).unwrap_or(0) as i32;
            (type_id, flags, pc, pid)
        }
    };
    let mut ts = r.ts;
    if let Some(t) = meta.tsc2nsec {
        ts = mul_u64_u32_shr(ts, t.mult as i32 as i64 as u64, t.shift);
    }
    ts = ts.wrapping_add(meta.ts_offset as u64);
    let mut rec = BlockRow {
        ts: ts as i64,
        ip: NONE64,
        parent_ip: NONE64,
        cpu,
        pid,
        event: 0,
        extra: NONE32,
        flags: irq_flags(flags),
        preempt: pc & 0x0f,
    };
    // The fields beyond the common ones; `extra` says if any is set.
    let mut x = Extra::NONE;
    let mut extra = false;
    // The event's name id: its format's index (one past them: unknown).
    let event = |id: usize, x: &mut Extra, extra: &mut bool| match u16::try_from(id) {
        Ok(e) if e != EVENT_IN_EXTRA => e,
        _ => {
            x.event = id as u32;
            *extra = true;
            EVENT_IN_EXTRA
        }
    };
    let plan = meta
        .format_index(type_id)
        .and_then(|i| Some((i, meta.plan(i)?)));
    let Some((idx, plan)) = plan else {
        stats.kinds[kind::UNKNOWN] += 1;
        batch.may_hold |= MAY_HOLD[kind::UNKNOWN];
        rec.event = event(meta.formats.len(), &mut x, &mut extra);
        let start = batch.text.len();
        let _ = write!(batch.text, "type={}", type_id as u32);
        x.info = start as u32;
        x.info_len = (batch.text.len() - start) as u32;
        push(batch, rec, Some(x));
        return Ok(());
    };
    rec.event = event(idx, &mut x, &mut extra);
    let ks = &meta.kallsyms;
    let k = match plan {
        Plan::Function { ip, parent, le64 } => {
            let le = |at: usize| {
                at.checked_add(8)
                    .and_then(|end| data.get(at..end))
                    .map_or(NONE64, |b| {
                        u64::from_le_bytes(b.try_into().expect("8 bytes"))
                    })
            };
            (rec.ip, rec.parent_ip) = match *le64 {
                Some((i, p)) => (le(i), le(p)),
                None => (
                    ip.uint(data, big).unwrap_or(NONE64),
                    opt_u64(parent, data, big),
                ),
            };
            kind::FUNCTION
        }
        Plan::FuncRepeats {
            ip,
            parent,
            count,
            top,
            bottom,
        } => {
            rec.ip = ip.uint(data, big).unwrap_or(NONE64);
            rec.parent_ip = opt_u64(parent, data, big);
            x.repeats = count
                .as_ref()
                .and_then(|f| f.uint(data, big))
                .map_or(NONE32, |v| v as u32);
            let top = opt_u64(top, data, big);
            let bottom = opt_u64(bottom, data, big);
            if top != NONE64 && bottom != NONE64 {
                x.calltime = ts.wrapping_sub((top << 32) | bottom);
            }
            extra = true;
            kind::FUNC_REPEATS
        }
        Plan::GraphEntry { func, depth } => {
            rec.ip = func.uint(data, big).unwrap_or(NONE64);
            x.depth = depth
                .as_ref()
                .and_then(|f| f.int(data, big))
                .map_or(NONE32, |v| v as u32);
            extra = true;
            kind::GRAPH_ENTRY
        }
        Plan::GraphExit {
            func,
            depth,
            overrun,
            calltime,
            rettime,
        } => {
            rec.ip = func.uint(data, big).unwrap_or(NONE64);
            x.depth = depth
                .as_ref()
                .and_then(|f| f.int(data, big))
                .map_or(NONE32, |v| v as u32);
            x.repeats = overrun
                .as_ref()
                .and_then(|f| f.uint(data, big))
                .map_or(NONE32, |v| v as u32);
            x.calltime = opt_u64(calltime, data, big);
            x.rettime = opt_u64(rettime, data, big);
            extra = true;
            kind::GRAPH_EXIT
        }
        Plan::Other { print } => {
            let start = batch.text.len();
            // (A format with a plan parses.)
            let Some(ev) = meta.format(idx) else {
                return Err(format!("record of event {type_id} without its format"));
            };
            let cx = Ctx {
                big_endian: big,
                kallsyms: ks,
                printk: &meta.printk,
            };
            let ok = print
                .get_or_init(|| PrintFmt::compile(ev))
                .as_ref()
                .is_some_and(|p| p.render(ev, data, &cx, &mut batch.text));
            if !ok {
                batch.text.truncate(start);
                raw_fields(ev, data, big, &mut batch.text);
            }
            // trace-cmd drops one trailing newline from the line.
            if batch.text.len() > start && batch.text.ends_with('\n') {
                batch.text.pop();
            }
            x.info = start as u32;
            x.info_len = (batch.text.len() - start) as u32;
            extra = true;
            kind::OTHER
        }
    };
    // The symbols of the addresses, unless the consumer resolves them.
    if let Some(cache) = syms {
        if rec.ip != NONE64 {
            x.function = cache.lookup(ks, rec.ip);
            extra = true;
        }
        if rec.parent_ip != NONE64 {
            x.parent = cache.lookup(ks, rec.parent_ip);
            extra = true;
        }
    }
    stats.kinds[k] += 1;
    batch.may_hold |= MAY_HOLD[k];
    push(batch, rec, extra.then_some(x));
    Ok(())
}

/// Append `rec` to `batch`, with its `extra` fields if it has any.
#[inline(always)]
fn push(batch: &mut Batch, mut rec: BlockRow, extra: Option<Extra>) {
    if let Some(x) = extra {
        rec.extra = batch.extras.len() as u32;
        batch.extras.push(x);
    }
    push_row(&mut batch.recs, rec);
}

/// Append `row` to `rows`. Where there is room, the row is written with
/// non-temporal stores, around the caches: the batches go round between
/// this thread and the merging one, and an ordinary store first read each
/// line back from the other core's or the shared cache (a fifth of the page
/// walk's samples stalled on the first store of each row; streamed, the
/// ingest took 0.965-0.977x the time, docs/performance.md). The stores are
/// weakly ordered: [`CpuStream::next_batch`] fences them before the batch
/// leaves the thread.
#[inline(always)]
fn push_row(rows: &mut Vec<BlockRow>, row: BlockRow) {
    #[cfg(target_arch = "x86_64")]
    {
        // A row is five 8-byte words without padding.
        const _: () = assert!(std::mem::size_of::<BlockRow>() == 40);
        let n = rows.len();
        if n < rows.capacity() {
            // SAFETY: BlockRow is plain data of 40 bytes with no padding
            // (its fields add up to 40), so its bytes are five initialized
            // words; slot `n` is within the allocation (n < capacity) and
            // 8-byte aligned (BlockRow's alignment is 8); all 40 bytes of
            // the slot are written before the length takes it in.
            unsafe {
                let words: [i64; 5] = std::mem::transmute(row);
                let slot = rows.as_mut_ptr().add(n).cast::<i64>();
                for (k, &w) in words.iter().enumerate() {
                    std::arch::x86_64::_mm_stream_si64(slot.add(k), w);
                }
                rows.set_len(n + 1);
            }
            return;
        }
    }
    rows.push(row);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_pushed_with_or_without_room_read_back_as_written() {
        let row = |i: u64| BlockRow {
            ts: -(i as i64),
            ip: 0xffff_ffff_8100_0000 + i,
            parent_ip: i << 40,
            cpu: i as u32 * 3,
            pid: -(i as i32),
            extra: i as u32 ^ 0xdead,
            event: i as u16,
            flags: i as u8,
            preempt: (i * 7) as u8,
        };
        // Room for 5 (streamed), then pushes that grow the vector.
        let mut rows = Vec::with_capacity(5);
        let want: Vec<BlockRow> = (0..40).map(row).collect();
        for &r in &want {
            push_row(&mut rows, r);
        }
        assert_eq!(rows, want);
        // Read on another thread after the fence, as the merge does.
        #[cfg(target_arch = "x86_64")]
        // SAFETY: no preconditions.
        unsafe {
            std::arch::x86_64::_mm_sfence()
        };
        let back = std::thread::spawn(move || rows).join().unwrap();
        assert_eq!(back, want);
    }

    #[test]
    fn tsc_scaling_matches_trace_cmd() {
        assert_eq!(mul_u64_u32_shr(1000, 3, 1), 1500);
        let big = (5u64 << 32) | 7;
        assert_eq!(mul_u64_u32_shr(big, 2, 1), 7 + ((5 * 2) << 31));
    }
}
