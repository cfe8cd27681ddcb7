//! `hap batch INPUT -o OUTDIR`: measure every trace of a directory tree or a
//! tar archive, each against the vmlinux of the kernel it was recorded on,
//! in parallel, into `OUTDIR/runs/<member>/` and one summary table.
//!
//! A member that cannot be measured gets an `error` in its summary row and
//! never stops the batch (exit code 3 instead of 0). A re-run reuses the
//! numbers of members whose content (SHA-256) was already measured.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use analyze::batch_table::BatchRow;
use anyhow::Context;

use crate::args::BatchArgs;
use crate::ui::Ui;

/// The done marker written into a run directory once all its files are written.
const MARKER: &str = "batch.json";

/// Exit code when some members failed.
const SOME_FAILED: u8 = 3;

/// A vmlinux of the batch and, once needed, its symbol table and options.
struct Kernel {
    path: PathBuf,
    /// From the file name `vmlinux-RELEASE`.
    release: Option<String>,
    source: Option<PathBuf>,
}

struct Ctx {
    table: analyze::symbols::SymbolTable,
    options: analyze::Options,
}

/// A trace found in the input.
struct Member {
    /// Path inside the input (`/`-separated).
    rel: String,
    /// Where its bytes are, or why it cannot be read.
    file: Result<PathBuf, String>,
}

pub fn run(a: BatchArgs, ui: Ui, json: bool) -> anyhow::Result<u8> {
    std::fs::create_dir_all(&a.output)
        .with_context(|| format!("{}: cannot create the output directory", a.output.display()))?;
    let out = std::fs::canonicalize(&a.output)?;
    let mut kernels: Vec<Kernel> = a.vmlinuxes.iter().map(|p| kernel(p)).collect();
    let map = match &a.map {
        Some(p) => read_map(p, &mut kernels)?,
        None => Vec::new(),
    };
    for k in &mut kernels {
        k.source = match_source(k.release.as_deref(), &a.sources)?;
    }

    // Archives are extracted into a temporary directory inside OUTDIR,
    // removed when `_extracted` drops, or by the signal handler.
    let (members, _extracted) = if a.input.is_dir() {
        (walk_dir(&a.input, &out)?, None)
    } else {
        let tmp = Extracted::create(&out)
            .with_context(|| format!("{}: cannot create a temporary directory", out.display()))?;
        let members = {
            let _bar = ui.step(format!("extracting {}", a.input.display()));
            extract(&a.input, &tmp.0)?
        };
        (members, Some(tmp))
    };
    let bar = ui.items("measuring", members.len() as u64);

    let done = if a.force {
        HashMap::new()
    } else {
        done_markers(&out.join("runs"))
    };
    let run_dirs = run_dirs(&members);
    // Symbol tables are loaded between parallel passes, never inside one: a
    // member that needs a kernel not loaded yet says so and waits for the next
    // pass (blocking a rayon worker on a lazily loaded table can deadlock).
    let mut ctxs: HashMap<usize, Result<Arc<Ctx>, String>> = HashMap::new();
    let mut rows: Vec<Option<BatchRow>> = vec![None; members.len()];
    loop {
        use rayon::prelude::*;
        let batch = Batch {
            kernels: &kernels,
            map: &map,
            out: &out,
            done: &done,
            ctxs: &ctxs,
        };
        let outcomes: Vec<(usize, Outcome)> = rows
            .par_iter()
            .enumerate()
            .filter(|(_, r)| r.is_none())
            .map(|(i, _)| {
                let outcome = batch.member(&members[i], &run_dirs[i]);
                if matches!(outcome, Outcome::Done(_)) {
                    bar.inc();
                }
                (i, outcome)
            })
            .collect();
        let mut needed = Vec::new();
        for (i, o) in outcomes {
            match o {
                Outcome::Done(row) => rows[i] = Some(*row),
                Outcome::Need(k) if !ctxs.contains_key(&k) => needed.push(k),
                Outcome::Need(_) => unreachable!("a loaded kernel is never needed again"),
            }
        }
        if needed.is_empty() {
            break;
        }
        needed.sort_unstable();
        needed.dedup();
        let _step = ui.step(format!("reading the symbols of {} kernel(s)", needed.len()));
        let loaded: Vec<_> = needed
            .par_iter()
            .map(|&k| {
                let ctx = load(&kernels[k], !a.no_cache)
                    .map(Arc::new)
                    .map_err(|e| format!("{}: {e:#}", kernels[k].path.display()));
                (k, ctx)
            })
            .collect();
        ctxs.extend(loaded);
    }
    let rows: Vec<BatchRow> = rows
        .into_iter()
        .map(|r| r.expect("every member done"))
        .collect();
    drop(bar);
    analyze::batch_table::write_summary(&rows, &out, a.hive)?;

    let failed = rows.iter().filter(|r| r.error.is_some()).count();
    let reused = rows.iter().filter(|r| r.reused).count();
    let mut err = std::io::stderr().lock();
    for r in rows.iter().filter(|r| r.error.is_some()) {
        writeln!(err, "{}: {}", r.path, r.error.as_deref().unwrap_or(""))?;
    }
    ui.note(format_args!(
        "{} traces: {} measured, {reused} reused, {failed} failed -> {}",
        rows.len(),
        rows.len() - failed - reused,
        a.output.join("summary.parquet").display()
    ));
    if json {
        let mut stdout = std::io::stdout().lock();
        let list: Vec<_> = rows.iter().map(BatchRow::to_json).collect();
        serde_json::to_writer(&mut stdout, &list)?;
        writeln!(stdout)?;
    }
    Ok(if failed > 0 { SOME_FAILED } else { 0 })
}

