//! One self-contained HTML page for one or several runs.
//!
//! The page needs no network: CSS is inline and every chart is an inline
//! SVG drawn by `plotters`' SVG backend (text as SVG `<text>`, no fonts
//! loaded). All text taken from the results is HTML-escaped; `plotters`
//! escapes the text it puts into the SVG.
//!
//! Charts ([`chart_count`] says how many):
//! * one run: the steady-state curve (unique functions over seconds) and the
//!   HAP of the top 15 subsystems;
//! * several runs: the grouped bar chart of the original HAP study (unique
//!   functions, lines, HAP and weighted HAP per run, as % of the largest),
//!   the curves of all runs overlaid, and each run's subsystem chart.

use std::fmt::Write as _;

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::diff::{diff, smallest_run};
use crate::markdown::{fmt_count, fmt_opt, summary_rows};
use crate::results::RunResult;

/// Series colours (Tableau 10, tells apart with common colour blindness).
const COLORS: [u32; 10] = [
    0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd, 0x8c564b, 0xe377c2, 0x7f7f7f, 0xbcbd22,
    0x17becf,
];

/// The colour of series `i`.
fn color(i: usize) -> RGBColor {
    let c = COLORS[i % COLORS.len()];
    RGBColor((c >> 16) as u8, (c >> 8) as u8, c as u8)
}

/// Subsystems in the per-run bar chart.
pub const TOP_SUBSYSTEMS: usize = 15;
/// Functions in the per-run "largest functions" table.
pub const TOP_FUNCTIONS: usize = 20;
/// Names listed per run in "added over the smallest run".
pub const ADDED_NAMES: usize = 30;

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:1100px;padding:0 1em;color:#222}\
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}\
table{border-collapse:collapse;margin:.8em 0;font-size:.9em}th,td{border:1px solid #ddd;padding:.25em .6em;text-align:left;vertical-align:top}\
th{background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums}\
figure{margin:1em 0}svg{max-width:100%;height:auto}code{font-size:.9em}\
.verdict-ok{color:#1a7f37}.verdict-no{color:#b35900}.names{columns:3;font-family:monospace;font-size:.85em}\
details{margin:1em 0}summary{cursor:pointer;font-weight:600}.err{color:#b00}";

/// Escape text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// How many `<svg>` charts [`render_html`] draws for `runs` runs, when each
/// run has subsystems and a curve.
pub fn chart_count(runs: usize) -> usize {
    if runs < 2 {
        2 * runs
    } else {
        2 + runs
    }
}

type ChartResult = Result<String, Box<dyn std::error::Error>>;

fn figure(html: &mut String, chart: ChartResult, caption: &str) {
    let _ = match chart {
        Ok(svg) => write!(
            html,
            "<figure>{svg}<figcaption>{}</figcaption></figure>",
            escape(caption)
        ),
        Err(e) => write!(
            html,
            "<p class=\"err\">chart failed: {}</p>",
            escape(&e.to_string())
        ),
    };
}

/// A sans-serif text style of `size` anchored at `h`, `v`.
fn text_style(size: u32, h: HPos, v: VPos) -> TextStyle<'static> {
    TextStyle::from(("sans-serif", size).into_font()).pos(Pos::new(h, v))
}

/// Shorten `s` to `max` characters with an ellipsis.
fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(max - 1).collect::<String>())
    }
}

