//! Row-group builders made ready ahead of need, on a thread that runs only
//! on CPU time no other thread wants.
//!
//! A builder for 131,072 rows holds about 4 MB of vectors (a function
//! trace's: timestamps, 6 key vectors, flags), and the first write to each
//! of their pages is a page fault: the two builders that take turns cost
//! about 2,100 faults (6,500 when they held 262,144 wider rows) on the
//! builder and writer threads that every row waits for. The cores idle for
//! a fifth of a run (waiting on one another), so the pages are touched
//! there instead, before the builders are handed out (docs/performance.md).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;

use super::batch::Batch;

/// Builders handed out, prepared or not.
#[derive(Debug)]
pub(super) struct Spares {
    rows: usize,
    ready: Option<Receiver<Box<Batch>>>,
    /// Builders still wanted from the thread (it stops at zero).
    wanted: Arc<AtomicUsize>,
}

impl Spares {
    /// Prepare `count` builders of `rows` rows on a thread of their own
    /// (none if the thread cannot start: builders are then made on demand).
    pub(super) fn start(rows: usize, count: usize) -> Spares {
        let wanted = Arc::new(AtomicUsize::new(count));
        let (tx, rx) = sync_channel(count);
        let left = wanted.clone();
        let thread = std::thread::Builder::new()
            .name("hap-spares".into())
            .spawn(move || {
                crate::sched::run_when_idle();
                // Stop when every builder has been handed out, prepared or not.
                while take_one(&left) {
                    let mut batch = Batch::with_capacity(rows);
                    batch.touch_pages();
                    if tx.send(batch).is_err() {
                        return;
                    }
                }
            });
        Spares {
            rows,
            ready: thread.ok().map(|_| rx),
            wanted,
        }
    }

    /// No builders prepared: each is made when taken.
    pub(super) fn none(rows: usize) -> Spares {
        Spares {
            rows,
            ready: None,
            wanted: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// A builder: a prepared one if one is ready; else a new one, and one
    /// fewer is prepared; else (the thread is preparing the last one) that
    /// one if it is ready within [`WAIT`], or a new one. The wait is short
    /// because the thread runs only on idle CPU time: where other work keeps
    /// both cores busy (`hap batch` ingesting two traces at once) it may
    /// not run for long.
    pub(super) fn take(&self) -> Box<Batch> {
        let Some(ready) = &self.ready else {
            return Batch::with_capacity(self.rows);
        };
        if let Ok(batch) = ready.try_recv() {
            return batch;
        }
        if take_one(&self.wanted) {
            return Batch::with_capacity(self.rows);
        }
        ready
            .recv_timeout(WAIT)
            .unwrap_or_else(|_| Batch::with_capacity(self.rows))
    }
}

/// How long a builder the thread is preparing is waited for.
const WAIT: std::time::Duration = std::time::Duration::from_millis(2);

/// Count one builder off `wanted`; false if none was left.
fn take_one(wanted: &AtomicUsize) -> bool {
    wanted
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builder_is_empty_and_sized_and_no_more_are_made_than_asked() {
        let spares = Spares::start(1000, 2);
        let (a, b) = (spares.take(), spares.take());
        assert_eq!((a.len(), b.len()), (0, 0));
        assert!(a.capacity() >= 1000 && b.capacity() >= 1000);
        // Both were counted off, prepared or made here: the thread stops,
        // having prepared at most one beyond them (one it was preparing
        // when the second take gave up waiting for it).
        assert_eq!(spares.wanted.load(Ordering::Acquire), 0);
        let rx = spares.ready.as_ref().unwrap();
        let extra = rx.iter().count();
        assert!(extra <= 1, "{extra} builders prepared beyond the two taken");
    }
}
