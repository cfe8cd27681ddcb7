//! The error type of the result-file readers and renderers: every error names
//! the file it is about, so `Display` prints `PATH: message`.

use std::fmt;
use std::path::{Path, PathBuf};

/// A failure reading or interpreting one result file.
#[derive(Debug)]
pub struct ReportError {
    /// The file (or directory) the error is about.
    pub path: PathBuf,
    /// What went wrong, without the path.
    pub message: String,
}

impl ReportError {
    /// An error about `path`.
    pub fn new(path: impl AsRef<Path>, message: impl Into<String>) -> ReportError {
        ReportError {
            path: path.as_ref().to_path_buf(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ReportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

impl std::error::Error for ReportError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_the_path() {
        let e = ReportError::new("/tmp/x/result.json", "missing key `hap`");
        assert_eq!(e.to_string(), "/tmp/x/result.json: missing key `hap`");
    }
}
