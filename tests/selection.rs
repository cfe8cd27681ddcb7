//! Selecting the workload on the real redis capture (../shared): by name and
//! forks, against an explicit pid list derived independently by awk.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use crate::util::{analyze_into, shared_traces};

/// Functions of one `hap analyze -o DIR` run, from its functions.csv.
fn function_set(trace: &Path, extra: &[&str]) -> (BTreeSet<String>, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let json = analyze_into(&[trace], dir.path(), extra);
    let csv = std::fs::read_to_string(dir.path().join("functions.csv")).unwrap();
    let set = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().to_string())
        .collect();
    (set, json)
}

/// The pids of redis-server and everything it forked, by awk over the
/// function events of a fork: the parent calls wake_up_new_task, the child's
/// first event is schedule_tail; forks and new children pair up in order.
fn awk_redis_pids(trace: &Path) -> Vec<i32> {
    let awk = r#"!/^#/ && NF {
        i = index($0, " ["); task = substr($0, 1, i - 1); sub(/^ +/, "", task); sub(/ +$/, "", task)
        n = split(task, parts, "-"); pid = parts[n]; comm = substr(task, 1, length(task) - length(pid) - 1)
        j = index($0, ": "); split(substr($0, j + 2), f, " "); fn = f[1]
        first = !(pid in seen); seen[pid] = 1
        if (comm == "redis-server") sel[pid] = 1
        if (fn == "wake_up_new_task") q[qt++] = pid
        else if (first && fn == "schedule_tail" && qh < qt) { parent = q[qh++]; if (parent in sel) sel[pid] = 1 }
    }
    END { for (p in sel) print p }"#;
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "zstdcat '{}' | awk '{awk}' | sort -n",
            trace.display()
        ))
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect()
}

#[test]
fn comm_and_forks_equal_the_explicit_pid_list() {
    let trace = shared_traces().join("linux-6.1/redis/trace.txt.zst");
    let pids = awk_redis_pids(&trace);
    assert_eq!(
        pids,
        vec![214, 217, 218, 219, 220],
        "redis-server and its four threads"
    );
    let (by_comm, j1) = function_set(&trace, &["--comm", "^redis-server$", "--follow-forks"]);
    let pid_args: Vec<String> = pids
        .iter()
        .flat_map(|p| ["--pid".to_string(), p.to_string()])
        .collect();
    let pid_refs: Vec<&str> = pid_args.iter().map(String::as_str).collect();
    let (by_pid, j2) = function_set(&trace, &pid_refs);
    assert_eq!(by_comm, by_pid);
    assert_eq!(j1["pids"], serde_json::json!(pids));
    assert_eq!(
        (j1["lines"].clone(), j1["events_kept"].clone()),
        (j2["lines"].clone(), j2["events_kept"].clone())
    );
    // Without following forks, the threads' kernel work is lost.
    let (server_only, _) = function_set(&trace, &["--comm", "^redis-server$"]);
    assert!(server_only.len() < by_comm.len());
    assert!(server_only.is_subset(&by_comm));
}

#[test]
fn first_syscall_and_event_window() {
    let trace = shared_traces().join("linux-6.1/redis/trace.txt.zst");
    let (_, all) = function_set(&trace, &["--include-irq"]);
    let (_, w) = function_set(
        &trace,
        &["--include-irq", "--from", "#1000", "--to", "#1999"],
    );
    assert_eq!(
        w["events_kept"].as_u64().unwrap() + w["excluded"]["window"].as_u64().unwrap(),
        all["events_kept"].as_u64().unwrap()
    );
    assert_eq!(w["events_kept"], 1000);
    // The capture starts inside the `echo 1 > tracing_on` write: the first
    // syscall entry (x64_sys_call) is at line 21 of the file, event index 8.
    let (_, fs) = function_set(&trace, &["--include-irq", "--from-first-syscall"]);
    assert_eq!(fs["excluded"]["window"], 8);
}

