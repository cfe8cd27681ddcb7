//! trace.dat (v6 and v7, compressed or not): `hap dump` against the
//! reference tool, `trace-cmd report`, line for line; analysis with exact
//! addresses, KASLR, and a vmlinux that does not match.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{fixture, hap, hap_ok, shared_traces, vmlinux};

/// A plain trace.dat for trace-cmd: `.zst` files are inflated into `tmp`.
fn plain(path: &Path, tmp: &Path) -> PathBuf {
    if path.extension().is_some_and(|e| e == "zst") {
        let out = tmp.join(path.file_stem().unwrap());
        let st = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "zstdcat '{}' > '{}'",
                path.display(),
                out.display()
            ))
            .status()
            .unwrap();
        assert!(st.success());
        out
    } else {
        path.to_path_buf()
    }
}

/// Compare `hap dump ARGS FILE` with `trace-cmd report REF_ARGS FILE`;
/// returns the number of lines, or a description of the first difference.
fn compare(path: &Path, ours: &[&str], theirs: &[&str]) -> Result<usize, String> {
    let tmp = tempfile::tempdir().unwrap();
    let plain = plain(path, tmp.path());
    let mut args = vec!["dump"];
    args.extend_from_slice(ours);
    args.push(path.to_str().unwrap());
    let o = hap(&args);
    if !o.status.success() {
        return Err(format!(
            "hap dump failed: {}",
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    let r = Command::new("trace-cmd")
        .arg("report")
        .args(theirs)
        .arg(&plain)
        .output()
        .expect("trace-cmd (run scripts/setup.sh)");
    assert!(
        r.status.success(),
        "trace-cmd report failed on {}",
        plain.display()
    );
    if o.stdout == r.stdout {
        return Ok(r.stdout.iter().filter(|&&b| b == b'\n').count());
    }
    let (a, b) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&r.stdout),
    );
    let (la, lb): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    let i = la
        .iter()
        .zip(&lb)
        .position(|(x, y)| x != y)
        .unwrap_or(la.len().min(lb.len()));
    Err(format!(
        "{}: first difference at line {}:\n  hap:       {:?}\n  trace-cmd: {:?}\n  ({} vs {} lines)",
        path.display(),
        i + 1,
        la.get(i),
        lb.get(i),
        la.len(),
        lb.len()
    ))
}

fn dat_fixtures() -> Vec<PathBuf> {
    [
        "dat/steady-6.1.v7.dat",
        "dat/steady-6.1.v6.dat.zst",
        "dat/fileio-kaslr-6.12.v7.dat",
    ]
    .iter()
    .map(|f| fixture(f))
    .collect()
}

#[test]
fn dump_equals_trace_cmd_report_on_fixtures() {
    let expected_lines = [17311, 17311, 15108];
    for (f, n) in dat_fixtures().iter().zip(expected_lines) {
        assert_eq!(compare(f, &[], &[]), Ok(n));
        assert_eq!(
            compare(f, &["--ns", "--parent"], &["-t", "-O", "parent=1"]),
            Ok(n)
        );
    }
}

/// Every column `hap dump` prints survives trace.dat → events Parquet: the
/// dump of the Parquet equals the dump of the trace.dat, which the tests
/// above hold equal to `trace-cmd report` (real fixtures, and the synthetic
/// function_graph files for depth, call and return times). Files with loss
/// notices or several buffers are left out: the events file keeps per-CPU
/// loss totals and one buffer (docs/formats.md).
#[test]
fn dump_of_the_events_parquet_equals_dump_of_the_trace_dat() {
    let tmp = tempfile::tempdir().unwrap();
    let mut files = dat_fixtures();
    files.push(synthetic("v7-le-64-zstd-graph"));
    files.push(synthetic("v6-be-32-plain-graph"));
    let expected_lines = [17311, 17311, 15108, 7, 7];
    for (f, n) in files.iter().zip(expected_lines) {
        let out = tmp.path().join("e.parquet");
        hap_ok(&[
            "-q",
            "ingest",
            f.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ]);
        for args in [&[][..], &["--ns", "--parent"][..]] {
            let dump = |p: &Path| {
                let mut a = vec!["dump"];
                a.extend_from_slice(args);
                a.push(p.to_str().unwrap());
                hap_ok(&a)
            };
            let (dat, parquet) = (dump(f), dump(&out));
            assert_eq!(dat.lines().count(), n, "{}", f.display());
            assert!(
                dat == parquet,
                "{} {args:?}: the events Parquet dumps differently",
                f.display()
            );
        }
    }
}

/// The synthetic files of every layout (v6/v7, little/big endian, 64/32-bit
/// kernel, plain/zstd/zlib), written by the test-only writer in
/// ingest/src/dat/tests.rs, with a page that lost 7 events.
fn synthetic(name: &str) -> PathBuf {
    fixture(&format!("dat/synthetic/{name}.dat"))
}

fn stdout_of(cmd: &mut Command) -> String {
    let o = cmd.output().unwrap();
    assert!(
        o.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn dump_equals_trace_cmd_report_on_synthetic_layouts() {
    // Lines trace-cmd prints for each: 5 function events, `cpus=2` and a loss
    // notice; function_graph: two entries fold with their exit into leaf
    // lines (`helper();` with the exit's duration), two nest; a second buffer
    // (`*-instance`): trace-cmd interleaves both, `inst: ` before the
    // instance's records and as many spaces before the top buffer's.
    // Debian's trace-cmd is built without zlib: the zlib file must dump like
    // its zstd twin, which trace-cmd reads (below).
    let layouts = [
        "v6-le-64-plain",
        "v6-be-32-plain",
        "v7-le-64-plain",
        "v7-le-64-zstd",
        "v7-be-32-zstd",
    ];
    let files = layouts
        .iter()
        .map(|l| (l.to_string(), 7))
        .chain(["v7-le-64-zstd-graph", "v6-be-32-plain-graph"].map(|g| (g.to_string(), 7)))
        .chain(layouts.iter().map(|l| (format!("{l}-instance"), 10)));
    for (name, lines) in files {
        let f = synthetic(&name);
        assert_eq!(compare(&f, &[], &[]), Ok(lines), "{name}");
        assert_eq!(
            compare(&f, &["--ns", "--parent"], &["-t", "-O", "parent=1"]),
            Ok(lines),
            "{name}"
        );
    }
    let dump = |name: &str| hap_ok(&["dump", "--ns", synthetic(name).to_str().unwrap()]);
    let zlib = dump("v7-be-32-zlib");
    assert_eq!(zlib, dump("v7-be-32-zstd"));
    assert!(zlib.contains("\nCPU:1 [7 EVENTS DROPPED]\n"), "{zlib}");
}

/// `hap dump --instance NAME` prints one buffer, without prefixes: the
/// top buffer's and the instance's lines must equal their share of
/// trace-cmd's interleaved output.
#[test]
fn dump_of_each_buffer_equals_trace_cmd_share_of_it() {
    for name in [
        "v6-le-64-plain",
        "v6-be-32-plain",
        "v7-le-64-zstd",
        "v7-be-32-zstd",
    ] {
        let f = synthetic(&format!("{name}-instance"));
        let theirs = stdout_of(Command::new("trace-cmd").args(["report", "-t"]).arg(&f));
        let (mut top, mut inst) = (String::new(), String::new());
        // The prefix goes before what trace-cmd prints for one record: a
        // loss notice and the event line after it share one prefix.
        let mut after_notice: Option<bool> = None;
        for line in theirs.lines().skip(1) {
            let (is_inst, text) = match after_notice.take() {
                Some(is_inst) => (is_inst, line),
                None => match line.strip_prefix("inst: ") {
                    Some(l) => (true, l),
                    None => (false, line.strip_prefix("      ").unwrap()),
                },
            };
            if text.contains(" EVENTS DROPPED]") {
                after_notice = Some(is_inst);
            }
            *(if is_inst { &mut inst } else { &mut top }) += &format!("{text}\n");
        }
        let ours = |extra: &[&str]| {
            let mut args = vec!["dump", "--ns"];
            args.extend_from_slice(extra);
            args.push(f.to_str().unwrap());
            let out = hap_ok(&args);
            out.split_once('\n').unwrap().1.to_string()
        };
        assert_eq!(ours(&["--instance", ""]), top, "{name}: top buffer");
        assert_eq!(ours(&["--instance", "inst"]), inst, "{name}: instance");
        assert_eq!(top.lines().count(), 6, "{name}");
    }
}

/// Every trace.dat and v6 conversion of the real captures, both layouts.
#[test]
fn dump_equals_trace_cmd_report_on_every_shared_trace() {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p
                .file_name()
                .is_some_and(|n| n == "trace.dat" || n == "trace-v6.dat.zst")
            {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(&shared_traces(), &mut files);
    files.sort();
    assert_eq!(files.len(), 18, "{files:#?}");
    let mut failures = Vec::new();
    for f in &files {
        for (ours, theirs) in [
            (&[][..], &[][..]),
            (&["--ns", "--parent"][..], &["-t", "-O", "parent=1"][..]),
        ] {
            match compare(f, ours, theirs) {
                Ok(n) => eprintln!("{}: {n} lines identical ({ours:?})", f.display()),
                Err(e) => failures.push(e),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn analyze(trace: &Path, vm: &str) -> (Option<i32>, serde_json::Value, String) {
    let o = hap(&[
        "analyze",
        trace.to_str().unwrap(),
        "--vmlinux",
        vm,
        "--json",
        "--include-irq",
    ]);
    let json = serde_json::from_slice(&o.stdout).unwrap_or(serde_json::Value::Null);
    (
        o.status.code(),
        json,
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// With addresses, functions are told apart exactly and every name of the
/// trace is a function of the vmlinux; KASLR is undone by the slide between
/// the trace's addresses and the vmlinux (0x3b400000 for this boot, from
/// its kallsyms `_text` 0xffffffffbc400000 vs System.map 0xffffffff81000000).
#[test]
fn trace_dat_analysis_with_kaslr() {
    let vm612 = crate::util::VMLINUX_612;
    assert!(
        Path::new(vm612).is_file(),
        "{vm612} missing: run scripts/setup.sh"
    );
    let k = fixture("dat/fileio-kaslr-6.12.v7.dat");
    let (code, j, err) = analyze(&k, vm612);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(j["addresses"]["kaslr_slide"], "0x3b400000");
    assert_eq!(j["addresses"]["agree"], j["addresses"]["sampled"]);
    // Distinct names printed by trace-cmd report for non-idle tasks (awk).
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "trace-cmd report '{}' 2>/dev/null | awk '$1 !~ /-0$/ && $4 == \"function:\" {{ print $5 }}' | sort -u | wc -l",
            k.display()
        ))
        .output()
        .unwrap();
    let names: u64 = String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(j["functions"].as_u64().unwrap(), names);
    assert_eq!(
        j["resolved"].as_u64().unwrap() + j["unresolved"].as_u64().unwrap(),
        names
    );
    assert_eq!(j["ambiguous"], 0, "addresses leave nothing ambiguous");
}

#[test]
fn a_trace_from_another_kernel_is_rejected() {
    let vm = vmlinux();
    // The fixture is a `trace-cmd split` slice, which drops the UNAME option.
    let (code, _, err) = analyze(
        &fixture("dat/fileio-kaslr-6.12.v7.dat"),
        vm.to_str().unwrap(),
    );
    assert_eq!(code, Some(1));
    assert!(err.contains("trace kernel: unknown"), "{err}");
    let k = shared_traces().join("linux-6.12/fileio-kaslr/trace.dat");
    let (code, _, err) = analyze(&k, vm.to_str().unwrap());
    assert_eq!(code, Some(1));
    assert!(
        err.contains("not recorded on /usr/lib/debug/boot/vmlinux-6.1.0-57-cloud-amd64"),
        "{err}"
    );
    assert!(
        err.contains("trace kernel: Linux lab 6.12.117+deb12-cloud-amd64 x86_64"),
        "{err}"
    );
    assert!(
        err.contains("vmlinux build-id 01d2640d3a13145ee314eb05b155f141b7b7058b"),
        "{err}"
    );
}

#[test]
fn truncated_trace_dat_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(fixture("dat/steady-6.1.v7.dat")).unwrap();
    for cut in [10, 100, 4096, bytes.len() / 2] {
        let t = dir.path().join(format!("cut{cut}.dat"));
        std::fs::write(&t, &bytes[..cut]).unwrap();
        let o = hap(&["dump", t.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "cut at {cut}: {err}");
        assert!(
            err.starts_with(&format!("hap: {}: offset 0x", t.display())),
            "cut at {cut}: {err}"
        );
    }
}
