//! `hap analyze` on the bundled real traces against the real reference vmlinux.

use crate::util::{
    analyze_json, awk_unique_functions, awk_unique_graph_functions, fixture, hap_ok, vmlinux,
};

const FIXTURES: [&str; 4] = [
    "text/fileio-6.1.function.txt.zst",
    "text/redis-6.1.pipe.txt.gz",
    "text/steady-6.1.report.txt.zst",
    "text/steady-6.1.report-lt.txt.zst",
];

#[test]
fn unique_functions_match_awk_on_every_fixture() {
    for f in FIXTURES {
        let trace = fixture(f);
        let j = analyze_json(&trace, &["--include-irq"]);
        let functions = j["functions"].as_u64().unwrap();
        assert_eq!(functions as usize, awk_unique_functions(&trace), "{f}");
        assert_eq!(
            j["resolved"].as_u64().unwrap() + j["unresolved"].as_u64().unwrap(),
            functions,
            "{f}"
        );
        assert_eq!(j["excluded"]["irq"], 0, "{f}");
    }
}

/// Interrupt context is excluded by default; the count of excluded events
/// matches grep over the irq-info column (third flag h, H, s, z or Z).
#[test]
fn interrupt_context_is_excluded_by_default() {
    let trace = fixture("text/fileio-6.1.function.txt.zst");
    let j = analyze_json(&trace, &[]);
    let expected = crate::util::grep_irq_events(&trace);
    assert!(expected > 0);
    assert_eq!(j["excluded"]["irq"].as_u64().unwrap(), expected);
    let with_irq = analyze_json(&trace, &["--include-irq"]);
    assert!(j["functions"].as_u64() < with_irq["functions"].as_u64());
    assert_eq!(j["events"], with_irq["events"]);
}

#[test]
fn pid_and_comm_select_tasks() {
    let trace = fixture("text/redis-6.1.pipe.txt.gz");
    let all = analyze_json(&trace, &["--include-irq"]);
    let j = analyze_json(&trace, &["--include-irq", "--comm", "^redis-server$"]);
    let excluded = j["excluded"]["task"].as_u64().unwrap();
    let kept = j["events_kept"].as_u64().unwrap();
    // grep oracle: event lines whose task field is redis-server-PID.
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "zcat '{}' | grep -cE '^ *redis-server-[0-9]+ +\\['",
            trace.display()
        ))
        .output()
        .unwrap();
    let expected: u64 = String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(kept, expected);
    assert_eq!(
        kept + excluded + all["excluded"]["idle"].as_u64().unwrap(),
        all["events"].as_u64().unwrap()
    );
}

#[test]
fn output_dir_has_one_row_per_function_and_the_same_json() {
    let dir = tempfile::tempdir().unwrap();
    let trace = fixture("text/fileio-6.1.function.txt.zst");
    let out = dir.path().join("run");
    let printed = crate::util::analyze_into(&[&trace], &out, &[]);
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("result.json")).unwrap()).unwrap();
    assert_eq!(printed, saved);
    let csv = std::fs::read_to_string(out.join("functions.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "function,module,events,first_ts_ns,first_event,candidates,symbol_name,symbol_address,symbol_size,file,start_line,end_line,lines,code_lines,dwarf_end_line,nloc,span_source,macro_kind,subsystem,area,in_baseline,counted,caller,syscall"
    );
    assert_eq!(lines.count() as u64, printed["functions"].as_u64().unwrap());
    assert!(out.join("functions.parquet").is_file());
    let sum: u64 = csv
        .lines()
        .skip(1)
        .filter(|l| l.split(',').nth(21) == Some("true"))
        .filter_map(|l| l.split(',').nth(12).and_then(|v| v.parse::<u64>().ok()))
        .sum();
    assert_eq!(sum, printed["lines"].as_u64().unwrap());
    let hap = printed["hap"].as_f64().unwrap();
    assert!((hap - sum as f64 * 0.61 / 1000.0).abs() < 1e-9);
}

/// function_graph text: entries are calls, exits are not; the interrupt
/// window (irq_enter_rcu … end of irq_exit_rcu) is excluded by default.
#[test]
fn function_graph_text_counts_entries() {
    let trace = fixture("text/fileio-6.1.graph.txt.zst");
    let all = analyze_json(&trace, &["--include-irq"]);
    assert_eq!(
        all["functions"].as_u64().unwrap() as usize,
        awk_unique_graph_functions(&trace)
    );
    assert_eq!(all["unparsed_lines"], 0);
    assert_eq!(all["tracer"], "function_graph");
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "zstdcat '{}' | grep -v '^#' | grep -v '<idle>-0' | grep -cE '\\(\\)( \\{{|;)$'",
            trace.display()
        ))
        .output()
        .unwrap();
    let entries: u64 = String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(all["events_kept"].as_u64().unwrap(), entries);
    let no_irq = analyze_json(&trace, &[]);
    assert!(no_irq["excluded"]["irq"].as_u64().unwrap() > 0);
    assert!(no_irq["functions"].as_u64() < all["functions"].as_u64());
}

