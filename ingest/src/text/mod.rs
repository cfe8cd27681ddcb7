//! ftrace text: `/sys/kernel/tracing/trace`, `trace_pipe` and `trace-cmd report` output.
//!
//! The parser streams: it reads one line at a time into a reused buffer and
//! hands borrowed events to an [`EventSink`], so memory does not grow with the
//! trace. Lines it cannot parse are counted and the first few kept with their
//! line numbers; with [`Options::strict`] the first one is fatal.

#[cfg(test)]
mod corrupt_tests;
mod graph;
mod header;
mod line;

use std::io::BufRead;

use crate::error::{Error, ErrorKind, Location};
use crate::event::{EventSink, TraceInfo};

pub use line::{parse_flags, parse_timestamp};

/// How to parse text traces.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Options {
    /// Stop at the first unparseable line (default: false, count and skip).
    pub strict: bool,
    /// How many unparseable lines to keep for the report (default: 5).
    pub keep_bad_lines: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            strict: false,
            keep_bad_lines: 5,
        }
    }
}

/// What a parse saw besides the events.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TextStats {
    /// Lines read.
    pub lines: u64,
    /// Events handed to the sink.
    pub events: u64,
    /// Lines that could not be parsed.
    pub bad_lines: u64,
    /// The first few unparseable lines: (1-based line number, text).
    pub first_bad: Vec<(u64, String)>,
}

/// True if `head` (the first bytes of a decompressed file) looks like ftrace text.
/// `None` means undecided (need more input).
pub fn is_applicable(head: &str) -> Option<bool> {
    for l in head.lines() {
        let t = l.trim();
        if t.is_empty() {
            continue;
        }
        if t.starts_with("# tracer:") || t.starts_with("cpus=") {
            return Some(true);
        }
        if t.starts_with('#') {
            continue;
        }
        return Some(matches!(line::parse_line(l), Ok(line::Line::Event(_))));
    }
    None
}

/// Parse a whole text trace from `reader`, sending events to `sink` and
/// file-level facts to `info`. `path` is used in error messages only.
pub fn parse(
    mut reader: impl BufRead,
    path: &std::path::Path,
    options: &Options,
    info: &mut TraceInfo,
    sink: &mut dyn EventSink,
) -> Result<TextStats, Error> {
    let mut stats = TextStats::default();
    let mut buf = Vec::with_capacity(256);
    let mut in_header = true;
    let mut graph: Option<graph::GraphParser> = None;
    if info.format.is_empty() {
        info.format = "trace-pipe".into();
    }
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| Error::io(path, e).at(Location::Line(stats.lines + 1)))?;
        if n == 0 {
            break;
        }
        stats.lines += 1;
        let lineno = stats.lines;
        while matches!(buf.last(), Some(b'\n' | b'\r')) {
            buf.pop();
        }
        let text = match std::str::from_utf8(&buf) {
            Ok(t) => t,
            Err(_) => {
                bad_line(
                    &mut stats,
                    options,
                    lineno,
                    &String::from_utf8_lossy(&buf),
                    path,
                )?;
                continue;
            }
        };
        if in_header && header::read_header_line(text, info) {
            if info.tracer.as_deref() == Some("function_graph") {
                graph = Some(graph::GraphParser::default());
            }
            continue;
        }
        if let Some(g) = graph.as_mut() {
            match g.parse_line(text) {
                Ok(Some(ev)) => {
                    if stats.events == 0 {
                        sink.begin(info)?;
                    }
                    in_header = false;
                    stats.events += 1;
                    sink.event(&ev).map_err(|e| sink_error(e, path, lineno))?;
                }
                Ok(None) => {}
                Err(()) => bad_line(&mut stats, options, lineno, text, path)?,
            }
            continue;
        }
        match line::parse_line(text) {
            Ok(line::Line::Event(ev)) => {
                if stats.events == 0 {
                    sink.begin(info)?;
                }
                in_header = false;
                stats.events += 1;
                sink.event(&ev).map_err(|e| sink_error(e, path, lineno))?;
            }
            Ok(line::Line::Lost(n)) => info.lost_events = info.lost_events.saturating_add(n),
            Ok(line::Line::Skip) => {}
            Err(()) => bad_line(&mut stats, options, lineno, text, path)?,
        }
    }
    Ok(stats)
}

