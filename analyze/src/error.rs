//! Errors of the analyze stage, each naming the file it is about.

use std::fmt;
use std::path::PathBuf;

use crate::symbols::SymbolError;

/// Why an analysis failed.
#[derive(Debug)]
pub enum Error {
    /// Reading the trace failed.
    Ingest(ingest::Error),
    /// Building the symbol table from the vmlinux failed.
    Symbols(SymbolError),
    /// Reading the kernel source tree failed.
    Source(crate::source::SourceError),
    /// Reading or writing a file failed.
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        err: std::io::Error,
    },
    /// The trace was not recorded on this vmlinux.
    Mismatch {
        /// The trace.
        trace: PathBuf,
        /// The kernel the trace says it ran on (uname), if recorded.
        trace_kernel: String,
        /// The vmlinux.
        vmlinux: PathBuf,
        /// Its build-id.
        build_id: String,
        /// Sampled functions whose addresses agree on one slide.
        agree: u64,
        /// Sampled functions.
        sampled: u64,
    },
    /// A Parquet or table operation failed.
    Table {
        /// The file.
        path: PathBuf,
        /// The cause.
        msg: String,
    },
}

impl Error {
    /// An I/O error about `path`.
    pub fn io(path: &std::path::Path, err: std::io::Error) -> Error {
        Error::Io {
            path: path.to_path_buf(),
            err,
        }
    }

    /// A table error about `path`.
    pub fn table(path: &std::path::Path, msg: impl fmt::Display) -> Error {
        Error::Table {
            path: path.to_path_buf(),
            msg: msg.to_string(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Ingest(e) => write!(f, "{e}"),
            Error::Symbols(e) => write!(f, "{e}"),
            Error::Source(e) => write!(f, "{e}"),
            Error::Io { path, err } => write!(f, "{}: {err}", path.display()),
            Error::Table { path, msg } => write!(f, "{}: {msg}", path.display()),
            Error::Mismatch {
                trace,
                trace_kernel,
                vmlinux,
                build_id,
                agree,
                sampled,
            } => write!(
                f,
                "{}: not recorded on {}: only {agree} of {sampled} functions traced with an \
                 address fit one load address (trace kernel: {trace_kernel}; vmlinux build-id \
                 {build_id}); give the vmlinux of the traced kernel",
                trace.display(),
                vmlinux.display()
            ),
        }
    }
}

impl std::error::Error for Error {}

impl From<ingest::Error> for Error {
    fn from(e: ingest::Error) -> Error {
        Error::Ingest(e)
    }
}

impl From<SymbolError> for Error {
    fn from(e: SymbolError) -> Error {
        Error::Symbols(e)
    }
}

impl From<crate::source::SourceError> for Error {
    fn from(e: crate::source::SourceError) -> Error {
        Error::Source(e)
    }
}