/// Unique functions over seconds for each run; a dot marks a reached steady state.
fn curve_chart(runs: &[&RunResult]) -> ChartResult {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (960, 400)).into_drawing_area();
        root.fill(&WHITE)?;
        let end = |r: &RunResult| {
            let last = r.curve.last().map_or(0.0, |p| p.seconds);
            r.num("span_seconds").unwrap_or(last).max(last)
        };
        let max_x = runs.iter().map(|r| end(r)).fold(0.0, f64::max).max(1e-3);
        let max_y = runs
            .iter()
            .flat_map(|r| r.curve.iter().map(|p| p.functions))
            .max()
            .unwrap_or(1)
            .max(1) as f64;
        let mut chart = ChartBuilder::on(&root)
            .margin(14)
            .caption("Unique kernel functions over time", ("sans-serif", 20))
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(0f64..max_x * 1.02, 0f64..max_y * 1.08)?;
        chart
            .configure_mesh()
            .x_desc("seconds since the first kept event")
            .y_desc("unique functions")
            .y_label_formatter(&|y| format!("{y:.0}"))
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 15))
            .light_line_style(RGBColor(238, 238, 238))
            .draw()?;
        let steady_style = text_style(13, HPos::Right, VPos::Bottom);
        for (i, r) in runs.iter().enumerate() {
            let color = color(i);
            let mut points: Vec<(f64, f64)> = Vec::with_capacity(r.curve.len() * 2 + 1);
            for p in &r.curve {
                if let Some(&(_, y)) = points.last() {
                    points.push((p.seconds, y)); // step: flat until the next new function
                }
                points.push((p.seconds, p.functions as f64));
            }
            if let Some(&(_, y)) = points.last() {
                points.push((end(r), y));
            }
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))?
                .label(r.label.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
            let s = &r.json["steady_state"];
            if s["reached"].as_bool() == Some(true) {
                if let (Some(x), Some(y)) = (s["at_seconds"].as_f64(), s["at_functions"].as_f64()) {
                    chart.draw_series(std::iter::once(Circle::new((x, y), 6, color.filled())))?;
                    chart.draw_series(std::iter::once(Text::new(
                        format!("steady ({})", r.label),
                        (x, y + max_y * 0.02),
                        steady_style.clone(),
                    )))?;
                }
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.9))
            .border_style(RGBColor(180, 180, 180))
            .label_font(("sans-serif", 14))
            .draw()?;
        root.present()?;
    }
    Ok(svg)
}

/// Horizontal bars: HAP of the top subsystems of one run.
fn subsystem_chart(run: &RunResult, color: RGBColor) -> ChartResult {
    let mut groups = run.groups("subsystems");
    groups.sort_by(|a, b| b.hap.total_cmp(&a.hap).then_with(|| a.name.cmp(&b.name)));
    groups.truncate(TOP_SUBSYSTEMS);
    let n = groups.len();
    let names: Vec<String> = groups.iter().rev().map(|g| clip(&g.name, 44)).collect();
    let max = groups.iter().map(|g| g.hap).fold(0.0, f64::max).max(1e-9);
    let mut svg = String::new();
    {
        let height = 90 + 26 * n.max(1) as u32;
        let root = SVGBackend::with_string(&mut svg, (960, height)).into_drawing_area();
        root.fill(&WHITE)?;
        let title = format!("HAP by subsystem: {} (top {n})", run.label);
        let mut chart = ChartBuilder::on(&root)
            .margin(14)
            .caption(title, ("sans-serif", 20))
            .x_label_area_size(40)
            .y_label_area_size(330)
            .build_cartesian_2d(0f64..max * 1.15, (0..n as i32).into_segmented())?;
        let label = |v: &SegmentValue<i32>| match v {
            SegmentValue::CenterOf(i) => names.get(*i as usize).cloned().unwrap_or_default(),
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n.max(1))
            .y_label_formatter(&label)
            .x_desc("HAP (lines × bug density / 1000)")
            .label_style(("sans-serif", 13))
            .axis_desc_style(("sans-serif", 15))
            .light_line_style(RGBColor(238, 238, 238))
            .draw()?;
        let bar = |i: usize| (n - 1 - i) as i32;
        chart.draw_series(
            Histogram::horizontal(&chart)
                .style(color.filled())
                .margin(5)
                .data(groups.iter().enumerate().map(|(i, g)| (bar(i), g.hap))),
        )?;
        let style = text_style(12, HPos::Left, VPos::Center);
        chart.draw_series(groups.iter().enumerate().map(|(i, g)| {
            let text = format!("{:.2} ({} lines)", g.hap, g.lines);
            Text::new(
                text,
                (g.hap + max * 0.01, SegmentValue::CenterOf(bar(i))),
                style.clone(),
            )
        }))?;
        root.present()?;
    }
    Ok(svg)
}

