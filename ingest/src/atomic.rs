//! Atomic output files: written under a temporary name in the destination's
//! directory and renamed into place only when complete, so an error or an
//! interruption never leaves a half-written file at the final name.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Temporary files being written, so an interrupted run can remove them
/// (see [`remove_all_temporaries`]).
static TEMPORARIES: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn register(tmp: &Path) {
    if let Ok(mut t) = TEMPORARIES.lock() {
        t.push(tmp.to_path_buf());
    }
}

fn unregister(tmp: &Path) {
    if let Ok(mut t) = TEMPORARIES.lock() {
        t.retain(|p| p != tmp);
    }
}

/// Have [`remove_all_temporaries`] also remove `path`, a temporary file or
/// directory made by the caller (e.g. an archive's extraction folder), until
/// [`unregister_temporary`] is called.
pub fn register_temporary(path: &Path) {
    register(path);
}

/// Undo [`register_temporary`] (the caller removed `path` itself).
pub fn unregister_temporary(path: &Path) {
    unregister(path);
}

/// Remove every temporary file or directory still registered. Called on
/// SIGINT/SIGTERM, where destructors do not run, so an interrupted run leaves
/// nothing behind.
pub fn remove_all_temporaries() {
    if let Ok(t) = TEMPORARIES.lock() {
        for p in t.iter() {
            if p.is_dir() {
                // Other threads may still be writing into it: retry while
                // files appear under the removal.
                for _ in 0..20 {
                    if std::fs::remove_dir_all(p).is_ok() || !p.exists() {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
            } else {
                let _ = std::fs::remove_file(p);
            }
        }
    }
}

/// A file being written; becomes visible at its final path on [`AtomicFile::commit`].
/// Dropping it without committing removes the temporary file.
#[derive(Debug)]
pub struct AtomicFile {
    tmp: PathBuf,
    dest: PathBuf,
    file: Option<File>,
}

impl AtomicFile {
    /// Create `.<name>.<pid>.tmp` beside `dest`.
    pub fn create(dest: &Path) -> io::Result<AtomicFile> {
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = dest.file_name().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "output path has no file name")
        })?;
        let tmp = dir.join(format!(
            ".{}.{}.tmp",
            name.to_string_lossy(),
            std::process::id()
        ));
        let file = File::create(&tmp)?;
        register(&tmp);
        Ok(AtomicFile {
            tmp,
            dest: dest.to_path_buf(),
            file: Some(file),
        })
    }

    /// The open temporary file.
    pub fn file(&mut self) -> &mut File {
        self.file.as_mut().expect("file present until commit")
    }

    /// A second handle to the temporary file (for writers that take ownership).
    pub fn try_clone(&self) -> io::Result<File> {
        self.file
            .as_ref()
            .expect("file present until commit")
            .try_clone()
    }

    /// Flush to disk and rename to the final path.
    pub fn commit(mut self) -> io::Result<()> {
        if let Some(f) = self.file.take() {
            if let Err(e) = f.sync_all() {
                let _ = std::fs::remove_file(&self.tmp);
                unregister(&self.tmp);
                return Err(e);
            }
        }
        let renamed = std::fs::rename(&self.tmp, &self.dest);
        if renamed.is_err() {
            let _ = std::fs::remove_file(&self.tmp);
        }
        unregister(&self.tmp);
        renamed
    }

    /// Temporary path (for tests and messages).
    pub fn temp_path(&self) -> &Path {
        &self.tmp
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
            unregister(&self.tmp);
        }
    }
}

/// Write `bytes` to `dest` atomically.
pub fn write_all(dest: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let mut f = AtomicFile::create(dest)?;
    f.file().write_all(bytes)?;
    f.commit()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn commit_renames_and_drop_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.txt");
        {
            let mut f = AtomicFile::create(&dest).unwrap();
            f.file().write_all(b"partial").unwrap();
            assert!(f.temp_path().exists());
            assert!(!dest.exists());
        }
        assert!(!dest.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        write_all(&dest, b"whole").unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"whole");
    }
}
