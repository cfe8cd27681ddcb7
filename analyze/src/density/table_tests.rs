//! Tests of [`super`] (the density table) on a small synthetic tree.

use super::*;
use crate::density::records::{Affected, Status, VersionEntry};

fn record(id: &str, files: &[&str], cvss: Option<f64>) -> CveRecord {
    CveRecord {
        id: id.into(),
        published: None,
        affected: vec![Affected {
            vendor: "Linux".into(),
            product: "Linux".into(),
            default_status: Status::Affected,
            versions: vec![VersionEntry {
                version: "6.2".into(),
                less_than_or_equal: Some("*".into()),
                less_than: None,
                status: Status::Unaffected,
                version_type: Some("original_commit_for_fix".into()),
            }],
            program_files: files.iter().map(|s| s.to_string()).collect(),
        }],
        cvss,
    }
}

fn write(root: &Path, rel: &str, lines: usize) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, "x\n".repeat(lines)).unwrap();
}

#[test]
fn counts_rates_and_smoothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "fs/a/one.c", 1000);
    write(root, "fs/a/two.h", 3000);
    write(root, "fs/b.c", 20);
    write(root, "fs/a/Kconfig", 10);
    write(root, "tools/x.c", 5000); // excluded top-level directory
    write(root, "Documentation/y.c", 5000);
    let m = Maintainers::parse("FOO FS\nF:\tfs/a/\n");
    let recs = vec![
        record(
            "CVE-1",
            &["fs/a/one.c", "fs/a/two.h", "./fs/a/one.c"],
            Some(5.0),
        ),
        record("CVE-2", &["fs/b.c", "fs/gone.c"], None),
        record("CVE-3", &["fs/a/Kconfig"], Some(10.0)),
    ];
    let t = compute(&recs, &"6.1.192".parse().unwrap(), root, &m);
    assert_eq!(
        (t.cves_total, t.cves_affecting, t.files_with_cves),
        (3, 3, 4)
    );
    assert_eq!(t.global_lines, 4030);
    assert_eq!(t.global_cves, 3.0);
    assert_eq!(
        t.missing,
        vec![MissingFile {
            path: "fs/gone.c".into(),
            cves: 1.0
        }]
    );
    let one = t.row(Level::File, "fs/a/one.c").unwrap();
    assert_eq!((one.lines, one.cves, one.rate), (1000, 1.0, 1.0));
    let a = t.row(Level::Dir, "fs/a").unwrap();
    assert_eq!((a.lines, a.cves), (4010, 2.0)); // CVE-1 once
    let fs = t.row(Level::Dir, "fs").unwrap();
    assert_eq!((fs.lines, fs.cves), (4030, 3.0));
    let g = 3.0 / 4.03;
    assert!((t.global_rate - g).abs() < 1e-12);
    let fs_s = (3.0 + 5.0 * g) / (4.03 + 5.0);
    assert!((fs.smoothed - fs_s).abs() < 1e-12);
    let b = t.row(Level::File, "fs/b.c").unwrap();
    assert_eq!(b.rate, 50.0);
    assert!((b.smoothed - (1.0 + 5.0 * fs_s) / 5.02).abs() < 1e-12);
    let sub = t.row(Level::Subsystem, "FOO FS").unwrap();
    assert_eq!((sub.lines, sub.cves), (4010, 2.0));
    assert!(t.row(Level::File, "tools/x.c").is_none());
    // Lookup fallbacks.
    assert_eq!(t.lookup("fs/a/one.c", None), (one.smoothed, "file"));
    assert_eq!(t.lookup("./fs/a/new.c", None), (a.smoothed, "dir"));
    assert_eq!(
        t.lookup("other/z.c", Some("FOO FS")),
        (sub.smoothed, "subsystem")
    );
    assert_eq!(t.lookup("/abs/z.c", None), (t.global_rate, "global"));
    let hap = weighted_hap(
        [(100, Some("fs/a/one.c"), None), (1000, None, None)].into_iter(),
        &t,
    );
    assert!((hap - (100.0 * one.smoothed + 1000.0 * g) / 1000.0).abs() < 1e-12);
    // Scope::Series counts 6.1.0 .. 6.1.192 (same here); CVSS weights.
    let opts = DensityOptions {
        weight: Weight::Cvss,
        ..DensityOptions::default()
    };
    let w = compute_with(&recs, &"6.1.192".parse().unwrap(), root, &m, &opts);
    assert!((w.global_cves - (0.5 + 0.75 + 1.0)).abs() < 1e-12);
    let newer = compute(&recs, &"6.2.1".parse().unwrap(), root, &m);
    assert_eq!(
        (
            newer.cves_affecting,
            newer.files_with_cves,
            newer.global_rate
        ),
        (0, 0, 0.0)
    );
}

#[test]
fn line_counting() {
    assert_eq!(count_lines(b""), 0);
    assert_eq!(count_lines(b"a"), 1);
    assert_eq!(count_lines(b"a\n"), 1);
    assert_eq!(count_lines(b"a\nb"), 2);
    assert_eq!(normalize("./a/b.c"), Some("a/b.c"));
    assert_eq!(normalize("a/../b.c"), None);
    assert_eq!(normalize("/a.c"), None);
}
