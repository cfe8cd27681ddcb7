//! Corruption corpus for the text reader (issue "Hostile input").
//!
//! Damaged text traces are generated at test time from the fixtures in
//! `fixtures/text` and written to temporary files read with
//! [`crate::read_trace`], so decompression and format sniffing are covered
//! too: binary garbage lines, NUL bytes, invalid UTF-8, a 10 MB line, CRLF
//! line ends, truncated and bit-flipped gzip and zstd streams, and
//! `function_graph` text with unbalanced braces, absurd depths and CPU
//! numbers. Every case must return `Ok` or an error naming the file, never
//! panic and never hang (each runs on a thread watched with a timeout).
//! Crashes found here are kept as named regression tests.

use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use crate::event::Event;
use crate::{read_trace, Options};

/// A case that has not answered after this long is reported as a hang.
const TIMEOUT: Duration = Duration::from_secs(10);

fn fixture_raw(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/text")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn fixture_text(name: &str) -> Vec<u8> {
    let raw = fixture_raw(name);
    if name.ends_with(".zst") {
        zstd::decode_all(&raw[..]).unwrap()
    } else {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(&raw[..]), &mut out)
            .unwrap();
        out
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Result of reading one case: events, or the error text; `Err` on a panic.
type Outcome = Result<Result<u64, String>, String>;

/// Write `bytes` to a file named `name` in `dir` and read it on a worker
/// thread; panics are caught, a hang fails the test.
fn read_case(dir: &Path, name: &str, bytes: &[u8], strict: bool) -> Outcome {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    let (tx, rx) = mpsc::channel();
    let p = path.clone();
    std::thread::spawn(move || {
        let r = catch_unwind(AssertUnwindSafe(|| {
            let mut n = 0u64;
            let mut sink = |_: &Event<'_>| {
                n += 1;
                Ok(())
            };
            read_trace(&p, &Options::strict(strict), &[], &mut sink)
                .map(|_| n)
                .map_err(|e| e.to_string())
        }));
        let _ = tx.send(r.map_err(|p| {
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default()
        }));
    });
    let r = rx
        .recv_timeout(TIMEOUT)
        .unwrap_or_else(|_| panic!("{name}: HANG (no answer after {TIMEOUT:?})"));
    let _ = std::fs::remove_file(&path);
    r
}