/// With the source tree: refined spans, nloc, and HAP per MAINTAINERS
/// subsystem that adds up to the total.
#[test]
fn source_tree_adds_nloc_and_subsystems() {
    let trace = fixture("dat/steady-6.1.v7.dat");
    let ksrc = std::env::var("HAP_KSRC").unwrap_or_else(|_| "/var/cache/hap/ksrc".into());
    let tree = std::path::Path::new(&ksrc).join("linux-source-6.1");
    assert!(
        tree.join("MAINTAINERS").is_file(),
        "{} missing: run scripts/setup.sh",
        tree.display()
    );
    let plain = analyze_json(&trace, &[]);
    let j = analyze_json(&trace, &["--source", tree.to_str().unwrap()]);
    assert_eq!(j["functions"], plain["functions"]);
    let subs = j["subsystems"].as_array().unwrap();
    let sum = |k: &str| subs.iter().map(|s| s[k].as_u64().unwrap()).sum::<u64>();
    assert_eq!(sum("lines"), j["lines"].as_u64().unwrap());
    assert_eq!(sum("functions"), j["functions_counted"].as_u64().unwrap());
    assert!(j["nloc"].as_u64().unwrap() > 0 && j["nloc"].as_u64() < j["lines"].as_u64());
    let names: Vec<&str> = subs.iter().filter_map(|s| s["name"].as_str()).collect();
    assert!(
        names.contains(&"FILESYSTEMS (VFS and infrastructure)"),
        "{names:?}"
    );
    // The refined table: vfs_read spans 450-479 in fs/read_write.c (source and DWARF agree).
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("s.csv");
    let vm = vmlinux();
    hap_ok(&[
        "symbols",
        "--vmlinux",
        vm.to_str().unwrap(),
        "--source",
        tree.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    let csv = std::fs::read_to_string(&out).unwrap();
    let row = csv.lines().find(|l| l.starts_with("vfs_read,")).unwrap();
    let f: Vec<&str> = row.split(',').collect();
    assert_eq!(&f[3..8], &["fs/read_write.c", "450", "479", "30", "32"]);
    assert_eq!(
        &f[8..],
        &[
            "479",
            "27",
            "both",
            "",
            "FILESYSTEMS (VFS and infrastructure)",
            "fs"
        ]
    );
}

/// Functions of modules (`name [module]` in function_graph text, kallsyms
/// modules in trace.dat) resolve in Debian's debug `.ko` files; values read
/// in the source and checked with llvm-dwarfdump (analyze/tests/modules_real.rs).
#[test]
fn module_functions_resolve_in_their_debug_files() {
    let dir = tempfile::tempdir().unwrap();
    let trace = crate::util::shared_traces().join("linux-6.1/fileio/trace_graph.txt.zst");
    let j = crate::util::analyze_into(&[&trace], dir.path(), &["--include-irq"]);
    assert_eq!(j["unresolved"], 0, "{}", j["unresolved_functions"]);
    let csv = std::fs::read_to_string(dir.path().join("functions.csv")).unwrap();
    let modules: Vec<&str> = csv
        .lines()
        .skip(1)
        .filter(|l| l.split(',').nth(1).is_some_and(|m| !m.is_empty()))
        .collect();
    assert_eq!(modules.len(), 20);
    for (f, m, file, start, end) in [
        (
            "virtblk_add_req",
            "virtio_blk",
            "drivers/block/virtio_blk.c",
            "112",
            "131",
        ),
        (
            "virtqueue_add_sgs",
            "virtio_ring",
            "drivers/virtio/virtio_ring.c",
            "2134",
            "2152",
        ),
        (
            "vring_map_one_sg",
            "virtio_ring",
            "drivers/virtio/virtio_ring.c",
            "355",
            "377",
        ),
    ] {
        let row = modules
            .iter()
            .find(|l| l.starts_with(&format!("{f},")))
            .unwrap();
        let c: Vec<&str> = row.split(',').collect();
        assert_eq!((c[1], c[9], c[10], c[11]), (m, file, start, end), "{row}");
    }
}

/// `--inline` adds the code inlined into the traced functions (spans pinned
/// for ksys_write in analyze/tests/inline_real.rs) without changing the
/// traced count.
#[test]
fn inline_adds_inlined_code_beside_the_plain_count() {
    let trace = fixture("dat/steady-6.1.v7.dat");
    let plain = analyze_json(&trace, &[]);
    let j = analyze_json(&trace, &["--inline"]);
    assert_eq!(j["lines"], plain["lines"]);
    assert!(plain["inline"].is_null());
    let i = &j["inline"];
    assert!(i["functions"].as_u64().unwrap() > 0);
    assert_eq!(
        i["lines_inclusive"].as_u64().unwrap(),
        j["lines"].as_u64().unwrap() + i["lines"].as_u64().unwrap()
    );
}
