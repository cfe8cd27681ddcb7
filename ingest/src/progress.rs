//! Progress of a long read, for a front end to draw: bytes done out of a
//! total, updated by the readers with one atomic add per buffer or page.
//! The default handle is disabled and costs nothing.

use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A shared progress counter. Clones count into the same totals, so several
/// traces read in parallel add up in one bar.
#[derive(Clone, Debug, Default)]
pub struct Progress(Option<Arc<Counters>>);

#[derive(Debug, Default)]
struct Counters {
    done: AtomicU64,
    total: AtomicU64,
}

impl Progress {
    /// An enabled counter at 0 of 0.
    pub fn new() -> Progress {
        Progress(Some(Arc::default()))
    }

    /// True unless this is the disabled default.
    pub fn is_enabled(&self) -> bool {
        self.0.is_some()
    }

    /// Add `n` units to the work expected.
    pub fn add_total(&self, n: u64) {
        if let Some(c) = &self.0 {
            c.total.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Add `n` units to the work done.
    pub fn add(&self, n: u64) {
        if let Some(c) = &self.0 {
            c.done.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// (done, total) so far; (0, 0) when disabled.
    pub fn get(&self) -> (u64, u64) {
        self.0.as_ref().map_or((0, 0), |c| {
            (
                c.done.load(Ordering::Relaxed),
                c.total.load(Ordering::Relaxed),
            )
        })
    }
}

/// A reader that counts the bytes it returns into a [`Progress`].
#[derive(Debug)]
pub struct Counted<R> {
    inner: R,
    progress: Progress,
}

impl<R> Counted<R> {
    /// Count what `inner` returns.
    pub fn new(inner: R, progress: Progress) -> Counted<R> {
        Counted { inner, progress }
    }
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.add(n as u64);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_bytes_read_and_clones_share_totals() {
        let p = Progress::new();
        p.add_total(11);
        let mut r = Counted::new(&b"hello world"[..], p.clone());
        let mut s = String::new();
        r.read_to_string(&mut s).unwrap();
        assert_eq!(p.get(), (11, 11));
        let off = Progress::default();
        off.add(5);
        assert_eq!((off.is_enabled(), off.get()), (false, (0, 0)));
    }
}
