//! Command-line arguments: only what the user typed, validated by clap.
//! Turning them into library options happens in `main.rs`.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Measure the Horizontal Attack Profile (HAP) of Linux workloads from ftrace traces.
#[derive(Debug, Parser)]
#[command(name = "hap", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Print the result as JSON on stdout (for `dump`: one object per event).
    #[arg(long, global = true)]
    pub json: bool,
    /// No progress bars and no notes on stderr; errors and warnings still show.
    #[arg(long, short, global = true)]
    pub quiet: bool,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Convert a trace (trace.dat, or ftrace text: plain, .gz or .zst) to an events Parquet file.
    Ingest(IngestArgs),
    /// Build the per-function symbol table (file, line span, lines) of a vmlinux.
    Symbols(SymbolsArgs),
    /// Measure a trace: unique functions, source lines and HAP.
    Analyze(Box<AnalyzeArgs>),
    /// Print a trace (trace.dat, text or events Parquet) one line per event, like `trace-cmd report`.
    Dump(DumpArgs),
    /// Bug density per file, directory and subsystem from the kernel's CVE records.
    Density(DensityArgs),
    /// Render result directories of `hap analyze -o` as HTML (with charts) or Markdown.
    Report(ReportArgs),
    /// Compare two result directories: functions only in one, line changes, HAP change.
    Diff(DiffArgs),
    /// Measure every trace of a directory tree or archive, each against its kernel's vmlinux.
    Batch(BatchArgs),
}

/// Which CVE records count for a kernel version.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ScopeArg {
    /// Records whose affected ranges include this exact release (bugs still unfixed in it).
    Release,
    /// Records affecting any release of its stable series up to it (every known bug its code carried).
    Series,
}

/// What each CVE counts for.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum WeightArg {
    /// Every CVE counts 1.
    Count,
    /// Every CVE counts its CVSS base score / 10.
    Cvss,
}

/// `hap density`.
#[derive(Debug, clap::Args)]
pub struct DensityArgs {
    /// The CVE records: the kernel CNA's `vulns` tree (cve/published/...) or a .tar.zst of it.
    #[arg(long, value_name = "PATH")]
    pub cves: PathBuf,
    /// The kernel source tree of that version (line counts and MAINTAINERS).
    #[arg(long, value_name = "KTREE")]
    pub source: PathBuf,
    /// The kernel version, e.g. 6.1.192.
    #[arg(long, value_name = "X.Y.Z")]
    pub kernel_version: String,
    /// Which records count.
    #[arg(long, value_enum, default_value = "series")]
    pub scope: ScopeArg,
    /// What each CVE counts for.
    #[arg(long, value_enum, default_value = "count")]
    pub weight: WeightArg,
    /// The density table (CSV) to write.
    #[arg(short, long)]
    pub output: PathBuf,
}

/// `hap report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Result directories written by `hap analyze -o`.
    #[arg(required = true, value_name = "RESULT")]
    pub results: Vec<PathBuf>,
    /// Label a result: NAME=DIR (repeatable; default label: the directory name).
    #[arg(long = "label", value_name = "NAME=DIR")]
    pub labels: Vec<String>,
    /// The report: `.md` for Markdown, anything else for HTML.
    #[arg(short, long)]
    pub output: PathBuf,
}

/// `hap diff`.
#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// The first result directory (e.g. the older kernel, or the baseline runtime).
    pub a: PathBuf,
    /// The second result directory.
    pub b: PathBuf,
}

/// `hap dump`.
#[derive(Debug, clap::Args)]
pub struct DumpArgs {
    /// The trace.
    pub trace: PathBuf,
    /// Nanosecond timestamps, like `trace-cmd report -t`.
    #[arg(long)]
    pub ns: bool,
    /// Show each function's caller, like `trace-cmd report -O parent=1`.
    #[arg(long)]
    pub parent: bool,
    /// Print only this trace.dat instance (ring buffer); default: every buffer, merged.
    #[arg(long, value_name = "NAME")]
    pub instance: Option<String>,
}

/// `hap ingest`.
#[derive(Debug, clap::Args)]
pub struct IngestArgs {
    /// The trace: ftrace `trace`/`trace_pipe` text or `trace-cmd report` output.
    pub trace: PathBuf,
    /// The events Parquet file to write.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Fail on the first line that cannot be parsed (default: count and skip).
    #[arg(long)]
    pub strict: bool,
}

/// `hap symbols`.
#[derive(Debug, clap::Args)]
pub struct SymbolsArgs {
    /// The vmlinux with DWARF (e.g. /usr/lib/debug/boot/vmlinux-$(uname -r)).
    #[arg(long)]
    pub vmlinux: PathBuf,
    /// Output: `.csv` for CSV, anything else for Parquet.
    #[arg(short, long)]
    pub output: PathBuf,
    /// The kernel source tree (e.g. Debian's linux-source): refine end lines, add
    /// nloc, macro families, MAINTAINERS subsystem and area.
    #[arg(long, value_name = "DIR")]
    pub source: Option<PathBuf>,
    /// Neither read nor write the symbol cache.
    #[arg(long)]
    pub no_cache: bool,
}

/// How to count a name that matches several distinct functions.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum AmbiguousArg {
    /// The candidate with the most lines.
    Max,
    /// Every candidate.
    All,
    /// None of them.
    Skip,
}

