//! CVEs per 1,000 source lines for every file, directory and MAINTAINERS
//! subsystem of one kernel release, with empirical-Bayes shrinkage.
//!
//! **Counting.** The records that affect the release ([`super::affects`])
//! are mapped to their `programFiles` (the union over the product objects,
//! each CVE counted once per file). The line universe is every `.c`, `.h`,
//! `.S` and `.rs` file of the tree outside `Documentation/`, `samples/`,
//! `scripts/`, `tools/` and `usr/` (kernel code, not its user-space
//! helpers), plus every other file a CVE names that exists in the tree
//! (a `Kconfig`, a `.dtsi`), so every counted CVE has lines under it.
//! Lines are physical lines (newlines, plus one for a last unterminated
//! line). Named files absent from the tree are listed in
//! [`DensityTable::missing`] and count for no row.
//!
//! A directory's row aggregates the files below it; a subsystem's the
//! files [`crate::source::Maintainers::subsystem_of`] assigns to it. In
//! both a CVE touching several files below counts **once**. The global
//! row counts the affecting CVEs with at least one file in the universe
//! over all lines of the universe.
//!
//! **Rate and smoothing.** `rate = cves / (lines / 1000)` (0 for an empty
//! file). A raw rate over few lines is noise: one CVE in a 20-line file is
//! 50 per KLOC. Each row is therefore shrunk toward the rate of the level
//! above it, gamma-Poisson style, with `k` pseudo-KLOC of prior exposure:
//!
//! ```text
//! smoothed = (cves + k * prior) / (lines / 1000 + k)
//! ```
//!
//! where `prior` is the parent directory's *smoothed* rate for files and
//! directories (the global rate for top-level entries), and the global
//! rate for subsystems. With the default `k` = [`DEFAULT_PSEUDO_KLOC`]
//! (5,000 lines) a 20-line file with one CVE under a directory at 0.5 per
//! KLOC gets `(1 + 2.5) / 5.02 = 0.70`, while a 50,000-line directory
//! keeps 91% of its own rate.
//!
//! **CVSS weighting** ([`Weight::Cvss`]): each CVE counts `baseScore / 10`
//! instead of 1; records without a score count the mean weight of the
//! scored affecting records.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::OnceLock;

use rayon::prelude::*;

use super::records::CveRecord;
use super::versions::{affects, affects_series, KernelVersion};
use crate::source::Maintainers;

/// Default pseudo-KLOC `k` of the shrinkage (see the module docs).
pub const DEFAULT_PSEUDO_KLOC: f64 = 5.0;

/// Extensions of the files counted as kernel code.
const CODE_EXTENSIONS: [&str; 4] = ["c", "h", "S", "rs"];
/// Top-level directories left out of the line universe.
const EXCLUDED_TOP: [&str; 5] = ["Documentation", "samples", "scripts", "tools", "usr"];

/// What each CVE counts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Weight {
    /// Every CVE counts 1.
    #[default]
    Count,
    /// Every CVE counts its CVSS base score / 10 (see the module docs).
    Cvss,
}

/// Which records count for a release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scope {
    /// Records affecting exactly the release ([`super::affects`]): the
    /// known bugs still unfixed in it.
    #[default]
    Release,
    /// Records affecting any release of its stable series up to it
    /// ([`super::versions::affects_series`]): every known bug its code
    /// carried, fixed since or not.
    Series,
}

/// Options of [`compute_with`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DensityOptions {
    /// Pseudo-KLOC `k` of the shrinkage.
    pub pseudo_kloc: f64,
    /// What each CVE counts for.
    pub weight: Weight,
    /// Which records count.
    pub scope: Scope,
}

impl Default for DensityOptions {
    fn default() -> Self {
        DensityOptions {
            pseudo_kloc: DEFAULT_PSEUDO_KLOC,
            weight: Weight::Count,
            scope: Scope::Release,
        }
    }
}

/// Level of a [`DensityRow`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    /// The whole tree.
    Global,
    /// A MAINTAINERS section.
    Subsystem,
    /// A directory (files below it, recursively).
    Dir,
    /// One file.
    File,
}

impl Level {
    /// The name used in CSV and [`DensityTable::lookup`]:
    /// `global`, `subsystem`, `dir` or `file`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Global => "global",
            Level::Subsystem => "subsystem",
            Level::Dir => "dir",
            Level::File => "file",
        }
    }

    /// Parse [`Level::as_str`]'s names.
    pub fn parse(s: &str) -> Option<Level> {
        Some(match s {
            "global" => Level::Global,
            "subsystem" => Level::Subsystem,
            "dir" => Level::Dir,
            "file" => Level::File,
            _ => return None,
        })
    }
}

