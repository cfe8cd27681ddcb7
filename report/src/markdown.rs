//! The Markdown form of the HTML report: the same tables, with the
//! steady-state curve as a text sparkline instead of charts.
//!
//! Text from the results is escaped for Markdown (`|`, `*`, `_`, backticks,
//! brackets, `<` and `>`), so function and subsystem names cannot break a
//! table or turn into markup.

use std::fmt::Write as _;

use crate::diff::{diff, smallest_run};
use crate::html::{ADDED_NAMES, TOP_FUNCTIONS, TOP_SUBSYSTEMS};
use crate::results::{CurvePoint, RunResult};

/// Escape text for a Markdown table cell or paragraph.
pub fn escape_md(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | '|' | '*' | '_' | '`' | '[' | ']' | '#' => {
                out.push('\\');
                out.push(c);
            }
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

const BLOCKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// Unique functions over time as `width` block characters: each character
/// is the count at the end of an equal slice of the run's seconds, scaled
/// from 0 to the final count.
pub fn sparkline(curve: &[CurvePoint], span_seconds: f64, width: usize) -> String {
    let Some(last) = curve.last() else {
        return String::new();
    };
    let span = span_seconds.max(last.seconds);
    let max = last.functions.max(1) as f64;
    let mut out = String::new();
    let mut i = 0;
    for k in 1..=width {
        let t = span * k as f64 / width as f64;
        while i + 1 < curve.len() && curve[i + 1].seconds <= t {
            i += 1;
        }
        let v = if curve[i].seconds <= t {
            curve[i].functions as f64
        } else {
            0.0
        };
        let level = ((v / max) * 7.0).round() as usize;
        out.push(BLOCKS[level.min(7)]);
    }
    out
}

/// `52344` as `52,344`.
pub fn fmt_count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `v` with `digits` decimals, `–` when absent.
pub fn fmt_opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("–".to_string(), |v| format!("{v:.digits$}"))
}

fn count(r: &RunResult, key: &str) -> String {
    r.num(key).map_or("–".to_string(), |v| fmt_count(v as u64))
}

/// The headline numbers of a run as (name, plain text) pairs, in the order
/// both reports show them; `weighted HAP` only when the run has one.
pub fn summary_rows(r: &RunResult) -> Vec<(&'static str, String)> {
    let text = |k: &str| {
        r.json
            .get(k)
            .and_then(|v| v.as_str())
            .unwrap_or("–")
            .to_string()
    };
    let (resolved, unresolved) = (count(r, "resolved"), count(r, "unresolved"));
    let functions = match r.num("functions_counted") {
        Some(c) => format!(
            "{} ({} counted)",
            fmt_count(r.function_count()),
            fmt_count(c as u64)
        ),
        None => fmt_count(r.function_count()),
    };
    let mut rows = vec![
        ("unique functions", functions),
        (
            "resolved / unresolved / ambiguous",
            format!("{resolved} / {unresolved} / {}", count(r, "ambiguous")),
        ),
        ("lines", fmt_count(r.lines())),
        ("code lines", count(r, "code_lines")),
        ("nloc", count(r, "nloc")),
        (
            "bug density (per 1000 lines)",
            fmt_opt(r.num("bug_density"), 3),
        ),
        ("HAP", fmt_opt(r.hap(), 3)),
    ];
    if let Some(w) = r.hap_weighted() {
        rows.push(("weighted HAP", format!("{w:.3}")));
    }
    rows.push((
        "events (kept)",
        format!("{} ({})", count(r, "events"), count(r, "events_kept")),
    ));
    rows.push(("steady state", r.steady_state_verdict()));
    rows.push(("trace", text("trace")));
    rows.push((
        "vmlinux",
        format!("{} (build-id {})", text("vmlinux"), text("build_id")),
    ));
    rows
}

fn headline(md: &mut String, r: &RunResult) {
    let _ = writeln!(md, "| | |\n|---|---|");
    for (k, v) in summary_rows(r) {
        let v = escape_md(&v);
        let v = if k == "HAP" || k == "unique functions" {
            format!("**{v}**")
        } else {
            v
        };
        let _ = writeln!(md, "| {k} | {v} |");
    }
    md.push('\n');
    let spark = sparkline(&r.curve, r.num("span_seconds").unwrap_or(0.0), 48);
    if !spark.is_empty() {
        let _ = writeln!(md, "Unique functions over time: `{spark}`\n");
    }
}

fn name_list<'a>(md: &mut String, title: &str, names: impl ExactSizeIterator<Item = &'a str>) {
    let _ = write!(md, "**{title} ({}):** ", names.len());
    if names.len() == 0 {
        md.push_str("none.\n\n");
        return;
    }
    let v: Vec<String> = names.map(escape_md).collect();
    let _ = writeln!(md, "{}\n", v.join(", "));
}