/// Read every case; fail on panics and on errors that do not name the file.
fn check_all(cases: Vec<(String, Vec<u8>)>) -> Vec<(String, Result<u64, String>)> {
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    let mut out = Vec::new();
    for (name, bytes) in cases {
        for strict in [false, true] {
            match read_case(dir.path(), &name, &bytes, strict) {
                Err(m) => failures.push(format!("{name} (strict={strict}): PANIC: {m}")),
                Ok(Err(e)) if !e.starts_with(&dir.path().join(&name).display().to_string()) => {
                    failures.push(format!("{name}: error without the path: {e}"))
                }
                Ok(r) => {
                    if !strict {
                        out.push((name.clone(), r));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    out
}

fn lines_with(text: &[u8], every: usize, extra: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() * 2);
    for (i, l) in text.split_inclusive(|&b| b == b'\n').enumerate() {
        out.extend_from_slice(l);
        if i % every == every - 1 {
            out.extend_from_slice(extra);
            out.push(b'\n');
        }
    }
    out
}

fn garbage(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

#[test]
fn damaged_text_never_panics() {
    let func = fixture_text("fileio-6.1.function.txt.zst");
    let graph = fixture_text("fileio-6.1.graph.txt.zst");
    let report = fixture_text("steady-6.1.report-lt.txt.zst");
    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    for (label, text) in [("function", &func), ("graph", &graph), ("report", &report)] {
        let t = &text[..text.len().min(400_000)];
        cases.push((
            format!("{label}-garbage.txt"),
            lines_with(t, 7, &garbage(300, 1)),
        ));
        let mut g = garbage(200_000, 7);
        g.splice(0..0, t[..2000].iter().copied());
        cases.push((format!("{label}-then-binary.txt"), g));
        cases.push((
            format!("{label}-nul.txt"),
            lines_with(t, 3, b"\0\0  sh-1 [000] \0"),
        ));
        let nul: Vec<u8> = t.iter().map(|&b| if b == b'|' { 0 } else { b }).collect();
        cases.push((format!("{label}-nul-for-bar.txt"), nul));
        cases.push((
            format!("{label}-bad-utf8.txt"),
            lines_with(t, 5, b"  sh-1 [000] ..... 1.0: \xff\xfe\xc3 <-x"),
        ));
        let mut long = t[..3000].to_vec();
        long.extend(std::iter::repeat_n(b'a', 10 << 20));
        long.push(b'\n');
        long.extend_from_slice(&t[3000..20_000]);
        cases.push((format!("{label}-10mb-line.txt"), long));
        let crlf: Vec<u8> = t
            .iter()
            .flat_map(|&b| {
                if b == b'\n' {
                    vec![b'\r', b'\n']
                } else {
                    vec![b]
                }
            })
            .collect();
        cases.push((format!("{label}-crlf.txt"), crlf));
        let cr: Vec<u8> = t
            .iter()
            .map(|&b| if b == b'\n' { b'\r' } else { b })
            .collect();
        cases.push((format!("{label}-cr-only.txt"), cr));
        for cut in [1usize, 17, 1000, t.len() / 2 + 3] {
            cases.push((format!("{label}-cut-{cut}.txt"), t[..cut].to_vec()));
        }
    }
    // Absurd numbers in the function and report layouts.
    for (i, l) in [
        "  sh-1 [4294967295] ..... 68.800646: f <-g",
        "  sh-1 [99999999999999999999] ..... 68.800646: f <-g",
        "  sh-99999999999999999999 [000] ..... 68.800646: f <-g",
        "  sh-1 [000] ..... 99999999999999999999.999999: f <-g",
        "  sh-1 [000] ..... 9223372036.854775807: f <-g",
        "  sh-1 [000] ..... 18446744073.709551615: f <-g",
        "  sh-1 [000] ..... 1.1234567890: f <-g",
        "  sh-1 (99999999999) [000] ..... 1.0: f <-g",
        "CPU:0 [LOST 18446744073709551615 EVENTS]",
        "CPU:1 [LOST 18446744073709551615 EVENTS]",
        "  sh-1 4294967295d.... 1.0: f <-g",
        "[",
        " [0]",
        "-",
        ": ",
        "  sh-1 [000] ..... 1.0: ",
        "  sh-1 [000] ..... 1.0: [] [ [ [",
        "  sh-1 [000] ..... 1.0: f [mod <-g [mod",
    ]
    .iter()
    .enumerate()
    {
        let text = format!("{l}\n{l}\n{l}\n").into_bytes();
        cases.push((format!("absurd-{i}.txt"), text));
    }
    let results = check_all(cases);
    // CRLF line ends read the same events as LF ones.
    let get = |n: &str| {
        results
            .iter()
            .find(|r| r.0 == n)
            .map(|r| r.1.clone())
            .unwrap()
    };
    for label in ["function", "graph", "report"] {
        let crlf = get(&format!("{label}-crlf.txt")).unwrap();
        assert!(crlf > 1000, "{label}: {crlf} events with CRLF");
    }
}

#[test]
fn damaged_function_graph_never_panics() {
    let graph = fixture_text("fileio-6.1.graph.txt.zst");
    let head: Vec<u8> = graph
        .split_inclusive(|&b| b == b'\n')
        .take(4)
        .flatten()
        .copied()
        .collect();
    let line = |ts: &str, cpu: &str, dur: &str, indent: usize, body: &str| {
        format!(
            "   {ts} |   {cpu})     sh-140     | {dur} |{}{body}\n",
            " ".repeat(indent)
        )
    };
    let mut cases = Vec::new();
    let mut g = head.clone();
    for i in 0..200_000 {
        g.extend(
            line(
                "10.262503",
                "0",
                "             ",
                2 + 2 * (i % 5000),
                "f() {",
            )
            .bytes(),
        );
    }
    cases.push(("graph-200k-opens.txt".to_string(), g));
    let mut g = head.clone();
    for _ in 0..100_000 {
        g.extend(line("10.262503", "0", "  4.673 us   ", 2, "}").bytes());
    }
    cases.push(("graph-100k-closes.txt".to_string(), g));
    let mut g = head.clone();
    g.extend(line("10.262503", "0", "             ", 10 << 20, "deep() {").bytes());
    g.extend(line("10.262504", "0", "  1.000 us   ", 10 << 20, "}").bytes());
    g.extend(line("10.262505", "0", "  1.000 us   ", 2, "}").bytes());
    cases.push(("graph-10mb-indent.txt".to_string(), g));
    for (i, (cpu, dur, body)) in [
        ("4294967295", "  1.000 us   ", "f();"),
        ("4294967294", "             ", "f() {"),
        ("65536", "             ", "f() {"),
        ("99999999999", "             ", "f() {"),
        ("0", "18446744073709551.615 us", "f();"),
        ("0", "99999999999999999999 us", "}"),
        ("0", "18446744073709551 us", "}"),
        ("0", "1.9999999999999999999 us", "}"),
        ("0", "! 18446744073709.551 us", "f();"),
        ("0", "", "} /* */"),
        ("0", "", "} /*"),
        ("0", "", "() {"),
        ("0", "", "irq_exit_rcu() {"),
        ("-1", "", "f();"),
    ]
    .iter()
    .enumerate()
    {
        let mut g = head.clone();
        for ts in [
            "10.262503",
            "18446744073.709551615",
            "99999999999999999999.1",
        ] {
            g.extend(line(ts, cpu, dur, 2, body).bytes());
            g.extend(line(ts, cpu, dur, 2, "}").bytes());
        }
        cases.push((format!("graph-absurd-{i}.txt"), g));
    }
    for junk in [
        "|",
        "||||",
        " 0) |",
        " 0) sh |",
        " 0) sh-x | |",
        ")|",
        "\u{0}|\u{0}",
    ] {
        let mut g = head.clone();
        g.extend(format!("{junk}\n{junk}\n").bytes());
        cases.push((format!("graph-junk-{}.txt", junk.len()), g));
    }
    check_all(cases);
}

#[test]
fn truncated_and_damaged_compression_is_an_error_naming_the_file() {
    let gz = fixture_raw("redis-6.1.pipe.txt.gz");
    let zs = fixture_raw("fileio-6.1.function.txt.zst");
    let plain = fixture_text("fileio-6.1.function.txt.zst");
    let regz = gzip(&plain[..200_000]);
    let mut cases = Vec::new();
    for (label, z) in [
        ("pipe.txt.gz", &gz),
        ("function.txt.zst", &zs),
        ("re.txt.gz", &regz),
    ] {
        for cut in [z.len() / 2, z.len() - 1, z.len() - 4, 20, 11, 5, 3] {
            cases.push((format!("cut-{cut}-{label}"), z[..cut].to_vec()));
        }
        for at in [10usize, 100, z.len() / 3, z.len() / 2, z.len() - 6] {
            let mut b = z.clone();
            b[at] ^= 0x10;
            cases.push((format!("flip-{at}-{label}"), b));
        }
        let mut twice = z.clone();
        twice.extend_from_slice(&z[..z.len() / 2]);
        cases.push((format!("trailing-half-{label}"), twice));
    }
    let results = check_all(cases);
    for (name, r) in &results {
        if name.starts_with("cut-") && !name.starts_with("cut-3-") {
            let e = r.as_ref().expect_err(name);
            assert!(e.contains(name.as_str()), "{name}: {e}");
        }
    }
}

#[test]
fn regression_graph_cpu_number_does_not_size_a_huge_table() {
    // `4294967295)` used to resize the per-CPU state table to 2^32 entries.
    let dir = tempfile::tempdir().unwrap();
    let text = "# tracer: function_graph\n\
   10.262503 |   4294967295)     sh-140     |               |  f() {\n";
    let r = read_case(dir.path(), "huge-cpu.txt", text.as_bytes(), false).expect("no panic");
    assert_eq!(r, Ok(0));
    let _ = PathBuf::new();
}
