//! The Parquet encodings of the events columns, written straight from a row
//! group's plain vectors ([`super::column`]) into column chunks.
//!
//! Every column chunk is one dictionary page (dictionary columns) and one
//! version-1 data page: definition levels (`RLE`, bit width 1, a single run
//! when the column has no nulls or only nulls), then the values:
//!
//! | column kind   | data page encoding      | values                                   |
//! |---------------|-------------------------|------------------------------------------|
//! | dictionary    | `RLE_DICTIONARY`        | bit width byte, RLE/bit-packed keys       |
//! | timestamps    | `DELTA_BINARY_PACKED`   | blocks of 128, 4 miniblocks of 32         |
//! | booleans      | `PLAIN`                 | bit-packed, LSB first                     |
//! | plain numbers | `PLAIN`                 | little-endian                             |
//! | plain strings | `PLAIN`                 | 4-byte length, bytes                      |
//!
//! Statistics are written per column chunk: null count always, minimum and
//! maximum in the column's logical order (unsigned for `UInt32`/`UInt64`).
//! Building Arrow arrays and letting polars-parquet encode them was a third
//! of ingest's instructions (docs/performance.md); these encoders touch each
//! value once.

use polars::prelude::PolarsResult;
use polars_parquet_format::{DataPageHeader, DictionaryPageHeader, Encoding, Statistics};

use super::column::Validity;
use super::file::{page_size, Chunk, RawPage, Zstd};

/// How the values of a dictionary are stored (the column's physical and
/// logical type).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum IntKind {
    /// `INT32`, signed.
    I32,
    /// `INT32` holding `UINT_32`.
    U32,
    /// `INT64` holding `UINT_64`.
    U64,
}

