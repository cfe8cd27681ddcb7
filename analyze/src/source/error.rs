//! Errors of the source-tree reader.
//!
//! Every message follows the grammar `Missing|Invalid <thing>` followed by
//! details, and [`SourceError`]'s `Display` prefixes it with the path it is
//! about: `PATH: Missing kernel Makefile (...)`. Nothing in this module
//! panics on odd input: unreadable or non-UTF-8 source files are read
//! lossily or reported, never unwrapped.
//!
//! Where each error comes from:
//!
//! | operation | error |
//! |---|---|
//! | `SourceTree::open` | `Missing kernel source tree`, `Missing kernel Makefile`, `Missing MAINTAINERS file` (with the setup hint) |
//! | `SourceTree::read` | `Missing source file`, `Invalid source file: <io error>`, `Invalid source path: not inside the tree` |
//! | `Maintainers::load` | `Missing MAINTAINERS file`, `Invalid MAINTAINERS file: no sections` |
//!
//! `refine` and `Maintainers::parse` never fail: a file that cannot be
//! read leaves its functions with their DWARF spans, lines that cannot be
//! understood are skipped.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Why a kernel source tree or one of its files could not be used.
#[derive(Debug)]
pub enum SourceError {
    /// A file or directory that must exist does not.
    Missing {
        /// The path that was looked for.
        path: PathBuf,
        /// What it should have been, e.g. `kernel source tree`.
        thing: &'static str,
        /// A hint for the user (may be empty).
        hint: &'static str,
    },
    /// A file exists but cannot be used.
    Invalid {
        /// The file.
        path: PathBuf,
        /// What it should have been, e.g. `MAINTAINERS file`.
        thing: &'static str,
        /// What is wrong with it.
        detail: String,
    },
}

/// Where the setup script is mentioned in hints.
pub(crate) const SETUP_HINT: &str = "run scripts/setup.sh to unpack the kernel sources";

impl SourceError {
    /// A [`SourceError::Missing`] about `path`.
    pub(crate) fn missing(path: &Path, thing: &'static str, hint: &'static str) -> SourceError {
        SourceError::Missing {
            path: path.to_path_buf(),
            thing,
            hint,
        }
    }

    /// A [`SourceError::Invalid`] about `path`.
    pub(crate) fn invalid(
        path: &Path,
        thing: &'static str,
        detail: impl fmt::Display,
    ) -> SourceError {
        SourceError::Invalid {
            path: path.to_path_buf(),
            thing,
            detail: detail.to_string(),
        }
    }

    /// Read error on `path`: `Missing` when the file does not exist,
    /// `Invalid` otherwise.
    pub(crate) fn io(path: &Path, thing: &'static str, err: &io::Error) -> SourceError {
        if err.kind() == io::ErrorKind::NotFound {
            SourceError::missing(path, thing, "")
        } else {
            SourceError::invalid(path, thing, err)
        }
    }

    /// Whether the error is about something absent (as opposed to present
    /// but unusable): callers may then point at `scripts/setup.sh`.
    pub fn is_missing(&self) -> bool {
        matches!(self, SourceError::Missing { .. })
    }

    /// The path the error is about.
    pub fn path(&self) -> &Path {
        match self {
            SourceError::Missing { path, .. } | SourceError::Invalid { path, .. } => path,
        }
    }
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceError::Missing { path, thing, hint } => {
                write!(f, "{}: Missing {thing}", path.display())?;
                if !hint.is_empty() {
                    write!(f, " ({hint})")?;
                }
                Ok(())
            }
            SourceError::Invalid {
                path,
                thing,
                detail,
            } => write!(f, "{}: Invalid {thing}: {detail}", path.display()),
        }
    }
}

impl std::error::Error for SourceError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_path_first() {
        let e = SourceError::missing(Path::new("/k/Makefile"), "kernel Makefile", SETUP_HINT);
        assert_eq!(
            e.to_string(),
            "/k/Makefile: Missing kernel Makefile (run scripts/setup.sh to unpack the kernel sources)"
        );
        assert_eq!(e.path(), Path::new("/k/Makefile"));
        assert!(e.is_missing());
        let e = SourceError::invalid(
            Path::new("/k/MAINTAINERS"),
            "MAINTAINERS file",
            "no sections",
        );
        assert_eq!(
            e.to_string(),
            "/k/MAINTAINERS: Invalid MAINTAINERS file: no sections"
        );
        let nf = io::Error::new(io::ErrorKind::NotFound, "gone");
        assert_eq!(
            SourceError::io(Path::new("a.c"), "source file", &nf).to_string(),
            "a.c: Missing source file"
        );
        let denied = io::Error::new(io::ErrorKind::PermissionDenied, "denied");
        assert_eq!(
            SourceError::io(Path::new("a.c"), "source file", &denied).to_string(),
            "a.c: Invalid source file: denied"
        );
    }
}