/// `hap analyze`.
#[derive(Debug, clap::Args)]
pub struct AnalyzeArgs {
    /// The trace (text, .gz, .zst) or an events Parquet from `hap ingest`; several
    /// traces of one workload give union, intersection and the HAP's spread.
    #[arg(required = true, value_name = "TRACE")]
    pub traces: Vec<PathBuf>,
    /// A trace of an idle or empty run (repeatable): its functions are reported apart.
    #[arg(long = "baseline", value_name = "TRACE")]
    pub baselines: Vec<PathBuf>,
    /// Leave the baseline's functions out of lines and HAP.
    #[arg(long, requires = "baselines")]
    pub subtract_baseline: bool,
    /// The vmlinux with DWARF the trace was recorded on.
    #[arg(long)]
    pub vmlinux: PathBuf,
    /// The kernel source tree: refined line spans, nloc and HAP per subsystem.
    #[arg(long, value_name = "DIR")]
    pub source: Option<PathBuf>,
    /// Also count the functions inlined into the traced ones (ftrace cannot see them).
    #[arg(long)]
    pub inline: bool,
    /// A bug-density table from `hap density`: adds the weighted HAP.
    #[arg(long, value_name = "CSV")]
    pub density: Option<PathBuf>,
    /// Debug files of the kernel's modules (default: Debian's
    /// /usr/lib/debug/lib/modules/RELEASE beside the vmlinux, if present).
    #[arg(long, value_name = "DIR")]
    pub modules: Option<PathBuf>,
    /// Write functions.parquet, functions.csv and result.json into this directory.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Keep only this thread id (repeatable).
    #[arg(long = "pid", value_name = "PID")]
    pub pids: Vec<i32>,
    /// Keep only tasks whose name matches this regex (repeatable).
    #[arg(long = "comm", value_name = "REGEX")]
    pub comms: Vec<String>,
    /// Keep only tasks of this thread group (repeatable; needs the TGID column or --follow-forks).
    #[arg(long = "tgid", value_name = "TGID")]
    pub tgids: Vec<i32>,
    /// Also keep children and threads forked by the selected tasks.
    #[arg(long)]
    pub follow_forks: bool,
    /// Also keep helper threads named after a selected pid, e.g. 'vhost-(\d+)' (repeatable).
    #[arg(long = "include-threads", value_name = "REGEX")]
    pub include_threads: Vec<String>,
    /// Keep events in interrupt context (hardirq, softirq, NMI).
    #[arg(long)]
    pub include_irq: bool,
    /// Ignore events before this trace time in seconds (as printed), or before event #N.
    #[arg(long, value_name = "SECONDS|#N")]
    pub from: Option<String>,
    /// Ignore events after this trace time in seconds (as printed), or after event #N.
    #[arg(long, value_name = "SECONDS|#N")]
    pub to: Option<String>,
    /// Ignore the workload's start-up until its first system call.
    #[arg(long)]
    pub from_first_syscall: bool,
    /// Bugs per 1,000 lines (default: 0.61, Coverity Scan 2013's figure for Linux).
    #[arg(long, value_name = "BUGS_PER_KLOC")]
    pub bug_density: Option<f64>,
    /// How to count names that match several distinct functions.
    #[arg(long, value_enum, default_value = "max")]
    pub ambiguous: AmbiguousArg,
    /// Fail on the first trace line that cannot be parsed.
    #[arg(long)]
    pub strict: bool,
    /// Neither read nor write the symbol cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Steady-state test window: the last this-many seconds of the run.
    #[arg(long, value_name = "SECONDS", default_value_t = 0.25)]
    pub steady_window: f64,
    /// Steady-state test window: the last this fraction of kept events.
    #[arg(long, value_name = "FRACTION", default_value_t = 0.10)]
    pub steady_fraction: f64,
    /// New functions tolerated in the test window, as a fraction of all functions (0 = none).
    #[arg(long, value_name = "FRACTION", default_value_t = 0.005)]
    pub steady_tolerance: f64,
}

/// `hap batch`.
#[derive(Debug, clap::Args)]
pub struct BatchArgs {
    /// A directory tree or a .tar, .tar.gz or .tar.zst archive of traces.
    pub input: PathBuf,
    /// The output directory: runs/, summary.parquet, summary.csv.
    #[arg(short, long)]
    pub output: PathBuf,
    /// A vmlinux with DWARF, named vmlinux-RELEASE (repeatable); each trace.dat
    /// is matched by the kernel release it recorded.
    #[arg(long = "vmlinux", value_name = "VMLINUX", required = true)]
    pub vmlinuxes: Vec<PathBuf>,
    /// A kernel source tree (repeatable), matched to a vmlinux by version
    /// (linux-source-X.Y directory name, or its Makefile).
    #[arg(long = "source", value_name = "KTREE")]
    pub sources: Vec<PathBuf>,
    /// Lines `GLOB<TAB>VMLINUX` choosing the vmlinux of traces that carry no
    /// kernel release (text traces); the first matching glob wins.
    #[arg(long, value_name = "FILE")]
    pub map: Option<PathBuf>,
    /// Also write summary/kernel=RELEASE/part-0.parquet (Hive partitioning).
    #[arg(long)]
    pub hive: bool,
    /// Measure every trace again, even those done by an earlier run.
    #[arg(long)]
    pub force: bool,
    /// Neither read nor write the symbol cache.
    #[arg(long)]
    pub no_cache: bool,
}
