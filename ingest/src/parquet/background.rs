//! Row groups encoded, compressed and written on a thread of their own, so
//! that the column work of one row group overlaps with decoding and
//! building the next (with the writer on the reading thread, the decoders
//! stood still for every row group's encoding and one core sat idle for a
//! quarter of the run, docs/performance.md).
//!
//! At most two row groups exist at a time: the one filling and the one being
//! encoded. The encoded row group's arrays come back to be refilled, so the
//! same memory serves every row group.

use std::io::Write;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

use polars::prelude::{polars_err, PolarsResult};
use polars_parquet::write::KeyValue;

use super::batch::{AddrSymbols, Batch};
use super::file::FileWriter;
use super::BATCH_ROWS;
use crate::block::Rows;

enum Job {
    RowGroup(Box<Batch>),
    Finish(Vec<KeyValue>),
}

fn run<W: Write>(
    jobs: Receiver<Job>,
    done: SyncSender<Box<Batch>>,
    mut writer: FileWriter<W>,
    level: i32,
    mut written: impl FnMut(),
) -> PolarsResult<u64> {
    let mut known = AddrSymbols::default();
    // The memory of the last row group's column chunks.
    let mut spare = Vec::new();
    for job in jobs {
        match job {
            Job::RowGroup(mut batch) => {
                let rows = batch.len() as u64;
                let chunks = batch.encode(level, &mut known, &mut spare)?;
                // Not wanted back (the last row group, whose predecessor's
                // builder is still waiting to be taken) or the reading
                // thread has stopped: then the builder is freed.
                let _ = done.try_send(batch);
                writer.write_row_group(rows, chunks, &mut spare)?;
                written();
            }
            Job::Finish(key_value) => return writer.finish(key_value),
        }
    }
    Err(polars_err!(ComputeError: "events writer stopped before the footer"))
}

/// Wait for the events `what` thread (if not waited for yet); its result.
pub(super) fn join(thread: Option<JoinHandle<PolarsResult<u64>>>, what: &str) -> PolarsResult<u64> {
    match thread.map(JoinHandle::join) {
        Some(Ok(result)) => result,
        Some(Err(_)) => Err(polars_err!(ComputeError: "events {what} thread panicked")),
        None => Err(polars_err!(ComputeError: "events {what} thread stopped")),
    }
}

/// Why the events `what` thread stopped early (it only does on an error).
pub(super) fn stopped(
    thread: Option<JoinHandle<PolarsResult<u64>>>,
    what: &str,
) -> polars::prelude::PolarsError {
    match join(thread, what) {
        Err(e) => e,
        Ok(_) => polars_err!(ComputeError: "events {what} thread stopped"),
    }
}

/// The writing thread, seen from the reading one. Dropped before
/// [`Background::finish`] (the reading failed), it stops the thread and
/// waits for it, so no thread outlives the output it was writing.
pub(super) struct Background {
    jobs: Option<SyncSender<Job>>,
    done: Receiver<Box<Batch>>,
    thread: Option<JoinHandle<PolarsResult<u64>>>,
    in_flight: bool,
}

