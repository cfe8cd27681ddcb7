//! End to end on every text trace (function and function_graph) in
//! ../shared/traces (the real captures):
//! `functions` equals the awk count, and every function is either resolved
//! or listed as unresolved.

use std::path::{Path, PathBuf};

use crate::util::{awk_unique_functions, awk_unique_graph_functions, hap_ok, shared_traces};

fn vmlinux_for(trace: &Path) -> PathBuf {
    let s = trace.to_string_lossy();
    let p = if s.contains("/linux-6.12/") {
        crate::util::VMLINUX_612
    } else {
        crate::util::VMLINUX_61
    };
    let p = PathBuf::from(p);
    assert!(
        p.is_file(),
        "{} is missing: run scripts/setup.sh",
        p.display()
    );
    p
}

fn text_traces(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            text_traces(&p, out);
        } else if p
            .file_name()
            .is_some_and(|n| n == "trace.txt.zst" || n == "trace_graph.txt.zst")
        {
            out.push(p);
        }
    }
}

#[test]
fn every_shared_text_trace_matches_awk() {
    let mut traces = Vec::new();
    text_traces(&shared_traces(), &mut traces);
    traces.sort();
    assert_eq!(traces.len(), 22, "{traces:?}");
    let mut failures = Vec::new();
    for t in &traces {
        let vm = vmlinux_for(t);
        let j: serde_json::Value = serde_json::from_str(&hap_ok(&[
            "analyze",
            t.to_str().unwrap(),
            "--vmlinux",
            vm.to_str().unwrap(),
            "--include-irq",
            "--json",
        ]))
        .unwrap();
        let functions = j["functions"].as_u64().unwrap();
        let graph = t.file_name().is_some_and(|n| n == "trace_graph.txt.zst");
        let awk = if graph {
            awk_unique_graph_functions(t)
        } else {
            awk_unique_functions(t)
        } as u64;
        let parts = j["resolved"].as_u64().unwrap() + j["unresolved"].as_u64().unwrap();
        eprintln!(
            "{}: functions {functions} awk {awk} resolved+unresolved {parts} lines {}",
            t.display(),
            j["lines"]
        );
        if !graph {
            // Excluding interrupts removes exactly the events flagged h/H/s/z/Z (grep).
            let j: serde_json::Value = serde_json::from_str(&hap_ok(&[
                "analyze",
                t.to_str().unwrap(),
                "--vmlinux",
                vm.to_str().unwrap(),
                "--json",
            ]))
            .unwrap();
            let grep = crate::util::grep_irq_events(t);
            if j["excluded"]["irq"].as_u64() != Some(grep) {
                failures.push(format!(
                    "{}: irq excluded {} vs grep {grep}",
                    t.display(),
                    j["excluded"]["irq"]
                ));
            }
        }
        if functions != awk || parts != functions {
            failures.push(format!(
                "{}: hap {functions}, awk {awk}, resolved+unresolved {parts}",
                t.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