/// The steady capture runs its workload twice in one trace (trace markers
/// `LAB-PHASE 1 start` at 82.335920 s and `LAB-PHASE 2 start` at 83.135190 s).
/// The second run adds almost nothing: steady state is reached, at the end of
/// the first run; the curve is monotone and ends at the reported count.
#[test]
fn steady_capture_reaches_steady_state_at_the_second_run() {
    let dir = tempfile::tempdir().unwrap();
    let trace = shared_traces().join("linux-6.1/steady/trace.txt.zst");
    let j = analyze_into(&[&trace], dir.path(), &[]);
    let st = &j["steady_state"];
    assert_eq!(st["reached"], true, "{st}");
    let first_kept = j["first_kept_ns"].as_i64().unwrap();
    let at_ns = first_kept + (st["at_seconds"].as_f64().unwrap() * 1e9) as i64;
    assert!(
        (82_335_920_000..83_135_190_000).contains(&at_ns),
        "plateau during the first run: {at_ns}"
    );
    // Fewer new functions than tolerated came after the plateau.
    let functions = j["functions"].as_u64().unwrap();
    assert!(
        functions - st["at_functions"].as_u64().unwrap()
            <= st["allowed_in_window"].as_u64().unwrap()
    );
    let curve = std::fs::read_to_string(dir.path().join("curve.csv")).unwrap();
    let mut rows = curve.lines();
    assert_eq!(rows.next(), Some("event,ts_ns,seconds,functions,lines"));
    let points: Vec<(u64, u64, u64)> = rows
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                f[0].parse().unwrap(),
                f[3].parse().unwrap(),
                f[4].parse().unwrap(),
            )
        })
        .collect();
    assert!(points
        .windows(2)
        .all(|w| w[0].0 < w[1].0 && w[0].1 + 1 == w[1].1 && w[0].2 <= w[1].2));
    let last = points.last().unwrap();
    assert_eq!((last.1, last.2), (functions, j["lines"].as_u64().unwrap()));
    // The same analysis on a workload run once does not claim steady state.
    let once = shared_traces().join("linux-6.1/fileio/trace.txt.zst");
    let j = crate::util::analyze_json(&once, &[]);
    assert_eq!(j["steady_state"]["reached"], false);
}

/// Two separate captures of the same redis workload (linux-6.1/redis and
/// runtimes/native): union and intersection are the set union and
/// intersection of the per-run function tables; mean, stddev and CV follow
/// from the per-run HAPs.
#[test]
fn repeated_runs_union_intersection_and_spread() {
    let dir = tempfile::tempdir().unwrap();
    let a = shared_traces().join("linux-6.1/redis/trace.txt.zst");
    let b = shared_traces().join("linux-6.1/runtimes/native/trace.txt.zst");
    let j = analyze_into(&[&a, &b], dir.path(), &[]);
    let read = |run: &str| -> std::collections::BTreeMap<String, u64> {
        let csv = std::fs::read_to_string(dir.path().join(run).join("functions.csv")).unwrap();
        csv.lines()
            .skip(1)
            .filter(|l| l.split(',').nth(21) == Some("true"))
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                (f[0].to_string(), f[12].parse().unwrap_or(0))
            })
            .collect()
    };
    let (ra, rb) = (read("run-1"), read("run-2"));
    let union: BTreeSet<&String> = ra.keys().chain(rb.keys()).collect();
    let inter: Vec<&String> = ra.keys().filter(|k| rb.contains_key(*k)).collect();
    let lines_of = |k: &String| {
        ra.get(k)
            .copied()
            .unwrap_or(0)
            .max(rb.get(k).copied().unwrap_or(0))
    };
    assert_eq!(
        j["union"]["functions"].as_u64().unwrap() as usize,
        union.len()
    );
    assert_eq!(
        j["intersection"]["functions"].as_u64().unwrap() as usize,
        inter.len()
    );
    assert_eq!(
        j["union"]["lines"].as_u64().unwrap(),
        union.iter().map(|k| lines_of(k)).sum::<u64>()
    );
    assert_eq!(
        j["intersection"]["lines"].as_u64().unwrap(),
        inter.iter().map(|k| lines_of(k)).sum::<u64>()
    );
    let h: Vec<f64> = j["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["hap"].as_f64().unwrap())
        .collect();
    let mean = (h[0] + h[1]) / 2.0;
    let sd = (((h[0] - mean).powi(2) + (h[1] - mean).powi(2)) / 1.0).sqrt();
    assert!((j["hap_mean"].as_f64().unwrap() - mean).abs() < 1e-9);
    assert!((j["hap_cv"].as_f64().unwrap() - sd / mean).abs() < 1e-9);
    assert!(dir.path().join("runs.json").is_file());
}

