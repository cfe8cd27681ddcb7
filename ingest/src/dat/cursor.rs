//! Bounds-checked reading of file-endian numbers and strings, and the
//! location-carrying [`Fault`] every trace.dat module reports problems with.
//!
//! Nothing here panics on short input: every read checks the remaining length
//! and returns a [`Fault`] naming the byte offset (in the file) that was bad.

use std::fmt;
use std::path::Path;

use crate::error::{Error, ErrorKind, Location};

/// What kind of problem a [`Fault`] is, which decides the message grammar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Problem {
    /// `Invalid trace.dat <thing>`: the bytes contradict the format.
    Invalid,
    /// `Unsupported trace.dat <thing>`: well-formed but not readable here.
    Unsupported,
    /// `Missing trace.dat <thing>`: a required part is absent.
    Missing,
}

/// A problem found while reading a trace.dat, with the file offset it was found at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Fault {
    /// Which message grammar to use.
    pub problem: Problem,
    /// The thing, e.g. `page header (commit 5000 > 4080)`.
    pub what: String,
    /// Byte offset in the file.
    pub offset: u64,
}

impl Fault {
    /// `Invalid trace.dat {what}` at `offset`.
    pub fn invalid(offset: u64, what: impl fmt::Display) -> Fault {
        Fault {
            problem: Problem::Invalid,
            what: what.to_string(),
            offset,
        }
    }

    /// `Unsupported trace.dat {what}` at `offset`.
    pub fn unsupported(offset: u64, what: impl fmt::Display) -> Fault {
        Fault {
            problem: Problem::Unsupported,
            what: what.to_string(),
            offset,
        }
    }

    /// `Missing trace.dat {what}` at `offset`.
    pub fn missing(offset: u64, what: impl fmt::Display) -> Fault {
        Fault {
            problem: Problem::Missing,
            what: what.to_string(),
            offset,
        }
    }

    /// The crate error, naming `path` and the offset.
    pub fn into_error(self, path: &Path) -> Error {
        let kind = match self.problem {
            Problem::Invalid => ErrorKind::Invalid(format!("trace.dat {}", self.what)),
            Problem::Unsupported => ErrorKind::Unsupported(format!("trace.dat {}", self.what)),
            Problem::Missing => ErrorKind::Missing(format!("trace.dat {}", self.what)),
        };
        Error::new(kind)
            .with_path(path)
            .at(Location::Offset(self.offset))
    }
}

/// Result of the trace.dat readers.
pub(crate) type DatResult<T> = Result<T, Fault>;

/// Read an unsigned number of `size` bytes (1, 2, 4 or 8) in the given byte order.
/// Returns `None` if `bytes` is shorter than `size` or the size is not one of those.
#[inline(always)]
pub(crate) fn read_uint(bytes: &[u8], size: usize, big: bool) -> Option<u64> {
    let b = bytes.get(..size)?;
    Some(match size {
        1 => u64::from(b[0]),
        2 => {
            let a = [b[0], b[1]];
            u64::from(if big {
                u16::from_be_bytes(a)
            } else {
                u16::from_le_bytes(a)
            })
        }
        4 => {
            let a = [b[0], b[1], b[2], b[3]];
            u64::from(if big {
                u32::from_be_bytes(a)
            } else {
                u32::from_le_bytes(a)
            })
        }
        8 => {
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            if big {
                u64::from_be_bytes(a)
            } else {
                u64::from_le_bytes(a)
            }
        }
        _ => return None,
    })
}

/// Sign-extend the low `size` bytes of `v`.
pub(crate) fn sign_extend(v: u64, size: usize) -> i64 {
    match size {
        1 => v as u8 as i8 as i64,
        2 => v as u16 as i16 as i64,
        4 => v as u32 as i32 as i64,
        _ => v as i64,
    }
}

/// A read position over a byte slice that starts at file offset `base`.
#[derive(Clone, Debug)]
pub(crate) struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
    base: u64,
    big: bool,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `data`, which lies at file offset `base`.
    pub fn new(data: &'a [u8], base: u64, big: bool) -> Cursor<'a> {
        Cursor {
            data,
            pos: 0,
            base,
            big,
        }
    }

    /// File offset of the next byte.
    pub fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    /// Take the next `n` bytes; `what` names them in the error.
    pub fn bytes(&mut self, n: u64, what: &str) -> DatResult<&'a [u8]> {
        if n > self.remaining() as u64 {
            return Err(Fault::invalid(
                self.offset(),
                format!(
                    "{what} (needs {n} bytes, {} left: file truncated?)",
                    self.remaining()
                ),
            ));
        }
        let n = n as usize;
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Skip `n` bytes.
    pub fn skip(&mut self, n: u64, what: &str) -> DatResult<()> {
        self.bytes(n, what).map(|_| ())
    }

    fn uint(&mut self, size: usize, what: &str) -> DatResult<u64> {
        let b = self.bytes(size as u64, what)?;
        Ok(read_uint(b, size, self.big).unwrap_or(0))
    }

    /// Next byte.
    pub fn u8(&mut self, what: &str) -> DatResult<u8> {
        Ok(self.uint(1, what)? as u8)
    }

    /// Next 2-byte number.
    pub fn u16(&mut self, what: &str) -> DatResult<u16> {
        Ok(self.uint(2, what)? as u16)
    }

    /// Next 4-byte number.
    pub fn u32(&mut self, what: &str) -> DatResult<u32> {
        Ok(self.uint(4, what)? as u32)
    }

    /// Next 8-byte number.
    pub fn u64(&mut self, what: &str) -> DatResult<u64> {
        self.uint(8, what)
    }

    /// Next NUL-terminated string, without the NUL.
    pub fn cstr(&mut self, what: &str) -> DatResult<&'a [u8]> {
        let rest = &self.data[self.pos..];
        match rest.iter().position(|&b| b == 0) {
            Some(n) => {
                self.pos += n + 1;
                Ok(&rest[..n])
            }
            None => Err(Fault::invalid(
                self.offset(),
                format!("{what} (string not terminated)"),
            )),
        }
    }
}

/// The text of a NUL-terminated option payload: up to the first NUL, lossily decoded.
pub(crate) fn c_text(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_both_byte_orders() {
        let b = [1u8, 2, 3, 4, 5, 6, 7, 8];
        assert_eq!(read_uint(&b, 2, false), Some(0x0201));
        assert_eq!(read_uint(&b, 2, true), Some(0x0102));
        assert_eq!(read_uint(&b, 4, true), Some(0x0102_0304));
        assert_eq!(read_uint(&b, 8, false), Some(0x0807_0605_0403_0201));
        assert_eq!(read_uint(&b[..3], 4, false), None);
        assert_eq!(read_uint(&b, 3, false), None);
        assert_eq!(sign_extend(0xff, 1), -1);
        assert_eq!(sign_extend(0xffff_fffe, 4), -2);
    }

    #[test]
    fn cursor_reports_offsets() {
        let b = [0x61, 0x62, 0, 7, 0];
        let mut c = Cursor::new(&b, 100, false);
        assert_eq!(c.cstr("name").unwrap(), b"ab");
        assert_eq!(c.u16("n").unwrap(), 7);
        let err = c.u32("count").unwrap_err();
        assert_eq!(err.offset, 105);
        assert!(err.what.starts_with("count"), "{}", err.what);
        let mut c = Cursor::new(&b[3..], 3, false);
        assert!(c.cstr("s").is_ok());
        assert!(c.cstr("s").is_err());
    }
}
