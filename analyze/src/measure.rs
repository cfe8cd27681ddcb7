//! The HAP measurement: from a trace and a symbol table to lines and HAP.
//!
//! `hap = lines × bug_density / 1000`, where `lines` sums the source-line
//! spans of the unique functions the workload called (see `docs/method.md`).

use std::path::{Path, PathBuf};

use ingest::{text::TextStats, TraceInfo};

use crate::resolve::{estimate_slide, Ambiguous, FunctionRow, Resolver, SlideCheck};
use crate::select::{Collector, SelectStats, Selection};
use crate::steady::{steady_state, Steady, SteadyOptions};
use crate::symbols::SymbolTable;
use crate::Error;

/// Default uniform bug density, in bugs per 1,000 lines: the Linux kernel's
/// defect density in the Coverity Scan 2013 Open Source Report (0.61).
pub const DEFAULT_BUG_DENSITY: f64 = 0.61;

/// How to measure.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Options {
    /// Which events are the workload's.
    pub selection: Selection,
    /// Policy for names matching several functions.
    pub ambiguous: Ambiguous,
    /// Bugs per 1,000 lines.
    pub bug_density: f64,
    /// Trace reading options.
    pub ingest: ingest::Options,
    /// Steady-state test parameters.
    pub steady: SteadyOptions,
    /// Debug files of the kernel's modules, for `name [module]` functions.
    pub modules: Option<std::sync::Arc<crate::symbols::ModuleTables>>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            selection: Selection::default(),
            ambiguous: Ambiguous::default(),
            bug_density: DEFAULT_BUG_DENSITY,
            ingest: ingest::Options::default(),
            steady: SteadyOptions::default(),
            modules: None,
        }
    }
}

impl Options {
    /// Options from their parts.
    pub fn new(
        selection: Selection,
        ambiguous: Ambiguous,
        bug_density: f64,
        ingest: ingest::Options,
        steady: SteadyOptions,
    ) -> Options {
        Options {
            selection,
            ambiguous,
            bug_density,
            ingest,
            steady,
            modules: None,
        }
    }
}

/// The result of one analysis.
#[derive(Clone, Debug)]
pub struct Measurement {
    /// The trace analyzed.
    pub trace_path: PathBuf,
    /// Facts about the trace file.
    pub trace: TraceInfo,
    /// Text parsing statistics (unparseable lines).
    pub text: TextStats,
    /// What the selection kept and excluded.
    pub selection: SelectStats,
    /// One row per traced function (more than one for ambiguous names under `--ambiguous all`).
    pub rows: Vec<FunctionRow>,
    /// Unique functions traced.
    pub functions: u64,
    /// Traced functions found in the symbol table.
    pub resolved: u64,
    /// Traced functions not found (listed in [`Measurement::unresolved_names`]).
    pub unresolved: u64,
    /// Traced names that matched several distinct functions.
    pub ambiguous: u64,
    /// Resolved functions without line information (assembly, no DWARF).
    pub without_lines: u64,
    /// Names of the unresolved functions, sorted.
    pub unresolved_names: Vec<String>,
    /// Sum of `lines` over counted rows (without baseline functions when
    /// subtracted; copies of one source function, same file and start line, once).
    pub lines: u64,
    /// Sum of `code_lines` over counted rows.
    pub code_lines: u64,
    /// Bugs per 1,000 lines used.
    pub bug_density: f64,
    /// `lines × bug_density / 1000`.
    pub hap: f64,
    /// The vmlinux used.
    pub vmlinux: PathBuf,
    /// Its build-id, hex.
    pub build_id: Option<String>,
    /// Policy used for ambiguous names.
    pub ambiguous_policy: Ambiguous,
    /// Steady-state verdict and the cumulative curve.
    pub steady: Steady,
    /// Thread ids selected as the workload.
    pub selected_pids: Vec<i32>,
    /// Functions shared with baseline runs.
    pub baseline: BaselineUse,
    /// How traced addresses fit the vmlinux (KASLR slide), for traces with addresses.
    pub addresses: SlideCheck,
    /// Functions and lines by the system call they first ran under, most lines first
    /// (`None`: outside any system call, e.g. page faults, signal delivery, exit).
    pub syscalls: Vec<Share>,
    /// Functions and lines by MAINTAINERS subsystem (with `--source`; `None`: no section).
    pub subsystems: Vec<Share>,
    /// Functions and lines by area of the tree (with `--source`).
    pub areas: Vec<Share>,
    /// Sum of `nloc` (non-blank, non-comment lines) over counted rows, with `--source`.
    pub nloc: u64,
    /// Functions inlined into the counted ones (`--inline`), beyond them.
    pub inline: Option<InlineUse>,
    /// The per-file bug density in use (`--density`).
    pub density: Option<DensityUse>,
    /// Σ lines × density of each function's file (falling back to its
    /// directories, subsystem, the global rate) / 1000, with `--density`.
    pub hap_weighted: Option<f64>,
}

