//! What every subcommand prints: `--json` everywhere, `--quiet`, and progress
//! bars only on a terminal.

use std::process::Command;

use crate::util::{fixture, hap, hap_ok, vmlinux};

/// `trace-cmd report` lines of `path` that are events (all but `cpus=N`).
fn trace_cmd_events(path: &std::path::Path) -> Vec<String> {
    let out = Command::new("trace-cmd")
        .args(["report", "-t", path.to_str().unwrap()])
        .output()
        .expect("trace-cmd (run scripts/setup.sh)");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("cpus="))
        .map(str::to_string)
        .collect()
}

#[test]
fn ingest_and_dump_json_agree_with_trace_cmd() {
    let dat = fixture("dat/steady-6.1.v7.dat");
    let reference = trace_cmd_events(&dat);
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("e.parquet");
    let v: serde_json::Value = serde_json::from_str(&hap_ok(&[
        "ingest",
        dat.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--json",
    ]))
    .unwrap();
    assert_eq!(v["events"].as_u64().unwrap() as usize, reference.len());
    assert_eq!(v["format"], "trace-cmd-dat");
    assert_eq!(v["tracer"], "function");
    assert_eq!(v["bad_lines"], 0);

    // One JSON object per event, in trace-cmd's order, with its fields:
    // `COMM-PID [CPU] SECONDS.NANOS: function: NAME` (report -t).
    let dump = hap_ok(&["dump", "--json", out.to_str().unwrap()]);
    let events: Vec<serde_json::Value> = dump
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), reference.len());
    for (e, line) in events.iter().zip(&reference).step_by(997) {
        let ts = e["ts_ns"].as_i64().unwrap();
        let stamp = format!("{}.{:09}:", ts / 1_000_000_000, ts % 1_000_000_000);
        let head = format!("{}-{}", e["comm"].as_str().unwrap(), e["pid"]);
        let cpu = format!("[{:03}]", e["cpu"].as_u64().unwrap());
        for part in [&head, &cpu, &stamp] {
            assert!(line.contains(part.as_str()), "{part} not in {line:?}");
        }
        assert!(
            line.trim_end().ends_with(e["function"].as_str().unwrap()),
            "{line:?}"
        );
    }
}

#[test]
fn symbols_and_report_json() {
    let vm = vmlinux();
    let tmp = tempfile::tempdir().unwrap();
    let table = tmp.path().join("s.csv");
    let v: serde_json::Value = serde_json::from_str(&hap_ok(&[
        "symbols",
        "--vmlinux",
        vm.to_str().unwrap(),
        "-o",
        table.to_str().unwrap(),
        "--json",
    ]))
    .unwrap();
    // 46,420 = readelf's sized STT_FUNC symbols in executable sections
    // (analyze/tests/symbols_real.rs); the CSV has a header and one row each.
    assert_eq!(v["functions"], 46420);
    let rows = std::fs::read_to_string(&table).unwrap().lines().count() - 1;
    assert_eq!(rows, 46420);
    assert_eq!(
        v["with_lines"].as_u64().unwrap() + v["without_lines"].as_u64().unwrap(),
        46420
    );

    let result = tmp.path().join("r");
    crate::util::analyze_into(
        &[&fixture("text/fileio-6.1.function.txt.zst")],
        &result,
        &[],
    );
    let html = tmp.path().join("report.html");
    let r: serde_json::Value = serde_json::from_str(&hap_ok(&[
        "report",
        &format!("--label=fileio={}", result.display()),
        result.to_str().unwrap(),
        "-o",
        html.to_str().unwrap(),
        "--json",
    ]))
    .unwrap();
    assert_eq!(r["runs"], serde_json::json!(["fileio"]));
    assert_eq!(r["format"], "html");
    assert_eq!(
        r["bytes"].as_u64().unwrap(),
        std::fs::metadata(&html).unwrap().len()
    );
}

/// Run `hap ARGS` under a pseudo-terminal (util-linux `script`): what a
/// user at a terminal sees, escape sequences included.
fn on_terminal(args: &[&str]) -> String {
    let cmd = std::iter::once(env!("CARGO_BIN_EXE_hap"))
        .chain(args.iter().copied())
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let out = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("HAP_CACHE_DIR", crate::util::cache_dir())
        .output()
        .expect("script (util-linux)");
    assert!(
        out.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn progress_bars_only_on_a_terminal_and_never_with_quiet() {
    // Long enough (854,519 events, 30 MiB of pages) for the bar to be drawn.
    let trace = crate::util::shared_traces().join("linux-6.1/fileio/trace.dat");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("e.parquet");
    let args = [
        "ingest",
        trace.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ];
    // The byte bar counts the decoded ring-buffer pages: `[==>   ] 11.74 MiB/30.27 MiB`.
    let size = |s: &str| s.contains("reading ") && s.contains("] ") && s.contains(" MiB/");
    let shown = on_terminal(&args);
    assert!(size(&shown), "no progress bar on a terminal:\n{shown}");
    assert!(shown.contains(" events from trace-cmd-dat -> "));

    let quiet = on_terminal(&[&args[..], &["--quiet"]].concat());
    assert_eq!(quiet.trim(), "", "--quiet on a terminal printed:\n{quiet}");

    // Not a terminal (a pipe, as here): a note, no bar.
    let piped = hap(&args);
    let err = String::from_utf8(piped.stderr).unwrap();
    assert!(
        err.ends_with(&format!("events from trace-cmd-dat -> {}\n", out.display())),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!err.contains('\r') && !err.contains('\u{1b}'), "{err:?}");
}
