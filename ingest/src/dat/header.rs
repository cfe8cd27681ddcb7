//! The trace.dat initial header and the ring-buffer header descriptions
//! (`header_page`, `header_event`) copied from the traced kernel.
//!
//! ```text
//! 17 08 44 "tracing" "<version>\0" <endian:1> <user long size:1> <page size:4>
//! v7 only: "<compression name>\0<compression version>\0" <first options section:8>
//! ```
//!
//! The kernel's long size is not the byte in the header (that is user space's):
//! it is the size of the `commit` field of `header_page`, exactly as trace-cmd
//! reads it.

use super::cursor::{c_text, Cursor, DatResult, Fault};
use super::format::parse_field_line;
use super::sections::Compression;

/// Magic bytes at the start of every trace.dat.
pub(crate) const MAGIC: &[u8] = b"\x17\x08\x44tracing";

/// What the initial header says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FileHeader {
    /// File format version (6 or 7).
    pub version: u32,
    /// Numbers in the file are big-endian.
    pub big_endian: bool,
    /// Size of a user-space `long` on the traced machine (informational only).
    pub user_long_size: u8,
    /// Ring-buffer page size of the traced machine.
    pub page_size: u32,
    /// Compression of v7 sections and CPU data (`None`: not compressed).
    pub compression: Option<Compression>,
    /// Compression name and version as written (`zstd`, `1.5.4`), v7 only.
    pub compression_label: Option<(String, String)>,
    /// Offset of the first options section (v7 only).
    pub first_options: Option<u64>,
    /// Offset just past the initial header (where v6 continues with `header_page`).
    pub body: u64,
}

/// Parse the initial header.
pub(crate) fn parse_file_header(data: &[u8]) -> DatResult<FileHeader> {
    if !data.starts_with(MAGIC) {
        return Err(Fault::invalid(0, "magic (not a trace-cmd trace.dat file)"));
    }
    // Endianness is not known until after the version string; the version
    // string and the two single bytes do not depend on it.
    let mut c = Cursor::new(data, 0, false);
    c.skip(MAGIC.len() as u64, "magic")?;
    let ver_off = c.offset();
    let ver = c.cstr("version string")?;
    let ver_text = String::from_utf8_lossy(ver);
    let version: u32 = ver_text
        .trim()
        .parse()
        .map_err(|_| Fault::invalid(ver_off, format!("version {ver_text:?}")))?;
    if version != 6 && version != 7 {
        return Err(Fault::unsupported(
            ver_off,
            format!("file version {version} (6 and 7 are read)"),
        ));
    }
    let endian_off = c.offset();
    let big_endian = match c.u8("endianness")? {
        0 => false,
        1 => true,
        other => {
            return Err(Fault::invalid(
                endian_off,
                format!("endianness byte {other}"),
            ))
        }
    };
    let user_long_size = c.u8("long size")?;
    let mut c = Cursor::new(data, 0, big_endian);
    c.skip(endian_off + 2, "header")?;
    let ps_off = c.offset();
    let page_size = c.u32("page size")?;
    if page_size < 64 || !page_size.is_power_of_two() || page_size > (1 << 24) {
        return Err(Fault::invalid(ps_off, format!("page size {page_size}")));
    }
    let mut compression = None;
    let mut compression_label = None;
    let mut first_options = None;
    if version >= 7 {
        let name_off = c.offset();
        let name = c_text(c.cstr("compression name")?);
        let zver = c_text(c.cstr("compression version")?);
        if name != "none" {
            compression = Some(Compression::from_name(&name).ok_or_else(|| {
                Fault::unsupported(name_off, format!("compression {name} {zver}"))
            })?);
        }
        compression_label = Some((name, zver));
        first_options = Some(c.u64("offset of the first options section")?);
    }
    Ok(FileHeader {
        version,
        big_endian,
        user_long_size,
        page_size,
        compression,
        compression_label,
        first_options,
        body: c.offset(),
    })
}

/// Where the ring-buffer page header fields are (from `header_page`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PageLayout {
    /// Offset of the 64-bit page timestamp.
    pub ts_offset: usize,
    /// Offset of the `commit` word (data size and missed-events flags).
    pub commit_offset: usize,
    /// Size of `commit`: the kernel's long size (4 or 8).
    pub commit_size: usize,
    /// Offset of the first record.
    pub data_offset: usize,
    /// Numbers are big-endian.
    pub big_endian: bool,
}

/// The parsed header section: page layout plus the raw descriptions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HeaderInfo {
    /// Page header layout.
    pub layout: PageLayout,
}

/// Parse the `header_page` description.
pub(crate) fn parse_header_page(text: &str, big_endian: bool, at: u64) -> DatResult<PageLayout> {
    let mut ts = None;
    let mut commit = None;
    let mut data = None;
    for line in text.lines() {
        if let Some(f) = parse_field_line(line, true) {
            let f = f.map_err(|e| Fault::invalid(at, format!("header_page: {e}")))?;
            match f.name.as_str() {
                "timestamp" => ts = Some((f.offset, f.size)),
                "commit" => commit = Some((f.offset, f.size)),
                "data" => data = Some((f.offset, f.size)),
                _ => {}
            }
        }
    }
    let (ts_offset, ts_size) =
        ts.ok_or_else(|| Fault::missing(at, "header_page timestamp field"))?;
    let (commit_offset, commit_size) =
        commit.ok_or_else(|| Fault::missing(at, "header_page commit field"))?;
    let (data_offset, _) = data.ok_or_else(|| Fault::missing(at, "header_page data field"))?;
    if ts_size != 8 {
        return Err(Fault::unsupported(
            at,
            format!("header_page timestamp of {ts_size} bytes (expected 8)"),
        ));
    }
    if commit_size != 4 && commit_size != 8 {
        return Err(Fault::unsupported(
            at,
            format!("header_page commit of {commit_size} bytes (kernel long must be 4 or 8)"),
        ));
    }
    // Checked: absurd offsets in a damaged text must not wrap past the check.
    let fits = |off: usize, size: usize| off.checked_add(size).is_some_and(|e| e <= data_offset);
    if !fits(ts_offset, 8) || !fits(commit_offset, commit_size) {
        return Err(Fault::invalid(
            at,
            "header_page layout (header overlaps data)",
        ));
    }
    Ok(PageLayout {
        ts_offset,
        commit_offset,
        commit_size,
        data_offset,
        big_endian,
    })
}

