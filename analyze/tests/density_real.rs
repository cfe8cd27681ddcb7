//! Bug density from the real kernel CNA snapshot and the real 6.1 / 6.12
//! source trees. Fails (does not skip) when the data is missing.
//!
//! * version status of a dozen records pinned by reading their JSON
//!   (quoted in `docs/method.md`, "Bug density from CVE records");
//! * the number of records affecting 6.1.192 and 6.12.117 checked against
//!   an independent Python implementation of the same rule, reading the
//!   archive through `zstd -dc | python3` (`tarfile`);
//! * the density tables of both trees, with consistency checks.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use analyze::density::{self, CveRecord, DensityOptions, KernelVersion, Level, Scope};
use analyze::source::Maintainers;

fn data() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/kernel-cna-cve-records-2026-08-21.tar.zst");
    let p = if p.exists() {
        p
    } else {
        PathBuf::from("/work/shared/data/kernel-cna-cve-records-2026-08-21.tar.zst")
    };
    assert!(p.exists(), "CVE snapshot missing: {}", p.display());
    p
}

fn tree(series: &str) -> PathBuf {
    let p = PathBuf::from(format!("/var/cache/hap/ksrc/linux-source-{series}"));
    assert!(
        p.join("MAINTAINERS").exists(),
        "kernel tree missing: {}",
        p.display()
    );
    p
}

fn records() -> &'static [CveRecord] {
    static RECS: std::sync::OnceLock<Vec<CveRecord>> = std::sync::OnceLock::new();
    RECS.get_or_init(|| density::load(&data()).expect("load snapshot"))
}

fn v(s: &str) -> KernelVersion {
    s.parse().unwrap()
}

/// The independent implementation (same rule as `density::versions`).
const PY: &str = r#"
import sys, tarfile, json
INF = float("inf")
def key(s):
    out = []
    for p in s.split("."):
        if p == "*": out.append(INF)
        elif p.isdigit(): out.append(int(p))
        else: return None
    return out
def cmp(a, b):
    n = max(len(a), len(b)); a = a + [0] * (n - len(a)); b = b + [0] * (n - len(b))
    return (a > b) - (a < b)
def status(prod, v):
    for e in prod.get("versions", []):
        if e.get("versionType") == "git": continue
        lo = key(e["version"])
        if lo is None: continue
        if "lessThan" in e:
            hi = key(e["lessThan"])
            if hi is None: continue
            hit = cmp(v, lo) >= 0 and cmp(v, hi) < 0
        elif "lessThanOrEqual" in e:
            hi = key(e["lessThanOrEqual"])
            if hi is None: continue
            hit = cmp(v, lo) >= 0 and cmp(v, hi) <= 0
        else:
            hit = cmp(v, lo) == 0
        if hit: return e.get("status")
    return prod.get("defaultStatus", "unknown")
versions = sys.argv[1:]
counts = {v: 0 for v in versions}; total = 0
with tarfile.open(fileobj=sys.stdin.buffer, mode="r|") as tf:
    for m in tf:
        name = m.name.rsplit("/", 1)[-1]
        if not m.isfile() or not (name.startswith("CVE-") and name.endswith(".json")) or "/rejected/" in "/" + m.name: continue
        d = json.load(tf.extractfile(m))
        if d["cveMetadata"].get("state", "PUBLISHED") != "PUBLISHED": continue
        total += 1
        for v in versions:
            if any(status(p, [int(x) for x in v.split(".")]) == "affected" for p in d["containers"]["cna"].get("affected", [])):
                counts[v] += 1
print("total", total)
for v in versions: print(v, counts[v])
"#;

// zstd is waited for once python3 has read its output; a panic before that
// ends the test process anyway.
#[allow(clippy::zombie_processes)]
fn python_counts(versions: &[&str]) -> Vec<(String, usize)> {
    let script = std::env::temp_dir().join(format!("hap-density-check-{}.py", std::process::id()));
    std::fs::File::create(&script)
        .unwrap()
        .write_all(PY.as_bytes())
        .unwrap();
    let mut zstd = Command::new("zstd")
        .arg("-dc")
        .arg(data())
        .stdout(Stdio::piped())
        .spawn()
        .expect("zstd must be installed");
    let out = Command::new("python3")
        .arg(&script)
        .args(versions)
        .stdin(zstd.stdout.take().unwrap())
        .output()
        .expect("python3 must be installed");
    let _ = std::fs::remove_file(&script);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (k, n) = l.split_once(' ').unwrap();
            (k.to_string(), n.parse().unwrap())
        })
        .collect()
}

