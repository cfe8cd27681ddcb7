//! `hap`: the command-line front end. It parses arguments, turns them into
//! library options and calls ingest → analyze → report; no logic lives here.
//!
//! Exit codes: 0 success, 1 error, 2 usage error (see docs/cli.md).

mod args;
mod batch;
mod ui;

use std::io::{self, Write};

use anyhow::Context;
use clap::Parser;
use serde_json::json;

use args::{
    AmbiguousArg, AnalyzeArgs, Cli, Command, DensityArgs, DiffArgs, DumpArgs, IngestArgs,
    ReportArgs, ScopeArg, SymbolsArgs, WeightArg,
};
use ui::Ui;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Opt this process out of transparent huge pages. With THP `always` (Debian's
/// default), every 2 MiB-aligned stretch of the allocator's arenas is faulted
/// in and zeroed as one huge page the first time any byte of it is touched:
/// ingest spent 7-14 % of its time in `clear_page` and its peak memory moved
/// by tens of MB from run to run with where the arenas happened to fall.
/// With 4 KiB pages ingest is 10-15 % faster and its peak 30 % lower and
/// repeatable (docs/performance.md).
///
/// It runs as an ELF constructor, before the Rust runtime's first allocation:
/// called from `main`, the arena that allocation opened was already backed
/// by huge pages (8 % of a small ingest's time went to zeroing them).
extern "C" fn no_transparent_huge_pages() {
    // SAFETY: PR_SET_THP_DISABLE takes an integer flag and touches no memory
    // of ours; failure (an old kernel) leaves THP as it was, which is harmless.
    unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
}

#[used]
#[unsafe(link_section = ".init_array")]
static NO_THP_AT_START: extern "C" fn() = no_transparent_huge_pages;

/// mimalloc's `mi_option_purge_delay` (version 3, the crate's default).
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

unsafe extern "C" {
    /// Set a mimalloc option (linked in by the `mimalloc` crate).
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}

/// How long mimalloc keeps freed pages before giving them back to the
/// kernel, in milliseconds (whole arenas: ten times longer).
const PURGE_DELAY_MS: std::ffi::c_long = 30;

/// Have mimalloc give freed pages back to the kernel 30 ms after they are
/// freed instead of its default 10 ms (1 s for whole arenas). Ingest frees
/// a row group's encoded pages, compressed buffers and zstd contexts on
/// worker threads many times a second; with the default delay, each thread
/// kept tens of MB that the next row group did not reuse (peak about
/// 130 MB). Giving them back at once (delay 0) lowered the peak to 87 MB but
/// cost a `madvise` per freed page run and a page fault per page refilled:
/// 30 ms keeps the peak within 6-7 % of that, flat with the trace's length,
/// for 9 ms less kernel time per benchmark run and 10-15 % less time on a
/// 2 GB trace (docs/performance.md).
fn return_freed_memory_soon() {
    // SAFETY: sets one integer option of the allocator, which is thread-safe
    // and valid at any time; purge_delay is read each time pages are freed.
    unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) };
}

/// Report a write past the file-size limit (`ulimit -f`) as an error
/// (`EFBIG`, "File too large") instead of being killed by SIGXFSZ, which
/// would leave the output's temporary file behind.
fn file_size_limit_is_an_error() {
    // SAFETY: ignoring a signal changes no memory of ours; failure leaves
    // the default action, as before.
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
}

fn main() {
    return_freed_memory_soon();
    file_size_limit_is_an_error();
    let code = run(Cli::parse());
    exit_now(code)
}

/// Run the command; the process's exit code.
fn run(cli: Cli) -> u8 {
    remove_temporaries_on_interrupt();
    let ui = Ui::new(cli.quiet, cli.json);
    let json = cli.json;
    let result = match cli.command {
        Command::Ingest(a) => ingest(a, ui, json).map(|()| 0),
        Command::Symbols(a) => symbols(a, ui, json).map(|()| 0),
        Command::Analyze(a) => analyze(*a, ui, json).map(|()| 0),
        Command::Dump(a) => dump(a, json).map(|()| 0),
        Command::Density(a) => density(a, ui, json).map(|()| 0),
        Command::Report(a) => report_cmd(a, ui, json).map(|()| 0),
        Command::Diff(a) => diff(a, json).map(|()| 0),
        Command::Batch(a) => batch::run(a, ui, json),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            if is_broken_pipe(&err) {
                return 0;
            }
            eprintln!("hap: {err:#}");
            1
        }
    }
}