/// The metrics of the comparison chart: name and value per run.
fn metrics(runs: &[RunResult]) -> Vec<(&'static str, Vec<Option<f64>>)> {
    let col = |f: &dyn Fn(&RunResult) -> Option<f64>| runs.iter().map(f).collect::<Vec<_>>();
    let mut m = vec![
        (
            "unique functions",
            col(&|r| Some(r.function_count() as f64)),
        ),
        ("lines", col(&|r| Some(r.lines() as f64))),
        ("HAP", col(&RunResult::hap)),
    ];
    if runs.iter().any(|r| r.hap_weighted().is_some()) {
        m.push(("weighted HAP", col(&RunResult::hap_weighted)));
    }
    m
}

fn short(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.1}k", v / 1000.0)
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// Grouped bars: each metric as % of the largest run, one bar per run.
fn comparison_chart(runs: &[RunResult]) -> ChartResult {
    let metrics = metrics(runs);
    let k = runs.len().max(1);
    let top = 112.0 + 9.0 * k as f64;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (960, 460)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(14)
            .caption(
                "Attack surface per run (% of the largest run)",
                ("sans-serif", 20),
            )
            .x_label_area_size(10)
            .y_label_area_size(64)
            .build_cartesian_2d(0f64..metrics.len() as f64, -12f64..top)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .y_labels(12)
            .y_label_formatter(&|y| {
                if *y < 0.0 || *y > 100.0 {
                    String::new()
                } else {
                    format!("{y:.0}%")
                }
            })
            .y_desc("% of the largest run")
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 15))
            .light_line_style(RGBColor(238, 238, 238))
            .draw()?;
        let width = 0.8 / k as f64;
        let value_style = text_style(13, HPos::Center, VPos::Bottom);
        for (r, run) in runs.iter().enumerate() {
            let color = color(r);
            let bars: Vec<(f64, f64, f64)> = metrics
                .iter()
                .enumerate()
                .filter_map(|(m, (_, vals))| {
                    let v = vals[r]?;
                    let max = vals.iter().flatten().fold(0.0, |a: f64, b| a.max(*b));
                    let pct = if max > 0.0 { v / max * 100.0 } else { 0.0 };
                    Some((m as f64 + 0.1 + r as f64 * width, pct, v))
                })
                .collect();
            chart
                .draw_series(bars.iter().map(|&(x, pct, _)| {
                    Rectangle::new([(x, 0.0), (x + width * 0.92, pct)], color.filled())
                }))?
                .label(run.label.as_str())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled())
                });
            chart.draw_series(bars.iter().map(|&(x, pct, v)| {
                Text::new(short(v), (x + width * 0.46, pct + 1.0), value_style.clone())
            }))?;
        }
        let name_style = text_style(15, HPos::Center, VPos::Center);
        chart.draw_series(
            metrics
                .iter()
                .enumerate()
                .map(|(m, (name, _))| Text::new(*name, (m as f64 + 0.5, -6.0), name_style.clone())),
        )?;
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.9))
            .border_style(RGBColor(180, 180, 180))
            .label_font(("sans-serif", 14))
            .draw()?;
        root.present()?;
    }
    Ok(svg)
}

/// A number-looking cell (`1,783`, `31.774`) is right-aligned.
fn is_number(cell: &str) -> bool {
    cell.starts_with(|c: char| c.is_ascii_digit())
        && cell
            .chars()
            .all(|c| c.is_ascii_digit() || c == ',' || c == '.')
}

/// Append a table; cells are HTML already, the first of each row is a header.
fn table(html: &mut String, head: &[&str], rows: impl IntoIterator<Item = Vec<String>>) {
    html.push_str("<table>");
    if !head.is_empty() {
        let cells: Vec<String> = head
            .iter()
            .map(|h| format!("<th>{}</th>", escape(h)))
            .collect();
        let _ = write!(html, "<tr>{}</tr>", cells.concat());
    }
    for row in rows {
        html.push_str("<tr>");
        for (i, c) in row.iter().enumerate() {
            let tag = if i == 0 { "th" } else { "td" };
            let class = if is_number(c) { " class=\"n\"" } else { "" };
            let _ = write!(html, "<{tag}{class}>{c}</{tag}>");
        }
        html.push_str("</tr>");
    }
    html.push_str("</table>");
}

