//! Errors of the ingest stage: what went wrong, in which file, and where.
//!
//! Every error that reaches a user names the file and, when known, the line
//! or byte offset, printed as `PATH: line N: cause` or `PATH: offset 0x..: cause`.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Where in a file an error happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Location {
    /// 1-based line number of a text trace.
    Line(u64),
    /// Byte offset into the (decompressed) input.
    Offset(u64),
}

/// What went wrong.
#[derive(Debug)]
pub enum ErrorKind {
    /// Reading or writing failed.
    Io(io::Error),
    /// A line could not be parsed (fatal only with `--strict`).
    InvalidLine(String),
    /// A binary structure is malformed (`Invalid <format> <thing>`).
    Invalid(String),
    /// The input is in a format this version does not read.
    Unsupported(String),
    /// The Parquet reader or writer failed.
    Parquet(String),
    /// The input is well-formed but lacks something required.
    Missing(String),
    /// A consumer of events rejected the stream.
    Sink(String),
}

/// An ingest error with its file and location.
#[derive(Debug)]
pub struct Error {
    /// File the error is about, if any.
    pub path: Option<PathBuf>,
    /// Line or offset within that file, if known.
    pub location: Option<Location>,
    /// The cause.
    pub kind: ErrorKind,
}

impl Error {
    /// An error with no file attached yet.
    pub fn new(kind: ErrorKind) -> Error {
        Error {
            path: None,
            location: None,
            kind,
        }
    }

    /// Attach the file name, unless one is already attached.
    pub fn with_path(mut self, path: &Path) -> Error {
        if self.path.is_none() {
            self.path = Some(path.to_path_buf());
        }
        self
    }

    /// Attach a location, unless one is already attached.
    pub fn at(mut self, location: Location) -> Error {
        if self.location.is_none() {
            self.location = Some(location);
        }
        self
    }

    /// An I/O error about `path`.
    pub fn io(path: &Path, err: io::Error) -> Error {
        Error::new(ErrorKind::Io(err)).with_path(path)
    }

    /// A Parquet error about `path`.
    pub fn parquet(path: &Path, err: impl fmt::Display) -> Error {
        Error::new(ErrorKind::Parquet(err.to_string())).with_path(path)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(path) = &self.path {
            write!(f, "{}: ", path.display())?;
        }
        match self.location {
            Some(Location::Line(n)) => write!(f, "line {n}: ")?,
            Some(Location::Offset(o)) => write!(f, "offset {o:#x}: ")?,
            None => {}
        }
        match &self.kind {
            ErrorKind::Io(e) => write!(f, "{e}"),
            ErrorKind::InvalidLine(text) => write!(f, "Invalid trace line: {text:?}"),
            ErrorKind::Invalid(what) => write!(f, "Invalid {what}"),
            ErrorKind::Unsupported(what) => write!(f, "Unsupported {what}"),
            ErrorKind::Parquet(msg) => write!(f, "Parquet: {msg}"),
            ErrorKind::Missing(what) => write!(f, "Missing {what}"),
            ErrorKind::Sink(msg) => write!(f, "{msg}"),
        }
    }
}

/// The cause is part of the message already, so `source()` is `None` (a
/// reporter walking the chain would print it twice).
impl std::error::Error for Error {}