/// The part of the counted functions that falls under one key (a system
/// call, a subsystem, an area).
#[derive(Clone, Debug, PartialEq)]
pub struct Share {
    /// The key, or `None` for functions without one.
    pub key: Option<String>,
    /// Functions.
    pub functions: u64,
    /// Their lines.
    pub lines: u64,
    /// Σ lines × the bug density of each function's code / 1000 (with `--density`).
    pub hap_weighted: Option<f64>,
}

/// The code inlined into the traced functions (`--inline`): ftrace cannot see
/// inlined functions, but their code runs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InlineUse {
    /// Distinct inlined functions (by file and start line) that are not
    /// themselves counted traced functions.
    pub functions: u64,
    /// Their lines.
    pub lines: u64,
}

/// A bug-density table in use, and where it came from.
#[derive(Clone, Debug)]
pub struct DensityUse {
    /// The table.
    pub table: std::sync::Arc<crate::density::DensityTable>,
    /// Where it came from (path), for the report.
    pub source: String,
}

/// Read the trace at `trace` and measure it against `table`.
pub fn measure(
    trace: &Path,
    vmlinux: &Path,
    table: &SymbolTable,
    options: &Options,
) -> Result<Measurement, Error> {
    use ingest::columns as col;
    let columns = [
        col::PID,
        col::COMM,
        col::EVENT,
        col::FUNCTION,
        col::MODULE,
        col::TS_NS,
        col::IRQS_OFF,
        col::HARDIRQ,
        col::SOFTIRQ,
        col::NMI,
    ];
    let mut collector = Collector::new(options.selection.clone());
    let summary = ingest::read_trace(trace, &options.ingest, &columns, &mut collector)?;
    let selected_pids = collector.selected_pids();
    let (uses, selection) = collector.finish();
    let check = estimate_slide(&uses, &Resolver::new(table));
    if !check.matches() {
        let extra = |k: &str| {
            summary
                .info
                .extra
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        return Err(Error::Mismatch {
            trace: trace.to_path_buf(),
            trace_kernel: extra("dat.uname")
                .or_else(|| extra("dat.kernel_version"))
                .unwrap_or_else(|| "unknown".into()),
            vmlinux: vmlinux.to_path_buf(),
            build_id: table
                .build_id
                .as_ref()
                .map(|b| hex(b))
                .unwrap_or_else(|| "none".into()),
            agree: check.agree,
            sampled: check.sampled,
        });
    }
    let resolver = Resolver::new(table)
        .with_slide(check.slide)
        .with_modules(options.modules.as_deref());
    let mut m = Measurement {
        trace_path: trace.to_path_buf(),
        trace: summary.info,
        text: summary.text,
        selection,
        rows: Vec::with_capacity(uses.len()),
        functions: uses.len() as u64,
        resolved: 0,
        unresolved: 0,
        ambiguous: 0,
        without_lines: 0,
        unresolved_names: Vec::new(),
        lines: 0,
        code_lines: 0,
        bug_density: options.bug_density,
        hap: 0.0,
        vmlinux: vmlinux.to_path_buf(),
        build_id: table.build_id.as_ref().map(|b| hex(b)),
        ambiguous_policy: options.ambiguous,
        steady: steady_state(&[], &SelectStats::default(), options.steady),
        selected_pids,
        baseline: BaselineUse::default(),
        addresses: check,
        syscalls: Vec::new(),
        subsystems: Vec::new(),
        areas: Vec::new(),
        nloc: 0,
        inline: None,
        density: None,
        hap_weighted: None,
    };
    for u in &uses {
        let rows = resolver.resolve(u, options.ambiguous);
        let cands = rows[0].candidates;
        match cands {
            0 => {
                m.unresolved += 1;
                m.unresolved_names.push(u.key());
            }
            n => {
                m.resolved += 1;
                if n > 1 {
                    m.ambiguous += 1;
                }
                if rows
                    .iter()
                    .any(|r| r.symbol.as_ref().is_some_and(|s| s.lines.is_none()))
                {
                    m.without_lines += 1;
                }
            }
        }
        m.rows.extend(rows);
    }
    m.unresolved_names.sort();
    m.recount();
    m.steady = steady_state(&m.rows, &m.selection, options.steady);
    Ok(m)
}

impl Measurement {
    /// Recompute `lines`, `code_lines` and `hap` from the rows, leaving out
    /// rows of baseline functions when the baseline is subtracted.
    pub fn recount(&mut self) {
        // A row counts unless it is a subtracted baseline function or a copy
        // of a source function already counted: out-of-line copies of one
        // header `static inline`, or the `__x64_sys_*`/`__do_sys_*` family of
        // one SYSCALL_DEFINE (same file and start line, different symbols).
        let mut seen = std::collections::HashSet::new();
        let subtracted = self.baseline.subtracted;
        for r in &mut self.rows {
            r.counted = !(subtracted && r.in_baseline)
                && match r.symbol.as_ref().map(|s| (&s.file, s.start_line)) {
                    Some((Some(f), Some(l))) => seen.insert((f.clone(), l)),
                    _ => true,
                };
        }
        let syms: Vec<_> = self
            .rows
            .iter()
            .filter(|r| r.counted)
            .filter_map(|r| r.symbol.as_ref())
            .collect();
        self.lines = syms.iter().map(|s| u64::from(s.lines.unwrap_or(0))).sum();
        self.code_lines = syms
            .iter()
            .map(|s| u64::from(s.code_lines.unwrap_or(0)))
            .sum();
        self.hap = self.lines as f64 * self.bug_density / 1000.0;
        self.nloc = syms
            .iter()
            .map(|s| u64::from(s.source.as_ref().and_then(|f| f.nloc).unwrap_or(0)))
            .sum();
        self.hap_weighted = self.density.as_ref().map(|d| {
            let rows = self.rows.iter().filter(|r| r.counted);
            crate::density::weighted_hap(rows.filter_map(weighted_input), &d.table)
        });
        self.syscalls = self.shares(|r| r.traced.syscall.as_deref());
        self.subsystems = self.shares(|r| r.symbol.as_ref()?.source.as_ref()?.subsystem.as_deref());
        self.areas = self.shares(|r| Some(r.symbol.as_ref()?.source.as_ref()?.area.as_str()));
    }

    /// Functions and lines of the counted rows grouped by `key`, most lines first.
    fn shares<'m>(&'m self, key: impl Fn(&'m FunctionRow) -> Option<&'m str>) -> Vec<Share> {
        let mut by: std::collections::BTreeMap<Option<&str>, (u64, u64, f64)> = Default::default();
        for r in self.rows.iter().filter(|r| r.counted) {
            let e = by.entry(key(r)).or_default();
            e.0 += 1;
            e.1 += r.symbol.as_ref().and_then(|s| s.lines).map_or(0, u64::from);
            if let (Some(d), Some(input)) = (&self.density, weighted_input(r)) {
                e.2 += crate::density::weighted_hap(std::iter::once(input), &d.table);
            }
        }
        let weighted = self.density.is_some();
        let mut shares: Vec<Share> = by
            .into_iter()
            .map(|(k, (functions, lines, w))| Share {
                key: k.map(str::to_string),
                functions,
                lines,
                hap_weighted: weighted.then_some(w),
            })
            .collect();
        shares.sort_by(|a, b| b.lines.cmp(&a.lines).then_with(|| a.key.cmp(&b.key)));
        shares
    }

    /// Mark the functions that the baseline runs also call, and with
    /// `subtract`, leave them out of the HAP.
    pub fn apply_baseline(
        &mut self,
        baseline: &std::collections::HashSet<String>,
        traces: usize,
        subtract: bool,
    ) {
        let mut functions = std::collections::HashSet::new();
        for r in &mut self.rows {
            r.in_baseline = baseline.contains(&r.traced.key());
            if r.in_baseline {
                functions.insert(r.traced.key());
            }
        }
        // The baseline's lines: what leaving its functions out takes off the total.
        let mut without = self.clone();
        without.baseline.subtracted = true;
        without.recount();
        self.baseline = BaselineUse {
            traces,
            functions: functions.len() as u64,
            lines: 0,
            subtracted: false,
        };
        self.recount();
        self.baseline.lines = self.lines - without.lines;
        if subtract {
            self.baseline.subtracted = true;
            self.recount();
        }
    }
}

/// What the baseline runs explained.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BaselineUse {
    /// Baseline traces given.
    pub traces: usize,
    /// Traced functions the baseline also calls.
    pub functions: u64,
    /// The lines leaving them out takes off the total.
    pub lines: u64,
    /// Whether they were left out of `lines` and `hap`.
    pub subtracted: bool,
}

