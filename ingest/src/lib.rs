//! # ingest: ftrace traces into columnar event files
//!
//! The first stage of `hap`. It reads what people capture with ftrace, the
//! text of `/sys/kernel/tracing/trace` or `trace_pipe` and the output of
//! `trace-cmd report` (plain, gzip or zstd), and either streams the events to
//! a consumer ([`read_trace`]) or writes them to a zstd-compressed Parquet file
//! ([`ingest_to_parquet`]) that polars, DuckDB or Spark can read.
//!
//! Data flows one way: `ingest` knows nothing of symbols or HAP; the
//! `analyze` crate consumes its [`Event`]s.
#![deny(missing_docs, missing_debug_implementations)]

pub mod atomic;
mod error;
mod event;
pub mod input;
pub mod parquet;
pub mod text;

use std::path::Path;

pub use error::{Error, ErrorKind, Location};
pub use event::{Event, EventSink, IrqFlags, TraceInfo};
use input::{Input, TraceKind};

/// Options for reading any trace.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Options {
    /// Text parsing options.
    pub text: text::Options,
}

impl Options {
    /// Options with `--strict` set as given.
    pub fn strict(strict: bool) -> Options {
        Options {
            text: text::Options {
                strict,
                ..text::Options::default()
            },
        }
    }
}

/// What reading a trace produced besides the events.
#[derive(Clone, Debug, Default)]
pub struct ReadSummary {
    /// File-level facts.
    pub info: TraceInfo,
    /// Events delivered.
    pub events: u64,
    /// Text statistics (lines, unparseable lines); zero for Parquet input.
    pub text: text::TextStats,
}

/// Read any supported trace (text, compressed text, or an events Parquet
/// written by [`ingest_to_parquet`]) and hand its events to `sink`.
/// For Parquet input only `columns` are read (see [`parquet::read_events`]).
pub fn read_trace(
    path: &Path,
    options: &Options,
    columns: &[&str],
    sink: &mut dyn EventSink,
) -> Result<ReadSummary, Error> {
    let mut input = Input::open(path)?;
    match input.kind {
        TraceKind::Parquet => {
            drop(input);
            let info = parquet::read_info(path)?;
            let events = parquet::read_events(path, columns, sink)?;
            Ok(ReadSummary {
                info,
                events,
                text: text::TextStats::default(),
            })
        }
        TraceKind::Text => {
            let mut info = TraceInfo {
                source_name: path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                source_compression: input.compression.name().to_string(),
                ..TraceInfo::default()
            };
            let stats = text::parse(&mut input.reader, path, &options.text, &mut info, sink)?;
            info.source_sha256 = input.sha256_hex(path)?;
            Ok(ReadSummary {
                info,
                events: stats.events,
                text: stats,
            })
        }
        TraceKind::TraceDat => Err(input::require_text(&input, path).unwrap_err()),
    }
}

/// Convert a trace into an events Parquet file at `out` (written atomically).
pub fn ingest_to_parquet(path: &Path, out: &Path, options: &Options) -> Result<ReadSummary, Error> {
    let input = Input::open(path)?;
    if input.kind == TraceKind::Parquet {
        return Err(input::require_text(&input, path).unwrap_err());
    }
    drop(input);
    let mut writer = parquet::EventsWriter::create(out)?;
    let summary = read_trace(path, options, &[], &mut writer)?;
    writer.finish(&summary.info)?;
    Ok(summary)
}
