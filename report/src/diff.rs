//! Comparing two runs: which functions each one reaches that the other does
//! not, how the lines of the functions both reach changed, and how the HAP
//! moved overall and per subsystem.
//!
//! Functions are matched by name and module (vmlinux functions have no
//! module, so across kernel versions the same name matches). Every unique
//! function of a run takes part; its lines are taken as counted
//! ([`FunctionRow::counted_lines`]: 0 for a second copy of one source
//! function or a subtracted baseline function), so the line totals are the
//! runs' `lines` and the arithmetic is exact:
//!
//! ```text
//! only_a + common = functions_a        only_b + common = functions_b
//! lines_b - lines_a = new_paths + code_growth
//!   new_paths   = lines(only in B) - lines(only in A)
//!   code_growth = Σ over common functions (lines_b - lines_a)
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};

use serde_json::{json, Value};

use crate::results::{FunctionRow, RunResult};

/// A function reached by one run only.
#[derive(Clone, Debug, PartialEq)]
pub struct OnlyIn {
    /// Function name.
    pub function: String,
    /// Module, `None` for vmlinux.
    pub module: Option<String>,
    /// Its counted lines in the run that has it.
    pub lines: u64,
    /// Its subsystem.
    pub subsystem: Option<String>,
}

/// A function both runs reach, with different line counts.
#[derive(Clone, Debug, PartialEq)]
pub struct Changed {
    /// Function name.
    pub function: String,
    /// Module, `None` for vmlinux.
    pub module: Option<String>,
    /// Counted lines in A.
    pub lines_a: u64,
    /// Counted lines in B.
    pub lines_b: u64,
}

/// One subsystem's figures in both runs (0 where a run lacks it).
#[derive(Clone, Debug, PartialEq)]
pub struct SubsystemChange {
    /// Subsystem name.
    pub name: String,
    /// HAP in A.
    pub hap_a: f64,
    /// HAP in B.
    pub hap_b: f64,
    /// Lines in A.
    pub lines_a: u64,
    /// Lines in B.
    pub lines_b: u64,
}

/// The comparison of run A with run B.
#[derive(Clone, Debug)]
pub struct Diff {
    /// A's label.
    pub label_a: String,
    /// B's label.
    pub label_b: String,
    /// Unique functions of A (every row).
    pub functions_a: usize,
    /// Unique functions of B.
    pub functions_b: usize,
    /// Lines of A (counted lines of every row: A's `lines`).
    pub lines_a: u64,
    /// Lines of B.
    pub lines_b: u64,
    /// A's HAP from `result.json`.
    pub hap_a: Option<f64>,
    /// B's HAP.
    pub hap_b: Option<f64>,
    /// Functions only A reaches, most lines first.
    pub only_a: Vec<OnlyIn>,
    /// Functions only B reaches, most lines first.
    pub only_b: Vec<OnlyIn>,
    /// How many functions both reach.
    pub common: usize,
    /// Common functions whose line count differs, largest change first.
    pub changed: Vec<Changed>,
    /// Lines of the functions only in A.
    pub only_a_lines: u64,
    /// Lines of the functions only in B.
    pub only_b_lines: u64,
    /// `only_b_lines - only_a_lines`: the lines of new (or lost) paths.
    pub new_paths: i64,
    /// Σ over common functions of `lines_b - lines_a`: code growth.
    pub code_growth: i64,
    /// Per-subsystem figures, largest |ΔHAP| first.
    pub subsystems: Vec<SubsystemChange>,
}

impl Diff {
    /// `lines_b - lines_a`, which equals `new_paths + code_growth`.
    pub fn delta_lines(&self) -> i64 {
        self.lines_b as i64 - self.lines_a as i64
    }

    /// `hap_b - hap_a` when both runs have a HAP.
    pub fn delta_hap(&self) -> Option<f64> {
        Some(self.hap_b? - self.hap_a?)
    }
}

type Key = (String, String);

/// Rows by identity; a repeated identity keeps its largest counted lines.
fn index(run: &RunResult) -> BTreeMap<Key, &FunctionRow> {
    let mut m: BTreeMap<Key, &FunctionRow> = BTreeMap::new();
    for r in &run.functions {
        let e = m.entry(r.key()).or_insert(r);
        if r.counted_lines() > e.counted_lines() {
            *e = r;
        }
    }
    m
}

fn only(rows: &BTreeMap<Key, &FunctionRow>, other: &BTreeMap<Key, &FunctionRow>) -> Vec<OnlyIn> {
    let mut v: Vec<OnlyIn> = rows
        .iter()
        .filter(|(k, _)| !other.contains_key(*k))
        .map(|(_, r)| OnlyIn {
            function: r.function.clone(),
            module: r.module.clone(),
            lines: r.counted_lines(),
            subsystem: r.subsystem.clone(),
        })
        .collect();
    v.sort_by(|x, y| {
        y.lines
            .cmp(&x.lines)
            .then_with(|| x.function.cmp(&y.function))
    });
    v
}

