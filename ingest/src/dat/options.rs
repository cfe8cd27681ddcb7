//! trace.dat options: `<id:2> <size:4> <data>` records.
//!
//! In v6 one list follows the CPU count and ends with a bare id 0. In v7 each
//! options section (section id 0, possibly compressed) ends with a DONE option
//! whose 8-byte payload is the offset of the next options section (0: last);
//! the chain is followed with a guard against loops.

use std::collections::HashSet;

use super::cursor::{c_text, Cursor, DatResult, Fault};
use super::sections::{id, read_block, section_header, Decompressor};

/// Option ids (trace-cmd's `TRACECMD_OPTION_*`).
mod opt {
    pub const DONE: u16 = 0;
    pub const DATE: u16 = 1;
    pub const CPUSTAT: u16 = 2;
    pub const BUFFER: u16 = 3;
    pub const TRACECLOCK: u16 = 4;
    pub const UNAME: u16 = 5;
    pub const OFFSET: u16 = 7;
    pub const CPUCOUNT: u16 = 8;
    pub const VERSION: u16 = 9;
    pub const TRACEID: u16 = 11;
    pub const TIME_SHIFT: u16 = 12;
    pub const TSC2NSEC: u16 = 14;
    pub const BUFFER_TEXT: u16 = 22;
}

/// Largest CPU id accepted (Linux allows at most 8192 CPUs): CPU numbers size
/// per-CPU tables, so a damaged file must not be able to ask for billions.
pub(crate) const MAX_CPUS: u32 = 1 << 16;

/// One CPU's data in a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CpuData {
    /// CPU id.
    pub cpu: u32,
    /// File offset of the data (of the chunk table if compressed).
    pub offset: u64,
    /// Size in the file.
    pub size: u64,
}

/// A trace buffer (the top one has an empty name).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Buffer {
    /// Instance name (`""` for the top buffer).
    pub name: String,
    /// v7: offset of the buffer's section; v6: offset of its "options"/"flyrecord" tag.
    pub offset: u64,
    /// Trace clock (v7).
    pub clock: Option<String>,
    /// Ring-buffer page size (v7).
    pub page_size: Option<u32>,
    /// CPU data (v7; v6 reads it at `offset`).
    pub cpus: Vec<CpuData>,
    /// Latency (text) buffer rather than flyrecord pages.
    pub latency: bool,
}

/// TSC to nanoseconds conversion.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Tsc2Nsec {
    /// Multiplier.
    pub mult: u32,
    /// Shift.
    pub shift: u32,
    /// Offset (recorded, not applied by trace-cmd's reader).
    pub offset: u64,
}

/// Everything the options say.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FileOptions {
    /// DATE option text.
    pub date: Option<String>,
    /// OFFSET option text.
    pub offset: Option<String>,
    /// CPUSTAT texts, one per CPU.
    pub cpustats: Vec<String>,
    /// Buffers in file order.
    pub buffers: Vec<Buffer>,
    /// TRACECLOCK option text (v7 carries the clock file here; v6 only flags it).
    pub trace_clock: Option<String>,
    /// uname of the traced machine.
    pub uname: Option<String>,
    /// trace-cmd version that wrote the file.
    pub version: Option<String>,
    /// CPUCOUNT.
    pub cpu_count: Option<u32>,
    /// TRACEID.
    pub trace_id: Option<u64>,
    /// TSC2NSEC.
    pub tsc2nsec: Option<Tsc2Nsec>,
    /// TIME_SHIFT present (guest/host sync; not applied).
    pub time_shift: bool,
    /// v7 metadata section offsets: (section id, offset).
    pub sections: Vec<(u16, u64)>,
    /// Option ids seen that are not interpreted.
    pub unknown: Vec<u16>,
}

impl FileOptions {
    /// The time offset trace-cmd adds to every timestamp: DATE (µs → ns) plus OFFSET.
    pub fn ts_offset(&self) -> i64 {
        let mut off = 0i64;
        if let Some(d) = &self.date {
            off = off.wrapping_add(strtoll(d).wrapping_mul(1000));
        }
        if let Some(o) = &self.offset {
            off = off.wrapping_add(strtoll(o));
        }
        off
    }
}

/// `strtoll(s, NULL, 0)`: optional sign, `0x` hex, leading-0 octal or decimal,
/// stopping at the first character that does not fit.
pub(crate) fn strtoll(s: &str) -> i64 {
    let s = s.trim_start();
    let (neg, s) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits) = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (16, h)
    } else if s.starts_with('0') {
        (8, s)
    } else {
        (10, s)
    };
    let mut v: i64 = 0;
    for c in digits.chars() {
        let Some(d) = c.to_digit(radix) else { break };
        v = v
            .saturating_mul(i64::from(radix))
            .saturating_add(i64::from(d));
    }
    if neg {
        -v
    } else {
        v
    }
}