/// End the process with `code` once standard output is flushed, without
/// the allocator's exit-time cleanup: statically linked, mimalloc collects
/// and hands back every page it holds when the process exits, a few
/// milliseconds of `madvise` calls the kernel makes unnecessary by
/// reclaiming the whole address space anyway (docs/performance.md). Every
/// output file is complete and in place before this point.
fn exit_now(code: u8) -> ! {
    // (A failed flush changes nothing, as at a normal exit.)
    let _ = io::stdout().flush();
    // SAFETY: _exit ends the process at once; nothing runs after it, and no
    // file of ours is left half-written (outputs are committed by rename).
    unsafe { libc::_exit(i32::from(code)) }
}

fn ingest(a: IngestArgs, ui: Ui, json: bool) -> anyhow::Result<()> {
    let mut options = ingest::Options::strict(a.strict);
    options.progress = ui.progress();
    let summary = {
        let _bar = ui.bytes(format!("reading {}", a.trace.display()), &options.progress);
        ingest::ingest_to_parquet(&a.trace, &a.output, &options)?
    };
    if json {
        let mut out = io::stdout().lock();
        let info = &summary.info;
        let bad: Vec<_> = summary
            .text
            .first_bad
            .iter()
            .map(|(n, l)| json!({"line": n, "text": l}))
            .collect();
        serde_json::to_writer(
            &mut out,
            &json!({
                "trace": a.trace.display().to_string(),
                "output": a.output.display().to_string(),
                "format": info.format,
                "tracer": info.tracer,
                "cpus": info.cpus,
                "events": summary.events,
                "lines": summary.text.lines,
                "bad_lines": summary.text.bad_lines,
                "first_bad_lines": bad,
                "lost_events": info.lost_events,
                "source_sha256": info.source_sha256,
            }),
        )?;
        writeln!(out)?;
        return Ok(());
    }
    let mut err = io::stderr().lock();
    let source = match summary.text.lines {
        0 => summary.info.format.clone(),
        n => format!("{n} lines"),
    };
    ui.note(format_args!(
        "{}: {} events from {source} -> {}",
        a.trace.display(),
        summary.events,
        a.output.display()
    ));
    report_bad_lines(&summary.text, &mut err)?;
    Ok(())
}

fn report_bad_lines(stats: &ingest::text::TextStats, w: &mut impl Write) -> io::Result<()> {
    if stats.bad_lines > 0 {
        writeln!(
            w,
            "warning: {} lines could not be parsed (--strict makes this an error):",
            stats.bad_lines
        )?;
        for (n, l) in &stats.first_bad {
            writeln!(w, "  line {n}: {l}")?;
        }
    }
    Ok(())
}

fn dump(a: DumpArgs, json: bool) -> anyhow::Result<()> {
    let mut options = ingest::Options::default();
    if let Some(name) = &a.instance {
        options.dat = options.dat.with_instance(name);
    }
    let out = io::BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let columns = &ingest::columns::ALL;
    if json {
        let mut sink = report::jsonl::JsonLinesSink::new(out);
        ingest::read_trace(&a.trace, &options, columns, &mut sink)?;
        sink.finish()?;
        return Ok(());
    }
    let dump_options = report::dump::DumpOptions {
        ns: a.ns,
        parent: a.parent,
        ..Default::default()
    };
    // Like trace-cmd report: every ring buffer, merged, unless one is chosen.
    if a.instance.is_none() {
        options.dat = options.dat.with_all_buffers(true);
    }
    let mut sink = report::dump::DumpSink::new(out, dump_options);
    ingest::read_trace(&a.trace, &options, columns, &mut sink)?;
    sink.finish()?;
    Ok(())
}

