//! Bug density from the Linux kernel CNA's CVE records.
//!
//! The HAP multiplies the source lines a workload reaches by a bug density.
//! A single global constant treats every line alike; this module measures a
//! density per file, directory and MAINTAINERS subsystem from the CVE
//! records the kernel CNA publishes (the `vulns` repository, CVE JSON 5):
//!
//! * [`records`] loads records from a directory tree or a `.tar.zst`
//!   snapshot ([`load`]) into [`CveRecord`]s;
//! * [`versions`] decides whether a record affects a kernel release
//!   ([`affects`]) from the records' semver entries, following the CVE JSON 5
//!   status algorithm (rule and worked examples in `docs/method.md`,
//!   "Bug density from CVE records");
//! * [`table`] counts, for one release and source tree, the CVEs per file
//!   (`programFiles`), directory and subsystem, divides by physical lines
//!   and shrinks small counts toward the enclosing rate ([`compute`],
//!   [`DensityTable`], [`weighted_hap`]);
//! * [`csv`] writes and reads the table ([`write_csv`], [`read_csv`]).
//!
//! Errors are [`DensityError`]s, displayed as `PATH: message`.

pub mod csv;
pub mod records;
pub mod table;
pub mod versions;

use std::fmt;
use std::path::{Path, PathBuf};

pub use self::csv::{read_csv, write_csv};
pub use records::{load, Affected, CveRecord, Status, VersionEntry};
pub use table::{
    compute, compute_with, weighted_hap, DensityOptions, DensityRow, DensityTable, Level,
    MissingFile, Scope, Weight, DEFAULT_PSEUDO_KLOC,
};
pub use versions::{affects, affects_series, product_status, KernelVersion};

/// An error of the density stage: the file (or archive member) concerned
/// and what went wrong. Displayed as `PATH: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DensityError {
    /// The file, directory or `archive:member` the error is about.
    pub path: PathBuf,
    /// What went wrong.
    pub message: String,
}

impl DensityError {
    /// An error about `path`.
    pub fn new(path: impl AsRef<Path>, message: impl Into<String>) -> DensityError {
        DensityError {
            path: path.as_ref().to_path_buf(),
            message: message.into(),
        }
    }

    /// An I/O error while doing `what` with `path`.
    pub fn io(path: impl AsRef<Path>, what: &str, err: &std::io::Error) -> DensityError {
        DensityError::new(path, format!("{what}: {err}"))
    }
}

impl fmt::Display for DensityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

impl std::error::Error for DensityError {}