/// A sink's error on the event of input line `lineno`: placed at that line
/// of the input, unless it is about another file (the output being written,
/// where an input line number would mislead).
fn sink_error(e: Error, path: &std::path::Path, lineno: u64) -> Error {
    if e.path.is_some() {
        e
    } else {
        e.with_path(path).at(Location::Line(lineno))
    }
}

fn bad_line(
    stats: &mut TextStats,
    options: &Options,
    lineno: u64,
    text: &str,
    path: &std::path::Path,
) -> Result<(), Error> {
    const MAX_QUOTE: usize = 200;
    let quoted: String = text.chars().take(MAX_QUOTE).collect();
    if options.strict {
        return Err(Error::new(ErrorKind::InvalidLine(quoted))
            .with_path(path)
            .at(Location::Line(lineno)));
    }
    stats.bad_lines += 1;
    if stats.first_bad.len() < options.keep_bad_lines {
        stats.first_bad.push((lineno, quoted));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;
    use std::path::Path;

    const SAMPLE: &str = "# tracer: function\n\
#\n\
# entries-in-buffer/entries-written: 3/5   #P:2\n\
#\n\
              sh-277     [000] .....    68.800646: mutex_unlock <-rb_simple_write\n\
this is not a trace line\n\
              sh-277     [001] d.h1.    68.800650: irq_enter <-common_interrupt\n\
CPU:1 [LOST 7 EVENTS]\n\
              sh-278     [001] .....    68.800700: do_exit <-x\n";

    #[test]
    fn counts_events_bad_lines_and_header() {
        let mut info = TraceInfo::default();
        let mut funcs = Vec::new();
        let mut sink = |e: &Event<'_>| {
            funcs.push((e.pid, e.function.unwrap().to_string()));
            Ok(())
        };
        let stats = parse(
            SAMPLE.as_bytes(),
            Path::new("t.txt"),
            &Options::default(),
            &mut info,
            &mut sink,
        )
        .unwrap();
        assert_eq!(stats.events, 3);
        assert_eq!(stats.lines, 9);
        assert_eq!(stats.bad_lines, 1);
        assert_eq!(
            stats.first_bad,
            vec![(6, "this is not a trace line".to_string())]
        );
        assert_eq!(info.lost_events, 7);
        assert_eq!(info.entries_lost(), Some(2));
        assert_eq!(info.cpus, Some(2));
        assert_eq!(funcs[2], (278, "do_exit".to_string()));
    }

    #[test]
    fn strict_names_file_and_line() {
        let mut info = TraceInfo::default();
        let opts = Options {
            strict: true,
            ..Options::default()
        };
        let mut sink = |_: &Event<'_>| Ok(());
        let err = parse(
            SAMPLE.as_bytes(),
            Path::new("t.txt"),
            &opts,
            &mut info,
            &mut sink,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "t.txt: line 6: Invalid trace line: \"this is not a trace line\""
        );
    }

    #[test]
    fn function_graph_text_is_parsed() {
        let text = "# tracer: function_graph\n#\n   10.262503 |   0)     sh-140     |               |  f() {\n   10.262507 |   0)     sh-140     |   4.673 us    |  }\n";
        let mut info = TraceInfo::default();
        let mut events = Vec::new();
        let mut sink = |e: &Event<'_>| {
            events.push((e.event.to_string(), e.function.map(str::to_string), e.depth));
            Ok(())
        };
        let stats = parse(
            text.as_bytes(),
            Path::new("g.txt"),
            &Options::default(),
            &mut info,
            &mut sink,
        )
        .unwrap();
        assert_eq!((stats.events, stats.bad_lines), (2, 0));
        assert_eq!(
            events[1],
            ("funcgraph_exit".to_string(), Some("f".to_string()), Some(0))
        );
    }

    #[test]
    fn sniffing() {
        assert_eq!(is_applicable("# tracer: function\n"), Some(true));
        assert_eq!(is_applicable("#\n#\n"), None);
        assert_eq!(is_applicable("\u{7f}ELF binary"), Some(false));
        assert_eq!(is_applicable("  sh-1 [000] 1.0: f <-g\n"), Some(true));
    }
}