fn run_details(md: &mut String, r: &RunResult, level: &str) {
    headline(md, r);
    let mut groups = r.groups("subsystems");
    groups.sort_by(|a, b| b.hap.total_cmp(&a.hap).then_with(|| a.name.cmp(&b.name)));
    if !groups.is_empty() {
        let _ = writeln!(md, "{level} HAP by subsystem (top {TOP_SUBSYSTEMS})\n");
        let _ = writeln!(
            md,
            "| subsystem | functions | lines | HAP |\n|---|--:|--:|--:|"
        );
        for g in groups.iter().take(TOP_SUBSYSTEMS) {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {:.3} |",
                escape_md(&g.name),
                g.functions,
                fmt_count(g.lines),
                g.hap
            );
        }
        md.push('\n');
    }
    let _ = writeln!(md, "{level} Largest {TOP_FUNCTIONS} functions by lines\n");
    let _ = writeln!(
        md,
        "| function | lines | source | subsystem |\n|---|--:|---|---|"
    );
    for f in r.largest_functions(TOP_FUNCTIONS) {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} |",
            escape_md(&f.display_name()),
            f.line_count(),
            escape_md(&f.source()),
            escape_md(f.subsystem.as_deref().unwrap_or(""))
        );
    }
    md.push('\n');
    let unresolved = r.unresolved_functions();
    name_list(
        md,
        "Unresolved functions",
        unresolved.iter().map(String::as_str),
    );
    let ambiguous: Vec<String> = r
        .ambiguous_functions()
        .iter()
        .map(|f| {
            format!(
                "{} ({} candidates)",
                f.display_name(),
                f.candidates.unwrap_or(0)
            )
        })
        .collect();
    name_list(
        md,
        "Ambiguous functions",
        ambiguous.iter().map(String::as_str),
    );
}

fn comparison(md: &mut String, runs: &[RunResult]) {
    let _ = writeln!(md, "## Comparison\n");
    let _ = writeln!(
        md,
        "| run | unique functions | lines | nloc | HAP | weighted HAP | steady state | curve |\n|---|--:|--:|--:|--:|--:|---|---|"
    );
    for r in runs {
        let spark = sparkline(&r.curve, r.num("span_seconds").unwrap_or(0.0), 24);
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | `{spark}` |",
            escape_md(&r.label),
            fmt_count(r.function_count()),
            fmt_count(r.lines()),
            count(r, "nloc"),
            fmt_opt(r.hap(), 3),
            fmt_opt(r.hap_weighted(), 3),
            escape_md(&r.steady_state_verdict())
        );
    }
    let base = &runs[smallest_run(runs)];
    let _ = writeln!(
        md,
        "\n### What each run adds over the smallest run ({})\n",
        escape_md(&base.label)
    );
    let _ = writeln!(
        md,
        "| run | + functions | + lines | − functions | − lines | largest added (first {ADDED_NAMES} by lines) |\n|---|--:|--:|--:|--:|---|"
    );
    for r in runs.iter().filter(|r| !std::ptr::eq(*r, base)) {
        let d = diff(base, r);
        let names: Vec<String> = d
            .only_b
            .iter()
            .take(ADDED_NAMES)
            .map(|o| format!("{} ({})", escape_md(&o.function), o.lines))
            .collect();
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} |",
            escape_md(&r.label),
            d.only_b.len(),
            fmt_count(d.only_b_lines),
            d.only_a.len(),
            fmt_count(d.only_a_lines),
            names.join(", ")
        );
    }
    md.push('\n');
}