/// The directory of the module debug files that belong to `vmlinux`:
/// Debian installs `/usr/lib/debug/boot/vmlinux-RELEASE` and the modules
/// under `/usr/lib/debug/lib/modules/RELEASE/`.
pub fn default_modules_dir(vmlinux: &Path) -> Option<PathBuf> {
    let name = vmlinux.file_name()?.to_str()?;
    let release = name.strip_prefix("vmlinux-")?;
    let boot = vmlinux.parent()?;
    let dir = boot.parent()?.join("lib/modules").join(release);
    dir.is_dir().then_some(dir)
}

/// Count the functions inlined into the counted rows (`inlined[i]` belongs
/// to `table.symbols[i]`), once each by file and start line, leaving out those
/// already counted as traced functions. Sets [`Measurement::inline`].
pub fn apply_inline(
    m: &mut Measurement,
    table: &SymbolTable,
    inlined: &[Vec<crate::symbols::InlinedFn>],
) {
    let index: std::collections::HashMap<(u64, &str), usize> = table
        .symbols
        .iter()
        .enumerate()
        .map(|(i, s)| ((s.address, s.name.as_str()), i))
        .collect();
    let counted: std::collections::HashSet<(&str, u32)> = m
        .rows
        .iter()
        .filter(|r| r.counted)
        .filter_map(|r| r.symbol.as_ref())
        .filter_map(|s| Some((s.file.as_deref()?, s.start_line?)))
        .collect();
    let mut seen = std::collections::HashSet::new();
    let mut use_ = InlineUse::default();
    for s in m
        .rows
        .iter()
        .filter(|r| r.counted)
        .filter_map(|r| r.symbol.as_ref())
    {
        let Some(&i) = index.get(&(s.address, s.name.as_str())) else {
            continue;
        };
        for f in inlined.get(i).into_iter().flatten() {
            if counted.contains(&(f.file.as_str(), f.start_line))
                || !seen.insert((f.file.as_str(), f.start_line))
            {
                continue;
            }
            use_.functions += 1;
            use_.lines += u64::from(f.end_line.saturating_sub(f.start_line) + 1);
        }
    }
    m.inline = Some(use_);
}