/// One file, directory or subsystem of a [`DensityTable`].
#[derive(Debug, Clone, PartialEq)]
pub struct DensityRow {
    /// What `key` names.
    pub level: Level,
    /// Path relative to the tree root (no trailing `/` for directories), or
    /// the MAINTAINERS section title.
    pub key: String,
    /// Physical lines.
    pub lines: u64,
    /// CVEs (weighted by [`Weight`]; whole numbers for [`Weight::Count`]).
    pub cves: f64,
    /// CVEs per 1,000 lines.
    pub rate: f64,
    /// Shrunk rate (module docs).
    pub smoothed: f64,
}

/// A file named by affecting CVEs that the tree does not have.
#[derive(Debug, Clone, PartialEq)]
pub struct MissingFile {
    /// Path as the records spell it.
    pub path: String,
    /// CVEs naming it (weighted).
    pub cves: f64,
}

/// Bug densities of one kernel release.
#[derive(Debug, Clone)]
pub struct DensityTable {
    /// Release the table is for (`6.1.192`).
    pub version: String,
    /// Records read.
    pub cves_total: usize,
    /// Records counted for the release (affecting it, or its series up
    /// to it, by [`Scope`]).
    pub cves_affecting: usize,
    /// Files of the tree named by at least one affecting record.
    pub files_with_cves: usize,
    /// Lines of the universe.
    pub global_lines: u64,
    /// Affecting CVEs with a file in the universe (weighted).
    pub global_cves: f64,
    /// `global_cves` per 1,000 `global_lines`.
    pub global_rate: f64,
    /// Pseudo-KLOC used for smoothing.
    pub pseudo_kloc: f64,
    /// Subsystem, directory and file rows, in that order, each sorted by key.
    pub rows: Vec<DensityRow>,
    /// Named files absent from the tree, sorted by path.
    pub missing: Vec<MissingFile>,
    index: OnceLock<HashMap<(Level, String), usize>>,
}

impl DensityTable {
    /// Assemble a table (the index for [`DensityTable::lookup`] is built on
    /// first use).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        version: String,
        cves_total: usize,
        cves_affecting: usize,
        files_with_cves: usize,
        global_lines: u64,
        global_cves: f64,
        pseudo_kloc: f64,
        rows: Vec<DensityRow>,
        missing: Vec<MissingFile>,
    ) -> DensityTable {
        DensityTable {
            version,
            cves_total,
            cves_affecting,
            files_with_cves,
            global_lines,
            global_cves,
            global_rate: rate(global_cves, global_lines),
            pseudo_kloc,
            rows,
            missing,
            index: OnceLock::new(),
        }
    }

    /// The row for `key` at `level`.
    pub fn row(&self, level: Level, key: &str) -> Option<&DensityRow> {
        let index = self.index.get_or_init(|| {
            self.rows
                .iter()
                .enumerate()
                .map(|(i, r)| ((r.level, r.key.clone()), i))
                .collect()
        });
        index.get(&(level, key.to_string())).map(|&i| &self.rows[i])
    }

    /// Smoothed rate (CVEs per 1,000 lines) for a function in `file`
    /// (relative to the tree root; a leading `./` is ignored) of
    /// `subsystem`, and the level it came from: the file's row, else the
    /// nearest enclosing directory's, else the subsystem's, else the
    /// global rate.
    pub fn lookup(&self, file: &str, subsystem: Option<&str>) -> (f64, &'static str) {
        let file = normalize(file);
        if let Some(f) = file {
            if let Some(r) = self.row(Level::File, f) {
                return (r.smoothed, Level::File.as_str());
            }
            let mut dir = f;
            while let Some(i) = dir.rfind('/') {
                dir = &dir[..i];
                if let Some(r) = self.row(Level::Dir, dir) {
                    return (r.smoothed, Level::Dir.as_str());
                }
            }
        }
        if let Some(r) = subsystem.and_then(|s| self.row(Level::Subsystem, s)) {
            return (r.smoothed, Level::Subsystem.as_str());
        }
        (self.global_rate, Level::Global.as_str())
    }
}