/// The extraction folder of an archive, `.hap-batch-extract-PID` in OUTDIR:
/// registered with the signal handler before it exists (so an interrupt at
/// any moment removes it), removed on drop.
struct Extracted(PathBuf);

impl Extracted {
    fn create(out: &Path) -> std::io::Result<Extracted> {
        let path = out.join(format!(".hap-batch-extract-{}", std::process::id()));
        ingest::atomic::register_temporary(&path);
        let guard = Extracted(path);
        if guard.0.exists() {
            // Left by an earlier run that had this pid and was killed hard.
            std::fs::remove_dir_all(&guard.0)?;
        }
        std::fs::create_dir(&guard.0)?;
        Ok(guard)
    }
}

impl Drop for Extracted {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
        ingest::atomic::unregister_temporary(&self.0);
    }
}

fn kernel(path: &Path) -> Kernel {
    let release = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("vmlinux-"))
        .map(str::to_string);
    Kernel {
        path: path.to_path_buf(),
        release,
        source: None,
    }
}

/// `GLOB<TAB>VMLINUX` lines; VMLINUX is a `--vmlinux` path, its release, or
/// another vmlinux file (added to `kernels`). Returns (glob, kernel index).
fn read_map(path: &Path, kernels: &mut Vec<Kernel>) -> anyhow::Result<Vec<(String, usize)>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--map {}: cannot read", path.display()))?;
    let mut map = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let (glob, target) = line.split_once('\t').with_context(|| {
            format!(
                "--map {}: line {}: expected GLOB<TAB>VMLINUX",
                path.display(),
                n + 1
            )
        })?;
        let target = target.trim();
        let found = kernels.iter().position(|k| {
            k.path == Path::new(target)
                || k.release.as_deref() == Some(target)
                || k.path.file_name().and_then(|f| f.to_str()) == Some(target)
        });
        let i = match found {
            Some(i) => i,
            None if Path::new(target).is_file() => {
                kernels.push(kernel(Path::new(target)));
                kernels.len() - 1
            }
            None => anyhow::bail!(
                "--map {}: line {}: {target:?} is neither a --vmlinux, its release, nor a file",
                path.display(),
                n + 1
            ),
        };
        map.push((glob.trim().to_string(), i));
    }
    Ok(map)
}

/// `X.Y` of a kernel release such as `6.1.0-57-cloud-amd64`.
fn major_minor(release: &str) -> Option<String> {
    let mut it = release.split(|c: char| !c.is_ascii_digit());
    let (x, y) = (it.next()?, it.next()?);
    (!x.is_empty() && !y.is_empty()).then(|| format!("{x}.{y}"))
}

