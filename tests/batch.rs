//! `hap batch`: a .tar.zst of traces from two kernels plus bad members.

use std::path::{Path, PathBuf};

use crate::util::{fixture, hap, shared_traces, vmlinux, VMLINUX_612};

/// Append a regular file under a raw name (no path checks, so `../x` works).
fn append_raw(b: &mut tar::Builder<impl std::io::Write>, name: &str, data: &[u8]) {
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.set_cksum();
    b.append(&h, data).unwrap();
}

/// Every file under `dir`, relative.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

fn run_batch(args: &[&str]) -> (i32, Vec<serde_json::Value>) {
    let out = hap(args);
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "hap batch stdout is not JSON ({e}); stderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap(), rows)
}

#[test]
fn batch_archive_of_two_kernels_with_bad_members() {
    let vm61 = vmlinux();
    assert!(Path::new(VMLINUX_612).is_file(), "{VMLINUX_612} is missing");
    let traces = shared_traces();
    let t61 = std::fs::read(traces.join("linux-6.1/fileio/trace.dat")).unwrap();
    let t612 = std::fs::read(traces.join("linux-6.12/fileio/trace.dat")).unwrap();
    let text = std::fs::read(fixture("text/fileio-6.1.function.txt.zst")).unwrap();
    let random: Vec<u8> = (0..20_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let members: Vec<(&str, &[u8], Option<&str>)> = vec![
        ("linux-6.1/trace.dat", &t61, Some(vm61.to_str().unwrap())),
        ("linux-6.12/trace.dat", &t612, Some(VMLINUX_612)),
        (
            "text/fileio-6.1.function.txt.zst",
            &text,
            Some(vm61.to_str().unwrap()),
        ),
        ("x.dat", &random, None),
        ("trunc/trace.dat", &t61[..10_000], None),
        ("../evil.dat", &t61[..10_000], None),
    ];

    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("traces.tar.zst");
    {
        let enc = zstd::stream::write::Encoder::new(std::fs::File::create(&archive).unwrap(), 3)
            .unwrap()
            .auto_finish();
        let mut b = tar::Builder::new(enc);
        for (name, data, _) in &members {
            append_raw(&mut b, name, data);
        }
        b.into_inner().unwrap();
    }
    let map = tmp.path().join("map.tsv");
    std::fs::write(&map, format!("# text traces\ntext/*\t{}\n", vm61.display())).unwrap();
    let out = tmp.path().join("out");
    let before = files_under(tmp.path());
    let args = [
        "batch",
        archive.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--vmlinux",
        vm61.to_str().unwrap(),
        "--vmlinux",
        VMLINUX_612,
        "--map",
        map.to_str().unwrap(),
        "--json",
    ];
    let (code, rows) = run_batch(&args);
    assert_eq!(code, 3, "some members failed: exit code 3");
    assert_eq!(rows.len(), members.len(), "one row per member: {rows:#?}");

    // The summary files hold the same rows.
    let csv = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    assert_eq!(csv.lines().count(), members.len() + 1);
    assert!(csv.starts_with(
        "path,sha256,kernel,vmlinux,events,functions,resolved,unresolved,lines,hap,hap_weighted,steady_reached,reused,run_dir,error\n"
    ));
    assert!(out.join("summary.parquet").is_file());

    // Nothing outside OUT; no extraction directory left inside it; the
    // `../evil.dat` member went nowhere.
    let after: Vec<PathBuf> = files_under(tmp.path())
        .into_iter()
        .filter(|p| !p.starts_with("out"))
        .collect();
    assert_eq!(after, before);
    assert!(!out.join("evil.dat").exists());
    for f in files_under(&out) {
        let s = f.to_string_lossy();
        assert!(s.starts_with("runs/") || s.starts_with("summary."), "{s}");
        assert!(!s.contains("evil"), "{s}");
    }

    let row = |name: &str| {
        rows.iter()
            .find(|r| r["path"] == name)
            .unwrap_or_else(|| panic!("no row for {name}: {rows:#?}"))
            .clone()
    };
    for (name, data, vm) in &members {
        let r = row(name);
        let Some(vm) = vm else {
            assert!(
                r["error"].as_str().is_some_and(|e| !e.is_empty()),
                "{name} must fail: {r}"
            );
            assert!(r["lines"].is_null() && r["hap"].is_null(), "{r}");
            continue;
        };
        assert!(r["error"].is_null(), "{name} failed: {r}");
        assert_eq!(r["reused"], false);
        assert_eq!(r["vmlinux"], *vm);
        assert_eq!(
            r["kernel"].as_str().unwrap(),
            vm.strip_prefix("/usr/lib/debug/boot/vmlinux-").unwrap()
        );
        assert!(r["hap_weighted"].is_null());
        // The same numbers as a separate `hap analyze` of the member.
        let copy = tmp.path().join("copy").join(name.replace('/', "_"));
        std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
        std::fs::write(&copy, data).unwrap();
        let single =
            crate::util::hap_ok(&["analyze", copy.to_str().unwrap(), "--vmlinux", vm, "--json"]);
        let single: serde_json::Value = serde_json::from_str(&single).unwrap();
        for key in [
            "events",
            "functions",
            "resolved",
            "unresolved",
            "lines",
            "hap",
        ] {
            assert_eq!(r[key], single[key], "{name}: {key}");
        }
        assert_eq!(r["sha256"], single["trace_sha256"], "{name}");
        assert_eq!(r["steady_reached"], single["steady_state"]["reached"]);
        let dir = out.join(r["run_dir"].as_str().unwrap());
        assert!(dir.join("result.json").is_file() && dir.join("functions.parquet").is_file());
        std::fs::remove_file(&copy).unwrap();
    }
    assert!(row("../evil.dat")["error"]
        .as_str()
        .unwrap()
        .contains("unsafe member path"));
    assert!(row("x.dat")["error"]
        .as_str()
        .unwrap()
        .contains("unknown format"));

    // A second run reuses every good row and gives the same numbers.
    let (code2, rows2) = run_batch(&args);
    assert_eq!(code2, 3);
    assert_eq!(rows2.len(), rows.len());
    for (a, b) in rows.iter().zip(&rows2) {
        assert_eq!(a["path"], b["path"]);
        assert_eq!(b["reused"], a["error"].is_null(), "{b}");
        for key in [
            "sha256",
            "kernel",
            "vmlinux",
            "events",
            "functions",
            "lines",
            "hap",
        ] {
            assert_eq!(a[key], b[key], "{}: {key}", a["path"]);
        }
    }
}

#[test]
fn batch_directory_all_good_exits_zero() {
    let vm61 = vmlinux();
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    std::fs::create_dir_all(input.join("t")).unwrap();
    std::fs::copy(
        fixture("text/fileio-6.1.function.txt.zst"),
        input.join("t/fileio.txt.zst"),
    )
    .unwrap();
    std::fs::write(input.join("t/README.md"), "not a trace").unwrap();
    let out = tmp.path().join("out");
    let (code, rows) = run_batch(&[
        "batch",
        input.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--vmlinux",
        vm61.to_str().unwrap(),
        "--json",
        "--hive",
    ]);
    assert_eq!(code, 0, "{rows:#?}");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["path"], "t/fileio.txt.zst");
    assert!(rows[0]["error"].is_null());
    assert!(out
        .join("summary/kernel=6.1.0-57-cloud-amd64/part-0.parquet")
        .is_file());
}