/// Subsystem figures from `result.json`, or summed from the rows (HAP from
/// the bug density) when the file has none.
fn subsystem_figures(run: &RunResult) -> BTreeMap<String, (f64, u64)> {
    let groups = run.groups("subsystems");
    if !groups.is_empty() {
        return groups
            .into_iter()
            .map(|g| (g.name, (g.hap, g.lines)))
            .collect();
    }
    let density = run.num("bug_density").unwrap_or(0.0);
    let mut m: BTreeMap<String, (f64, u64)> = BTreeMap::new();
    for r in run.counted() {
        let name = r.subsystem.clone().unwrap_or_else(|| "(none)".to_string());
        m.entry(name).or_default().1 += r.line_count();
    }
    for v in m.values_mut() {
        v.0 = v.1 as f64 * density / 1000.0;
    }
    m
}

/// Index of the run with the fewest unique functions (the first on a tie):
/// the base that multi-run reports show additions over.
pub fn smallest_run(runs: &[RunResult]) -> usize {
    (0..runs.len())
        .min_by_key(|&i| (runs[i].function_count(), i))
        .unwrap_or(0)
}

/// Compare run `a` with run `b`.
pub fn diff(a: &RunResult, b: &RunResult) -> Diff {
    let ia = index(a);
    let ib = index(b);
    let only_a = only(&ia, &ib);
    let only_b = only(&ib, &ia);
    let mut changed = Vec::new();
    let mut code_growth = 0i64;
    let mut common = 0usize;
    for (k, ra) in &ia {
        if let Some(rb) = ib.get(k) {
            common += 1;
            let (la, lb) = (ra.counted_lines(), rb.counted_lines());
            code_growth += lb as i64 - la as i64;
            if la != lb {
                changed.push(Changed {
                    function: ra.function.clone(),
                    module: ra.module.clone(),
                    lines_a: la,
                    lines_b: lb,
                });
            }
        }
    }
    changed.sort_by(|x, y| {
        let d = |c: &Changed| (c.lines_b as i64 - c.lines_a as i64).abs();
        d(y).cmp(&d(x)).then_with(|| x.function.cmp(&y.function))
    });
    let only_a_lines: u64 = only_a.iter().map(|o| o.lines).sum();
    let only_b_lines: u64 = only_b.iter().map(|o| o.lines).sum();

    let sa = subsystem_figures(a);
    let sb = subsystem_figures(b);
    let names: BTreeSet<&String> = sa.keys().chain(sb.keys()).collect();
    let mut subsystems: Vec<SubsystemChange> = names
        .into_iter()
        .map(|n| {
            let (hap_a, lines_a) = sa.get(n).copied().unwrap_or_default();
            let (hap_b, lines_b) = sb.get(n).copied().unwrap_or_default();
            SubsystemChange {
                name: n.clone(),
                hap_a,
                hap_b,
                lines_a,
                lines_b,
            }
        })
        .collect();
    subsystems.sort_by(|x, y| {
        let d = |s: &SubsystemChange| (s.hap_b - s.hap_a).abs();
        d(y).total_cmp(&d(x)).then_with(|| x.name.cmp(&y.name))
    });

    Diff {
        label_a: a.label.clone(),
        label_b: b.label.clone(),
        functions_a: ia.len(),
        functions_b: ib.len(),
        lines_a: ia.values().map(|r| r.counted_lines()).sum(),
        lines_b: ib.values().map(|r| r.counted_lines()).sum(),
        hap_a: a.hap(),
        hap_b: b.hap(),
        only_a,
        only_b,
        common,
        changed,
        only_a_lines,
        only_b_lines,
        new_paths: only_b_lines as i64 - only_a_lines as i64,
        code_growth,
        subsystems,
    }
}

fn only_json(v: &[OnlyIn]) -> Value {
    v.iter()
        .map(|o| json!({"function": o.function, "module": o.module, "lines": o.lines, "subsystem": o.subsystem}))
        .collect()
}