/// The version `X.Y` of a source tree: its directory name (`linux-source-6.1`,
/// `linux-6.1.192`) or its Makefile's VERSION and PATCHLEVEL.
fn tree_version(tree: &Path) -> Option<String> {
    if let Ok(text) = std::fs::read_to_string(tree.join("Makefile")) {
        let var = |name: &str| {
            text.lines().find_map(|l| {
                let (k, v) = l.split_once('=')?;
                (k.trim() == name).then(|| v.trim().to_string())
            })
        };
        if let (Some(v), Some(p)) = (var("VERSION"), var("PATCHLEVEL")) {
            return Some(format!("{v}.{p}"));
        }
    }
    let name = tree.file_name()?.to_str()?;
    let rest = name
        .strip_prefix("linux-source-")
        .or_else(|| name.strip_prefix("linux-"))?;
    major_minor(rest)
}

fn match_source(release: Option<&str>, sources: &[PathBuf]) -> anyhow::Result<Option<PathBuf>> {
    let Some(want) = release.and_then(major_minor) else {
        return Ok(None);
    };
    for s in sources {
        let v = tree_version(s)
            .with_context(|| format!("--source {}: cannot tell its version", s.display()))?;
        if v == want {
            return Ok(Some(s.clone()));
        }
    }
    Ok(None)
}

/// Whether a file name is one of the trace formats `hap analyze` reads.
fn is_trace_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        ".dat", ".dat.zst", ".dat.gz", ".txt", ".txt.zst", ".txt.gz", ".parquet",
    ]
    .iter()
    .any(|e| n.ends_with(e))
}

fn walk_dir(root: &Path, out: &Path) -> anyhow::Result<Vec<Member>> {
    let mut members = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries =
            std::fs::read_dir(&dir).with_context(|| format!("{}: cannot read", dir.display()))?;
        for e in entries {
            let e = e.with_context(|| format!("{}: cannot read", dir.display()))?;
            let p = e.path();
            let ft = e.file_type()?;
            if ft.is_dir() {
                // Never read our own output back as input.
                if std::fs::canonicalize(&p).is_ok_and(|c| c == out) {
                    continue;
                }
                stack.push(p);
            } else if is_trace_name(&e.file_name().to_string_lossy()) && p.is_file() {
                let rel = p
                    .strip_prefix(root)
                    .unwrap_or(&p)
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                members.push(Member { rel, file: Ok(p) });
            }
        }
    }
    members.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(members)
}

/// The member path if it is safe to create under a directory: relative,
/// without `..`, root or prefix components.
fn safe_relative(path: &Path) -> Option<PathBuf> {
    let mut clean = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => clean.push(n),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    (!clean.as_os_str().is_empty()).then_some(clean)
}

/// Extract the trace members of a (plain, gzip or zstd) tar archive into `tmp`.
fn extract(archive: &Path, tmp: &Path) -> anyhow::Result<Vec<Member>> {
    let file = std::fs::File::open(archive)
        .with_context(|| format!("{}: cannot open the input", archive.display()))?;
    let mut raw = std::io::BufReader::new(file);
    let head = std::io::BufRead::fill_buf(&mut raw)?;
    let reader: Box<dyn Read> = match ingest::input::Compression::sniff(head) {
        ingest::input::Compression::None => Box::new(raw),
        ingest::input::Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(raw)),
        ingest::input::Compression::Zstd => {
            Box::new(zstd::stream::read::Decoder::with_buffer(raw)?)
        }
    };
    let mut tar = tar::Archive::new(reader);
    let mut members: Vec<Member> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut push = |members: &mut Vec<Member>, m: Member| match index.get(&m.rel) {
        // A later member of the same name replaces the earlier one, as tar does.
        Some(&i) => members[i] = m,
        None => {
            index.insert(m.rel.clone(), members.len());
            members.push(m);
        }
    };
    let entries = tar
        .entries()
        .with_context(|| format!("{}: not a tar archive", archive.display()))?;
    for entry in entries {
        let mut entry = match entry {
            Ok(e) => e,
            Err(e) => {
                let rel = format!("{} (archive)", archive.display());
                push(
                    &mut members,
                    Member {
                        rel,
                        file: Err(format!("archive unreadable: {e}")),
                    },
                );
                break;
            }
        };
        let raw_path = entry.path_bytes().into_owned();
        let rel = String::from_utf8_lossy(&raw_path).into_owned();
        let kind = entry.header().entry_type();
        if kind.is_dir() || kind.is_pax_global_extensions() {
            continue;
        }
        let Some(clean) = safe_relative(Path::new(&rel)) else {
            let err = "unsafe member path (absolute or with ..): not extracted".to_string();
            push(
                &mut members,
                Member {
                    rel,
                    file: Err(err),
                },
            );
            continue;
        };
        if !is_trace_name(&rel) {
            continue;
        }
        let rel = clean.to_string_lossy().into_owned();
        if !kind.is_file() {
            let err = format!("not a regular file ({kind:?}): not extracted");
            push(
                &mut members,
                Member {
                    rel,
                    file: Err(err),
                },
            );
            continue;
        }
        let dest = tmp.join(&clean);
        let written = (|| -> std::io::Result<()> {
            if let Some(parent) = dest.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let mut f = std::fs::File::create(&dest)?;
            std::io::copy(&mut entry, &mut f)?;
            Ok(())
        })();
        let file = match written {
            Ok(()) => Ok(dest),
            Err(e) => Err(format!("cannot extract: {e}")),
        };
        push(&mut members, Member { rel, file });
    }
    Ok(members)
}

