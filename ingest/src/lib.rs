//! # ingest: ftrace traces into columnar event files
//!
//! The first stage of `hap`. It reads what people capture with ftrace: the
//! text of `/sys/kernel/tracing/trace` or `trace_pipe`, the output of
//! `trace-cmd report` (plain, gzip or zstd), and trace-cmd's binary
//! `trace.dat` (versions 6 and 7, [`dat`]), and either streams the events to
//! a consumer ([`read_trace`]) or writes them to a zstd-compressed Parquet file
//! ([`ingest_to_parquet`]) that polars, DuckDB or Spark can read.
//!
//! Data flows one way: `ingest` knows nothing of symbols or HAP; the
//! `analyze` crate consumes its [`Event`]s.
#![deny(missing_docs, missing_debug_implementations)]

pub mod atomic;
pub mod block;
pub mod columns;
pub mod dat;
mod error;
mod event;
pub mod input;
#[cfg(feature = "parquet")]
pub mod parquet;
pub mod progress;
mod sched;
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
    /// trace.dat reading options.
    pub dat: dat::Options,
    /// Where to count the bytes read (disabled by default).
    pub progress: progress::Progress,
}

impl Options {
    /// Options with `--strict` set as given.
    pub fn strict(strict: bool) -> Options {
        Options {
            text: text::Options {
                strict,
                ..text::Options::default()
            },
            dat: dat::Options::default(),
            progress: progress::Progress::default(),
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

/// Read any supported trace (text, compressed text, trace.dat, or an events
/// Parquet written by [`ingest_to_parquet`]) and hand its events to `sink`.
/// For Parquet input only `columns` are read (see [`parquet::read_events`]).
pub fn read_trace(
    path: &Path,
    options: &Options,
    columns: &[&str],
    sink: &mut dyn EventSink,
) -> Result<ReadSummary, Error> {
    let mut input = Input::open_counted(path, &options.progress)?;
    match input.kind {
        #[cfg(feature = "parquet")]
        TraceKind::Parquet => {
            drop(input);
            let info = parquet::read_info(path)?;
            sink.begin(&info)?;
            let events = parquet::read_events(path, columns, sink)?;
            Ok(ReadSummary {
                info,
                events,
                text: text::TextStats::default(),
            })
        }
        #[cfg(not(feature = "parquet"))]
        TraceKind::Parquet => {
            let _ = columns;
            Err(Error::new(ErrorKind::Unsupported(
                "input: an events Parquet file (this build has no `parquet` feature)".into(),
            ))
            .with_path(path))
        }
        TraceKind::Text => {
            input.hash_in_background();
            let mut info = TraceInfo {
                source_name: source_name(path),
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
        TraceKind::TraceDat => {
            input.hash_in_background();
            let mut info = TraceInfo {
                source_name: source_name(path),
                source_compression: input.compression.name().to_string(),
                ..TraceInfo::default()
            };
            let stats = match input.compression {
                // A plain trace.dat is parsed straight from a memory map.
                input::Compression::None => {
                    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
                    // SAFETY: the map is read-only and lives only for this call; a file
                    // truncated underneath us by another process could fault, as with
                    // any memory-mapped reader (trace-cmd and gdb included).
                    let map =
                        unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
                    let dat = options
                        .dat
                        .clone()
                        .with_progress(&options.progress)
                        .with_mapped(true);
                    dat::parse(&map, path, &dat, &mut info, sink)?
                }
                // A whole-file-compressed trace.dat (e.g. trace.dat.zst) is inflated in memory.
                _ => {
                    let mut bytes = Vec::new();
                    std::io::Read::read_to_end(&mut input.reader, &mut bytes)
                        .map_err(|e| Error::io(path, e))?;
                    let dat = options.dat.clone().with_progress(&options.progress);
                    dat::parse(&bytes, path, &dat, &mut info, sink)?
                }
            };
            info.source_sha256 = input.sha256_hex(path)?;
            Ok(ReadSummary {
                info,
                events: stats.events,
                text: text::TextStats::default(),
            })
        }
    }
}

fn source_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Convert a trace into an events Parquet file at `out` (written atomically).
#[cfg(feature = "parquet")]
pub fn ingest_to_parquet(path: &Path, out: &Path, options: &Options) -> Result<ReadSummary, Error> {
    let input = Input::open(path)?;
    if input.kind == TraceKind::Parquet {
        return Err(Error::new(ErrorKind::Unsupported(
            "input: this is already an events Parquet file".into(),
        ))
        .with_path(path));
    }
    drop(input);
    let mut writer = parquet::EventsWriter::create(out)?;
    let summary = read_trace(path, options, &[], &mut writer)?;
    writer.finish(&summary.info)?;
    Ok(summary)
}