/// The values of one column of a row group, ready to encode.
pub(super) enum Values<'a> {
    /// Dictionary-encoded integers: `keys` (one per non-null row) index
    /// `dict`, which holds each value's bits (`i32` as its `u32` pattern).
    IntDict {
        keys: &'a [u32],
        dict: &'a [u64],
        kind: IntKind,
    },
    /// Dictionary-encoded strings.
    StrDict { keys: &'a [u32], dict: Strs<'a> },
    /// `i64` timestamps, delta-encoded (no nulls expected, but allowed).
    Delta(&'a [i64]),
    /// Booleans of the non-null rows: bit `bit` of each byte of `rows`.
    Flags { rows: &'a [u8], bit: u8 },
    /// `u64` values of the non-null rows, stored plain.
    PlainU64(&'a [u64]),
    /// Strings of the non-null rows: `text[ends[i-1]..ends[i]]`.
    PlainStr { text: &'a str, ends: &'a [u32] },
}

/// The values of a string dictionary, in key order.
#[derive(Clone, Copy)]
pub(super) enum Strs<'a> {
    /// The strings themselves.
    Own(&'a [Box<str>]),
    /// Indices into `strings` (names interned for a whole file).
    Interned {
        ids: &'a [u32],
        strings: &'a [Box<str>],
    },
}

impl<'a> Strs<'a> {
    fn len(self) -> usize {
        match self {
            Strs::Own(d) => d.len(),
            Strs::Interned { ids, .. } => ids.len(),
        }
    }

    fn iter(self) -> impl Iterator<Item = &'a str> + Clone {
        (0..self.len()).map(move |i| match self {
            Strs::Own(d) => &*d[i],
            Strs::Interned { ids, strings } => &*strings[ids[i] as usize],
        })
    }
}

/// Append `v` as ULEB128.
fn uleb(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Bits needed to store `max`.
fn bit_width(max: u32) -> u8 {
    (32 - max.leading_zeros()) as u8
}

/// Append `values` in the RLE/bit-packed hybrid encoding with `width` bits
/// per value (at most 32): a group of 8 equal values (counted from the end
/// of the previous run) starts an RLE run that takes every equal value after
/// it; everything else is bit-packed in groups of 8.
pub(super) fn hybrid(out: &mut Vec<u8>, values: &[u32], width: u8) {
    let n = values.len();
    let mut packed_from = 0; // first value not yet written
    let mut i = 0;
    while i + 8 <= n {
        let v = values[i];
        let group: &[u32; 8] = values[i..i + 8].try_into().expect("8 values");
        if group.iter().fold(true, |all, &x| all & (x == v)) {
            let mut j = i + 8;
            while j < n && values[j] == v {
                j += 1;
            }
            bit_pack(out, &values[packed_from..i], width);
            uleb(out, ((j - i) as u64) << 1);
            let bytes = usize::from(width).div_ceil(8);
            out.extend_from_slice(&v.to_le_bytes()[..bytes]);
            packed_from = j;
            i = j;
        } else {
            i += 8;
        }
    }
    bit_pack(out, &values[packed_from..], width);
}

/// Append `values` as one bit-packed run (groups of 8, the last one padded
/// with zeros).
fn bit_pack(out: &mut Vec<u8>, values: &[u32], width: u8) {
    if values.is_empty() {
        return;
    }
    let groups = values.len().div_ceil(8);
    uleb(out, ((groups as u64) << 1) | 1);
    let w = usize::from(width);
    let chunks = values.chunks_exact(8);
    let mut last = [0u32; 8];
    let rest = chunks.remainder();
    last[..rest.len()].copy_from_slice(rest);
    // Every group of 8, the last one padded.
    let all = chunks.chain((!rest.is_empty()).then_some(&last[..]));
    fn wide(group: &[u32]) -> impl Iterator<Item = u64> + '_ {
        group.iter().map(|&v| u64::from(v))
    }
    if w > 16 {
        for group in all {
            pack(out, wide(group), width);
        }
        return;
    }
    let start = out.len();
    out.resize(start + groups * w + 16, 0);
    for (g, group) in all.enumerate() {
        store_group(out, start + g * w, wide(group), w);
    }
    out.truncate(start + groups * w);
}

/// Store a group of 8 values of `w` bits (at most 16) at `at` of `out`,
/// LSB first: the `w` bytes are made in one 128-bit word and stored whole
/// (16 bytes, so `out` needs 16 bytes of room past the group's), the next
/// group written over the tail. Copying `w` bytes, a length the compiler
/// cannot see, was a call to `memcpy` per group (docs/performance.md).
#[inline(always)]
fn store_group(out: &mut [u8], at: usize, group: impl Iterator<Item = u64>, w: usize) {
    let mut acc: u128 = 0;
    for (k, v) in group.enumerate() {
        acc |= u128::from(v) << (k * w);
    }
    out[at..at + 16].copy_from_slice(&acc.to_le_bytes());
}

/// Append `values` in the `DELTA_BINARY_PACKED` encoding: blocks of 128
/// deltas in 4 miniblocks of 32, each bit-packed at its own width above the
/// block's smallest delta.
fn delta_binary_packed(out: &mut Vec<u8>, values: &[i64]) {
    const BLOCK: usize = 128;
    const MINI: usize = 32;
    uleb(out, BLOCK as u64);
    uleb(out, (BLOCK / MINI) as u64);
    uleb(out, values.len() as u64);
    let zigzag = |v: i64| ((v << 1) ^ (v >> 63)) as u64;
    let Some(&first) = values.first() else {
        uleb(out, 0);
        return;
    };
    uleb(out, zigzag(first));
    let mut deltas = [0u64; BLOCK];
    let mut prev = first;
    for block in values[1..].chunks(BLOCK) {
        let mut min = i64::MAX;
        for (d, &v) in deltas.iter_mut().zip(block) {
            let delta = v.wrapping_sub(prev);
            prev = v;
            min = min.min(delta);
            *d = delta as u64;
        }
        uleb(out, zigzag(min));
        let n = block.len();
        let mut widths = [0u8; BLOCK / MINI];
        for (m, w) in widths.iter_mut().enumerate().take(n.div_ceil(MINI)) {
            let mini = &mut deltas[m * MINI..((m + 1) * MINI).min(n)];
            let mut or = 0u64;
            for d in mini.iter_mut() {
                *d = d.wrapping_sub(min as u64);
                or |= *d;
            }
            *w = (64 - or.leading_zeros()) as u8;
        }
        out.extend_from_slice(&widths);
        for (m, &w) in widths.iter().enumerate().take(n.div_ceil(MINI)) {
            // A miniblock is always 32 values long; past the data, zeros.
            let start = m * MINI;
            let mut mini = [0u64; MINI];
            let end = (start + MINI).min(n);
            mini[..end - start].copy_from_slice(&deltas[start..end]);
            pack_mini(out, &mini, w);
        }
    }
}

/// [`pack`] for a miniblock of 32 values: up to 16 bits a value, by groups
/// of 8 ([`store_group`]), as [`bit_pack`] packs keys (through [`pack`]'s
/// 4-byte appends, packing the timestamps took 3.5 ns a value, as long as
/// compressing them, docs/performance.md).
fn pack_mini(out: &mut Vec<u8>, mini: &[u64; 32], width: u8) {
    if width > 16 {
        return pack(out, mini.iter().copied(), width);
    }
    let w = usize::from(width);
    let start = out.len();
    out.resize(start + 4 * w + 16, 0);
    for (g, group) in mini.chunks_exact(8).enumerate() {
        store_group(out, start + g * w, group.iter().copied(), w);
    }
    out.truncate(start + 4 * w);
}

/// Append `values` bit-packed at `width` (at most 64) bits each, LSB
/// first; a multiple of 8 values fills whole bytes. The bits go out eight
/// bytes at a time (a byte at a time, this was the longest part of
/// encoding the timestamps).
fn pack(out: &mut Vec<u8>, values: impl IntoIterator<Item = u64>, width: u8) {
    if width <= 32 {
        return pack_narrow(out, values, width);
    }
    let width = u32::from(width);
    let mut acc: u128 = 0;
    let mut bits = 0u32;
    for v in values {
        acc |= u128::from(v) << bits;
        bits += width;
        if bits >= 64 {
            out.extend_from_slice(&(acc as u64).to_le_bytes());
            acc >>= 64;
            bits -= 64;
        }
    }
    out.extend_from_slice(&(acc as u64).to_le_bytes()[..bits.div_ceil(8) as usize]);
}

/// [`pack`] for widths up to 32, in a 64-bit accumulator (the 128-bit
/// one's shifts were a sixth of encoding a row group's columns).
fn pack_narrow(out: &mut Vec<u8>, values: impl IntoIterator<Item = u64>, width: u8) {
    let width = u32::from(width);
    let mut acc: u64 = 0;
    let mut bits = 0u32;
    for v in values {
        acc |= v << bits;
        bits += width;
        if bits >= 32 {
            out.extend_from_slice(&(acc as u32).to_le_bytes());
            acc >>= 32;
            bits -= 32;
        }
    }
    out.extend_from_slice(&acc.to_le_bytes()[..bits.div_ceil(8) as usize]);
}

/// Append the definition levels of `validity` (max level 1) with their
/// 4-byte length prefix.
fn def_levels(out: &mut Vec<u8>, validity: &Validity) {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    let n = validity.len() as u64;
    match validity.bits() {
        None => {
            // One RLE run: all 1 (values) or all 0 (nulls).
            if n > 0 {
                uleb(out, n << 1);
                out.push(u8::from(validity.nulls() == 0));
            }
        }
        Some(bits) => {
            // Bit width 1, bit-packed LSB first: the validity bitmap itself.
            let groups = validity.len().div_ceil(8);
            uleb(out, ((groups as u64) << 1) | 1);
            out.extend_from_slice(&bits[..groups]);
        }
    }
    let len = (out.len() - at - 4) as u32;
    out[at..at + 4].copy_from_slice(&len.to_le_bytes());
}

/// Append `v` PLAIN-encoded as `kind` (4 or 8 bytes, little-endian).
fn put_int(out: &mut Vec<u8>, v: u64, kind: IntKind) {
    match kind {
        IntKind::I32 | IntKind::U32 => out.extend_from_slice(&(v as u32).to_le_bytes()),
        IntKind::U64 => out.extend_from_slice(&v.to_le_bytes()),
    }
}

/// Append `s` PLAIN-encoded (4-byte length, bytes).
fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// Minimum and maximum of `values` in the order of `kind`, as statistics
/// store them.
fn int_stats(values: impl Iterator<Item = u64>, kind: IntKind) -> Option<(Vec<u8>, Vec<u8>)> {
    let bytes = |v| {
        let mut b = Vec::with_capacity(8);
        put_int(&mut b, v, kind);
        b
    };
    int_range(values, kind).map(|(lo, hi)| (bytes(lo), bytes(hi)))
}

/// Byte-wise minimum and maximum of `values`, as statistics store them.
fn str_stats<'a>(values: impl Iterator<Item = &'a str>) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut range: Option<(&[u8], &[u8])> = None;
    for v in values.map(str::as_bytes) {
        range = Some(match range {
            None => (v, v),
            Some((lo, hi)) => (lo.min(v), hi.max(v)),
        });
    }
    range.map(|(lo, hi)| (lo.to_vec(), hi.to_vec()))
}