/// One run directory per member under `runs/`: the member path with unusual
/// characters replaced, made unique.
fn run_dirs(members: &[Member]) -> Vec<String> {
    let mut used = HashSet::new();
    members
        .iter()
        .map(|m| {
            let parts: Vec<String> = m
                .rel
                .split('/')
                .filter(|c| !c.is_empty() && *c != "." && *c != "..")
                .map(|c| {
                    let s: String = c
                        .chars()
                        .map(|ch| {
                            if ch.is_ascii_alphanumeric() || "._+-".contains(ch) {
                                ch
                            } else {
                                '_'
                            }
                        })
                        .collect();
                    match s.strip_prefix('.') {
                        Some(rest) => format!("_{rest}"),
                        None => s,
                    }
                })
                .collect();
            let base = format!("runs/{}", parts.join("/"));
            let mut dir = base.clone();
            let mut n = 2;
            // Unique, and never a prefix directory of another run directory.
            while used.contains(&dir) {
                dir = format!("{base}~{n}");
                n += 1;
            }
            used.insert(dir.clone());
            dir
        })
        .collect()
}

/// The done markers of earlier runs, by SHA-256.
fn done_markers(runs: &Path) -> HashMap<String, BatchRow> {
    let mut done = HashMap::new();
    let mut stack = vec![runs.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(p);
            } else if e.file_name() == MARKER {
                let row = std::fs::read(&p)
                    .ok()
                    .and_then(|b| serde_json::from_slice(&b).ok())
                    .and_then(|v| BatchRow::from_json(&v));
                if let Some(row) = row.filter(|r| r.error.is_none()) {
                    if let Some(sha) = row.sha256.clone() {
                        done.insert(sha, row);
                    }
                }
            }
        }
    }
    done
}

struct Batch<'a> {
    kernels: &'a [Kernel],
    map: &'a [(String, usize)],
    out: &'a Path,
    done: &'a HashMap<String, BatchRow>,
    ctxs: &'a HashMap<usize, Result<Arc<Ctx>, String>>,
}

/// What processing a member came to.
enum Outcome {
    Done(Box<BatchRow>),
    /// It needs the symbol table of this kernel, not loaded yet.
    Need(usize),
}