/// Parse one option payload into `o`. `v7` selects the v7 BUFFER layout.
fn apply(o: &mut FileOptions, id: u16, data: &[u8], at: u64, big: bool, v7: bool) -> DatResult<()> {
    match id {
        opt::DATE => o.date = Some(c_text(data)),
        opt::OFFSET => o.offset = Some(c_text(data)),
        opt::CPUSTAT => o.cpustats.push(c_text(data)),
        opt::TRACECLOCK => o.trace_clock = Some(c_text(data)),
        opt::UNAME => o.uname = Some(c_text(data)),
        opt::VERSION => o.version = Some(c_text(data)),
        opt::CPUCOUNT => {
            if data.len() >= 4 {
                let n = Cursor::new(data, at, big).u32("CPUCOUNT")?;
                if n > MAX_CPUS {
                    return Err(Fault::invalid(at, format!("CPUCOUNT option ({n} CPUs)")));
                }
                o.cpu_count = Some(n);
            }
        }
        opt::TRACEID => {
            if data.len() >= 8 {
                o.trace_id = Some(Cursor::new(data, at, big).u64("TRACEID")?);
            }
        }
        opt::TIME_SHIFT => o.time_shift = true,
        opt::TSC2NSEC => {
            if data.len() >= 16 {
                let mut c = Cursor::new(data, at, big);
                o.tsc2nsec = Some(Tsc2Nsec {
                    mult: c.u32("TSC2NSEC mult")?,
                    shift: c.u32("TSC2NSEC shift")?,
                    offset: c.u64("TSC2NSEC offset")?,
                });
            }
        }
        opt::BUFFER | opt::BUFFER_TEXT => o.buffers.push(parse_buffer(id, data, at, big, v7)?),
        id::HEADER_INFO..=id::CMDLINES => {
            if data.len() >= 8 {
                let off = Cursor::new(data, at, big).u64("section offset")?;
                o.sections.push((id, off));
            }
        }
        other => o.unknown.push(other),
    }
    Ok(())
}

fn parse_buffer(id: u16, data: &[u8], at: u64, big: bool, v7: bool) -> DatResult<Buffer> {
    let mut c = Cursor::new(data, at, big);
    let offset = c.u64("BUFFER offset")?;
    let name = c_text(c.cstr("BUFFER name")?);
    let mut b = Buffer {
        name,
        offset,
        ..Buffer::default()
    };
    if !v7 {
        return Ok(b);
    }
    b.clock = Some(c_text(c.cstr("BUFFER clock")?));
    if id == opt::BUFFER_TEXT {
        b.latency = true;
        return Ok(b);
    }
    b.page_size = Some(c.u32("BUFFER page size")?);
    let count = c.u32("BUFFER CPU count")?;
    if u64::from(count) * 20 > c.remaining() as u64 {
        return Err(Fault::invalid(
            c.offset(),
            format!(
                "BUFFER option ({count} CPUs do not fit in {} bytes)",
                c.remaining()
            ),
        ));
    }
    for _ in 0..count {
        let cpu_at = c.offset();
        let cpu = c.u32("BUFFER CPU id")?;
        if cpu >= MAX_CPUS {
            return Err(Fault::invalid(
                cpu_at,
                format!("BUFFER option (CPU id {cpu})"),
            ));
        }
        b.cpus.push(CpuData {
            cpu,
            offset: c.u64("BUFFER CPU data offset")?,
            size: c.u64("BUFFER CPU data size")?,
        });
    }
    Ok(b)
}

/// Read a v6 option list at the cursor, up to and including the terminating id 0.
pub(crate) fn read_v6_options(c: &mut Cursor<'_>, big: bool, o: &mut FileOptions) -> DatResult<()> {
    loop {
        let id = c.u16("option id")?;
        if id == opt::DONE {
            return Ok(());
        }
        let size = c.u32("option size")?;
        let at = c.offset();
        let data = c.bytes(u64::from(size), "option data")?;
        apply(o, id, data, at, big, false)?;
    }
}

/// Read the chain of v7 options sections starting at `first`.
pub(crate) fn read_v7_options(
    data: &[u8],
    first: u64,
    big: bool,
    mut dec: Option<&mut Decompressor>,
) -> DatResult<FileOptions> {
    let mut o = FileOptions::default();
    let mut seen = HashSet::new();
    let mut next = first;
    while next != 0 {
        if !seen.insert(next) {
            return Err(Fault::invalid(next, "options section chain (loops back)"));
        }
        let h = section_header(data, next, big)?;
        if h.id != id::OPTIONS {
            return Err(Fault::invalid(
                next,
                format!("options section (section id {} instead of 0)", h.id),
            ));
        }
        let owned;
        let (body, base): (&[u8], u64) = if h.compressed() {
            let d = dec.as_deref_mut().ok_or_else(|| {
                Fault::invalid(
                    next,
                    "options section (compressed, but the file names no compression)",
                )
            })?;
            owned = read_block(data, h.body, big, d)?.0;
            (&owned, h.body)
        } else {
            (&data[h.body as usize..], h.body)
        };
        let mut c = Cursor::new(body, base, big);
        loop {
            let id = c.u16("option id")?;
            let size = c.u32("option size")?;
            let at = c.offset();
            let payload = c.bytes(u64::from(size), "option data")?;
            if id == opt::DONE {
                if payload.len() < 8 {
                    return Err(Fault::invalid(at, "DONE option (shorter than 8 bytes)"));
                }
                next = Cursor::new(payload, at, big).u64("next options offset")?;
                break;
            }
            apply(&mut o, id, payload, at, big, true)?;
        }
    }
    Ok(o)
}