fn headline(html: &mut String, r: &RunResult) {
    let reached = r.json["steady_state"]["reached"].as_bool() == Some(true);
    let rows = summary_rows(r).into_iter().map(|(k, v)| {
        let class = match k {
            "steady state" if reached => " class=\"verdict-ok\"",
            "steady state" => " class=\"verdict-no\"",
            _ => "",
        };
        vec![escape(k), format!("<b{class}>{}</b>", escape(&v))]
    });
    table(html, &[], rows);
}

fn run_details(html: &mut String, r: &RunResult, index: usize, single: bool) {
    headline(html, r);
    if single {
        let caption = "Steady-state curve: the run has reached its attack surface when it is flat.";
        figure(html, curve_chart(&[r]), caption);
    }
    if !r.groups("subsystems").is_empty() {
        let caption = "HAP per MAINTAINERS subsystem (functions first reached there).";
        figure(html, subsystem_chart(r, color(index)), caption);
    }
    let _ = write!(html, "<h3>Largest {TOP_FUNCTIONS} functions by lines</h3>");
    let head = [
        "function",
        "lines",
        "nloc",
        "source",
        "subsystem",
        "first under",
    ];
    let rows = r.largest_functions(TOP_FUNCTIONS).into_iter().map(|f| {
        vec![
            format!("<code>{}</code>", escape(&f.display_name())),
            f.line_count().to_string(),
            f.nloc.map_or(String::new(), |n| n.to_string()),
            format!("<code>{}</code>", escape(&f.source())),
            escape(f.subsystem.as_deref().unwrap_or("")),
            escape(f.syscall.as_deref().unwrap_or("(no syscall)")),
        ]
    });
    table(html, &head, rows);
    let unresolved = r.unresolved_functions();
    let _ = write!(html, "<h3>Unresolved functions ({})</h3>", unresolved.len());
    let none = "none: every traced function has a symbol";
    name_list(html, unresolved.iter().map(String::as_str), none);
    let ambiguous = r.ambiguous_functions();
    let _ = write!(html, "<h3>Ambiguous functions ({})</h3>", ambiguous.len());
    let names: Vec<String> = ambiguous
        .iter()
        .map(|f| {
            format!(
                "{} ({} candidates)",
                f.display_name(),
                f.candidates.unwrap_or(0)
            )
        })
        .collect();
    let none = "none: every name matched one symbol";
    name_list(html, names.iter().map(String::as_str), none);
}

fn name_list<'a>(html: &mut String, names: impl Iterator<Item = &'a str>, empty: &str) {
    let items: Vec<String> = names
        .map(|n| format!("<li><code>{}</code></li>", escape(n)))
        .collect();
    if items.is_empty() {
        let _ = write!(html, "<p>{}</p>", escape(empty));
    } else {
        let _ = write!(html, "<ul class=\"names\">{}</ul>", items.concat());
    }
}

