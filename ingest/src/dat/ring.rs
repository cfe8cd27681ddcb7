//! Ring-buffer pages ("sub-buffers") and the records in them, decoded the
//! way libtraceevent's kbuffer does for `trace-cmd report`.
//!
//! A page starts with a header (offsets from `header_page`): a 64-bit
//! timestamp and a kernel-long `commit` word whose low 27 bits are the number
//! of data bytes; bit 31 flags events lost before this page, and bit 30 says
//! the lost count is stored as a long right after the data. Records follow,
//! each with a 32-bit header `type_len:5 | time_delta:27` (bit order flipped on
//! big-endian machines):
//!
//! | type_len | record                                                          |
//! |----------|-----------------------------------------------------------------|
//! | 0        | data; length in `array[0]` (includes itself), payload after it  |
//! | 1..=28   | data; payload of `type_len * 4` bytes                            |
//! | 29       | padding; `time_delta == 0`: rest of page, else a discarded record, `array[0]` bytes after its header word |
//! | 30       | time extend: `delta + (array[0] << 27)` added to the clock       |
//! | 31       | absolute timestamp `(array[0] << 27) + delta`, top 5 bits kept   |
//!
//! Like kbuffer, the delta of a discarded record is added to the clock.

use super::cursor::read_uint;
use super::header::PageLayout;

const COMMIT_MASK: u64 = (1 << 27) - 1;
const MISSING_EVENTS: u64 = 1 << 31;
const MISSING_STORED: u64 = 1 << 30;
const TS_SHIFT: u32 = 27;
const TS_MSB: u64 = 0xf8 << 56;

const TYPE_PADDING: u32 = 29;
const TYPE_TIME_EXTEND: u32 = 30;
const TYPE_TIME_STAMP: u32 = 31;

/// A decoding problem at a byte offset within the page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PageError {
    /// Offset in the page.
    pub at: usize,
    /// What was wrong (completes "Invalid trace.dat ...").
    pub what: String,
}

fn err(at: usize, what: impl Into<String>) -> PageError {
    PageError {
        at,
        what: what.into(),
    }
}

/// Events the kernel lost before a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Missed {
    /// None lost.
    None,
    /// Some lost, count not recorded.
    Unknown,
    /// This many lost.
    Count(u64),
}

/// A decoded page header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PageHeader {
    /// Page timestamp (clock at the start of the page).
    pub ts: u64,
    /// Bytes of record data.
    pub commit: usize,
    /// Events lost before this page.
    pub missed: Missed,
}

/// Decode the header of `page` (which may be shorter than a full page at the
/// end of a CPU's data).
pub(crate) fn page_header(page: &[u8], l: &PageLayout) -> Result<PageHeader, PageError> {
    if page.len() < l.data_offset {
        return Err(err(
            0,
            format!(
                "page ({} bytes, shorter than its {}-byte header)",
                page.len(),
                l.data_offset
            ),
        ));
    }
    let ts = read_uint(&page[l.ts_offset..], 8, l.big_endian).unwrap_or(0);
    let flags = read_uint(&page[l.commit_offset..], l.commit_size, l.big_endian).unwrap_or(0);
    let commit = (flags & COMMIT_MASK) as usize;
    let room = page.len() - l.data_offset;
    if commit > room {
        return Err(err(
            l.commit_offset,
            format!("page header (commit {commit} beyond the {room} data bytes of the page)"),
        ));
    }
    let missed = if flags & MISSING_EVENTS == 0 {
        Missed::None
    } else if flags & MISSING_STORED != 0 {
        let at = l.data_offset + commit;
        match page
            .get(at..)
            .and_then(|b| read_uint(b, l.commit_size, l.big_endian))
        {
            Some(n) => Missed::Count(n),
            None => {
                return Err(err(
                    at,
                    "page header (lost-events count beyond the page end)",
                ));
            }
        }
    } else {
        Missed::Unknown
    };
    Ok(PageHeader { ts, commit, missed })
}

/// One data record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RawRecord<'p> {
    /// Timestamp (raw clock, before any trace.dat time offset).
    pub ts: u64,
    /// Payload (starts with the event's common fields).
    pub data: &'p [u8],
    /// Offset of the record header in the page.
    pub offset: usize,
}

/// The data records of one page, in order.
#[derive(Clone, Debug)]
pub(crate) struct PageRecords<'p> {
    page: &'p [u8],
    layout: PageLayout,
    size: usize,
    next: usize,
    ts: u64,
    done: bool,
}