/// The diff as JSON: counts, the decomposition, and the full lists.
pub fn diff_json(d: &Diff) -> Value {
    json!({
        "a": {"label": d.label_a, "functions": d.functions_a, "lines": d.lines_a, "hap": d.hap_a},
        "b": {"label": d.label_b, "functions": d.functions_b, "lines": d.lines_b, "hap": d.hap_b},
        "common": d.common,
        "only_a": d.only_a.len(),
        "only_b": d.only_b.len(),
        "changed": d.changed.len(),
        "delta_functions": d.functions_b as i64 - d.functions_a as i64,
        "delta_lines": d.delta_lines(),
        "delta_hap": d.delta_hap(),
        "decomposition": {
            "only_a_lines": d.only_a_lines,
            "only_b_lines": d.only_b_lines,
            "new_paths": d.new_paths,
            "code_growth": d.code_growth,
        },
        "subsystems": d.subsystems.iter().map(|s| json!({
            "name": s.name, "hap_a": s.hap_a, "hap_b": s.hap_b, "delta_hap": s.hap_b - s.hap_a,
            "lines_a": s.lines_a, "lines_b": s.lines_b,
        })).collect::<Vec<_>>(),
        "only_a_functions": only_json(&d.only_a),
        "only_b_functions": only_json(&d.only_b),
        "changed_functions": d.changed.iter().map(|c| json!({
            "function": c.function, "module": c.module, "lines_a": c.lines_a, "lines_b": c.lines_b,
            "delta": c.lines_b as i64 - c.lines_a as i64,
        })).collect::<Vec<_>>(),
    })
}

fn name(function: &str, module: &Option<String>) -> String {
    match module {
        Some(m) => format!("{function} [{m}]"),
        None => function.to_string(),
    }
}

/// How many entries of each list the text form shows.
const TEXT_LIMIT: usize = 20;

