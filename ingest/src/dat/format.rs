//! Event format files (`events/<system>/<event>/format`) as stored in trace.dat.
//!
//! A format names the event, gives its numeric ID (the `common_type` value
//! found in each record) and lists every field with its byte offset, size and
//! signedness. Records are only ever read through these fields, by name, so a
//! kernel that moves or resizes a field is read correctly.
//!
//! ```text
//! name: function
//! ID: 1
//! format:
//!     field:unsigned short common_type;    offset:0;    size:2;    signed:0;
//!     ...
//!
//!     field:unsigned long ip;    offset:8;    size:8;    signed:0;
//!
//! print fmt: " %ps <-- %ps", (void *)REC->ip, (void *)REC->parent_ip
//! ```

use std::ops::Range;
use std::sync::{Arc, OnceLock};

use super::cursor::{read_uint, sign_extend};

/// How a field's bytes are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FieldKind {
    /// A plain number (or pointer) of `size` bytes.
    Scalar,
    /// A fixed array `type name[N]` (`size` bytes); `char` arrays are strings.
    Array,
    /// `__data_loc`: a 32-bit word, low 16 bits = offset in the record, high 16 = length.
    DataLoc,
    /// `__rel_loc`: like `DataLoc` but the offset is relative to the end of the field.
    RelLoc,
}

/// One field of an event format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Field {
    /// Field name (`ip`, `common_pid`, ...).
    pub name: String,
    /// The declared C type without the name (`unsigned long`, `char`, ...).
    pub ctype: String,
    /// Byte offset in the record.
    pub offset: usize,
    /// Size in bytes (0 for a trailing `char buf[]`).
    pub size: usize,
    /// Signed integer.
    pub signed: bool,
    /// Layout.
    pub kind: FieldKind,
    /// Common field (before the blank line in the format).
    pub common: bool,
}

impl Field {
    /// True if the field holds characters (`char` arrays and `__data_loc char[]`).
    pub fn is_string(&self) -> bool {
        self.kind != FieldKind::Scalar && self.ctype.contains("char")
    }

    /// The field as an unsigned number from `data` (a record payload).
    /// `None` if the record is too short or the size is not 1, 2, 4 or 8.
    #[inline(always)]
    pub fn uint(&self, data: &[u8], big: bool) -> Option<u64> {
        let b = data.get(self.offset..)?;
        read_uint(b, self.size, big)
    }

    /// The field as a signed number (sign-extended from its size).
    #[inline(always)]
    pub fn int(&self, data: &[u8], big: bool) -> Option<i64> {
        self.uint(data, big).map(|v| sign_extend(v, self.size))
    }

    /// The bytes a string or array field covers in `data`, resolving
    /// `__data_loc`/`__rel_loc` and the open-ended `char buf[]` (to the record end).
    pub fn bytes<'d>(&self, data: &'d [u8], big: bool) -> Option<&'d [u8]> {
        match self.kind {
            // Checked: a damaged format may declare offsets near usize::MAX.
            FieldKind::Scalar => data.get(self.offset..self.offset.checked_add(self.size)?),
            FieldKind::Array => {
                if self.size == 0 {
                    data.get(self.offset..)
                } else {
                    data.get(self.offset..self.offset.checked_add(self.size)?)
                }
            }
            FieldKind::DataLoc | FieldKind::RelLoc => {
                let word = read_uint(data.get(self.offset..)?, 4, big)?;
                let mut off = (word & 0xffff) as usize;
                let len = (word >> 16) as usize;
                if self.kind == FieldKind::RelLoc {
                    off = off.checked_add(self.offset.checked_add(self.size)?)?;
                }
                data.get(off..off.checked_add(len)?)
            }
        }
    }

    /// A string field: its bytes up to the first NUL.
    pub fn str_bytes<'d>(&self, data: &'d [u8], big: bool) -> Option<&'d [u8]> {
        let b = self.bytes(data, big)?;
        let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
        Some(&b[..end])
    }
}

/// One parsed event format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct EventFormat {
    /// Event system (`ftrace`, `sched`, ...).
    pub system: String,
    /// Event name (`function`, `sched_switch`, ...).
    pub name: String,
    /// The `common_type` value of this event's records.
    pub id: u32,
    /// All fields, common ones first, in file order.
    pub fields: Vec<Field>,
    /// The `print fmt:` text (format string and arguments), if present.
    pub print_fmt: Option<String>,
}

