//! trace.dat reader: any bytes must give events and a clean error, never a
//! panic, a hang or a huge allocation. Differential check: decoding the
//! per-CPU streams in parallel and sequentially delivers the same events.
#![no_main]

use std::path::Path;

use ingest::{dat, TraceInfo};
use libfuzzer_sys::fuzz_target;

fn events(data: &[u8], sequential: bool) -> (Vec<String>, Result<u64, String>) {
    let mut seen = Vec::new();
    let mut sink = |e: &ingest::Event<'_>| {
        seen.push(format!("{e:?}"));
        Ok(())
    };
    let options = dat::Options::default().with_sequential(sequential);
    let mut info = TraceInfo::default();
    let result = dat::parse(data, Path::new("fuzz.dat"), &options, &mut info, &mut sink)
        .map(|s| s.events)
        .map_err(|e| e.to_string());
    (seen, result)
}

fuzz_target!(|data: &[u8]| {
    let (parallel, r1) = events(data, false);
    let (sequential, r2) = events(data, true);
    assert_eq!(parallel, sequential, "parallel and sequential merges differ");
    assert_eq!(r1, r2);
    if let Ok(n) = r1 {
        assert_eq!(n as usize, parallel.len(), "event count != events delivered");
    }
});
