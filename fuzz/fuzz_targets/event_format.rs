//! Event format files (`format:` field list and `print fmt:`), as a trace.dat
//! stores them: the parser and the print-format renderer never panic. The
//! input is split at the first NUL: format text, then a record payload.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (text, record) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    if let Ok(text) = std::str::from_utf8(text) {
        let _ = ingest::dat::fuzz_event_format(text, record);
    }
});