impl<'p> PageRecords<'p> {
    /// Iterate the records of `page`, whose header is `h`.
    pub fn new(page: &'p [u8], layout: &PageLayout, h: &PageHeader) -> PageRecords<'p> {
        PageRecords {
            page,
            layout: *layout,
            size: h.commit,
            next: 0,
            ts: h.ts,
            done: false,
        }
    }

    #[inline(always)]
    fn read4(&self, pos: usize) -> Result<u32, PageError> {
        let at = self.layout.data_offset + pos;
        self.page
            .get(at..)
            .and_then(|b| read_uint(b, 4, self.layout.big_endian))
            .map(|v| v as u32)
            .ok_or_else(|| err(at, "record (header beyond the page end)"))
    }

    #[inline(always)]
    fn step(&mut self) -> Result<Option<RawRecord<'p>>, PageError> {
        loop {
            let curr = self.next;
            if curr >= self.size {
                return Ok(None);
            }
            let word = self.read4(curr)?;
            let (type_len, delta) = if self.layout.big_endian {
                (word >> 27, word & ((1 << 27) - 1))
            } else {
                (word & 31, word >> 5)
            };
            let delta = u64::from(delta);
            let (index, length) = match type_len {
                TYPE_PADDING => {
                    if delta == 0 {
                        // Null padding: nothing more on this page.
                        return Ok(None);
                    }
                    self.ts = self.ts.wrapping_add(delta);
                    (curr + 4, self.read4(curr + 4)? as usize)
                }
                TYPE_TIME_EXTEND => {
                    let ext = u64::from(self.read4(curr + 4)?);
                    self.ts = self.ts.wrapping_add((ext << TS_SHIFT) + delta);
                    (curr + 8, 0)
                }
                TYPE_TIME_STAMP => {
                    let ext = u64::from(self.read4(curr + 4)?);
                    self.ts = ((ext << TS_SHIFT) + delta) | (self.ts & TS_MSB);
                    (curr + 8, 0)
                }
                0 => {
                    let len = self.read4(curr + 4)?;
                    if len < 4 {
                        return Err(err(
                            self.layout.data_offset + curr,
                            format!("record (length word {len})"),
                        ));
                    }
                    self.ts = self.ts.wrapping_add(delta);
                    (curr + 8, ((len - 4 + 3) & !3) as usize)
                }
                n => {
                    self.ts = self.ts.wrapping_add(delta);
                    (curr + 4, n as usize * 4)
                }
            };
            self.next = index + length;
            if matches!(type_len, TYPE_PADDING | TYPE_TIME_EXTEND | TYPE_TIME_STAMP) {
                continue;
            }
            let start = self.layout.data_offset + index;
            let end = start + length;
            let Some(data) = self.page.get(start..end) else {
                return Err(err(
                    self.layout.data_offset + curr,
                    format!("record ({length} bytes beyond the page end)"),
                ));
            };
            return Ok(Some(RawRecord {
                ts: self.ts,
                data,
                offset: self.layout.data_offset + curr,
            }));
        }
    }
}