fn density(a: DensityArgs, ui: Ui, json: bool) -> anyhow::Result<()> {
    use analyze::density;
    let version: density::KernelVersion = a
        .kernel_version
        .parse()
        .map_err(|e| anyhow::anyhow!("--kernel-version {:?}: {e}", a.kernel_version))?;
    let records = {
        let _bar = ui.step(format!("reading CVE records from {}", a.cves.display()));
        density::load(&a.cves)?
    };
    let maintainers = analyze::source::Maintainers::load(&a.source)?;
    let opts = density::DensityOptions {
        scope: match a.scope {
            ScopeArg::Release => density::Scope::Release,
            ScopeArg::Series => density::Scope::Series,
        },
        weight: match a.weight {
            WeightArg::Count => density::Weight::Count,
            WeightArg::Cvss => density::Weight::Cvss,
        },
        ..Default::default()
    };
    let table = {
        let _bar = ui.step("counting lines of the affected files");
        density::compute_with(&records, &version, &a.source, &maintainers, &opts)
    };
    density::write_csv(&table, &a.output)?;
    let release = records
        .iter()
        .filter(|r| density::affects(r, &version))
        .count();
    let series = records
        .iter()
        .filter(|r| density::affects_series(r, &version))
        .count();
    let mut out = io::stdout().lock();
    if json {
        let top: Vec<serde_json::Value> = report::json::density_subsystems(&table, 10);
        serde_json::to_writer(
            &mut out,
            &serde_json::json!({
                "kernel_version": a.kernel_version,
                "scope": format!("{:?}", a.scope).to_lowercase(),
                "cves_total": table.cves_total,
                "cves_affecting": release,
                "cves_affecting_series": series,
                "cves_counted": table.cves_affecting,
                "files_with_cves": table.files_with_cves,
                "global_rate": table.global_rate,
                "top_subsystems": top,
            }),
        )?;
        writeln!(out)?;
    } else {
        writeln!(
            out,
            "{}: {} CVE records; {release} affect {} (release), {series} its series up to it; \
             {} counted ({:?}) in {} files; global {:.4} CVEs per 1,000 lines -> {}",
            a.cves.display(),
            table.cves_total,
            a.kernel_version,
            table.cves_affecting,
            a.scope,
            table.files_with_cves,
            table.global_rate,
            a.output.display()
        )?;
    }
    Ok(())
}

fn report_cmd(a: ReportArgs, ui: Ui, json: bool) -> anyhow::Result<()> {
    let mut labels = std::collections::HashMap::new();
    for l in &a.labels {
        let (name, dir) = l
            .split_once('=')
            .with_context(|| format!("--label {l:?}: expected NAME=DIR"))?;
        let dir = std::fs::canonicalize(dir)
            .with_context(|| format!("--label {l:?}: no such directory"))?;
        labels.insert(dir, name.to_string());
    }
    let runs = a
        .results
        .iter()
        .map(|d| {
            let label = std::fs::canonicalize(d)
                .ok()
                .and_then(|c| labels.get(&c).cloned());
            report::results::load(d, label.as_deref())
        })
        .collect::<Result<Vec<_>, _>>()?;
    let md = a
        .output
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("md"));
    let text = if md {
        report::markdown::render_markdown(&runs)
    } else {
        report::html::render_html(&runs)
    };
    ingest::atomic::write_all(&a.output, text.as_bytes())
        .with_context(|| format!("{}: cannot write the report", a.output.display()))?;
    if json {
        let labels: Vec<&str> = runs.iter().map(|r| r.label.as_str()).collect();
        let mut out = io::stdout().lock();
        serde_json::to_writer(
            &mut out,
            &json!({
                "output": a.output.display().to_string(),
                "format": if md { "markdown" } else { "html" },
                "bytes": text.len(),
                "runs": labels,
            }),
        )?;
        writeln!(out)?;
    } else {
        ui.note(format_args!(
            "{} runs -> {}",
            runs.len(),
            a.output.display()
        ));
    }
    Ok(())
}