/// Check `header_event`: the record type numbers the decoder assumes (29, 30,
/// 31 and data up to 28) must be the ones the kernel declared, if it declared any.
pub(crate) fn check_header_event(text: &str, at: u64) -> DatResult<()> {
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let expect = match key.trim() {
            "padding" => 29,
            "time_extend" => 30,
            "time_stamp" => 31,
            _ if key.trim().starts_with("data max type_len") => {
                // "data max type_len  == 28" has no colon before the number.
                continue;
            }
            _ => continue,
        };
        let n = value
            .rsplit(|c: char| !c.is_ascii_digit())
            .find(|s| !s.is_empty())
            .and_then(|s| s.parse::<u32>().ok());
        if let Some(n) = n {
            if n != expect {
                return Err(Fault::unsupported(
                    at,
                    format!(
                        "header_event ({} is type {n}, expected {expect})",
                        key.trim()
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Read the header section body: `"header_page\0" <size:8> text "header_event\0" <size:8> text`.
pub(crate) fn read_header_info(c: &mut Cursor<'_>, big_endian: bool) -> DatResult<HeaderInfo> {
    let at = c.offset();
    if c.bytes(12, "header_page tag")? != b"header_page\0" {
        return Err(Fault::invalid(at, "header section (no header_page tag)"));
    }
    let size = c.u64("header_page size")?;
    let page_at = c.offset();
    let page_text = String::from_utf8_lossy(c.bytes(size, "header_page")?).into_owned();
    let at = c.offset();
    if c.bytes(13, "header_event tag")? != b"header_event\0" {
        return Err(Fault::invalid(at, "header section (no header_event tag)"));
    }
    let size = c.u64("header_event size")?;
    let event_at = c.offset();
    let event_text = String::from_utf8_lossy(c.bytes(size, "header_event")?).into_owned();
    if page_text.trim().is_empty() {
        return Err(Fault::unsupported(
            page_at,
            "empty header_page (kernels before 2.6.31 are not read)",
        ));
    }
    let layout = parse_header_page(&page_text, big_endian, page_at)?;
    check_header_event(&event_text, event_at)?;
    Ok(HeaderInfo { layout })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER_PAGE: &str = "\tfield: u64 timestamp;\toffset:0;\tsize:8;\tsigned:0;\n\
\tfield: local_t commit;\toffset:8;\tsize:8;\tsigned:1;\n\
\tfield: int overwrite;\toffset:8;\tsize:1;\tsigned:1;\n\
\tfield: char data;\toffset:16;\tsize:4080;\tsigned:1;\n";

    const HEADER_EVENT: &str = "# compressed entry header\n\ttype_len    :    5 bits\n\
\ttime_delta  :   27 bits\n\tarray       :   32 bits\n\n\tpadding     : type == 29\n\
\ttime_extend : type == 30\n\ttime_stamp : type == 31\n\tdata max type_len  == 28\n";

    #[test]
    fn page_layout_from_header_page() {
        let l = parse_header_page(HEADER_PAGE, false, 0).unwrap();
        assert_eq!(
            l,
            PageLayout {
                ts_offset: 0,
                commit_offset: 8,
                commit_size: 8,
                data_offset: 16,
                big_endian: false
            }
        );
        let p32 = HEADER_PAGE
            .replace("size:8;\tsigned:1", "size:4;\tsigned:1")
            .replace("offset:16", "offset:12");
        let l = parse_header_page(&p32, true, 0).unwrap();
        assert_eq!((l.commit_size, l.data_offset), (4, 12));
        assert!(
            parse_header_page("\tfield: u64 timestamp;\toffset:0;\tsize:8;\n", false, 5).is_err()
        );
        assert!(check_header_event(HEADER_EVENT, 0).is_ok());
        assert!(check_header_event(&HEADER_EVENT.replace("== 30", "== 3"), 0).is_err());
    }

    #[test]
    fn initial_header_v7_and_errors() {
        let mut f = MAGIC.to_vec();
        f.extend_from_slice(b"7\0");
        f.push(0); // little endian
        f.push(8); // user long size
        f.extend_from_slice(&4096u32.to_le_bytes());
        f.extend_from_slice(b"none\0\0");
        f.extend_from_slice(&1234u64.to_le_bytes());
        let h = parse_file_header(&f).unwrap();
        assert_eq!(h.version, 7);
        assert_eq!(h.page_size, 4096);
        assert_eq!(h.compression, None);
        assert_eq!(h.first_options, Some(1234));
        assert_eq!(h.body, f.len() as u64);

        let mut bad = f.clone();
        bad[10] = b'9';
        let e = parse_file_header(&bad).unwrap_err();
        assert_eq!(e.what, "file version 9 (6 and 7 are read)");
        assert!(parse_file_header(b"garbage").is_err());
        assert!(parse_file_header(&f[..20]).is_err());
        let zf = String::from_utf8_lossy(&f).replace("none", "lz4x");
        assert!(parse_file_header(zf.as_bytes()).is_err());
    }
}