/// SIGINT during a batch of an archive: exit 130, and the extraction folder
/// inside OUTDIR is removed (destructors do not run on a signal).
#[test]
fn interrupted_batch_removes_its_extraction_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("t.tar");
    {
        let mut b = tar::Builder::new(std::fs::File::create(&archive).unwrap());
        let trace = shared_traces().join("linux-6.1/fileio/trace.dat");
        b.append_path_with_name(&trace, "a/trace.dat").unwrap();
        b.finish().unwrap();
    }
    let out = tmp.path().join("out");
    let vm = vmlinux();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_hap"))
        .args([
            "batch",
            archive.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ])
        .args(["--vmlinux", vm.to_str().unwrap(), "--no-cache", "--quiet"])
        .spawn()
        .unwrap();
    // The folder appears first; reading the symbols (no cache) takes longer.
    let extracting = || {
        std::fs::read_dir(&out).is_ok_and(|d| {
            d.filter_map(Result::ok).any(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(".hap-batch-extract-")
            })
        })
    };
    let started = std::time::Instant::now();
    while !extracting() {
        assert!(
            started.elapsed().as_secs() < 10,
            "no extraction folder appeared"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    assert_eq!(child.wait().unwrap().code(), Some(130));
    assert!(!extracting(), "extraction folder left in {}", out.display());
    assert!(!out.join("summary.parquet").exists());
}