/// A baseline run's functions are reported apart and, with
/// --subtract-baseline, leave the HAP: the subtracted lines are exactly the
/// lines of the rows flagged in_baseline.
#[test]
fn baseline_functions_are_subtracted() {
    let dir = tempfile::tempdir().unwrap();
    let t = shared_traces().join("linux-6.1/redis/trace.txt.zst");
    let base = shared_traces().join("linux-6.1/fileio/trace.txt.zst");
    let (_, plain) = function_set(&t, &[]);
    let j = analyze_into(
        &[&t],
        dir.path(),
        &["--baseline", base.to_str().unwrap(), "--subtract-baseline"],
    );
    let csv = std::fs::read_to_string(dir.path().join("functions.csv")).unwrap();
    let mut flagged = 0u64;
    for l in csv.lines().skip(1) {
        let f: Vec<&str> = l.split(',').collect();
        if f[20] == "true" {
            flagged += 1;
            assert_eq!(f[21], "false", "a subtracted function is not counted: {l}");
        }
    }
    assert!(flagged > 0);
    assert_eq!(j["baseline"]["functions"].as_u64().unwrap(), flagged);
    assert_eq!(
        j["lines"].as_u64().unwrap() + j["baseline"]["lines"].as_u64().unwrap(),
        plain["lines"].as_u64().unwrap()
    );
}

/// The same on the function_graph capture of redis (comm truncated to 7
/// characters by the graph tracer): the fork calls appear as
/// `wake_up_new_task() {` entries and `schedule_tail() {` first entries.
#[test]
fn forks_are_followed_in_function_graph_text() {
    let trace = shared_traces().join("linux-6.1/redis/trace_graph.txt.zst");
    let awk = r#"NF >= 4 && !/^#/ {
        task = $2; sub(/^ *[0-9]+\) */, "", task); sub(/ *$/, "", task)
        n = split(task, parts, "-"); pid = parts[n]
        f = $NF; gsub(/^ +/, "", f)
        first = !(pid in seen); seen[pid] = 1
        if (task ~ /^redis-s-/) sel[pid] = 1
        if (index(f, "wake_up_new_task() {") == 1) q[qt++] = pid
        else if (first && index(f, "schedule_tail()") == 1 && qh < qt) { parent = q[qh++]; if (parent in sel) sel[pid] = 1 }
    }
    END { for (p in sel) print p }"#;
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "zstdcat '{}' | awk -F'|' '{awk}' | sort -n",
            trace.display()
        ))
        .output()
        .unwrap();
    let pids: Vec<i32> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(
        pids,
        vec![141, 144, 145, 146, 147],
        "redis-server and its bio_* and jemalloc threads"
    );
    let (by_comm, j) = function_set(&trace, &["--comm", "^redis-s", "--follow-forks"]);
    assert_eq!(j["pids"], serde_json::json!(pids));
    let pid_args: Vec<String> = pids
        .iter()
        .flat_map(|p| ["--pid".to_string(), p.to_string()])
        .collect();
    let pid_refs: Vec<&str> = pid_args.iter().map(String::as_str).collect();
    let (by_pid, _) = function_set(&trace, &pid_refs);
    assert_eq!(by_comm, by_pid);
}
