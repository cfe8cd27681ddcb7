//! `hap density` on the real CVE snapshot and `hap analyze --density`.

use crate::util::{fixture, hap_ok, vmlinux};

fn ksrc(v: &str) -> std::path::PathBuf {
    let root = std::env::var("HAP_KSRC").unwrap_or_else(|_| "/var/cache/hap/ksrc".into());
    let t = std::path::Path::new(&root).join(format!("linux-source-{v}"));
    assert!(
        t.join("MAINTAINERS").is_file(),
        "{} missing: run scripts/setup.sh",
        t.display()
    );
    t
}

fn cves() -> std::path::PathBuf {
    let p = crate::util::root().join("../shared/data/kernel-cna-cve-records-2026-08-21.tar.zst");
    assert!(
        p.is_file(),
        "{} missing: the tests need ../shared",
        p.display()
    );
    p
}

/// The counts agree with the independent Python check in
/// analyze/tests/density_real.rs (1,092 and 448 records affect the exact
/// releases; 8,239 and 6,337 their series up to them).
#[test]
fn cves_affecting_each_version() {
    let dir = tempfile::tempdir().unwrap();
    for (v, tree, release, series) in [
        ("6.1.192", "6.1", 1092, 8239),
        ("6.12.117", "6.12", 448, 6337),
    ] {
        let out = dir.path().join(format!("{v}.csv"));
        let j: serde_json::Value = serde_json::from_str(&hap_ok(&[
            "density",
            "--cves",
            cves().to_str().unwrap(),
            "--source",
            ksrc(tree).to_str().unwrap(),
            "--kernel-version",
            v,
            "-o",
            out.to_str().unwrap(),
            "--json",
        ]))
        .unwrap();
        assert_eq!(
            (j["cves_total"].as_u64(), j["cves_affecting"].as_u64()),
            (Some(14626), Some(release))
        );
        assert_eq!(j["cves_affecting_series"].as_u64(), Some(series));
        assert!(std::fs::read_to_string(&out)
            .unwrap()
            .lines()
            .any(|l| l.starts_with("global,")));
    }
}

/// The weighted HAP is the sum of the per-subsystem weighted HAPs.
#[test]
fn analyze_with_density_weights_by_subsystem() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("d.csv");
    let tree = ksrc("6.1");
    hap_ok(&[
        "density",
        "--cves",
        cves().to_str().unwrap(),
        "--source",
        tree.to_str().unwrap(),
        "--kernel-version",
        "6.1.192",
        "-o",
        table.to_str().unwrap(),
    ]);
    let vm = vmlinux();
    let trace = fixture("dat/steady-6.1.v7.dat");
    let j: serde_json::Value = serde_json::from_str(&hap_ok(&[
        "analyze",
        trace.to_str().unwrap(),
        "--vmlinux",
        vm.to_str().unwrap(),
        "--source",
        tree.to_str().unwrap(),
        "--density",
        table.to_str().unwrap(),
        "--json",
    ]))
    .unwrap();
    let hw = j["hap_weighted"].as_f64().unwrap();
    let sum: f64 = j["subsystems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["hap_weighted"].as_f64().unwrap())
        .sum();
    assert!(hw > 0.0 && (hw - sum).abs() < 1e-9, "{hw} vs {sum}");
    assert_eq!(j["density_source"], table.to_str().unwrap());
}