/// `Σ lines × rate / 1000` over `(lines, file, subsystem)` of each traced
/// function, the rate from [`DensityTable::lookup`] (global when the file
/// is unknown): the expected number of CVE-class bugs in the code reached.
pub fn weighted_hap<'a>(
    lines_by_function: impl Iterator<Item = (u64, Option<&'a str>, Option<&'a str>)>,
    table: &DensityTable,
) -> f64 {
    lines_by_function
        .map(|(lines, file, subsystem)| {
            let r = match file {
                Some(f) => table.lookup(f, subsystem).0,
                None => match subsystem.and_then(|s| table.row(Level::Subsystem, s)) {
                    Some(row) => row.smoothed,
                    None => table.global_rate,
                },
            };
            lines as f64 * r / 1000.0
        })
        .sum()
}

fn rate(cves: f64, lines: u64) -> f64 {
    if lines == 0 {
        0.0
    } else {
        cves / (lines as f64 / 1000.0)
    }
}

fn smooth(cves: f64, lines: u64, prior: f64, k: f64) -> f64 {
    let kloc = lines as f64 / 1000.0;
    if kloc + k <= 0.0 {
        return prior;
    }
    (cves + k * prior) / (kloc + k)
}

/// A relative path without `./`, `..` or empty components; `None` when
/// the path is absolute or escapes the tree.
fn normalize(p: &str) -> Option<&str> {
    let mut p = p.trim();
    while let Some(rest) = p.strip_prefix("./") {
        p = rest;
    }
    if p.is_empty() || p.starts_with('/') || p.split('/').any(|c| c == ".." || c.is_empty()) {
        return None;
    }
    Some(p)
}

/// Physical lines of a file's bytes.
pub fn count_lines(bytes: &[u8]) -> u64 {
    let n = bytes.iter().filter(|&&b| b == b'\n').count() as u64;
    n + u64::from(!bytes.is_empty() && !bytes.ends_with(b"\n"))
}

fn walk(root: &Path, rel: &str, out: &mut Vec<String>) {
    let Ok(rd) = std::fs::read_dir(root.join(rel)) else {
        return;
    };
    for ent in rd.flatten() {
        let name = ent.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') {
            continue;
        }
        let Ok(ft) = ent.file_type() else { continue };
        let path = if rel.is_empty() {
            name.to_string()
        } else {
            format!("{rel}/{name}")
        };
        if ft.is_dir() {
            if !(rel.is_empty() && EXCLUDED_TOP.contains(&name.as_ref())) {
                walk(root, &path, out);
            }
        } else if ft.is_file() {
            let ext = name.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
            if CODE_EXTENSIONS.contains(&ext) {
                out.push(path);
            }
        }
    }
}

/// [`compute_with`] with the default options.
pub fn compute(
    records: &[CveRecord],
    version: &KernelVersion,
    tree: &Path,
    maintainers: &Maintainers,
) -> DensityTable {
    compute_with(
        records,
        version,
        tree,
        maintainers,
        &DensityOptions::default(),
    )
}