fn diff(a: DiffArgs, json: bool) -> anyhow::Result<()> {
    let ra = report::results::load(&a.a, None)?;
    let rb = report::results::load(&a.b, None)?;
    let d = report::diff::diff(&ra, &rb);
    let mut out = io::stdout().lock();
    if json {
        serde_json::to_writer(&mut out, &report::diff::diff_json(&d))?;
        writeln!(out)?;
    } else {
        report::diff::write_diff_text(&d, &mut out)?;
    }
    Ok(())
}

fn symbols(a: SymbolsArgs, ui: Ui, json: bool) -> anyhow::Result<()> {
    let (table, source) = load_symbols(&a.vmlinux, a.source.as_deref(), !a.no_cache, ui)?;
    analyze::table::write_symbols(&table, &a.output)?;
    let with_lines = table.symbols.iter().filter(|s| s.lines.is_some()).count();
    if json {
        let mut out = io::stdout().lock();
        serde_json::to_writer(
            &mut out,
            &json!({
                "vmlinux": a.vmlinux.display().to_string(),
                "output": a.output.display().to_string(),
                "functions": table.symbols.len(),
                "with_lines": with_lines,
                "without_lines": table.symbols.len() - with_lines,
                "loaded_from": format!("{source:?}").to_lowercase(),
                "source_tree": a.source.as_ref().map(|p| p.display().to_string()),
            }),
        )?;
        writeln!(out)?;
        return Ok(());
    }
    ui.note(format_args!(
        "{}: {} functions ({} with line info, {} without), {:?} -> {}",
        a.vmlinux.display(),
        table.symbols.len(),
        with_lines,
        table.symbols.len() - with_lines,
        source,
        a.output.display()
    ));
    Ok(())
}

/// The symbol table of `vmlinux` (from the cache when allowed), refined from
/// the source tree when one is given, with a spinner on each step.
fn load_symbols(
    vmlinux: &std::path::Path,
    source: Option<&std::path::Path>,
    use_cache: bool,
    ui: Ui,
) -> anyhow::Result<(analyze::symbols::SymbolTable, analyze::cache::Source)> {
    let loaded = {
        let _bar = ui.step(format!("reading the symbols of {}", vmlinux.display()));
        analyze::cache::load_symbols(vmlinux, use_cache)?
    };
    let (mut table, from) = loaded;
    if let Some(tree) = source {
        let _bar = ui.step(format!("refining line spans from {}", tree.display()));
        analyze::source::annotate_from(&mut table, tree)?;
    }
    Ok((table, from))
}