impl Batch<'_> {
    fn member(&self, m: &Member, run_dir: &str) -> Outcome {
        let file = match &m.file {
            Ok(f) => f,
            Err(e) => return Outcome::Done(Box::new(BatchRow::failed(&m.rel, None, e.clone()))),
        };
        match self.measure(m, file, run_dir) {
            Ok(o) => o,
            Err((sha, e)) => Outcome::Done(Box::new(BatchRow::failed(&m.rel, sha, e))),
        }
    }

    fn measure(
        &self,
        m: &Member,
        file: &Path,
        run_dir: &str,
    ) -> Result<Outcome, (Option<String>, String)> {
        use ingest::input::{Input, TraceKind};
        let mut input = Input::open(file).map_err(|e| (None, short(&e.to_string(), file)))?;
        let mut head = Vec::new();
        let _ = (&mut input.reader).take(8 << 20).read_to_end(&mut head);
        let sha = input
            .sha256_hex(file)
            .map_err(|e| (None, short(&e.to_string(), file)))?;
        let fail = |e: String| (Some(sha.clone()), e);
        let name = m.rel.to_ascii_lowercase();
        let dat_name = [".dat", ".dat.zst", ".dat.gz"]
            .iter()
            .any(|e| name.ends_with(e));
        if dat_name && input.kind != TraceKind::TraceDat {
            return Err(fail(
                "not a trace.dat (no trace.dat magic): unknown format".into(),
            ));
        }
        if name.ends_with(".parquet") && input.kind != TraceKind::Parquet {
            return Err(fail(
                "not a Parquet file (no PAR1 magic): unknown format".into(),
            ));
        }
        drop(input);

        if let Some(prev) = self.done.get(&sha) {
            let known = prev
                .vmlinux
                .as_deref()
                .is_some_and(|v| self.kernels.iter().any(|k| k.path == Path::new(v)));
            let dir = prev.run_dir.as_deref().unwrap_or(run_dir);
            if known && self.out.join(dir).join("result.json").is_file() {
                let mut row = prev.clone();
                row.path = m.rel.clone();
                row.reused = true;
                return Ok(Outcome::Done(Box::new(row)));
            }
        }

        // The kernel: a trace.dat names its release (uname) in its options;
        // otherwise the map, or the only vmlinux.
        let by_release = self.kernels.iter().position(|k| {
            k.release.as_deref().is_some_and(|r| {
                let needle = format!(" {r} ");
                head.windows(needle.len()).any(|w| w == needle.as_bytes())
            })
        });
        let by_map = self
            .map
            .iter()
            .find(|(g, _)| glob_match(g, &m.rel))
            .map(|&(_, i)| i);
        let single = (self.kernels.len() == 1).then_some(0);
        let mut candidate = by_release.or(by_map).or(single).or_else(|| {
            // A trace.dat whose release was not in its first bytes: try, and
            // let the address check name the right kernel.
            (self.kernels.len() > 1 && dat_name).then_some(0)
        });
        let mut tried = HashSet::new();
        let measured = loop {
            let Some(i) = candidate else {
                return Err(fail(
                    "no matching vmlinux: the trace names no kernel release; give --map GLOB<TAB>VMLINUX"
                        .into(),
                ));
            };
            tried.insert(i);
            let k = &self.kernels[i];
            let ctx = match self.ctxs.get(&i) {
                None => return Ok(Outcome::Need(i)),
                Some(Err(e)) => return Err(fail(e.clone())),
                Some(Ok(c)) => c,
            };
            match analyze::measure(file, &k.path, &ctx.table, &ctx.options) {
                Ok(meas) => {
                    let release = trace_release(&meas.trace.extra);
                    match release {
                        Some(r) if k.release.as_deref().is_some_and(|kr| kr != r) => {
                            match self.kernel_of(&r).filter(|j| !tried.contains(j)) {
                                Some(j) => candidate = Some(j),
                                None => {
                                    return Err(fail(format!(
                                        "no matching vmlinux for kernel {r} (give --vmlinux .../vmlinux-{r})"
                                    )))
                                }
                            }
                        }
                        _ => break (meas, i),
                    }
                }
                Err(analyze::Error::Mismatch { trace_kernel, .. }) => {
                    let r = trace_kernel
                        .split_whitespace()
                        .nth(2)
                        .unwrap_or(&trace_kernel)
                        .to_string();
                    match self.kernel_of(&r).filter(|j| !tried.contains(j)) {
                        Some(j) => candidate = Some(j),
                        None => {
                            return Err(fail(format!(
                                "no matching vmlinux: trace recorded on kernel {r}, not on {}",
                                k.path.display()
                            )))
                        }
                    }
                }
                Err(e) => return Err(fail(short(&e.to_string(), file))),
            }
        };
        let (meas, i) = measured;
        if meas.selection.events_total == 0 {
            return Err(fail("no trace events found: unknown format".into()));
        }
        let k = &self.kernels[i];
        let dir = self.out.join(run_dir);
        report::files::write_result_dir(&meas, &dir).map_err(|e| fail(e.to_string()))?;
        let row = BatchRow {
            path: m.rel.clone(),
            sha256: Some(sha.clone()),
            kernel: k
                .release
                .clone()
                .or_else(|| trace_release(&meas.trace.extra)),
            vmlinux: Some(k.path.display().to_string()),
            events: Some(meas.selection.events_total),
            functions: Some(meas.functions),
            resolved: Some(meas.resolved),
            unresolved: Some(meas.unresolved),
            lines: Some(meas.lines),
            hap: Some(meas.hap),
            hap_weighted: meas.hap_weighted,
            steady_reached: Some(meas.steady.reached),
            reused: false,
            run_dir: Some(run_dir.to_string()),
            error: None,
        };
        let text = serde_json::to_string_pretty(&row.to_json()).map_err(|e| fail(e.to_string()))?;
        let marker = dir.join(MARKER);
        ingest::atomic::write_all(&marker, text.as_bytes())
            .map_err(|e| fail(format!("{}: {e}", marker.display())))?;
        Ok(Outcome::Done(Box::new(row)))
    }

    fn kernel_of(&self, release: &str) -> Option<usize> {
        self.kernels
            .iter()
            .position(|k| k.release.as_deref() == Some(release))
    }
}

