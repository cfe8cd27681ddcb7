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
use polars_arrow::array::Array;
use polars_parquet::write::{self, KeyValue, ParquetType};

use super::file::{self, FileWriter};

type Arrays = Vec<Box<dyn Array>>;

enum Job {
    RowGroup(u64, Arrays),
    Finish(Vec<KeyValue>),
}

/// How the columns are encoded: one Parquet field and encoding per column.
pub(super) struct Encoding {
    pub(super) fields: Vec<ParquetType>,
    pub(super) encodings: Vec<Vec<write::Encoding>>,
    pub(super) options: write::WriteOptions,
}

/// Encode and compress one row group (`arrays` in schema order), one column
/// per task.
fn encode_row_group(arrays: &[Box<dyn Array>], how: &Encoding) -> PolarsResult<Vec<file::Chunk>> {
    use rayon::prelude::*;

    arrays
        .par_iter()
        .zip(how.fields.par_iter())
        .zip(how.encodings.par_iter())
        .map(|((array, field), encoding)| {
            let mut leaves = write::array_to_columns(array, field.clone(), how.options, encoding)?;
            match (leaves.pop(), leaves.is_empty()) {
                (Some(pages), true) => file::encode_chunk(pages, how.options.compression),
                _ => Err(polars_err!(ComputeError: "events column {} is not flat", field.name())),
            }
        })
        .collect()
}

fn run<W: Write>(
    jobs: Receiver<Job>,
    done: SyncSender<Arrays>,
    mut writer: FileWriter<W>,
    how: Encoding,
) -> PolarsResult<u64> {
    for job in jobs {
        match job {
            Job::RowGroup(rows, arrays) => {
                let chunks = encode_row_group(&arrays, &how)?;
                // The reading thread may have stopped; then nothing is reused.
                let _ = done.send(arrays);
                writer.write_row_group(rows, chunks)?;
            }
            Job::Finish(key_value) => return writer.finish(key_value),
        }
    }
    Err(polars_err!(ComputeError: "events writer stopped before the footer"))
}

/// The writing thread, seen from the reading one. Dropped before
/// [`Background::finish`] (the reading failed), it stops the thread and
/// waits for it, so no thread outlives the output it was writing.
pub(super) struct Background {
    jobs: Option<SyncSender<Job>>,
    done: Receiver<Arrays>,
    thread: Option<JoinHandle<PolarsResult<u64>>>,
    in_flight: bool,
}

impl Background {
    pub(super) fn start<W: Write + Send + 'static>(
        writer: FileWriter<W>,
        how: Encoding,
    ) -> std::io::Result<Background> {
        let (jobs, job_rx) = sync_channel(1);
        let (done_tx, done) = sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("hap-parquet".into())
            .spawn(move || run(job_rx, done_tx, writer, how))?;
        Ok(Background {
            jobs: Some(jobs),
            done,
            thread: Some(thread),
            in_flight: false,
        })
    }

    /// Wait for the thread; its result (the file's size, or why it failed).
    fn join(&mut self) -> PolarsResult<u64> {
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(polars_err!(ComputeError: "events writer thread panicked")),
            None => Err(polars_err!(ComputeError: "events writer thread stopped")),
        }
    }

    /// Why the thread stopped early (it only does on an error).
    fn failure(&mut self) -> polars::prelude::PolarsError {
        match self.join() {
            Err(e) => e,
            Ok(_) => polars_err!(ComputeError: "events writer thread stopped"),
        }
    }

    /// Hand over a row group of `rows` rows. Returns the arrays of the
    /// previous row group, once encoded, for reuse (none the first time);
    /// waits for that encoding to finish.
    pub(super) fn write(&mut self, rows: u64, arrays: Arrays) -> PolarsResult<Arrays> {
        let previous = if self.in_flight {
            self.done.recv().map_err(|_| self.failure())?
        } else {
            Vec::new()
        };
        self.send(Job::RowGroup(rows, arrays))?;
        self.in_flight = true;
        Ok(previous)
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
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use polars::prelude::{CompatLevel, DataType, Field, Schema, SchemaExt};
    use polars_arrow::array::PrimitiveArray;

    use super::*;

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
        let schema = Schema::from_iter([Field::new("x".into(), DataType::Int64)]);
        let arrow = schema.to_arrow(CompatLevel::newest());
        let parquet = write::to_parquet_schema(&arrow).unwrap();
        let options = write::WriteOptions {
            statistics: write::StatisticsOptions::default(),
            compression: write::CompressionOptions::Uncompressed,
            version: write::Version::V1,
            data_page_size: None,
        };
        let fields = parquet.fields().to_vec();
        let writer = FileWriter::new(Full { room }, parquet, &options).unwrap();
        let how = Encoding {
            fields,
            encodings: vec![vec![write::Encoding::Plain]],
            options,
        };
        Background::start(writer, how).unwrap()
    }

    fn row_group(n: i64) -> Arrays {
        vec![PrimitiveArray::from_vec((0..n).collect::<Vec<i64>>()).boxed()]
    }

    #[test]
    fn arrays_come_back_one_row_group_later_and_the_file_is_finished() {
        let mut bg = start(usize::MAX);
        assert!(bg.write(1_000, row_group(1_000)).unwrap().is_empty());
        let back = bg.write(2_000, row_group(2_000)).unwrap();
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].len(), 1_000);
        // 8,000 + 16,000 bytes of values, plus headers and metadata.
        let size = bg.finish(Vec::new()).unwrap();
        assert!((24_000..26_000).contains(&size), "{size}");
    }

    #[test]
    fn a_failed_write_on_the_thread_is_the_error_of_a_later_call() {
        // Room for the first row group (8 KB of values) but not the second.
        let mut bg = start(10_000);
        bg.write(1_000, row_group(1_000)).unwrap();
        bg.write(1_000, row_group(1_000)).unwrap();
        let err = match bg.write(1_000, row_group(1_000)) {
            Err(e) => e,
            Ok(_) => bg.finish(Vec::new()).unwrap_err(),
        };
        assert!(err.to_string().contains("No space left on device"), "{err}");
    }

    #[test]
    fn dropping_before_finish_stops_the_thread() {
        let mut bg = start(usize::MAX);
        bg.write(1_000, row_group(1_000)).unwrap();
        drop(bg); // joins the thread; a hang here fails the test run
    }
}
