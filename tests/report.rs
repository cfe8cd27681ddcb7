//! `hap report` (HTML and Markdown) and `hap diff` on result directories of
//! real traces, and a headless-Chromium check that the HTML page renders.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{hap, hap_ok, shared_traces, vmlinux};

/// The 6.1 source tree the subsystem breakdown needs.
fn ksrc_61() -> PathBuf {
    let ksrc = std::env::var("HAP_KSRC").unwrap_or_else(|_| "/var/cache/hap/ksrc".into());
    let tree = Path::new(&ksrc).join("linux-source-6.1");
    assert!(
        tree.join("MAINTAINERS").is_file(),
        "{} missing: run scripts/setup.sh",
        tree.display()
    );
    tree
}

/// `hap analyze TRACE --source … -o DIR` for a trace under `shared/traces/linux-6.1`.
fn analyze_to(rel: &str, dir: &Path) {
    let trace = shared_traces().join("linux-6.1").join(rel);
    let vm = vmlinux();
    let tree = ksrc_61();
    hap_ok(&[
        "analyze",
        trace.to_str().unwrap(),
        "--vmlinux",
        vm.to_str().unwrap(),
        "--source",
        tree.to_str().unwrap(),
        "-o",
        dir.to_str().unwrap(),
    ]);
    for f in ["result.json", "functions.csv", "curve.csv"] {
        assert!(dir.join(f).is_file(), "{} missing", dir.join(f).display());
    }
}

fn result_json(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("result.json")).unwrap()).unwrap()
}

/// The page needs nothing from the network.
fn assert_self_contained(html: &str) {
    let stripped = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
    assert!(
        !stripped.contains("http://") && !stripped.contains("https://"),
        "the report references the network"
    );
    assert!(
        !html.contains("<script") && !html.contains("<link"),
        "external resources"
    );
}

struct Runs {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    native: PathBuf,
    seccomp: PathBuf,
}

fn runs() -> Runs {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let native = root.join("native");
    let seccomp = root.join("seccomp");
    analyze_to("runtimes/native/trace.dat", &native);
    analyze_to("runtimes/seccomp/trace.dat", &seccomp);
    Runs {
        _tmp: tmp,
        root,
        native,
        seccomp,
    }
}

#[test]
fn report_diff_and_render() {
    let r = runs();
    let (a, b) = (r.native.to_str().unwrap(), r.seccomp.to_str().unwrap());

    // Several runs, labelled: comparison chart, overlaid curves, one
    // subsystem chart per run.
    let html_path = r.root.join("out.html");
    let label_a = format!("native={a}");
    let label_b = format!("seccomp={b}");
    hap_ok(&[
        "report",
        a,
        b,
        "--label",
        &label_a,
        "--label",
        &label_b,
        "-o",
        html_path.to_str().unwrap(),
    ]);
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_self_contained(&html);
    assert_eq!(
        html.matches("<svg").count(),
        4,
        "comparison + curves + 2 subsystem charts"
    );
    assert!(html.contains("native") && html.contains("seccomp"));
    assert!(html.contains("What each run adds over the smallest run (native)"));

    // One run: curve + subsystem chart.
    let single = r.root.join("single.html");
    hap_ok(&["report", a, "-o", single.to_str().unwrap()]);
    let one = std::fs::read_to_string(&single).unwrap();
    assert_self_contained(&one);
    assert_eq!(one.matches("<svg").count(), 2, "curve + subsystem chart");

    // Markdown by extension.
    let md_path = r.root.join("out.md");
    hap_ok(&[
        "report",
        a,
        b,
        "--label",
        &label_a,
        "--label",
        &label_b,
        "-o",
        md_path.to_str().unwrap(),
    ]);
    let md = std::fs::read_to_string(&md_path).unwrap();
    assert!(md.starts_with("# Horizontal Attack Profile"));
    assert!(
        md.contains("| native |") && md.contains("| seccomp |"),
        "{md}"
    );
    assert!(!md.contains("<svg"));

    // The diff and its identities.
    let (ja, jb) = (result_json(&r.native), result_json(&r.seccomp));
    let d: serde_json::Value = serde_json::from_str(&hap_ok(&["diff", a, b, "--json"])).unwrap();
    let n = |v: &serde_json::Value| v.as_i64().unwrap_or_else(|| panic!("not an integer: {v}"));
    assert_eq!(n(&d["a"]["functions"]), n(&ja["functions"]));
    assert_eq!(n(&d["b"]["functions"]), n(&jb["functions"]));
    assert_eq!(n(&d["a"]["lines"]), n(&ja["lines"]));
    assert_eq!(n(&d["b"]["lines"]), n(&jb["lines"]));
    assert_eq!(n(&d["only_a"]) + n(&d["common"]), n(&d["a"]["functions"]));
    assert_eq!(n(&d["only_b"]) + n(&d["common"]), n(&d["b"]["functions"]));
    assert_eq!(
        n(&d["delta_lines"]),
        n(&d["b"]["lines"]) - n(&d["a"]["lines"])
    );
    let dec = &d["decomposition"];
    assert_eq!(
        n(&dec["new_paths"]) + n(&dec["code_growth"]),
        n(&d["delta_lines"])
    );
    assert_eq!(
        n(&dec["new_paths"]),
        n(&dec["only_b_lines"]) - n(&dec["only_a_lines"])
    );
    // Same kernel: a function has the same lines in both runs.
    assert_eq!(n(&dec["code_growth"]), 0);
    assert_eq!(
        d["only_b_functions"].as_array().unwrap().len() as i64,
        n(&d["only_b"])
    );
    assert!(
        n(&d["only_b"]) > 0,
        "seccomp reaches functions native does not"
    );
    let dh = d["delta_hap"].as_f64().unwrap();
    let expect = jb["hap"].as_f64().unwrap() - ja["hap"].as_f64().unwrap();
    assert!((dh - expect).abs() < 1e-9, "{dh} vs {expect}");

    // Text form.
    let text = hap_ok(&["diff", a, b]);
    assert!(text.contains("new paths"), "{text}");

    // A missing directory is an error that names it.
    let missing = r.root.join("no-such-run");
    let out = hap(&[
        "report",
        missing.to_str().unwrap(),
        "-o",
        r.root.join("x.html").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-run"));

    screenshot(&html_path);
}

/// Render the page in headless Chromium and check a PNG of the window size
/// came out (`target/report.png`, kept for a look).
fn screenshot(html: &Path) {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let png = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join("report.png");
    std::fs::create_dir_all(png.parent().unwrap()).unwrap();
    let _ = std::fs::remove_file(&png);
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new("timeout")
        .arg("180")
        .arg(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1280,2000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", html.display()))
        .output()
        .unwrap_or_else(|e| panic!("{chromium}: {e} (apt-get install chromium; scripts/setup.sh)"));
    assert!(
        out.status.success() && png.is_file(),
        "{chromium} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let be = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap());
    assert_eq!((be(16), be(20)), (1280, 2000), "IHDR width and height");
    // A blank page compresses to a few KB; text, tables and charts do not.
    assert!(
        bytes.len() > 40_000,
        "screenshot is only {} bytes",
        bytes.len()
    );
}