/// An error message without the (temporary) path it starts with.
fn short(msg: &str, file: &Path) -> String {
    let p = file.display().to_string();
    msg.strip_prefix(&p)
        .map(|m| m.trim_start_matches([':', ' ']).to_string())
        .unwrap_or_else(|| msg.to_string())
}

/// The kernel release a trace recorded (trace.dat's uname), if any.
fn trace_release(extra: &[(String, String)]) -> Option<String> {
    let get = |k: &str| {
        extra
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    get("dat.kernel_version")
        .or_else(|| get("hap.dat.kernel_version"))
        .or_else(|| {
            get("hap.dat.uname").and_then(|u| u.split_whitespace().nth(2).map(str::to_string))
        })
}

/// The same options `hap analyze` uses by default.
fn load(k: &Kernel, use_cache: bool) -> anyhow::Result<Ctx> {
    let selection = analyze::Selection::new(analyze::TaskFilter::default(), false)
        .with_window(None, None, false);
    let mut options = analyze::Options::new(
        selection,
        analyze::Ambiguous::Max,
        analyze::DEFAULT_BUG_DENSITY,
        ingest::Options::strict(false),
        analyze::SteadyOptions::new(0.25, 0.10, 0.005),
    );
    let (mut table, _) = analyze::cache::load_symbols(&k.path, use_cache)?;
    if let Some(tree) = &k.source {
        analyze::source::annotate_from(&mut table, tree)?;
    }
    if let Some(dir) = analyze::measure::default_modules_dir(&k.path) {
        options.modules = Some(Arc::new(analyze::symbols::ModuleTables::new(&dir)?));
    }
    Ok(Ctx { table, options })
}

/// Shell-style glob: `*` any run of characters (`/` included), `?` one character.
fn glob_match(glob: &str, text: &str) -> bool {
    let (g, t): (Vec<char>, Vec<char>) = (glob.chars().collect(), text.chars().collect());
    let (mut gi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if gi < g.len() && (g[gi] == '?' || g[gi] == t[ti]) {
            gi += 1;
            ti += 1;
        } else if gi < g.len() && g[gi] == '*' {
            star = Some(gi);
            mark = ti;
            gi += 1;
        } else if let Some(s) = star {
            gi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    g[gi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_paths_and_versions() {
        assert!(glob_match(
            "*fileio-6.1*",
            "fixtures/fileio-6.1.function.txt.zst"
        ));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("*.dat", "x.txt"));
        assert!(safe_relative(Path::new("../evil.dat")).is_none());
        assert!(safe_relative(Path::new("/etc/passwd")).is_none());
        assert!(safe_relative(Path::new("a/../../b")).is_none());
        assert_eq!(
            safe_relative(Path::new("./a/b.dat")),
            Some(PathBuf::from("a/b.dat"))
        );
        assert_eq!(
            major_minor("6.12.117+deb12-cloud-amd64").as_deref(),
            Some("6.12")
        );
        assert_eq!(
            tree_version(Path::new("/nonexistent/linux-source-6.1")).as_deref(),
            Some("6.1")
        );
    }
}