/// Render `runs` as Markdown: the tables of the HTML report, curves as sparklines.
pub fn render_markdown(runs: &[RunResult]) -> String {
    let labels: Vec<String> = runs.iter().map(|r| escape_md(&r.label)).collect();
    let mut md = format!(
        "# Horizontal Attack Profile: {}\n\nKernel functions the workload called, their source lines and HAP = lines × bug density / 1000. Generated by `hap report`.\n\n",
        labels.join(" vs ")
    );
    match runs.len() {
        0 => md.push_str("No runs.\n"),
        1 => run_details(&mut md, &runs[0], "##"),
        _ => {
            comparison(&mut md, runs);
            for r in runs {
                let _ = writeln!(md, "## Run {}\n", escape_md(&r.label));
                run_details(&mut md, r, "###");
            }
        }
    }
    md
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::results::FunctionRow;
    use serde_json::json;
    use std::path::PathBuf;

    fn run(label: &str, names: &[(&str, u64)]) -> RunResult {
        let functions: Vec<FunctionRow> = names
            .iter()
            .map(|(n, l)| FunctionRow {
                function: n.to_string(),
                lines: Some(*l),
                counted: true,
                ..FunctionRow::default()
            })
            .collect();
        let lines: u64 = names.iter().map(|x| x.1).sum();
        RunResult {
            label: label.to_string(),
            dir: PathBuf::from(label),
            json: json!({"functions": names.len(), "lines": lines, "hap": 1.25, "span_seconds": 4.0,
                         "subsystems": [{"name": "A|B", "functions": 1, "lines": 3, "hap": 0.5}]}),
            functions,
            curve: vec![
                CurvePoint {
                    seconds: 0.0,
                    functions: 1,
                    lines: 3,
                },
                CurvePoint {
                    seconds: 2.0,
                    functions: names.len() as u64,
                    lines,
                },
            ],
        }
    }

    /// A run of `n` functions whose names and subsystem need escaping, one
    /// ambiguous and one unresolved function, and a reached steady state.
    pub(crate) fn sample_run(label: &str, n: u64) -> RunResult {
        let functions: Vec<FunctionRow> = (0..n)
            .map(|i| FunctionRow {
                function: format!("fn_{i}<&>"),
                lines: Some(10 + i),
                candidates: Some(if i == 0 { 2 } else { 1 }),
                subsystem: Some("MM & <friends>".to_string()),
                counted: true,
                ..FunctionRow::default()
            })
            .collect();
        let curve = (0..n)
            .map(|i| CurvePoint {
                seconds: i as f64 * 0.5,
                functions: i + 1,
                lines: 10 * (i + 1),
            })
            .collect();
        RunResult {
            label: label.to_string(),
            dir: PathBuf::from(label),
            json: json!({
                "functions": n, "lines": 100 * n, "hap": n as f64 * 0.06, "bug_density": 0.61,
                "resolved": n, "unresolved": 1, "ambiguous": 1, "unresolved_functions": ["<script>alert(1)</script>"],
                "trace": "/t/trace.dat", "span_seconds": 3.0,
                "steady_state": {"reached": true, "at_seconds": 1.0, "at_functions": 3},
                "subsystems": [{"name": "MM & <friends>", "functions": n, "lines": 100 * n, "hap": 1.5},
                               {"name": "NET", "functions": 1, "lines": 5, "hap": 0.2}],
            }),
            functions,
            curve,
        }
    }

    #[test]
    fn escapes_result_text() {
        let md = render_markdown(&[sample_run("a|b", 3)]);
        assert!(md.contains("# Horizontal Attack Profile: a\\|b"), "{md}");
        assert!(md.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(md.contains("fn\\_2&lt;&&gt;"));
        assert!(md.contains("**Ambiguous functions (1):** fn\\_0&lt;&&gt; (2 candidates)"));
    }

    #[test]
    fn escaping() {
        assert_eq!(escape_md("a|b_c*d<e>"), "a\\|b\\_c\\*d&lt;e&gt;");
        assert_eq!(escape_md("x\ny"), "x y");
        assert_eq!(fmt_count(0), "0");
        assert_eq!(fmt_count(999), "999");
        assert_eq!(fmt_count(52344), "52,344");
        assert_eq!(fmt_count(1234567), "1,234,567");
        assert_eq!(fmt_opt(None, 3), "–");
    }

    #[test]
    fn sparkline_shape() {
        let c = [
            CurvePoint {
                seconds: 0.0,
                functions: 1,
                lines: 0,
            },
            CurvePoint {
                seconds: 1.0,
                functions: 8,
                lines: 0,
            },
        ];
        let s = sparkline(&c, 2.0, 4);
        assert_eq!(s.chars().count(), 4);
        assert_eq!(s, "▂███");
        assert_eq!(sparkline(&[], 1.0, 4), "");
    }

    #[test]
    fn single_and_several() {
        let a = run("small", &[("f_one", 3), ("g", 5)]);
        let b = run("big", &[("f_one", 3), ("g", 5), ("h|x", 7)]);
        let one = render_markdown(std::slice::from_ref(&a));
        assert!(one.contains("| unique functions | **2** |"));
        assert!(one.contains("| A\\|B | 1 | 3 | 0.500 |"));
        assert!(one.contains("f\\_one"));
        let both = render_markdown(&[b, a]);
        assert!(both.contains("adds over the smallest run (small)"));
        assert!(
            both.contains("| big | 1 | 7 | 0 | 0 | h\\|x (7) |"),
            "{both}"
        );
        assert!(both.contains("## Run small"));
    }
}