impl Background {
    /// Start the thread, which calls `written` after each row group.
    pub(super) fn start<W: Write + Send + 'static>(
        writer: FileWriter<W>,
        level: i32,
        written: impl FnMut() + Send + 'static,
    ) -> std::io::Result<Background> {
        let (jobs, job_rx) = sync_channel(1);
        let (done_tx, done) = sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("hap-parquet".into())
            .spawn(move || run(job_rx, done_tx, writer, level, written))?;
        Ok(Background {
            jobs: Some(jobs),
            done,
            thread: Some(thread),
            in_flight: false,
        })
    }

    /// Wait for the thread; its result (the file's size, or why it failed).
    fn join(&mut self) -> PolarsResult<u64> {
        join(self.thread.take(), "writer")
    }

    /// Why the thread stopped early (it only does on an error).
    fn failure(&mut self) -> polars::prelude::PolarsError {
        stopped(self.thread.take(), "writer")
    }

    /// A builder for the first row group.
    pub(super) fn first_batch(&self) -> Box<Batch> {
        Batch::with_capacity(BATCH_ROWS)
    }

    /// Hand over a row group. Returns the previous row group's builder,
    /// once encoded, emptied for reuse (a new one the first time); waits
    /// for that encoding to finish.
    pub(super) fn write(&mut self, batch: Box<Batch>) -> PolarsResult<Box<Batch>> {
        let mut previous = if self.in_flight {
            self.done.recv().map_err(|_| self.failure())?
        } else {
            Batch::with_capacity(BATCH_ROWS)
        };
        previous.clear();
        self.send(Job::RowGroup(batch))?;
        self.in_flight = true;
        Ok(previous)
    }

    /// Build `rows` into `batch`, handing it over each time it holds a row
    /// group and going on in the builder that comes back.
    pub(super) fn build(&mut self, batch: &mut Box<Batch>, rows: Rows<'_>) -> PolarsResult<()> {
        let n = rows.rows.len();
        let mut at = 0;
        while at < n {
            let end = n.min(at + BATCH_ROWS - batch.len());
            batch.push_block(Rows {
                rows: &rows.rows[at..end],
                ..rows
            });
            if batch.len() >= BATCH_ROWS {
                let full = std::mem::take(batch);
                *batch = self.write(full)?;
            }
            at = end;
        }
        Ok(())
    }

    /// Hand over the last row group (no builder is wanted back).
    pub(super) fn write_last(&mut self, batch: Box<Batch>) -> PolarsResult<()> {
        self.send(Job::RowGroup(batch))
    }

    fn send(&mut self, job: Job) -> PolarsResult<()> {
        match &self.jobs {
            Some(jobs) if jobs.send(job).is_ok() => Ok(()),
            _ => Err(self.failure()),
        }
    }

    /// Write the footer after the last row group and wait for the thread.
    /// Returns the file's size.
    pub(super) fn finish(mut self, key_value: Vec<KeyValue>) -> PolarsResult<u64> {
        self.send(Job::Finish(key_value))?;
        self.join()
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        // Without jobs the thread's loop ends after the row group at hand.
        self.jobs = None;
        let _ = join(self.thread.take(), "writer");
    }
}

#[cfg(test)]
mod tests {
    use polars::prelude::{CompatLevel, SchemaExt};
    use polars_parquet::write;

    use super::*;
    use crate::event::Event;

    /// A file that takes `room` bytes, then fails like a full disk.
    struct Full {
        room: usize,
    }

    impl Write for Full {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if buf.len() > self.room {
                return Err(std::io::Error::from_raw_os_error(28)); // ENOSPC
            }
            self.room -= buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn start(room: usize) -> Background {
        let arrow = super::super::schema().to_arrow(CompatLevel::newest());
        let parquet = write::to_parquet_schema(&arrow).unwrap();
        let options = write::WriteOptions {
            statistics: write::StatisticsOptions::default(),
            compression: write::CompressionOptions::Uncompressed,
            version: write::Version::V1,
            data_page_size: None,
        };
        let writer = FileWriter::new(Full { room }, parquet, &options).unwrap();
        Background::start(writer, 3, || {}).unwrap()
    }

    /// `n` events whose timestamps do not compress well.
    fn row_group(n: i64) -> Box<Batch> {
        let mut b = Box::<Batch>::default();
        for i in 0..n as u64 {
            // splitmix64 of i
            let mut z = i.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            b.push(&Event {
                ts_ns: (z ^ (z >> 31)) as i64,
                comm: "x",
                event: "function",
                ..Event::default()
            });
        }
        b
    }

    #[test]
    fn builders_come_back_one_row_group_later_emptied_and_the_file_is_finished() {
        let mut bg = start(usize::MAX);
        assert_eq!(bg.write(row_group(1_000)).unwrap().len(), 0);
        let back = bg.write(row_group(2_000)).unwrap();
        assert_eq!(back.len(), 0);
        // At least 8,000 + 16,000 bytes of random timestamps (delta-encoded
        // at 64 bits and a little more), plus the rest.
        let size = bg.finish(Vec::new()).unwrap();
        assert!((24_000..32_000).contains(&size), "{size}");
    }

    #[test]
    fn a_failed_write_on_the_thread_is_the_error_of_a_later_call() {
        // Room for the first row group (about 10 KB) but not the second.
        let mut bg = start(15_000);
        bg.write(row_group(1_000)).unwrap();
        bg.write(row_group(1_000)).unwrap();
        let err = match bg.write(row_group(1_000)) {
            Err(e) => e,
            Ok(_) => bg.finish(Vec::new()).unwrap_err(),
        };
        assert!(err.to_string().contains("No space left on device"), "{err}");
    }

    #[test]
    fn dropping_before_finish_stops_the_thread() {
        let mut bg = start(usize::MAX);
        bg.write(row_group(1_000)).unwrap();
        drop(bg); // joins the thread; a hang here fails the test run
    }
}
