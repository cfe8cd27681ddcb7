//! Where the rows of the events file are built into row groups: on the
//! reading thread itself for blocks of rows, on a builder thread of its own
//! for events one at a time.
//!
//! A reader of trace.dat decodes each CPU on a thread of its own and only
//! merges on the reading thread, then hands over blocks of rows. Building
//! a block's columns right there, while its rows are still in the core's
//! cache, costs less than sending the block to a builder thread: no second
//! pass over the rows from another core's cache and no thread to wake per
//! block (docs/performance.md). A text reader parses every line on the
//! reading thread, so there the builder thread takes the building off it
//! ([`super::handoff`]).

use polars::prelude::{polars_err, PolarsResult};
use polars_parquet::write::KeyValue;

use super::background::Background;
use super::batch::Batch;
use super::handoff::Handoff;
use crate::block::{EventBlock, Rows};
use crate::event::Event;

/// The building, decided by the first rows that come.
pub(super) enum Stage {
    /// No rows yet.
    Idle(Background),
    /// Blocks built on the calling thread.
    Direct {
        batch: Box<Batch>,
        writer: Background,
    },
    /// Events sent to a builder thread.
    Threaded(Box<Handoff>),
    /// Every row handed to the writer.
    Written(Background),
    /// Between two of the above (only while changing over).
    Gone,
}

impl Stage {
    pub(super) fn new(writer: Background) -> Stage {
        Stage::Idle(writer)
    }

    /// Take one event.
    pub(super) fn push(&mut self, e: &Event<'_>) -> PolarsResult<()> {
        if !matches!(self, Stage::Threaded(_)) {
            self.thread()?;
        }
        match self {
            Stage::Threaded(h) => h.push(e),
            _ => Err(gone()),
        }
    }

    /// Take a block of events; returns an empty one to fill next.
    pub(super) fn block(&mut self, mut block: EventBlock) -> PolarsResult<EventBlock> {
        if let Stage::Threaded(h) = self {
            return h.block(block);
        }
        self.rows(block.rows(0..block.rows.len()))?;
        block.clear();
        Ok(block)
    }

    /// Take rows straight from the reader's buffer; false (and nothing
    /// taken) if they must come in a block (the building is on a thread
    /// of its own).
    pub(super) fn run(&mut self, rows: Rows<'_>) -> PolarsResult<bool> {
        if let Stage::Threaded(_) = self {
            return Ok(false);
        }
        self.rows(rows)?;
        Ok(true)
    }

    /// Build `rows` here.
    fn rows(&mut self, rows: Rows<'_>) -> PolarsResult<()> {
        *self = match std::mem::replace(self, Stage::Gone) {
            Stage::Idle(writer) | Stage::Written(writer) => Stage::Direct {
                batch: writer.first_batch(),
                writer,
            },
            other => other,
        };
        match self {
            Stage::Direct { batch, writer } => writer.build(batch, rows),
            _ => Err(gone()),
        }
    }

    /// No more rows come: blocks built here go to be encoded now, not when
    /// the file is finished (which waits for the reader's last work).
    pub(super) fn end_of_events(&mut self) -> PolarsResult<()> {
        *self = match std::mem::replace(self, Stage::Gone) {
            Stage::Direct { batch, mut writer } => {
                if batch.len() > 0 {
                    writer.write_last(batch)?;
                }
                Stage::Written(writer)
            }
            other => other,
        };
        Ok(())
    }

    /// Move the building to a builder thread, with the rows so far.
    fn thread(&mut self) -> PolarsResult<()> {
        let (writer, batch) = match std::mem::replace(self, Stage::Gone) {
            Stage::Idle(writer) | Stage::Written(writer) => (writer, None),
            Stage::Direct { batch, writer } => (writer, Some(batch)),
            other => {
                *self = other;
                return Ok(());
            }
        };
        let handoff = Handoff::start(writer, batch)
            .map_err(|e| polars_err!(ComputeError: "events builder thread: {e}"))?;
        *self = Stage::Threaded(Box::new(handoff));
        Ok(())
    }

    /// Write the last rows and have the file finished with `key_value`
    /// metadata. Returns the file's size.
    pub(super) fn finish(self, key_value: Vec<KeyValue>) -> PolarsResult<u64> {
        match self {
            Stage::Idle(writer) | Stage::Written(writer) => writer.finish(key_value),
            Stage::Direct { batch, mut writer } => {
                if batch.len() > 0 {
                    writer.write_last(batch)?;
                }
                writer.finish(key_value)
            }
            Stage::Threaded(h) => h.finish(key_value),
            Stage::Gone => Err(gone()),
        }
    }
}

fn gone() -> polars::prelude::PolarsError {
    polars_err!(ComputeError: "events writer stopped")
}
