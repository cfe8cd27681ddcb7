//! The human-readable summary printed by `hap analyze`.

use std::io::{self, Write};

use analyze::runs::Runs;
use analyze::Measurement;

/// How many unresolved names to list before eliding.
const SHOW_UNRESOLVED: usize = 20;

/// Print the summary of one analysis.
pub fn measurement(m: &Measurement, w: &mut impl Write) -> io::Result<()> {
    let s = &m.selection;
    writeln!(
        w,
        "trace     {} ({})",
        m.trace_path.display(),
        m.trace.format
    )?;
    writeln!(
        w,
        "vmlinux   {} (build-id {})",
        m.vmlinux.display(),
        m.build_id.as_deref().unwrap_or("none")
    )?;
    writeln!(
        w,
        "events    {} read, {} kept; excluded: {} idle, {} other tasks, {} outside the window, \
         {} interrupt context, {} non-call",
        s.events_total,
        s.events_kept,
        s.excluded_idle,
        s.excluded_task,
        s.excluded_window,
        s.excluded_irq,
        s.other_events
    )?;
    let pids: Vec<String> = m
        .selected_pids
        .iter()
        .take(20)
        .map(i32::to_string)
        .collect();
    let more = m.selected_pids.len().saturating_sub(20);
    writeln!(
        w,
        "tasks     {} selected: {}{}",
        m.selected_pids.len(),
        pids.join(" "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    )?;
    if s.irq_unknown > 0 {
        writeln!(w, "warning   {} kept events have no irq-context flags; interrupt work could not be excluded", s.irq_unknown)?;
    }
    if m.text.bad_lines > 0 {
        writeln!(
            w,
            "warning   {} lines could not be parsed, first at:",
            m.text.bad_lines
        )?;
        for (n, l) in &m.text.first_bad {
            writeln!(w, "            line {n}: {l}")?;
        }
    }
    if let Some(lost) = m.trace.entries_lost().filter(|&l| l > 0) {
        writeln!(
            w,
            "warning   the ring buffer dropped {lost} entries: the trace is incomplete"
        )?;
    }
    writeln!(
        w,
        "functions {} unique: {} resolved ({} ambiguous, counted by policy {:?}; {} without line info), {} unresolved",
        m.functions, m.resolved, m.ambiguous, m.ambiguous_policy, m.without_lines, m.unresolved
    )?;
    writeln!(w, "lines     {} (code lines {})", m.lines, m.code_lines)?;
    writeln!(
        w,
        "HAP       {:.3} (bug density {} per 1000 lines)",
        m.hap, m.bug_density
    )?;
    if let Some(i) = &m.inline {
        writeln!(
            w,
            "inlined   {} more functions inlined into the traced ones, {} lines: inclusive lines {}, HAP {:.3}",
            i.functions,
            i.lines,
            m.lines + i.lines,
            (m.lines + i.lines) as f64 * m.bug_density / 1000.0
        )?;
    }
    if let (Some(hw), Some(d)) = (m.hap_weighted, &m.density) {
        writeln!(
            w,
            "HAP (weighted) {hw:.3}: lines x CVEs per 1,000 lines of each function's code, from {}",
            d.source
        )?;
    }
    steady(m, w)?;
    if m.addresses.sampled > 0 {
        writeln!(
            w,
            "addresses {} of {} sampled traced addresses fit the vmlinux at KASLR slide {:#x}",
            m.addresses.agree, m.addresses.sampled, m.addresses.slide
        )?;
    }
    if m.functions >= 20 && m.unresolved * 2 > m.functions {
        writeln!(w, "warning   most traced functions are not in this vmlinux: was the trace recorded on another kernel?")?;
    }
    let top: Vec<String> = m
        .syscalls
        .iter()
        .take(8)
        .map(|s| format!("{} {}", s.key.as_deref().unwrap_or("(no syscall)"), s.lines))
        .collect();
    if !top.is_empty() {
        writeln!(w, "syscalls  lines first reached under: {}", top.join(", "))?;
    }
    if m.subsystems.iter().any(|s| s.key.is_some()) {
        writeln!(
            w,
            "nloc      {} (non-blank, non-comment lines of the counted functions)",
            m.nloc
        )?;
        writeln!(w, "subsystems:  lines      HAP  weighted")?;
        for s in m.subsystems.iter().take(10) {
            writeln!(
                w,
                "  {:>7} {:>8.3} {:>9}  {} ({} functions)",
                s.lines,
                s.lines as f64 * m.bug_density / 1000.0,
                s.hap_weighted
                    .map(|h| format!("{h:.3}"))
                    .unwrap_or_default(),
                s.key.as_deref().unwrap_or("(no MAINTAINERS section)"),
                s.functions
            )?;
        }
    }
    let b = &m.baseline;
    if b.traces > 0 {
        writeln!(
            w,
            "baseline  {} functions ({} lines) also called by {} baseline run(s){}",
            b.functions,
            b.lines,
            b.traces,
            if b.subtracted {
                "; left out of lines and HAP"
            } else {
                "; included (--subtract-baseline leaves them out)"
            }
        )?;
    }
    if !m.unresolved_names.is_empty() {
        let shown: Vec<&str> = m
            .unresolved_names
            .iter()
            .take(SHOW_UNRESOLVED)
            .map(String::as_str)
            .collect();
        let more = m.unresolved_names.len().saturating_sub(SHOW_UNRESOLVED);
        write!(w, "unresolved {}", shown.join(", "))?;
        if more > 0 {
            write!(w, ", and {more} more")?;
        }
        writeln!(w)?;
    }
    Ok(())
}

/// The steady-state verdict line.
fn steady(m: &Measurement, w: &mut impl Write) -> io::Result<()> {
    let st = &m.steady;
    let o = &st.options;
    let span = (m.selection.last_kept_ns - m.selection.first_kept_ns) as f64 / 1e9;
    let window = format!(
        "{} new functions in the last {} s / {:.0} % of kept events, {} tolerated",
        st.new_in_last_window,
        o.window_seconds,
        o.window_fraction * 100.0,
        st.allowed
    );
    match (st.reached, st.at_seconds, st.at_event, st.at_functions) {
        (true, Some(t), Some(e), Some(f)) => writeln!(
            w,
            "steady    reached at {t:.3} s of {span:.3} s (kept event {e}, {f} of {} functions, HAP {:.3}); {window}",
            m.functions,
            st.at_lines.unwrap_or(0) as f64 * m.bug_density / 1000.0
        ),
        _ => writeln!(
            w,
            "warning   steady state NOT reached: {window} (run spans {span:.3} s); \
             a longer run may reach more kernel code"
        ),
    }
}

/// Print a table of several runs and their union, intersection and spread.
pub fn runs(runs: &[Measurement], c: &Runs, w: &mut impl Write) -> io::Result<()> {
    writeln!(
        w,
        "{:>4} {:>10} {:>10} {:>10} {:>8}  trace",
        "run", "functions", "lines", "HAP", "steady"
    )?;
    for (i, m) in runs.iter().enumerate() {
        writeln!(
            w,
            "{:>4} {:>10} {:>10} {:>10.3} {:>8}  {}",
            i + 1,
            m.functions,
            m.lines,
            m.hap,
            if m.steady.reached { "yes" } else { "no" },
            m.trace_path.display()
        )?;
    }
    writeln!(
        w,
        "union        {} functions, {} lines, HAP {:.3}",
        c.union.functions, c.union.lines, c.union.hap
    )?;
    writeln!(
        w,
        "intersection {} functions, {} lines, HAP {:.3}",
        c.intersection.functions, c.intersection.lines, c.intersection.hap
    )?;
    writeln!(
        w,
        "HAP          mean {:.3}, stddev {:.3}, coefficient of variation {:.2} %",
        c.hap_mean,
        c.hap_stddev,
        c.hap_cv * 100.0
    )
}