/// The density table of `version` from `records`, lines from the source
/// tree at `tree`, subsystems from `maintainers` (rules in the module docs).
pub fn compute_with(
    records: &[CveRecord],
    version: &KernelVersion,
    tree: &Path,
    maintainers: &Maintainers,
    opts: &DensityOptions,
) -> DensityTable {
    let k = opts.pseudo_kloc;
    let affecting: Vec<&CveRecord> = records
        .par_iter()
        .filter(|r| match opts.scope {
            Scope::Release => affects(r, version),
            Scope::Series => affects_series(r, version),
        })
        .collect();
    let weights: Vec<f64> = match opts.weight {
        Weight::Count => vec![1.0; affecting.len()],
        Weight::Cvss => {
            let scored: Vec<f64> = affecting
                .iter()
                .filter_map(|r| r.cvss)
                .map(|s| s / 10.0)
                .collect();
            let mean = if scored.is_empty() {
                1.0
            } else {
                scored.iter().sum::<f64>() / scored.len() as f64
            };
            affecting
                .iter()
                .map(|r| r.cvss.map_or(mean, |s| s / 10.0))
                .collect()
        }
    };

    // File → CVE indices (each CVE once per file).
    let mut named: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, r) in affecting.iter().enumerate() {
        let mut seen = HashSet::new();
        for f in r.program_files() {
            if let Some(f) = normalize(f) {
                if seen.insert(f) {
                    named.entry(f.to_string()).or_default().push(i);
                }
            }
        }
    }

    // Line universe: code files plus named files present in the tree.
    let mut files = Vec::new();
    walk(tree, "", &mut files);
    let mut universe: HashSet<String> = files.into_iter().collect();
    let mut missing = Vec::new();
    for (f, cves) in &named {
        if universe.contains(f) {
            continue;
        }
        if tree.join(f).is_file() {
            universe.insert(f.clone());
        } else {
            missing.push(MissingFile {
                path: f.clone(),
                cves: cves.iter().map(|&i| weights[i]).sum(),
            });
        }
    }
    missing.sort_by(|a, b| a.path.cmp(&b.path));
    let mut universe: Vec<String> = universe.into_iter().collect();
    universe.sort();
    let counted: Vec<(String, u64, Option<String>)> = universe
        .into_par_iter()
        .map(|f| {
            let lines = std::fs::read(tree.join(&f))
                .map(|b| count_lines(&b))
                .unwrap_or(0);
            let sub = maintainers.subsystem_of(&f).map(str::to_string);
            (f, lines, sub)
        })
        .collect();

    let empty = Vec::new();
    let sum = |set: &HashSet<usize>| set.iter().map(|&i| weights[i]).sum::<f64>();
    let mut dirs: HashMap<String, (u64, HashSet<usize>)> = HashMap::new();
    let mut subs: HashMap<String, (u64, HashSet<usize>)> = HashMap::new();
    let mut global: (u64, HashSet<usize>) = (0, HashSet::new());
    let mut files_with_cves = 0;
    for (f, lines, sub) in &counted {
        let cves = named.get(f).unwrap_or(&empty);
        files_with_cves += usize::from(!cves.is_empty());
        let add = |slot: &mut (u64, HashSet<usize>)| {
            slot.0 += lines;
            slot.1.extend(cves.iter().copied());
        };
        add(&mut global);
        if let Some(s) = sub {
            add(subs.entry(s.clone()).or_default());
        }
        let mut d = f.as_str();
        while let Some(i) = d.rfind('/') {
            d = &d[..i];
            add(dirs.entry(d.to_string()).or_default());
        }
    }
    let global_cves = sum(&global.1);
    let global_rate = rate(global_cves, global.0);

    let mut rows = Vec::with_capacity(subs.len() + dirs.len() + counted.len());
    let mut sub_rows: Vec<DensityRow> = subs
        .iter()
        .map(|(key, (lines, set))| {
            let c = sum(set);
            DensityRow {
                level: Level::Subsystem,
                key: key.clone(),
                lines: *lines,
                cves: c,
                rate: rate(c, *lines),
                smoothed: smooth(c, *lines, global_rate, k),
            }
        })
        .collect();
    sub_rows.sort_by(|a, b| a.key.cmp(&b.key));
    rows.extend(sub_rows);

    // Directories top-down so each parent is smoothed before its children.
    let mut dir_keys: Vec<&String> = dirs.keys().collect();
    dir_keys.sort_by_key(|d| (d.matches('/').count(), d.as_str()));
    let mut dir_smoothed: HashMap<&str, f64> = HashMap::new();
    let mut dir_rows = Vec::with_capacity(dir_keys.len());
    for d in dir_keys {
        let (lines, set) = &dirs[d];
        let prior = d.rfind('/').map_or(global_rate, |i| dir_smoothed[&d[..i]]);
        let c = sum(set);
        let s = smooth(c, *lines, prior, k);
        dir_smoothed.insert(d, s);
        dir_rows.push(DensityRow {
            level: Level::Dir,
            key: d.clone(),
            lines: *lines,
            cves: c,
            rate: rate(c, *lines),
            smoothed: s,
        });
    }
    dir_rows.sort_by(|a, b| a.key.cmp(&b.key));
    for (f, lines, _) in &counted {
        let c: f64 = named
            .get(f)
            .unwrap_or(&empty)
            .iter()
            .map(|&i| weights[i])
            .sum();
        let prior = f.rfind('/').map_or(global_rate, |i| dir_smoothed[&f[..i]]);
        rows.push(DensityRow {
            level: Level::File,
            key: f.clone(),
            lines: *lines,
            cves: c,
            rate: rate(c, *lines),
            smoothed: smooth(c, *lines, prior, k),
        });
    }
    let file_rows = rows.split_off(rows.len() - counted.len());
    rows.extend(dir_rows);
    rows.extend(file_rows);

    DensityTable::new(
        version.to_string(),
        records.len(),
        affecting.len(),
        files_with_cves,
        global.0,
        global_cves,
        k,
        rows,
        missing,
    )
}

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
