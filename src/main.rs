//! `hap`: the command-line front end. It parses arguments, turns them into
//! library options and calls ingest → analyze → report; no logic lives here.
//!
//! Exit codes: 0 success, 1 error, 2 usage error (see docs/cli.md).

mod args;

use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;

use args::{AmbiguousArg, AnalyzeArgs, Cli, Command, DumpArgs, IngestArgs, SymbolsArgs};

fn main() -> ExitCode {
    let cli = Cli::parse();
    remove_temporaries_on_interrupt();
    let result = match cli.command {
        Command::Ingest(a) => ingest(a),
        Command::Symbols(a) => symbols(a),
        Command::Analyze(a) => analyze(*a),
        Command::Dump(a) => dump(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            eprintln!("hap: {err:#}");
            ExitCode::from(1)
        }
    }
}

fn ingest(a: IngestArgs) -> anyhow::Result<()> {
    let summary =
        ingest::ingest_to_parquet(&a.trace, &a.output, &ingest::Options::strict(a.strict))?;
    let mut err = io::stderr().lock();
    let source = match summary.text.lines {
        0 => summary.info.format.clone(),
        n => format!("{n} lines"),
    };
    writeln!(
        err,
        "{}: {} events from {source} -> {}",
        a.trace.display(),
        summary.events,
        a.output.display()
    )?;
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

fn dump(a: DumpArgs) -> anyhow::Result<()> {
    let mut options = ingest::Options::default();
    if let Some(name) = &a.instance {
        options.dat = options.dat.with_instance(name);
    }
    let out = io::BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let dump_options = report::dump::DumpOptions {
        ns: a.ns,
        parent: a.parent,
        ..Default::default()
    };
    let mut sink = report::dump::DumpSink::new(out, dump_options);
    ingest::read_trace(&a.trace, &options, &ingest::parquet::col::ALL, &mut sink)?;
    sink.finish()?;
    Ok(())
}

fn symbols(a: SymbolsArgs) -> anyhow::Result<()> {
    let (mut table, source) = analyze::cache::load_symbols(&a.vmlinux, !a.no_cache)?;
    if let Some(tree) = &a.source {
        analyze::source::annotate_from(&mut table, tree)?;
    }
    analyze::table::write_symbols(&table, &a.output)?;
    let with_lines = table.symbols.iter().filter(|s| s.lines.is_some()).count();
    eprintln!(
        "{}: {} functions ({} with line info, {} without), {:?} -> {}",
        a.vmlinux.display(),
        table.symbols.len(),
        with_lines,
        table.symbols.len() - with_lines,
        source,
        a.output.display()
    );
    Ok(())
}

fn analyze(a: AnalyzeArgs) -> anyhow::Result<()> {
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
    let options = analyze::Options::new(
        selection,
        ambiguous,
        density,
        ingest::Options::strict(a.strict),
        analyze::SteadyOptions::new(a.steady_window, a.steady_fraction, a.steady_tolerance),
    );
    let (mut table, _) = analyze::cache::load_symbols(&a.vmlinux, !a.no_cache)?;
    if let Some(tree) = &a.source {
        analyze::source::annotate_from(&mut table, tree)?;
    }
    let mut runs = analyze::measure::measure_all(&a.traces, &a.vmlinux, &table, &options)?;
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
        if a.json {
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
    if a.json {
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
