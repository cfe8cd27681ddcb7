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

#[test]
fn trace_dat_crashes_stay_fixed() {
    for f in inputs("trace_dat") {
        let data = std::fs::read(&f).unwrap();
        let mut info = ingest::TraceInfo::default();
        let mut sink = |_: &ingest::Event<'_>| Ok(());
        let _ = ingest::dat::parse(&data, &f, &Default::default(), &mut info, &mut sink);
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