fn comparison(html: &mut String, runs: &[RunResult]) {
    html.push_str("<section id=\"comparison\"><h2>Comparison</h2>");
    let head = [
        "run",
        "unique functions",
        "lines",
        "nloc",
        "HAP",
        "weighted HAP",
        "steady state",
        "trace",
    ];
    let rows = runs.iter().map(|r| {
        vec![
            escape(&r.label),
            fmt_count(r.function_count()),
            fmt_count(r.lines()),
            r.num("nloc")
                .map_or("–".to_string(), |v| fmt_count(v as u64)),
            fmt_opt(r.hap(), 3),
            fmt_opt(r.hap_weighted(), 3),
            escape(&r.steady_state_verdict()),
            format!(
                "<code>{}</code>",
                escape(r.json["trace"].as_str().unwrap_or("–"))
            ),
        ]
    });
    table(html, &head, rows);
    let caption =
        "Unique functions, lines and HAP of each run as % of the largest run (values on the bars).";
    figure(html, comparison_chart(runs), caption);
    let refs: Vec<&RunResult> = runs.iter().collect();
    figure(html, curve_chart(&refs), "Steady-state curves of all runs.");
    let base = &runs[smallest_run(runs)];
    let _ = write!(
        html,
        "<h3>What each run adds over the smallest run ({})</h3>",
        escape(&base.label)
    );
    let largest = format!("largest added (first {ADDED_NAMES} by lines)");
    let head = [
        "run",
        "+ functions",
        "+ lines",
        "− functions",
        "− lines",
        largest.as_str(),
    ];
    let rows = runs.iter().filter(|r| !std::ptr::eq(*r, base)).map(|r| {
        let d = diff(base, r);
        let names: Vec<String> = d
            .only_b
            .iter()
            .take(ADDED_NAMES)
            .map(|o| format!("<code>{}</code> {}", escape(&o.function), o.lines))
            .collect();
        vec![
            escape(&r.label),
            d.only_b.len().to_string(),
            fmt_count(d.only_b_lines),
            d.only_a.len().to_string(),
            fmt_count(d.only_a_lines),
            names.join(", "),
        ]
    });
    table(html, &head, rows);
    html.push_str("</section>");
}

/// Render `runs` as one self-contained HTML page (see the module docs).
pub fn render_html(runs: &[RunResult]) -> String {
    let labels: Vec<&str> = runs.iter().map(|r| r.label.as_str()).collect();
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>HAP report: {}</title><style>{STYLE}</style></head><body><h1>Horizontal Attack Profile: {}</h1><p>Kernel functions the workload called, their source lines and HAP = lines × bug density / 1000. Generated by <code>hap report</code>.</p>",
        escape(&labels.join(", ")),
        escape(&labels.join(" vs "))
    );
    match runs.len() {
        0 => html.push_str("<p>No runs.</p>"),
        1 => run_details(&mut html, &runs[0], 0, true),
        _ => {
            comparison(&mut html, runs);
            for (i, r) in runs.iter().enumerate() {
                let _ = write!(
                    html,
                    "<section id=\"run-{i}\"><details><summary>Run {}</summary>",
                    escape(&r.label)
                );
                run_details(&mut html, r, i, false);
                html.push_str("</details></section>");
            }
        }
    }
    html.push_str("</body></html>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::markdown::tests::sample_run as run;
    use serde_json::json;

    fn self_contained(html: &str) {
        let stripped = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
        assert!(
            !stripped.contains("http://") && !stripped.contains("https://"),
            "external reference"
        );
        assert!(!html.contains("<script"), "no scripts");
        assert!(!html.contains("<link"), "no linked resources");
    }

    #[test]
    fn single_run_is_self_contained_and_escaped() {
        let html = render_html(&[run("a<b>", 5)]);
        self_contained(&html);
        assert_eq!(html.matches("<svg").count(), chart_count(1));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("HAP report: a&lt;b&gt;"));
        assert!(html.contains("fn_4&lt;&amp;&gt;"));
        assert!(!html.contains("fn_4<&>"));
        // plotters escapes the subsystem names it draws.
        assert!(html.contains("MM &amp; &lt;friends&gt;"));
        assert!(html.contains("reached at 1.000 s"));
    }

    #[test]
    fn several_runs() {
        let mut b = run("b", 7);
        b.json["hap_weighted"] = json!(12.5);
        let html = render_html(&[run("a", 5), b, run("c", 6)]);
        self_contained(&html);
        assert_eq!(html.matches("<svg").count(), chart_count(3));
        assert!(html.contains("weighted HAP"));
        assert!(html.contains("What each run adds over the smallest run (a)"));
        assert!(html.contains("<code>fn_6&lt;&amp;&gt;</code> 16"));
    }

    #[test]
    fn escape_and_counts() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(clip("abcdef", 4), "abc…");
    }
}
