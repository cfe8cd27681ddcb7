//! Inputs that crashed a fuzz target (fixtures/fuzz/TARGET/), replayed
//! through the same entry points as the targets in fuzz/fuzz_targets/: each
//! must now end without a panic.

use std::path::{Path, PathBuf};

fn inputs(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/fuzz")
        .join(target);
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(rd) => rd.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    files
}

#[test]
fn event_format_crashes_stay_fixed() {
    let files = inputs("event_format");
    assert!(
        !files.is_empty(),
        "fixtures/fuzz/event_format has the known crash"
    );
    for f in files {
        let data = std::fs::read(&f).unwrap();
        let (text, record) = match data.iter().position(|&b| b == 0) {
            Some(i) => (&data[..i], &data[i + 1..]),
            None => (&data[..], &[][..]),
        };
        if let Ok(text) = std::str::from_utf8(text) {
            let _ = ingest::dat::fuzz_event_format(text, record);
        }
    }
}

/// crash-18e307bd: page headers whose loss counts add up past u64::MAX
/// (an overflow panic with overflow checks, a wrapped total without): the
/// totals saturate.
#[test]
fn trace_dat_loss_counts_saturate() {
    let f = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/fuzz/trace_dat/crash-18e307bd8bb2eabed73e9bf34cd6491e9c583cf6");
    let (info, r) = parse_dat(&f);
    let stats = r.expect("the file is readable");
    assert_eq!(info.lost_events, u64::MAX, "{stats:?}");
}

/// The `trace_dat` target's call: parse `f` into a sink that drops events.
fn parse_dat(
    f: &Path,
) -> (
    ingest::TraceInfo,
    Result<ingest::dat::DatStats, ingest::Error>,
) {
    let data = std::fs::read(f).unwrap();
    let mut info = ingest::TraceInfo::default();
    let mut sink = |_: &ingest::Event<'_>| Ok(());
    let r = ingest::dat::parse(&data, f, &Default::default(), &mut info, &mut sink);
    (info, r)
}

#[test]
fn trace_dat_crashes_stay_fixed() {
    for f in inputs("trace_dat") {
        let _ = parse_dat(&f);
    }
}

#[test]
fn text_crashes_stay_fixed() {
    for f in inputs("text") {
        let data = std::fs::read(&f).unwrap();
        let mut info = ingest::TraceInfo::default();
        let mut sink = |_: &ingest::Event<'_>| Ok(());
        let _ = ingest::text::parse(&data[..], &f, &Default::default(), &mut info, &mut sink);
    }
}