/// Parse a CPUSTAT text (`CPU: 0\nentries: 1\noverrun: 0\n...`) into (cpu, pairs).
pub(crate) fn parse_cpustat(text: &str) -> Option<(u32, Vec<(String, String)>)> {
    let mut cpu = None;
    let mut pairs = Vec::new();
    for line in text.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        if k == "CPU" {
            cpu = v.parse().ok();
        } else {
            pairs.push((k.to_string(), v.to_string()));
        }
    }
    Some((cpu?, pairs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn option(id: u16, data: &[u8]) -> Vec<u8> {
        let mut v = id.to_le_bytes().to_vec();
        v.extend_from_slice(&(data.len() as u32).to_le_bytes());
        v.extend_from_slice(data);
        v
    }

    fn section(body: &[u8]) -> Vec<u8> {
        let mut v = 0u16.to_le_bytes().to_vec(); // id: options
        v.extend_from_slice(&0u16.to_le_bytes()); // flags
        v.extend_from_slice(&0u32.to_le_bytes()); // description
        v.extend_from_slice(&(body.len() as u64).to_le_bytes());
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn v7_chain_with_buffer() {
        let mut buf = 4096u64.to_le_bytes().to_vec(); // section offset
        buf.extend_from_slice(b"\0global\0"); // top buffer, clock
        buf.extend_from_slice(&4096u32.to_le_bytes()); // page size
        buf.extend_from_slice(&1u32.to_le_bytes()); // one CPU
        buf.extend_from_slice(&3u32.to_le_bytes()); // cpu 3
        buf.extend_from_slice(&8192u64.to_le_bytes());
        buf.extend_from_slice(&100u64.to_le_bytes());

        let mut file = vec![0u8; 8];
        let second_at = 8 + 16 + 6 + 4 + 6 + 8;
        let mut body1 = option(opt::CPUCOUNT, &2u32.to_le_bytes());
        body1.extend(option(opt::DONE, &(second_at as u64).to_le_bytes()));
        file.extend(section(&body1));
        assert_eq!(file.len(), second_at);
        let mut body2 = option(opt::BUFFER, &buf);
        body2.extend(option(opt::DATE, b"0x10\0"));
        body2.extend(option(opt::DONE, &0u64.to_le_bytes()));
        file.extend(section(&body2));

        let o = read_v7_options(&file, 8, false, None).unwrap();
        assert_eq!(o.cpu_count, Some(2));
        assert_eq!(o.buffers.len(), 1);
        let b = &o.buffers[0];
        assert_eq!(
            (b.name.as_str(), b.clock.as_deref(), b.page_size),
            ("", Some("global"), Some(4096))
        );
        assert_eq!(
            b.cpus,
            vec![CpuData {
                cpu: 3,
                offset: 8192,
                size: 100
            }]
        );
        assert_eq!(o.ts_offset(), 16_000);

        // CPU ids that would size huge per-CPU tables are refused.
        let mut huge = buf.clone();
        huge[8 + 8 + 4 + 4..8 + 8 + 4 + 4 + 4].copy_from_slice(&(1u32 << 20).to_le_bytes());
        let e = parse_buffer(opt::BUFFER, &huge, 0, false, true).unwrap_err();
        assert!(e.what.contains("CPU id 1048576"), "{}", e.what);
        assert!(apply(
            &mut FileOptions::default(),
            opt::CPUCOUNT,
            &u32::MAX.to_le_bytes(),
            0,
            false,
            true
        )
        .is_err());

        // A chain that points back to itself.
        let mut looped = vec![0u8; 8];
        looped.extend(section(&option(opt::DONE, &8u64.to_le_bytes())));
        assert!(read_v7_options(&looped, 8, false, None).is_err());
    }

    #[test]
    fn v6_list_and_helpers() {
        let mut b = option(opt::UNAME, b"Linux x 6.1\0");
        b.extend(option(opt::BUFFER, b"\x00\x10\0\0\0\0\0\0inst\0"));
        b.extend_from_slice(&0u16.to_le_bytes());
        let mut o = FileOptions::default();
        read_v6_options(&mut Cursor::new(&b, 0, false), false, &mut o).unwrap();
        assert_eq!(o.uname.as_deref(), Some("Linux x 6.1"));
        assert_eq!(
            (o.buffers[0].name.as_str(), o.buffers[0].offset),
            ("inst", 4096)
        );
        assert_eq!(strtoll("-0x10"), -16);
        assert_eq!(strtoll("010"), 8);
        assert_eq!(strtoll("12abc"), 12);
        let (cpu, pairs) = parse_cpustat("CPU: 1\nentries: 5\noverrun: 0\n").unwrap();
        assert_eq!((cpu, pairs.len()), (1, 2));
    }
}