/// Append the keys of a dictionary of `len` values: their bit width, then
/// the keys RLE/bit-packed.
fn dict_keys(out: &mut Vec<u8>, keys: &[u32], len: usize) {
    let width = bit_width(len.saturating_sub(1) as u32).max(1);
    out.push(width);
    hybrid(out, keys, width);
}

/// Minimum and maximum of `values` in the order of `kind`.
fn int_range(values: impl Iterator<Item = u64>, kind: IntKind) -> Option<(u64, u64)> {
    let key = |v: u64| match kind {
        IntKind::I32 => i64::from(v as u32 as i32) as i128,
        IntKind::U32 | IntKind::U64 => v as i128,
    };
    let mut range: Option<(u64, u64)> = None;
    for v in values {
        range = Some(match range {
            None => (v, v),
            Some((lo, hi)) => (
                if key(v) < key(lo) { v } else { lo },
                if key(v) > key(hi) { v } else { hi },
            ),
        });
    }
    range
}

fn statistics(nulls: usize, range: Option<(Vec<u8>, Vec<u8>)>) -> Statistics {
    let (min_value, max_value) = match range {
        Some((lo, hi)) => (Some(lo), Some(hi)),
        None => (None, None),
    };
    Statistics {
        max: None,
        min: None,
        null_count: Some(nulls as i64),
        distinct_count: None,
        max_value,
        min_value,
        is_max_value_exact: None,
        is_min_value_exact: None,
    }
}

