//! The machine-readable result: one JSON object per analysis.

use analyze::measure::Share;
use analyze::runs::{FunctionSet, Runs};
use analyze::Measurement;
use serde_json::{json, Value};

/// The JSON object `hap analyze --json` prints (keys documented in `docs/cli.md`).
pub fn measurement(m: &Measurement) -> Value {
    let s = &m.selection;
    json!({
        "trace": m.trace_path.display().to_string(),
        "trace_format": m.trace.format,
        "tracer": m.trace.tracer,
        "trace_sha256": m.trace.source_sha256,
        "vmlinux": m.vmlinux.display().to_string(),
        "build_id": m.build_id,
        "events": s.events_total,
        "events_kept": s.events_kept,
        "excluded": {
            "idle": s.excluded_idle,
            "task": s.excluded_task,
            "window": s.excluded_window,
            "irq": s.excluded_irq,
            "other_events": s.other_events,
        },
        "irq_unknown": s.irq_unknown,
        "pids": m.selected_pids,
        "unparsed_lines": m.text.bad_lines,
        "lost_events": m.trace.lost_events,
        "entries_lost": m.trace.entries_lost(),
        "functions": m.functions,
        "resolved": m.resolved,
        "unresolved": m.unresolved,
        "unresolved_functions": m.unresolved_names,
        "ambiguous": m.ambiguous,
        "ambiguous_policy": format!("{:?}", m.ambiguous_policy).to_lowercase(),
        "without_lines": m.without_lines,
        "lines": m.lines,
        "functions_counted": m.rows.iter().filter(|r| r.counted).count(),
        "code_lines": m.code_lines,
        "bug_density": m.bug_density,
        "hap": m.hap,
        "hap_weighted": m.hap_weighted,
        "inline": m.inline.as_ref().map(|i| json!({
            "functions": i.functions,
            "lines": i.lines,
            "lines_inclusive": m.lines + i.lines,
            "hap_inclusive": (m.lines + i.lines) as f64 * m.bug_density / 1000.0,
        })),
        "density_source": m.density.as_ref().map(|d| d.source.clone()),
        "baseline": {
            "traces": m.baseline.traces,
            "functions": m.baseline.functions,
            "lines": m.baseline.lines,
            "subtracted": m.baseline.subtracted,
        },
        "addresses": {
            "kaslr_slide": format!("{:#x}", m.addresses.slide),
            "sampled": m.addresses.sampled,
            "agree": m.addresses.agree,
        },
        "syscalls": shares(&m.syscalls, m.bug_density, "syscall"),
        "subsystems": shares(&m.subsystems, m.bug_density, "name"),
        "areas": shares(&m.areas, m.bug_density, "name"),
        "nloc": m.nloc,
        "steady_state": {
            "reached": m.steady.reached,
            "at_seconds": m.steady.at_seconds,
            "at_event": m.steady.at_event,
            "at_functions": m.steady.at_functions,
            "at_lines": m.steady.at_lines,
            "hap_at": m.steady.at_lines.map(|l| l as f64 * m.bug_density / 1000.0),
            "new_in_last_window": m.steady.new_in_last_window,
            "allowed_in_window": m.steady.allowed,
            "tolerance": m.steady.options.tolerance,
            "window_seconds": m.steady.options.window_seconds,
            "window_fraction": m.steady.options.window_fraction,
        },
        "first_kept_ns": m.selection.first_kept_ns,
        "last_kept_ns": m.selection.last_kept_ns,
        "span_seconds": (m.selection.last_kept_ns - m.selection.first_kept_ns) as f64 / 1e9,
    })
}

fn set(s: &FunctionSet) -> Value {
    json!({ "functions": s.functions, "lines": s.lines, "hap": s.hap })
}

/// The JSON object for several runs of one workload.
pub fn runs(runs: &[Measurement], combined: &Runs) -> Value {
    json!({
        "runs": runs.iter().map(measurement).collect::<Vec<_>>(),
        "union": set(&combined.union),
        "intersection": set(&combined.intersection),
        "hap_mean": combined.hap_mean,
        "hap_stddev": combined.hap_stddev,
        "hap_cv": combined.hap_cv,
    })
}

/// Shares as `[{KEY: name, functions, lines, hap}]`, most lines first.
fn shares(list: &[Share], density: f64, key: &str) -> Value {
    list.iter()
        .map(|s| {
            let mut o = json!({
                "functions": s.functions,
                "lines": s.lines,
                "hap": s.lines as f64 * density / 1000.0,
                "hap_weighted": s.hap_weighted,
            });
            o[key] = json!(s.key);
            o
        })
        .collect()
}

/// The `n` subsystems with the highest smoothed CVE rate, among those with at
/// least 20,000 lines (smaller ones rank by their prior, not their own record).
pub fn density_subsystems(table: &analyze::density::DensityTable, n: usize) -> Vec<Value> {
    let mut subs: Vec<_> = table
        .rows
        .iter()
        .filter(|r| r.level == analyze::density::Level::Subsystem && r.lines >= 20_000)
        .collect();
    subs.sort_by(|a, b| {
        b.smoothed
            .total_cmp(&a.smoothed)
            .then_with(|| a.key.cmp(&b.key))
    });
    subs.into_iter()
        .take(n)
        .map(|r| json!({"subsystem": r.key, "lines": r.lines, "cves": r.cves, "rate": r.rate, "smoothed": r.smoothed}))
        .collect()
}
