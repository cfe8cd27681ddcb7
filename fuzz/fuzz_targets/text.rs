//! ftrace text reader (function, function_graph, trace-cmd report layouts):
//! any bytes give events plus counted bad lines, never a panic. Strict mode
//! fails exactly when lenient mode counted a bad line.
#![no_main]

use std::path::Path;

use ingest::{text, TraceInfo};
use libfuzzer_sys::fuzz_target;

fn run(data: &[u8], strict: bool) -> Result<text::TextStats, String> {
    let mut n = 0u64;
    let mut sink = |_: &ingest::Event<'_>| {
        n += 1;
        Ok(())
    };
    let mut options = text::Options::default();
    options.strict = strict;
    let mut info = TraceInfo::default();
    let r = text::parse(data, Path::new("fuzz.txt"), &options, &mut info, &mut sink)
        .map_err(|e| e.to_string());
    if let Ok(stats) = &r {
        assert_eq!(stats.events, n, "event count != events delivered");
    }
    r
}

fuzz_target!(|data: &[u8]| {
    let lenient = run(data, false);
    let strict = run(data, true);
    if let Ok(stats) = &lenient {
        assert_eq!(strict.is_err(), stats.bad_lines > 0, "strict and lenient disagree");
    }
});