fn analyze(a: AnalyzeArgs, ui: Ui, json: bool) -> anyhow::Result<()> {
    let regexes = |list: &[String], what: &str| {
        list.iter()
            .map(|c| regex::Regex::new(c).with_context(|| format!("invalid {what} regex {c:?}")))
            .collect::<anyhow::Result<Vec<_>>>()
    };
    let mut tasks = analyze::TaskFilter::default();
    tasks.pids = a.pids.clone();
    tasks.tgids = a.tgids.clone();
    tasks.comms = regexes(&a.comms, "--comm")?;
    tasks.follow_forks = a.follow_forks;
    tasks.include_threads = regexes(&a.include_threads, "--include-threads")?;
    let from = a
        .from
        .as_deref()
        .map(|b| parse_bound(b, "--from"))
        .transpose()?;
    let to =
        a.to.as_deref()
            .map(|b| parse_bound(b, "--to"))
            .transpose()?;
    let selection =
        analyze::Selection::new(tasks, a.include_irq).with_window(from, to, a.from_first_syscall);
    let ambiguous = match a.ambiguous {
        AmbiguousArg::Max => analyze::Ambiguous::Max,
        AmbiguousArg::All => analyze::Ambiguous::All,
        AmbiguousArg::Skip => analyze::Ambiguous::Skip,
    };
    let density = a.bug_density.unwrap_or(analyze::DEFAULT_BUG_DENSITY);
    anyhow::ensure!(
        density.is_finite() && density >= 0.0,
        "--bug-density must be a non-negative number"
    );
    let mut options = analyze::Options::new(
        selection,
        ambiguous,
        density,
        ingest::Options::strict(a.strict),
        analyze::SteadyOptions::new(a.steady_window, a.steady_fraction, a.steady_tolerance),
    );
    options.ingest.progress = ui.progress();
    let (table, _) = load_symbols(&a.vmlinux, a.source.as_deref(), !a.no_cache, ui)?;
    let modules_dir = a
        .modules
        .clone()
        .or_else(|| analyze::measure::default_modules_dir(&a.vmlinux));
    if let Some(dir) = modules_dir {
        options.modules = Some(std::sync::Arc::new(analyze::symbols::ModuleTables::new(
            &dir,
        )?));
    }
    let density = a
        .density
        .as_ref()
        .map(|p| -> anyhow::Result<analyze::measure::DensityUse> {
            Ok(analyze::measure::DensityUse {
                table: std::sync::Arc::new(analyze::density::read_csv(p)?),
                source: p.display().to_string(),
            })
        })
        .transpose()?;
    let mut runs = {
        let what = match a.traces.as_slice() {
            [one] => one.display().to_string(),
            many => format!("{} traces", many.len()),
        };
        let _bar = ui.bytes(format!("reading {what}"), &options.ingest.progress);
        analyze::measure::measure_all(&a.traces, &a.vmlinux, &table, &options)?
    };
    let inlined = if a.inline {
        let _bar = ui.step("reading inlined functions from DWARF");
        Some(analyze::symbols::SymbolTable::inlined_from_path(
            &a.vmlinux,
            &table.symbols,
        )?)
    } else {
        None
    };
    for m in &mut runs {
        m.density = density.clone();
        m.recount();
        if let Some(inlined) = &inlined {
            analyze::measure::apply_inline(m, &table, inlined);
        }
    }
    if !a.baselines.is_empty() {
        let base =
            analyze::measure::baseline_functions(&a.baselines, &a.vmlinux, &table, &options)?;
        for m in &mut runs {
            m.apply_baseline(&base, a.baselines.len(), a.subtract_baseline);
        }
    }
    let mut out = io::stdout().lock();
    if let [m] = runs.as_slice() {
        if let Some(dir) = &a.output {
            report::files::write_result_dir(m, dir)?;
        }
        if json {
            serde_json::to_writer(&mut out, &report::json::measurement(m))?;
            writeln!(out)?;
        } else {
            report::terminal::measurement(m, &mut out)?;
        }
        return Ok(());
    }
    let combined = analyze::runs::combine(&runs);
    if let Some(dir) = &a.output {
        report::files::write_runs_dir(&runs, &combined, dir)?;
    }
    if json {
        serde_json::to_writer(&mut out, &report::json::runs(&runs, &combined))?;
        writeln!(out)?;
    } else {
        report::terminal::runs(&runs, &combined, &mut out)?;
    }
    Ok(())
}

/// `12.5` (trace seconds, exact) or `#1000` (event index).
fn parse_bound(text: &str, what: &str) -> anyhow::Result<analyze::Bound> {
    if let Some(n) = text.strip_prefix('#') {
        let n = n
            .parse()
            .with_context(|| format!("{what}: bad event index {text:?}"))?;
        return Ok(analyze::Bound::Event(n));
    }
    let ns = ingest::text::parse_timestamp(text).with_context(|| {
        format!("{what}: expected seconds like 68.8 or an event index like #1000, got {text:?}")
    })?;
    // parse_timestamp keeps a fraction-less number as a raw count; here it means seconds.
    let ns = if text.contains('.') {
        ns
    } else {
        ns.saturating_mul(1_000_000_000)
    };
    Ok(analyze::Bound::Time(ns))
}

/// Output closed early (`hap dump … | head`): not an error.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        let io =
            c.downcast_ref::<io::Error>()
                .or_else(|| match c.downcast_ref::<ingest::Error>() {
                    Some(ingest::Error {
                        kind: ingest::ErrorKind::Io(e),
                        ..
                    }) => Some(e),
                    _ => None,
                });
        io.is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// On SIGINT or SIGTERM, remove the temporary files of outputs still being
/// written (destructors do not run when a signal ends the process), then exit
/// with 128 + the signal number, as a shell does.
fn remove_temporaries_on_interrupt() {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
        return;
    };
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            ingest::atomic::remove_all_temporaries();
            std::process::exit(128 + sig);
        }
    });
}