fn data_header(rows: usize, encoding: Encoding) -> PolarsResult<DataPageHeader> {
    Ok(DataPageHeader {
        num_values: page_size(rows)?,
        encoding,
        definition_level_encoding: Encoding::RLE,
        repetition_level_encoding: Encoding::RLE,
        statistics: None,
    })
}

/// Buffers and compression context of one encoding thread, reused column
/// after column.
pub(super) struct Scratch {
    dict: Vec<u8>,
    data: Vec<u8>,
    zstd: Zstd,
}

impl Scratch {
    /// Buffers for compressing with zstd at `level`.
    pub(super) fn new(level: i32) -> std::io::Result<Scratch> {
        Ok(Scratch {
            dict: Vec::new(),
            data: Vec::new(),
            zstd: Zstd::new(level)?,
        })
    }
}

/// Encode one column of a row group (its `validity` and `values`) as a
/// compressed column chunk, into `bytes` (emptied first: the memory of an
/// earlier chunk).
pub(super) fn encode_column(
    validity: &Validity,
    values: Values<'_>,
    scratch: &mut Scratch,
    bytes: Vec<u8>,
) -> PolarsResult<Chunk> {
    encode_pages(validity, values, scratch, true, bytes)
}

/// [`encode_column`] without the data page, for a dictionary-encoded
/// column whose data page is another column's
/// ([`Chunk::take_data_pages_of`]).
pub(super) fn encode_dictionary(
    validity: &Validity,
    values: Values<'_>,
    scratch: &mut Scratch,
    bytes: Vec<u8>,
) -> PolarsResult<Chunk> {
    encode_pages(validity, values, scratch, false, bytes)
}