impl EventFormat {
    /// A non-common field by name (what libtraceevent's `tep_find_field` finds).
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| !f.common && f.name == name)
    }

    /// Any field by name, common fields included.
    pub fn any_field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// Parse one `field:...;` line into a field. `None` if the line is not a field.
pub(crate) fn parse_field_line(line: &str, common: bool) -> Option<Result<Field, String>> {
    let t = line.trim_start();
    let rest = t.strip_prefix("field:")?;
    let mut parts = rest.split(';');
    let decl = parts.next().unwrap_or("").trim();
    let mut offset = None;
    let mut size = None;
    let mut signed = false;
    for p in parts {
        let p = p.trim();
        if let Some(v) = p.strip_prefix("offset:") {
            offset = v.trim().parse::<usize>().ok();
        } else if let Some(v) = p.strip_prefix("size:") {
            size = v.trim().parse::<usize>().ok();
        } else if let Some(v) = p.strip_prefix("signed:") {
            signed = v.trim() == "1";
        }
    }
    let (Some(offset), Some(size)) = (offset, size) else {
        return Some(Err(format!("field line without offset/size: {line:?}")));
    };
    Some(parse_decl(decl).map(|(ctype, name, array)| {
        let kind = if ctype.starts_with("__data_loc") {
            FieldKind::DataLoc
        } else if ctype.starts_with("__rel_loc") {
            FieldKind::RelLoc
        } else if array {
            FieldKind::Array
        } else {
            FieldKind::Scalar
        };
        Field {
            name,
            ctype,
            offset,
            size,
            signed,
            kind,
            common,
        }
    }))
}

/// Split a C declaration into (type, name, is_array): `char comm[16]` →
/// (`char`, `comm`, true); `__data_loc char[] name` → (`__data_loc char[]`, `name`, false).
fn parse_decl(decl: &str) -> Result<(String, String, bool), String> {
    let mut d = decl.trim_end();
    let mut array = false;
    if d.ends_with(']') {
        if let Some(open) = d.rfind('[') {
            d = d[..open].trim_end();
            array = true;
        }
    }
    let name_start = d
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_ascii_alphanumeric() || *c == '_')
        .last()
        .map(|(i, _)| i)
        .ok_or_else(|| format!("field declaration without a name: {decl:?}"))?;
    let name = d[name_start..].to_string();
    let ctype = d[..name_start].trim().to_string();
    Ok((ctype, name, array))
}

/// Parse a format file. `system` is the directory it came from.
pub(crate) fn parse_format(text: &str, system: &str) -> Result<EventFormat, String> {
    let mut name = None;
    let mut id = None;
    let mut fields = Vec::new();
    let mut print_fmt = None;
    let mut in_format = false;
    let mut common = true;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("name:") {
            name = Some(v.trim().to_string());
        } else if let Some(v) = line.strip_prefix("ID:") {
            id = Some(
                v.trim()
                    .parse::<u32>()
                    .map_err(|_| format!("bad event ID {:?}", v.trim()))?,
            );
        } else if line.starts_with("format:") {
            in_format = true;
        } else if let Some(v) = line.strip_prefix("print fmt:") {
            print_fmt = Some(v.trim().to_string());
            in_format = false;
        } else if in_format {
            if line.trim().is_empty() {
                if !fields.is_empty() {
                    common = false;
                }
                continue;
            }
            if let Some(f) = parse_field_line(line, common) {
                fields.push(f?);
            }
        }
    }
    let name = name.ok_or("format without a name")?;
    let id = id.ok_or_else(|| format!("format of {name} without an ID"))?;
    Ok(EventFormat {
        system: system.to_string(),
        name,
        id,
        fields,
        print_fmt,
    })
}

/// An event format whose name and ID are read when the file is opened and
/// whose fields are parsed on first use: a trace.dat carries some 1,800
/// formats, a trace uses a handful, and parsing them all held up the start
/// of reading by several milliseconds (docs/performance.md).
#[derive(Debug)]
pub(crate) struct LazyFormat {
    /// Event name (what [`parse_format`] gives, if it succeeds).
    pub name: String,
    /// The `common_type` value of the event's records (likewise).
    pub id: u32,
    system: Arc<str>,
    /// The format's text: `range` of the bytes of the section it came in,
    /// which all that section's formats share (a copy of each of the
    /// 1,400 formats of a trace.dat took a millisecond before reading).
    section: Arc<Vec<u8>>,
    range: Range<usize>,
    parsed: OnceLock<Option<EventFormat>>,
}