#[test]
fn pinned_records() {
    let recs = records();
    assert_eq!(recs.len(), 14_626);
    let find = |id: &str| {
        recs.iter()
            .find(|r| r.id == id)
            .unwrap_or_else(|| panic!("{id} missing"))
    };
    // (id, affects 6.1.192, affects 6.12.117), each read from the record.
    let pins = [
        // Backported into 6.6.51..6.6.133 and 6.10.10..6.11 only; mainline from 6.11, fixed 6.12.77.
        ("CVE-2024-14027", false, false),
        // Stable-only windows in 4.4 .. 5.5 (second object defaultStatus unaffected).
        ("CVE-2020-36791", false, false),
        // Affected 0..5.18.3, unaffected 5.19 and later.
        ("CVE-2022-49420", false, false),
        // Second object has no versions and defaultStatus unaffected; window 6.0.16..6.1.
        ("CVE-2023-53012", false, false),
        // Introduced 5.10, stable fixes up to 5.17.2, no mainline fix recorded: default affected.
        ("CVE-2021-47645", true, true),
        // Introduced 5.15, fixed 6.13.4 / 6.14: neither 6.1 nor 6.12 has the fix.
        ("CVE-2024-52560", true, true),
        // Introduced 5.12, fixed 6.6.14, 6.7.2, 6.8: 6.1 not fixed, 6.12 >= 6.8.
        ("CVE-2023-52452", true, false),
        // Backport window 6.1.116..6.2 (first object) although mainline starts at 6.3.
        ("CVE-2023-52490", true, false),
        // Introduced 6.3 (so not 6.1), fixed 6.13.3 / 6.14 (so not 6.12).
        ("CVE-2024-58015", false, true),
        // Window 6.12.96..6.13 in the first object; second: only 6.13.2..6.13.3.
        ("CVE-2025-21817", false, true),
        // Windows 6.1.148..6.2 and 6.12.42..6.13, among others.
        ("CVE-2025-38656", true, true),
        // Both objects: 0..7.0.4 affected / default affected before 7.0.4.
        ("CVE-2026-46017", true, true),
        // 6.1 by the window 6.1.42..6.2; 6.12 by the mainline range 6.5..6.15.3.
        ("CVE-2025-38311", true, true),
    ];
    for (id, a61, a612) in pins {
        let r = find(id);
        assert_eq!(density::affects(r, &v("6.1.192")), a61, "{id} at 6.1.192");
        assert_eq!(
            density::affects(r, &v("6.12.117")),
            a612,
            "{id} at 6.12.117"
        );
    }
    // Series scope: CVE-2024-14027 never reached 6.1; CVE-2023-53012's
    // window ends at 6.1, so 6.1.0 is not in it.
    assert!(!density::affects_series(
        find("CVE-2024-14027"),
        &v("6.1.192")
    ));
    assert!(density::affects_series(
        find("CVE-2024-14027"),
        &v("6.12.117")
    ));
    assert!(!density::affects_series(
        find("CVE-2023-53012"),
        &v("6.1.192")
    ));
}

#[test]
fn counts_match_an_independent_implementation() {
    let t = Instant::now();
    let recs = records();
    eprintln!("loaded {} records in {:?}", recs.len(), t.elapsed());
    let py = python_counts(&["6.1.192", "6.12.117"]);
    assert_eq!(py[0], ("total".to_string(), recs.len()));
    for (ver, n) in &py[1..] {
        let ours = recs.iter().filter(|r| density::affects(r, &v(ver))).count();
        eprintln!("{ver}: {ours} records affect it (python: {n})");
        assert_eq!(ours, *n, "{ver}");
    }
}

fn table_for(series: &str, version: &str, scope: Scope) -> density::DensityTable {
    let t = Instant::now();
    let tree = tree(series);
    let m = Maintainers::load(&tree).unwrap();
    let opts = DensityOptions {
        scope,
        ..DensityOptions::default()
    };
    let table = density::compute_with(records(), &v(version), &tree, &m, &opts);
    eprintln!(
        "{version} {scope:?}: total {} affecting {} files_with_cves {} global {} cves / {} lines = {:.4}/KLOC, {} missing files, {:?}",
        table.cves_total,
        table.cves_affecting,
        table.files_with_cves,
        table.global_cves,
        table.global_lines,
        table.global_rate,
        table.missing.len(),
        t.elapsed()
    );
    let mut subs: Vec<_> = table
        .rows
        .iter()
        .filter(|r| r.level == Level::Subsystem && r.lines >= 20_000)
        .collect();
    subs.sort_by(|a, b| b.smoothed.total_cmp(&a.smoothed));
    for r in subs.iter().take(10) {
        eprintln!(
            "  {:8.3} {:8.3} {:5} {:8}  {}",
            r.smoothed, r.rate, r.cves, r.lines, r.key
        );
    }
    table
}

fn check(table: &density::DensityTable) {
    assert_eq!(table.cves_total, 14_626);
    assert!(table.files_with_cves > 0);
    assert!(
        (table.global_rate - table.global_cves / (table.global_lines as f64 / 1000.0)).abs()
            < 1e-12
    );
    assert!(table.global_cves <= table.cves_affecting as f64);
    // Every file row with CVEs counts toward its directories.
    let files = table
        .rows
        .iter()
        .filter(|r| r.level == Level::File && r.cves > 0.0)
        .count();
    assert_eq!(files, table.files_with_cves);
    let top: f64 = [
        "arch", "block", "crypto", "drivers", "fs", "include", "init", "io_uring", "ipc", "kernel",
        "lib", "mm", "net", "rust", "security", "sound", "virt", "certs",
    ]
    .iter()
    .filter_map(|d| table.row(Level::Dir, d))
    .map(|r| r.lines as f64)
    .sum();
    assert!(top <= table.global_lines as f64);
    let (r, level) = table.lookup("mm/memory.c", None);
    assert_eq!(level, "file");
    assert!(r > 0.0);
    assert_eq!(table.lookup("mm/not-a-file.c", None).1, "dir");
    assert_eq!(
        table.lookup("nowhere/x.c", None),
        (table.global_rate, "global")
    );
    // Round trip through CSV.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("density.csv");
    density::write_csv(table, &p).unwrap();
    let back = density::read_csv(&p).unwrap();
    assert_eq!(back.rows, table.rows);
    assert_eq!(back.global_rate, table.global_rate);
}

#[test]
fn tables_for_6_1_and_6_12() {
    let t61 = table_for("6.1", "6.1.192", Scope::Release);
    check(&t61);
    let t612 = table_for("6.12", "6.12.117", Scope::Release);
    check(&t612);
    let s61 = table_for("6.1", "6.1.192", Scope::Series);
    check(&s61);
    assert!(s61.cves_affecting > t61.cves_affecting);
    let s612 = table_for("6.12", "6.12.117", Scope::Series);
    check(&s612);
}
