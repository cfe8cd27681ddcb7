//! `hap ingest` on real text traces (fixtures/text, see fixtures/README.md).

use std::path::Path;
use std::process::Command;

use ingest::{parquet, Event};

use crate::util::{fixture, grep_event_lines, hap, hap_ok};

/// An owned copy of the fields compared below.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    ts_ns: i64,
    cpu: u32,
    pid: i32,
    comm: String,
    function: Option<String>,
    parent: Option<String>,
    flags: Option<ingest::IrqFlags>,
    preempt: Option<u8>,
}

fn ingest_rows(trace: &Path) -> (Vec<Row>, ingest::TraceInfo) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.parquet");
    hap_ok(&[
        "ingest",
        trace.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    let info = parquet::read_info(&out).unwrap();
    let mut rows = Vec::new();
    let mut sink = |e: &Event<'_>| {
        rows.push(Row {
            ts_ns: e.ts_ns,
            cpu: e.cpu,
            pid: e.pid,
            comm: e.comm.to_string(),
            function: e.function.map(str::to_string),
            parent: e.parent.map(str::to_string),
            flags: e.flags,
            preempt: e.preempt_depth,
        });
        Ok(())
    };
    parquet::read_events(&out, &parquet::col::ALL, &mut sink).unwrap();
    (rows, info)
}

fn sha256sum(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn ftrace_function_text_every_line_becomes_a_row() {
    let trace = fixture("text/fileio-6.1.function.txt.zst");
    let (rows, info) = ingest_rows(&trace);
    assert_eq!(rows.len(), grep_event_lines(&trace));
    assert_eq!(rows.len(), 20000);
    // The first line: "sh-277 [000] ..... 68.800646: mutex_unlock <-rb_simple_write"
    assert_eq!(
        rows[0],
        Row {
            ts_ns: 68_800_646_000,
            cpu: 0,
            pid: 277,
            comm: "sh".into(),
            function: Some("mutex_unlock".into()),
            parent: Some("rb_simple_write".into()),
            flags: Some(ingest::IrqFlags::default()),
            preempt: Some(0),
        }
    );
    assert_eq!(info.format, "ftrace-text");
    assert_eq!(info.tracer.as_deref(), Some("function"));
    assert_eq!(info.cpus, Some(2));
    assert_eq!(
        (info.entries_in_buffer, info.entries_written),
        (Some(836641), Some(836641))
    );
    assert_eq!(info.source_compression, "zstd");
    assert_eq!(info.source_sha256, sha256sum(&trace));
    assert_eq!(info.source_name, "fileio-6.1.function.txt.zst");
}

#[test]
fn trace_pipe_gzip_without_header() {
    let trace = fixture("text/redis-6.1.pipe.txt.gz");
    let (rows, info) = ingest_rows(&trace);
    assert_eq!(rows.len(), grep_event_lines(&trace));
    assert_eq!(rows.len(), 15000);
    assert_eq!(
        (
            info.format.as_str(),
            info.source_compression.as_str(),
            info.tracer.as_deref()
        ),
        ("trace-pipe", "gzip", None)
    );
    assert!(rows.iter().all(|r| r.flags.is_some() && r.parent.is_some()));
}

/// Two renderings of one trace.dat by the reference tool, `trace-cmd report`
/// (µs timestamps, `<-- parent`) and `trace-cmd report -l -t` (latency flags,
/// ns timestamps), must give the same events.
#[test]
fn trace_cmd_report_layouts_agree_with_each_other() {
    let (plain, info) = ingest_rows(&fixture("text/steady-6.1.report.txt.zst"));
    let (lat, _) = ingest_rows(&fixture("text/steady-6.1.report-lt.txt.zst"));
    assert_eq!(info.format, "trace-cmd-report");
    assert_eq!(plain.len(), 15000);
    assert_eq!(plain.len(), lat.len());
    for (a, b) in plain.iter().zip(&lat) {
        assert_eq!(
            (a.cpu, a.pid, &a.comm, &a.function),
            (b.cpu, b.pid, &b.comm, &b.function)
        );
        assert_eq!(
            a.ts_ns,
            (b.ts_ns + 500) / 1000 * 1000,
            "trace-cmd rounds ns to the nearest µs"
        );
        assert!(a.flags.is_none() && b.flags.is_some());
    }
    assert_eq!(lat[0].ts_ns, 66_826_449_009);
}

#[test]
fn unparseable_lines_are_counted_and_strict_fails_without_output() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("bad.txt");
    std::fs::write(
        &trace,
        "# tracer: function\n\
         sh-1 [000] ..... 1.000001: a <-b\n\
         \u{1}\u{2} binary garbage\n\
         sh-1 [000] ..... 1.000002: c <-d\n",
    )
    .unwrap();
    let out = dir.path().join("e.parquet");
    let o = hap(&[
        "ingest",
        trace.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("2 events from 4 lines"), "{err}");
    assert!(
        err.contains("1 lines could not be parsed") && err.contains("line 3:"),
        "{err}"
    );
    std::fs::remove_file(&out).unwrap();
    let o = hap(&[
        "ingest",
        "--strict",
        trace.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        err.trim(),
        format!(
            "hap: {}: line 3: Invalid trace line: \"\\u{{1}}\\u{{2}} binary garbage\"",
            trace.display()
        )
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no output and no temporary file left"
    );
}

#[test]
fn missing_and_binary_inputs_are_clear_errors() {
    let o = hap(&["ingest", "/nonexistent/trace.txt", "-o", "/tmp/x.parquet"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr).trim(),
        "hap: /nonexistent/trace.txt: No such file or directory (os error 2)"
    );
    let o = hap(&["ingest", "--bogus"]);
    assert_eq!(o.status.code(), Some(2));
}

/// Output past the file-size limit (`ulimit -f`): a clear error naming the
/// output, exit 1, and neither the output nor its temporary file left.
#[test]
fn file_size_limit_is_an_error_that_leaves_no_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.parquet");
    let trace = crate::util::shared_traces().join("linux-6.1/runtimes/qemu-user/trace.txt.zst");
    // 512 blocks: 256 KB where they are 512 bytes (dash), 512 KB where they
    // are 1 KiB (bash); either way well below the 1.3 MB output.
    let o = Command::new("sh")
        .args([
            "-c",
            r#"ulimit -f 512; exec "$0" ingest "$1" -o "$2""#,
            env!("CARGO_BIN_EXE_hap"),
            trace.to_str().unwrap(),
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with(&format!("hap: {}: Parquet: ", out.display()))
            && err.contains("File too large (os error 27)"),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// SIGINT while the output is being written: exit 130 and nothing left
/// behind, neither the output nor its temporary file.
#[test]
fn interrupted_ingest_leaves_no_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.parquet");
    let trace = crate::util::shared_traces().join("linux-6.1/runtimes/qemu-user/trace.txt.zst");
    let mut child = Command::new(env!("CARGO_BIN_EXE_hap"))
        .args([
            "ingest",
            trace.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ])
        .spawn()
        .unwrap();
    // Wait for the temporary file to appear (the run takes about a second).
    let started = std::time::Instant::now();
    while std::fs::read_dir(dir.path()).unwrap().count() == 0 {
        assert!(
            started.elapsed().as_secs() < 10,
            "no temporary file appeared"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