/// `(lines, file, subsystem)` of a row, as [`crate::density::weighted_hap`] takes it.
fn weighted_input(r: &FunctionRow) -> Option<(u64, Option<&str>, Option<&str>)> {
    let s = r.symbol.as_ref()?;
    let subsystem = s.source.as_ref().and_then(|f| f.subsystem.as_deref());
    Some((
        u64::from(s.lines.unwrap_or(0)),
        s.file.as_deref(),
        subsystem,
    ))
}

/// Measure several traces of one kernel in parallel (results in input order).
pub fn measure_all(
    traces: &[PathBuf],
    vmlinux: &Path,
    table: &SymbolTable,
    options: &Options,
) -> Result<Vec<Measurement>, Error> {
    use rayon::prelude::*;
    traces
        .par_iter()
        .map(|t| measure(t, vmlinux, table, options))
        .collect()
}

/// The functions baseline runs (an idle or empty run of the same setup) call:
/// every task but idle and tracing tools, with the same interrupt and window
/// settings as `options`.
pub fn baseline_functions(
    traces: &[PathBuf],
    vmlinux: &Path,
    table: &SymbolTable,
    options: &Options,
) -> Result<std::collections::HashSet<String>, Error> {
    let mut o = options.clone();
    o.selection.tasks = crate::tasks::TaskFilter::default();
    let runs = measure_all(traces, vmlinux, table, &o)?;
    Ok(runs
        .iter()
        .flat_map(|m| m.rows.iter().map(|r| r.traced.key()))
        .collect())
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