impl<'p> Iterator for PageRecords<'p> {
    type Item = Result<RawRecord<'p>, PageError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.step() {
            Ok(Some(r)) => Some(Ok(r)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LE64: PageLayout = PageLayout {
        ts_offset: 0,
        commit_offset: 8,
        commit_size: 8,
        data_offset: 16,
        big_endian: false,
    };

    /// A record header word: type_len in the low 5 bits, delta above.
    fn hdr(type_len: u32, delta: u32) -> [u8; 4] {
        (type_len | (delta << 5)).to_le_bytes()
    }

    fn page(ts: u64, commit: u64, body: &[&[u8]], total: usize) -> Vec<u8> {
        let mut p = Vec::new();
        p.extend_from_slice(&ts.to_le_bytes());
        p.extend_from_slice(&commit.to_le_bytes());
        for b in body {
            p.extend_from_slice(b);
        }
        p.resize(total, 0);
        p
    }

    fn decode(p: &[u8]) -> Result<Vec<(u64, Vec<u8>)>, PageError> {
        let h = page_header(p, &LE64)?;
        PageRecords::new(p, &LE64, &h)
            .map(|r| r.map(|r| (r.ts, r.data.to_vec())))
            .collect()
    }

    #[rustfmt::skip]
    #[test]
    fn data_records_and_time_extend() {
        let p = page(1000, 28, &[
            &hdr(1, 5),                     // data, 4-byte payload, delta 5
            &[0xaa, 0xbb, 0xcc, 0xdd],      //   payload
            &hdr(30, 3),                    // time extend: delta 3 ...
            &2u32.to_le_bytes(),            //   ... + (2 << 27)
            &hdr(2, 7),                     // data, 8-byte payload, delta 7
            &[1, 2, 3, 4, 5, 6, 7, 8],      //   payload
        ], 64);
        let recs = decode(&p).unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0], (1005, vec![0xaa, 0xbb, 0xcc, 0xdd]));
        assert_eq!(recs[1].0, 1005 + 3 + (2 << 27) + 7);
        assert_eq!(recs[1].1, vec![1, 2, 3, 4, 5, 6, 7, 8]);
    }

    #[rustfmt::skip]
    #[test]
    fn absolute_timestamp_keeps_top_bits() {
        let base = 0xf800_0000_0000_0000u64 | 1000;
        let p = page(base, 16, &[
            &hdr(31, 9),                    // absolute timestamp: delta 9 ...
            &1u32.to_le_bytes(),            //   ... + (1 << 27)
            &hdr(1, 1),                     // data, delta 1
            &[0, 0, 0, 0],                  //   payload
        ], 64);
        let recs = decode(&p).unwrap();
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].0, (0xf8u64 << 56) | (((1 << 27) + 9) + 1));
    }

    #[rustfmt::skip]
    #[test]
    fn padding_discarded_and_null() {
        let p = page(100, 40, &[
            &hdr(29, 4),                    // discarded record, delta 4 (added, like kbuffer)
            &12u32.to_le_bytes(),           //   12 bytes after the header: this word + 8
            &[0xee; 8],                     //   discarded payload
            &hdr(1, 1),                     // data, delta 1
            &[9, 9, 9, 9],                  //   payload
            &hdr(29, 0),                    // null padding: end of page
            &[0; 4],                        //   (no length)
            &hdr(1, 1),                     // never reached
            &[7, 7, 7, 7],
        ], 64);
        let recs = decode(&p).unwrap();
        assert_eq!(recs, vec![(105, vec![9, 9, 9, 9])]);
    }

    #[rustfmt::skip]
    #[test]
    fn long_record_length_word() {
        let mut payload = vec![0x11u8; 120];
        payload[0] = 0x22;
        let p = page(0, 128, &[
            &hdr(0, 2),                     // type_len 0: length in array[0]
            &124u32.to_le_bytes(),          //   array[0] = payload + 4
            &payload,                       //   120-byte payload
        ], 256);
        let recs = decode(&p).unwrap();
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].0, 2);
        assert_eq!(recs[0].1.len(), 120);
        assert_eq!(recs[0].1[0], 0x22);
    }

    #[rustfmt::skip]
    #[test]
    fn missed_events_flags() {
        let flags = MISSING_EVENTS | MISSING_STORED | 8;
        let p = page(0, flags, &[
            &hdr(1, 0), &[0; 4],            // one 8-byte record (commit 8)
            &42u64.to_le_bytes(),           // lost count stored after the data
        ], 64);
        let h = page_header(&p, &LE64).unwrap();
        assert_eq!((h.commit, h.missed), (8, Missed::Count(42)));
        let p = page(0, MISSING_EVENTS | 8, &[&hdr(1, 0), &[0; 4]], 64);
        assert_eq!(page_header(&p, &LE64).unwrap().missed, Missed::Unknown);
        let p = page(0, 8, &[&hdr(1, 0), &[0; 4]], 64);
        assert_eq!(page_header(&p, &LE64).unwrap().missed, Missed::None);
        // Stored count that does not fit in the page.
        let p = page(0, MISSING_EVENTS | MISSING_STORED | 44, &[], 64);
        assert!(page_header(&p, &LE64).is_err());
    }

    #[rustfmt::skip]
    #[test]
    fn commit_beyond_page_and_truncation() {
        // commit larger than the page's data area
        let p = page(0, 100, &[], 64);
        let e = page_header(&p, &LE64).unwrap_err();
        assert_eq!(e.at, 8);
        assert!(e.what.contains("commit 100"), "{}", e.what);
        // page shorter than its header
        assert!(page_header(&[0u8; 10], &LE64).is_err());
        // record whose payload runs past the end of a truncated page
        let p = page(0, 8, &[
            &hdr(4, 0),                     // claims 16 bytes of payload
            &[0; 4],                        //   only 4 present before the page ends
        ], 24);
        let e = decode(&p).unwrap_err();
        assert_eq!(e.at, 16);
        // time extend whose array word is cut off
        let p = page(0, 4, &[&hdr(30, 0)], 20);
        assert!(decode(&p).is_err());
        // bad length word
        let p = page(0, 8, &[&hdr(0, 0), &2u32.to_le_bytes()], 64);
        assert!(decode(&p).is_err());
    }

    #[rustfmt::skip]
    #[test]
    fn big_endian_page() {
        let be = PageLayout { big_endian: true, commit_size: 4, data_offset: 12, ..LE64 };
        let mut p = Vec::new();
        p.extend_from_slice(&500u64.to_be_bytes());          // timestamp
        p.extend_from_slice(&8u32.to_be_bytes());            // commit (4-byte long)
        p.extend_from_slice(&((1u32 << 27) | 6).to_be_bytes()); // type_len 1 in the top bits, delta 6
        p.extend_from_slice(&[1, 2, 3, 4]);                  // payload
        p.resize(64, 0);
        let h = page_header(&p, &be).unwrap();
        let recs: Vec<_> = PageRecords::new(&p, &be, &h).collect::<Result<_, _>>().unwrap();
        assert_eq!(recs.len(), 1);
        assert_eq!((recs[0].ts, recs[0].data), (506, &[1u8, 2, 3, 4][..]));
    }
}