/// The diff as text for a terminal: totals, decomposition, the largest
/// subsystem moves and the first entries of each list.
pub fn write_diff_text(d: &Diff, w: &mut impl Write) -> io::Result<()> {
    let hap = |h: Option<f64>| h.map_or("-".to_string(), |h| format!("{h:.3}"));
    writeln!(w, "A         {}", d.label_a)?;
    writeln!(w, "B         {}", d.label_b)?;
    writeln!(
        w,
        "functions {} -> {} ({:+}): {} only in A, {} only in B, {} in both ({} with changed lines)",
        d.functions_a,
        d.functions_b,
        d.functions_b as i64 - d.functions_a as i64,
        d.only_a.len(),
        d.only_b.len(),
        d.common,
        d.changed.len()
    )?;
    writeln!(
        w,
        "lines     {} -> {} ({:+})",
        d.lines_a,
        d.lines_b,
        d.delta_lines()
    )?;
    writeln!(
        w,
        "          = new paths {:+} ({} only in B - {} only in A) + code growth {:+} (common functions)",
        d.new_paths, d.only_b_lines, d.only_a_lines, d.code_growth
    )?;
    let dh = d
        .delta_hap()
        .map_or(String::new(), |x| format!(" ({x:+.3})"));
    writeln!(w, "HAP       {} -> {}{dh}", hap(d.hap_a), hap(d.hap_b))?;
    let moved: Vec<_> = d.subsystems.iter().filter(|s| s.hap_a != s.hap_b).collect();
    if !moved.is_empty() {
        writeln!(w, "subsystems by HAP change:")?;
        for s in moved.iter().take(TEXT_LIMIT) {
            writeln!(
                w,
                "  {:+9.3}  {:>8.3} -> {:<8.3} {:>6} -> {:<6} lines  {}",
                s.hap_b - s.hap_a,
                s.hap_a,
                s.hap_b,
                s.lines_a,
                s.lines_b,
                s.name
            )?;
        }
    }
    for (title, list) in [("only in A", &d.only_a), ("only in B", &d.only_b)] {
        if list.is_empty() {
            continue;
        }
        writeln!(w, "{title} ({} functions, most lines first):", list.len())?;
        for o in list.iter().take(TEXT_LIMIT) {
            writeln!(w, "  {:6}  {}", o.lines, name(&o.function, &o.module))?;
        }
        if list.len() > TEXT_LIMIT {
            writeln!(w, "  ... and {} more", list.len() - TEXT_LIMIT)?;
        }
    }
    if !d.changed.is_empty() {
        writeln!(
            w,
            "changed lines ({} functions, largest change first):",
            d.changed.len()
        )?;
        for c in d.changed.iter().take(TEXT_LIMIT) {
            writeln!(
                w,
                "  {:+6}  {} -> {}  {}",
                c.lines_b as i64 - c.lines_a as i64,
                c.lines_a,
                c.lines_b,
                name(&c.function, &c.module)
            )?;
        }
        if d.changed.len() > TEXT_LIMIT {
            writeln!(w, "  ... and {} more", d.changed.len() - TEXT_LIMIT)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::RunResult;
    use std::path::PathBuf;

    fn row(f: &str, module: Option<&str>, lines: Option<u64>, sub: &str) -> FunctionRow {
        FunctionRow {
            function: f.to_string(),
            module: module.map(str::to_string),
            lines,
            subsystem: Some(sub.to_string()),
            counted: true,
            ..FunctionRow::default()
        }
    }

    pub(crate) fn run(label: &str, hap: f64, rows: Vec<FunctionRow>) -> RunResult {
        let lines: u64 = rows.iter().map(|r| r.counted_lines()).sum();
        RunResult {
            label: label.to_string(),
            dir: PathBuf::from(label),
            json: json!({"functions": rows.len(), "lines": lines, "hap": hap, "bug_density": 0.5}),
            functions: rows,
            curve: Vec::new(),
        }
    }

    fn pair() -> (RunResult, RunResult) {
        let a = run(
            "A",
            0.05,
            vec![
                row("common_same", None, Some(10), "MM"),
                row("common_grow", None, Some(20), "MM"),
                row("common_shrink", None, Some(30), "NET"),
                row("gone", None, Some(7), "NET"),
                row("modfn", Some("ext4"), Some(5), "FS"),
                row("unresolved", None, None, "NET"),
            ],
        );
        let b = run(
            "B",
            0.07,
            vec![
                row("common_same", None, Some(10), "MM"),
                row("common_grow", None, Some(26), "MM"),
                row("common_shrink", None, Some(28), "NET"),
                row("modfn", Some("xfs"), Some(9), "FS"),
                row("new1", None, Some(40), "FS"),
                row("unresolved", None, None, "NET"),
            ],
        );
        (a, b)
    }

    #[test]
    fn identities_hold() {
        let (a, b) = pair();
        let d = diff(&a, &b);
        assert_eq!(d.only_a.len() + d.common, d.functions_a);
        assert_eq!(d.only_b.len() + d.common, d.functions_b);
        assert_eq!(d.new_paths + d.code_growth, d.delta_lines());
        assert_eq!(d.common, 4);
        // Module is part of the identity.
        assert_eq!(
            d.only_a
                .iter()
                .map(|o| o.function.as_str())
                .collect::<Vec<_>>(),
            ["gone", "modfn"]
        );
        assert_eq!(
            d.only_b
                .iter()
                .map(|o| o.function.as_str())
                .collect::<Vec<_>>(),
            ["new1", "modfn"]
        );
        assert_eq!((d.only_a_lines, d.only_b_lines), (12, 49));
        assert_eq!(d.new_paths, 37);
        assert_eq!(d.code_growth, 4);
        assert_eq!((d.lines_a, d.lines_b), (72, 113));
        assert_eq!(d.changed.len(), 2);
        assert_eq!(d.changed[0].function, "common_grow");
        assert!((d.delta_hap().unwrap() - 0.02).abs() < 1e-12);
        // No subsystems in result.json: summed from rows with the bug density.
        let fs = d.subsystems.iter().find(|s| s.name == "FS").unwrap();
        assert_eq!((fs.lines_a, fs.lines_b), (5, 49));
        assert!((fs.hap_b - 0.0245).abs() < 1e-12);
    }

    #[test]
    fn uncounted_copies_take_part_with_zero_lines() {
        let (mut a, mut b) = pair();
        let mut copy = row("copy.part.0", None, Some(50), "MM");
        copy.counted = false;
        a.functions.push(copy.clone());
        copy.counted = true; // counted in B: another copy came first in A
        b.functions.push(copy);
        b.json["lines"] = json!(163);
        let d = diff(&a, &b);
        assert_eq!((d.functions_a, d.functions_b, d.common), (7, 7, 5));
        assert_eq!((d.lines_a, d.lines_b), (a.lines(), b.lines()));
        assert_eq!(d.code_growth, 54);
        assert_eq!(d.new_paths + d.code_growth, d.delta_lines());
    }

    #[test]
    fn diff_with_itself_is_empty_and_swap_negates() {
        let (a, b) = pair();
        let d = diff(&a, &a);
        assert!(d.only_a.is_empty() && d.only_b.is_empty() && d.changed.is_empty());
        assert_eq!((d.new_paths, d.code_growth), (0, 0));
        let (ab, ba) = (diff(&a, &b), diff(&b, &a));
        assert_eq!(ab.new_paths, -ba.new_paths);
        assert_eq!(ab.code_growth, -ba.code_growth);
    }

    #[test]
    fn json_and_text() {
        let (a, b) = pair();
        let d = diff(&a, &b);
        let j = diff_json(&d);
        assert_eq!(j["delta_lines"], 41);
        assert_eq!(j["decomposition"]["new_paths"], 37);
        assert_eq!(j["decomposition"]["code_growth"], 4);
        assert_eq!(j["only_b_functions"][1]["module"], "xfs");
        assert_eq!(j["a"]["functions"], 6);
        let mut out = Vec::new();
        write_diff_text(&d, &mut out).unwrap();
        let t = String::from_utf8(out).unwrap();
        assert!(t.contains("lines     72 -> 113 (+41)"), "{t}");
        assert!(t.contains("new paths +37"), "{t}");
        assert!(t.contains("modfn [xfs]"), "{t}");
    }
}