impl LazyFormat {
    /// Read the name and ID of the format that is `range` of `section`
    /// the way [`parse_format`] reads them (from its text as UTF-8, invalid
    /// bytes replaced): the error it would give on them, if any.
    pub fn scan(
        section: &Arc<Vec<u8>>,
        range: Range<usize>,
        system: &Arc<str>,
    ) -> Result<LazyFormat, String> {
        let text = &section[range.clone()];
        let mut name = None;
        let mut id = None;
        // Lines as `str::lines` splits them (a `\r` before the `\n` goes
        // with the line end; the values are trimmed anyway); a line break
        // is never part of an invalid UTF-8 sequence, so a line's text is
        // the same replaced before or after splitting.
        let mut start = 0;
        let ends = memchr::memchr_iter(b'\n', text).chain(std::iter::once(text.len()));
        for end in ends {
            let line = &text[start..end];
            start = end + 1;
            if let Some(v) = line.strip_prefix(b"name:") {
                name = Some(v);
            } else if let Some(v) = line.strip_prefix(b"ID:") {
                let v = String::from_utf8_lossy(v);
                id = Some(
                    v.trim()
                        .parse::<u32>()
                        .map_err(|_| format!("bad event ID {:?}", v.trim()))?,
                );
            }
        }
        let name = name.ok_or("format without a name")?;
        let name = String::from_utf8_lossy(name).trim().to_string();
        let id = id.ok_or_else(|| format!("format of {name} without an ID"))?;
        Ok(LazyFormat {
            name,
            id,
            system: system.clone(),
            section: section.clone(),
            range,
            parsed: OnceLock::new(),
        })
    }