fn encode_pages(
    validity: &Validity,
    values: Values<'_>,
    scratch: &mut Scratch,
    data_page: bool,
    bytes: Vec<u8>,
) -> PolarsResult<Chunk> {
    let Scratch { dict, data, zstd } = scratch;
    dict.clear();
    data.clear();
    if data_page {
        def_levels(data, validity);
    }
    let rows = validity.len();
    let nulls = validity.nulls();
    let mut dict_values = None;
    let (encoding, stats) = match values {
        Values::IntDict {
            keys,
            dict: d,
            kind,
        } => {
            for &v in d {
                put_int(dict, v, kind);
            }
            dict_values = Some(d.len());
            if data_page {
                dict_keys(data, keys, d.len());
            }
            let range = int_stats(d.iter().copied(), kind);
            (Encoding::RLE_DICTIONARY, statistics(nulls, range))
        }
        Values::StrDict { keys, dict: d } => {
            for s in d.iter() {
                put_str(dict, s);
            }
            dict_values = Some(d.len());
            if data_page {
                dict_keys(data, keys, d.len());
            }
            let range = str_stats(d.iter());
            (Encoding::RLE_DICTIONARY, statistics(nulls, range))
        }
        Values::Delta(v) => {
            delta_binary_packed(data, v);
            // One pass for both ends, in lanes the compiler vectorizes.
            let (lo, hi) = v
                .iter()
                .fold((i64::MAX, i64::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)));
            let range =
                (!v.is_empty()).then(|| (lo.to_le_bytes().to_vec(), hi.to_le_bytes().to_vec()));
            (Encoding::DELTA_BINARY_PACKED, statistics(nulls, range))
        }
        Values::Flags { rows: r, bit } => {
            // PLAIN booleans: bit-packed, LSB first.
            let (mut ones, mut zeros) = (0u8, 0u8);
            for group in r.chunks(8) {
                // Bit `bit` of 8 flag bytes gathered into one byte: each
                // byte's bit moved to the bottom, then a multiply that
                // sums byte j's bit into bit 56 + j (no two sums carry).
                let mut word = [0u8; 8];
                word[..group.len()].copy_from_slice(group);
                let lows = u64::from_le_bytes(word) >> bit & 0x0101_0101_0101_0101;
                let byte = (lows.wrapping_mul(0x0102_0408_1020_4080) >> 56) as u8;
                ones |= byte;
                zeros |= !byte & (0xff >> (8 - group.len()));
                data.push(byte);
            }
            let range =
                (!r.is_empty()).then(|| (vec![u8::from(zeros == 0)], vec![u8::from(ones != 0)]));
            (Encoding::PLAIN, statistics(nulls, range))
        }
        Values::PlainU64(v) => {
            for &x in v {
                put_int(data, x, IntKind::U64);
            }
            let range = int_stats(v.iter().copied(), IntKind::U64);
            (Encoding::PLAIN, statistics(nulls, range))
        }
        Values::PlainStr { text, ends } => {
            let values = ends.iter().scan(0usize, |start, &end| {
                let s = &text[*start..end as usize];
                *start = end as usize;
                Some(s)
            });
            for s in values.clone() {
                put_str(data, s);
            }
            (Encoding::PLAIN, statistics(nulls, str_stats(values)))
        }
    };
    let mut pages = Vec::with_capacity(2);
    if let Some(num_values) = dict_values {
        pages.push(RawPage::Dictionary {
            header: DictionaryPageHeader {
                num_values: page_size(num_values)?,
                encoding: Encoding::PLAIN,
                is_sorted: None,
            },
            bytes: &dict[..],
        });
    }
    if data_page {
        pages.push(RawPage::Data {
            header: data_header(rows, encoding)?,
            bytes: &data[..],
        });
    }
    Chunk::compress(&pages, rows, Some(stats), zstd, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decode the RLE/bit-packed hybrid (the Parquet specification's
    /// grammar), `n` values of `width` bits.
    fn unhybrid(mut b: &[u8], width: u8, n: usize) -> Vec<u32> {
        let mut out = Vec::new();
        let read_uleb = |b: &mut &[u8]| {
            let (mut v, mut shift) = (0u64, 0);
            loop {
                let byte = b[0];
                *b = &b[1..];
                v |= u64::from(byte & 0x7f) << shift;
                shift += 7;
                if byte & 0x80 == 0 {
                    return v;
                }
            }
        };
        while out.len() < n {
            let h = read_uleb(&mut b);
            if h & 1 == 1 {
                let count = (h >> 1) as usize * 8;
                let bytes = (h >> 1) as usize * usize::from(width);
                let (packed, rest) = b.split_at(bytes);
                for i in 0..count {
                    let mut v = 0u32;
                    for bit in 0..usize::from(width) {
                        let at = i * usize::from(width) + bit;
                        v |= u32::from(packed[at / 8] >> (at % 8) & 1) << bit;
                    }
                    out.push(v);
                }
                b = rest;
            } else {
                let count = (h >> 1) as usize;
                let bytes = usize::from(width).div_ceil(8);
                let mut v = [0u8; 4];
                v[..bytes].copy_from_slice(&b[..bytes]);
                b = &b[bytes..];
                out.extend(std::iter::repeat_n(u32::from_le_bytes(v), count));
            }
        }
        out.truncate(n);
        out
    }

    #[test]
    fn hybrid_round_trips_runs_and_scattered_values() {
        let cases: Vec<Vec<u32>> = vec![
            vec![],
            vec![5],
            vec![3; 100],
            (0..37).map(|i| i % 5).collect(),
            [
                vec![1, 2, 3],
                vec![9; 20],
                vec![4, 5],
                vec![7; 8],
                vec![0; 3],
            ]
            .concat(),
            (0..1000)
                .map(|i| if i % 100 < 60 { 42 } else { i * 7 % 1000 })
                .collect(),
            (0..300u32)
                .map(|i| i.wrapping_mul(2_654_435_761) >> 9)
                .collect(),
            (0..77u32).map(|i| i.wrapping_mul(2_654_435_761)).collect(),
        ];
        for values in cases {
            let max = values.iter().copied().max().unwrap_or(0);
            let width = bit_width(max).max(1);
            let mut out = Vec::new();
            hybrid(&mut out, &values, width);
            assert_eq!(unhybrid(&out, width, values.len()), values, "{values:?}");
        }
    }

    #[test]
    fn a_miniblock_packs_as_the_general_packing_does_at_every_width() {
        for width in 0..=64u8 {
            let max = if width == 64 {
                u64::MAX
            } else {
                (1u64 << width) - 1
            };
            let mini: [u64; 32] =
                std::array::from_fn(|i| (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) & max);
            let (mut fast, mut general) = (vec![7u8], vec![7u8]);
            pack_mini(&mut fast, &mini, width);
            pack(&mut general, mini, width);
            assert_eq!(fast, general, "width {width}");
            assert_eq!(fast.len(), 1 + 4 * usize::from(width), "width {width}");
        }
    }

    #[test]
    fn long_runs_become_rle_runs() {
        let mut out = Vec::new();
        hybrid(&mut out, &[7; 1000], 3);
        // One RLE run: header 1000 << 1 as ULEB128 (2 bytes), one value byte.
        assert_eq!(out, vec![0xd0, 0x0f, 7]);
    }

    #[test]
    fn definition_levels_are_one_run_unless_mixed() {
        let mut v = Validity::default();
        for _ in 0..10 {
            v.push(true);
        }
        let mut out = Vec::new();
        def_levels(&mut out, &v);
        assert_eq!(out, vec![2, 0, 0, 0, 20, 1]);
        v.push(false);
        out.clear();
        def_levels(&mut out, &v);
        // 11 levels: two groups, bits LSB first.
        assert_eq!(out, vec![3, 0, 0, 0, 0b101, 0xff, 0b011]);
    }
}