    /// The parsed format; `None` if it does not parse (libtraceevent skips
    /// such a format: its records are of an unknown event).
    pub fn get(&self) -> Option<&EventFormat> {
        self.parsed
            .get_or_init(|| {
                let text = String::from_utf8_lossy(&self.section[self.range.clone()]);
                parse_format(&text, &self.system).ok()
            })
            .as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A format that is the whole of its section.
    fn scan(text: &str) -> Result<LazyFormat, String> {
        let section = Arc::new(text.as_bytes().to_vec());
        LazyFormat::scan(&section, 0..text.len(), &"ftrace".into())
    }

    #[test]
    fn a_lazy_format_has_the_name_id_and_fields_parse_format_gives() {
        let lazy = scan(FUNCTION).unwrap();
        let parsed = parse_format(FUNCTION, "ftrace").unwrap();
        assert_eq!((lazy.name.as_str(), lazy.id), ("function", 1));
        assert_eq!(lazy.get(), Some(&parsed));
        // The last name and ID lines count, as in parse_format.
        let twice = format!("name: first\nID: 7\n{FUNCTION}");
        let lazy = scan(&twice).unwrap();
        let parsed = parse_format(&twice, "ftrace").unwrap();
        assert_eq!(
            (lazy.name.as_str(), lazy.id),
            (parsed.name.as_str(), parsed.id)
        );
        // Errors in the name or ID are found at once; in a field, on first use.
        for bad in ["ID: 1\n", "name: x\n", "name: x\nID: -1\n"] {
            assert!(scan(bad).is_err(), "{bad:?}");
            assert!(parse_format(bad, "ftrace").is_err(), "{bad:?}");
        }
        let broken = FUNCTION.replace("offset:8;", "offset:x;");
        assert!(parse_format(&broken, "ftrace").is_err());
        let lazy = scan(&broken).unwrap();
        assert_eq!((lazy.name.as_str(), lazy.id), ("function", 1));
        assert_eq!(lazy.get(), None);
    }

    #[test]
    fn formats_sharing_a_section_read_their_own_range() {
        // Binary bytes around and between the formats, as in a formats
        // section (sizes and counts); CRLF line ends and an invalid byte in
        // a name, which parse_format reads as U+FFFD.
        let mut bytes = vec![0xff, 0x00, 0x07];
        let first = bytes.len()..bytes.len() + FUNCTION.len();
        bytes.extend_from_slice(FUNCTION.as_bytes());
        bytes.extend_from_slice(&[0xfe, 0x80]);
        let mut text = b"name: x?\r\nID: 9\r\nformat:\r\n".to_vec();
        text[7] = 0xff;
        let second = bytes.len()..bytes.len() + text.len();
        bytes.extend_from_slice(&text);
        let section = Arc::new(bytes);
        let system: Arc<str> = "ftrace".into();
        let a = LazyFormat::scan(&section, first, &system).unwrap();
        let b = LazyFormat::scan(&section, second, &system).unwrap();
        assert_eq!((a.name.as_str(), a.id), ("function", 1));
        assert_eq!(a.get(), Some(&parse_format(FUNCTION, "ftrace").unwrap()));
        let lossy = String::from_utf8_lossy(&text).into_owned();
        let parsed = parse_format(&lossy, "ftrace").unwrap();
        assert_eq!((b.name.as_str(), b.id), ("x\u{fffd}", 9));
        assert_eq!((b.name.as_str(), b.id), (parsed.name.as_str(), parsed.id));
        assert_eq!(b.get(), Some(&parsed));
    }

    const FUNCTION: &str = "name: function\nID: 1\nformat:\n\
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;\n\
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;\n\
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\
\n\
\tfield:unsigned long ip;\toffset:8;\tsize:8;\tsigned:0;\n\
\tfield:unsigned long parent_ip;\toffset:16;\tsize:8;\tsigned:0;\n\
\n\
print fmt: \" %ps <-- %ps\", (void *)REC->ip, (void *)REC->parent_ip\n";

    #[test]
    fn parses_function_format() {
        let f = parse_format(FUNCTION, "ftrace").unwrap();
        assert_eq!(f.name, "function");
        assert_eq!(f.id, 1);
        assert_eq!(f.fields.len(), 6);
        assert!(f.any_field("common_pid").unwrap().common);
        assert!(f.field("common_pid").is_none());
        let ip = f.field("ip").unwrap();
        assert_eq!((ip.offset, ip.size, ip.signed), (8, 8, false));
        assert_eq!(ip.ctype, "unsigned long");
        assert_eq!(
            f.print_fmt.as_deref(),
            Some("\" %ps <-- %ps\", (void *)REC->ip, (void *)REC->parent_ip")
        );
        let mut rec = vec![0u8; 24];
        rec[4..8].copy_from_slice(&(-5i32).to_le_bytes());
        rec[8..16].copy_from_slice(&0xffff_ffff_8100_0000u64.to_le_bytes());
        assert_eq!(
            f.any_field("common_pid").unwrap().int(&rec, false),
            Some(-5)
        );
        assert_eq!(ip.uint(&rec, false), Some(0xffff_ffff_8100_0000));
        assert_eq!(ip.uint(&rec[..12], false), None);
    }

    #[test]
    fn arrays_and_data_loc() {
        let a = parse_field_line(
            "\tfield:char comm[16];\toffset:8;\tsize:16;\tsigned:1;",
            false,
        )
        .unwrap()
        .unwrap();
        assert_eq!((a.name.as_str(), a.kind), ("comm", FieldKind::Array));
        assert!(a.is_string());
        let d = parse_field_line(
            "\tfield:__data_loc char[] name;\toffset:8;\tsize:4;\tsigned:1;",
            false,
        )
        .unwrap()
        .unwrap();
        assert_eq!((d.name.as_str(), d.kind), ("name", FieldKind::DataLoc));
        let mut rec = vec![0u8; 16];
        rec[8..12].copy_from_slice(&((3u32 << 16) | 12).to_le_bytes());
        rec[12..15].copy_from_slice(b"ab\0");
        assert_eq!(d.str_bytes(&rec, false), Some(&b"ab"[..]));
        let b = parse_field_line("\tfield:char buf[];\toffset:16;\tsize:0;\tsigned:1;", false)
            .unwrap()
            .unwrap();
        let mut rec = vec![0u8; 24];
        rec[16..20].copy_from_slice(b"hi\n\0");
        assert_eq!(b.str_bytes(&rec, false), Some(&b"hi\n"[..]));
        let h = parse_field_line(
            "\tfield: u64 timestamp;\toffset:0;\tsize:8;\tsigned:0;",
            true,
        )
        .unwrap()
        .unwrap();
        assert_eq!((h.name.as_str(), h.size), ("timestamp", 8));
        assert!(parse_field_line("\tfield:;\toffset:0;\tsize:4;", false)
            .unwrap()
            .is_err());
    }
}
