//! Function spans and subsystems from the kernel source tree.
//!
//! The symbol table ([`crate::symbols`]) knows each function's file and
//! declaration line from DWARF, but its end line is derived from the line
//! table (the last line that produced code), which misses the closing brace
//! when a function ends in a multi-line statement, in code-less statements or
//! in an `#ifdef` (see `docs/symbols.md`). With the source tree at hand the
//! span can be read where it is written:
//!
//! * `body` lexes a file (comments, literals, preprocessor lines) and finds
//!   the body of the function declared at a line, or the extent of the macro
//!   invocation that generates it (rules in that module and in
//!   `docs/source.md`);
//! * [`refine`] does that for every symbol, one file at a time in parallel,
//!   and decides between the source and the DWARF end line;
//! * [`maintainers`] maps files to MAINTAINERS sections the way
//!   `scripts/get_maintainer.pl` ranks them, and [`maintainers::area_of`]
//!   to a coarse area;
//! * `error` holds [`SourceError`].
//!
//! **End-line rule.** The source end is used when a body (or a macro
//! invocation) was found at the declaration line, ends at or after the
//! start line and before the declaration line of the next function of the
//! same file (a function cannot reach into the next one), and is not more
//! than one line *before* the DWARF end (the line table has rows up to the
//! DWARF end, so a shorter body means the scan took a wrong turn). Otherwise
//! the DWARF end is kept. [`Refined::span_source`] tells which: `Both` when
//! the two agree within one line, `Source` or `Dwarf` otherwise.

mod annotate;
mod body;
mod error;
mod lex;
pub mod maintainers;

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use rayon::prelude::*;

use crate::symbols::Symbol;

pub use annotate::{annotate, annotate_from};
pub use error::SourceError;
pub use maintainers::{area_of, Maintainers};

/// A kernel source tree on disk, with a cache of the files read so far.
#[derive(Debug)]
pub struct SourceTree {
    root: PathBuf,
    /// Files read so far (by path relative to the root); `None` for files
    /// that could not be read.
    cache: Mutex<HashMap<String, Option<Arc<str>>>>,
}

impl SourceTree {
    /// Open the tree at `root`, checking that it looks like a kernel tree
    /// (a `Makefile` and a `MAINTAINERS` file at the top).
    pub fn open(root: &Path) -> Result<SourceTree, SourceError> {
        if !root.is_dir() {
            return Err(SourceError::missing(
                root,
                "kernel source tree",
                error::SETUP_HINT,
            ));
        }
        for (name, thing) in [
            ("Makefile", "kernel Makefile"),
            ("MAINTAINERS", "MAINTAINERS file"),
        ] {
            if !root.join(name).is_file() {
                return Err(SourceError::missing(
                    &root.join(name),
                    thing,
                    error::SETUP_HINT,
                ));
            }
        }
        Ok(SourceTree {
            root: root.to_path_buf(),
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The tree's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Text of `file` (relative to the root, as in [`Symbol::file`]), read
    /// once and cached. Invalid UTF-8 is replaced, not rejected. Absolute
    /// paths and paths with `..` are refused: they are not in the tree.
    pub fn read(&self, file: &str) -> Result<Arc<str>, SourceError> {
        let path = self.root.join(file);
        let inside = Path::new(file)
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
        if !inside || file.is_empty() {
            return Err(SourceError::invalid(
                &path,
                "source path",
                "not inside the tree",
            ));
        }
        if let Some(hit) = self.lock().get(file) {
            return hit
                .clone()
                .ok_or_else(|| SourceError::missing(&path, "source file", ""));
        }
        let text = std::fs::read(&path)
            .map(|b| Arc::<str>::from(String::from_utf8_lossy(&b).as_ref()))
            .map_err(|e| SourceError::io(&path, "source file", &e));
        self.lock()
            .insert(file.to_string(), text.as_ref().ok().cloned());
        text
    }

    /// [`SourceTree::read`] without the reason.
    pub fn text(&self, file: &str) -> Option<Arc<str>> {
        self.read(file).ok()
    }

    /// Drop the cached texts (a whole kernel's worth is about 50 MB).
    pub fn clear_cache(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Option<Arc<str>>>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Which end line a [`Refined`] row carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpanSource {
    /// The DWARF end line (no consistent span in the source).
    Dwarf,
    /// The source end line, more than one line away from DWARF's (or DWARF
    /// has none).
    Source,
    /// The source end line, DWARF's within one line of it.
    Both,
}

impl SpanSource {
    /// `dwarf`, `source` or `both`.
    pub fn as_str(self) -> &'static str {
        match self {
            SpanSource::Dwarf => "dwarf",
            SpanSource::Source => "source",
            SpanSource::Both => "both",
        }
    }
}

/// The span of one symbol after looking at the source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refined {
    /// Final end line (see the module docs for the rule).
    pub end_line: Option<u32>,
    /// `end_line - start_line + 1`.
    pub lines: Option<u32>,
    /// Non-blank lines between start and end line that are not only
    /// comments (preprocessor lines count); `None` without the source file.
    pub nloc: Option<u32>,
    /// Where `end_line` comes from; `None` when there is no end line.
    pub span_source: Option<SpanSource>,
    /// For functions generated by a macro invocation at their declaration
    /// line: `syscall`, `trace_event`, `bpf_call`, `attribute`, `define`
    /// or `macro`; `renamed` for a body spelled under another name at the
    /// declaration line (see `docs/source.md`).
    pub macro_kind: Option<&'static str>,
}

/// The symbol's name up to its first `.` (`foo.isra.0` is `foo`).
fn base_name(name: &str) -> &str {
    name.split('.').next().unwrap_or(name)
}

fn span_lines(start: Option<u32>, end: Option<u32>) -> Option<u32> {
    Some(end?.checked_sub(start?)? + 1)
}

/// DWARF values only, with nloc when the text is known.
fn from_dwarf(s: &Symbol, lx: Option<&lex::Lexed>, macro_kind: Option<&'static str>) -> Refined {
    let lines = span_lines(s.start_line, s.end_line);
    Refined {
        end_line: s.end_line.filter(|_| lines.is_some()),
        lines,
        nloc: lx
            .zip(s.start_line.zip(s.end_line).filter(|_| lines.is_some()))
            .map(|(lx, (a, b))| lx.nloc(a, b)),
        span_source: lines.map(|_| SpanSource::Dwarf),
        macro_kind,
    }
}

/// One [`Refined`] per symbol, in the same order. Symbols are grouped by
/// file; files are processed in parallel (rayon) and each is read and
/// lexed once. Symbols without a file, start line or readable source keep
/// their DWARF span.
pub fn refine(tree: &SourceTree, symbols: &[Symbol]) -> Vec<Refined> {
    let mut by_file: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, s) in symbols.iter().enumerate() {
        if let (Some(f), Some(_)) = (s.file.as_deref(), s.start_line) {
            by_file.entry(f).or_default().push(i);
        }
    }
    let mut groups: Vec<(&str, Vec<usize>)> = by_file.into_iter().collect();
    groups.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(b.0)));
    let done: Vec<Vec<(usize, Refined)>> = groups
        .par_iter()
        .map(|(file, idx)| refine_file(tree, file, idx, symbols))
        .collect();
    let mut out: Vec<Refined> = symbols.iter().map(|s| from_dwarf(s, None, None)).collect();
    for (i, r) in done.into_iter().flatten() {
        out[i] = r;
    }
    out
}

/// The symbols `idx` (all with start lines) of one file.
fn refine_file(
    tree: &SourceTree,
    file: &str,
    idx: &[usize],
    symbols: &[Symbol],
) -> Vec<(usize, Refined)> {
    let Some(text) = tree.text(file) else {
        return idx
            .iter()
            .map(|&i| (i, from_dwarf(&symbols[i], None, None)))
            .collect();
    };
    let lx = lex::Lexed::new(&text);
    let mut starts: Vec<u32> = idx.iter().filter_map(|&i| symbols[i].start_line).collect();
    starts.sort_unstable();
    starts.dedup();
    let mut memo: HashMap<(u32, &str), Result<body::Span, body::Miss>> = HashMap::new();
    idx.iter()
        .map(|&i| {
            let s = &symbols[i];
            let start = s.start_line.unwrap_or(0);
            let base = base_name(&s.name);
            let found = *memo
                .entry((start, base))
                .or_insert_with(|| body::find(&lx, start, base));
            let next = starts.get(starts.partition_point(|&x| x <= start)).copied();
            let kind = found.ok().and_then(|sp| sp.macro_kind);
            let dwarf_end = s.end_line;
            let end = found.ok().map(|sp| sp.end).filter(|&e| {
                let before_next = next.is_none_or(|n| e < n);
                e >= start && before_next && dwarf_end.is_none_or(|d| e.saturating_add(1) >= d)
            });
            let Some(end) = end else {
                return (i, from_dwarf(s, Some(&lx), kind));
            };
            let both = s.end_line.is_some_and(|d| d.abs_diff(end) <= 1);
            let r = Refined {
                end_line: Some(end),
                lines: Some(end - start + 1),
                nloc: Some(lx.nloc(start, end)),
                span_source: Some(if both {
                    SpanSource::Both
                } else {
                    SpanSource::Source
                }),
                macro_kind: kind,
            };
            (i, r)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A throw-away tree under the system temp directory.
    fn tree(name: &str, files: &[(&str, &str)]) -> PathBuf {
        let root = std::env::temp_dir().join(format!("hap-source-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for (path, text) in files {
            let p = root.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        root
    }

    fn sym(name: &str, file: Option<&str>, start: Option<u32>, end: Option<u32>) -> Symbol {
        Symbol {
            name: name.into(),
            address: 0,
            size: 1,
            file: file.map(str::to_string),
            start_line: start,
            end_line: end,
            lines: span_lines(start, end),
            code_lines: None,
            source: None,
        }
    }

    const C: &str = "\
static int
add(int a,
    int b)
{
\t/* only a comment */

\treturn a +
\t\tb;
}
SYSCALL_DEFINE1(close, unsigned int, fd)
{
\treturn 0;
}
int broken(void)
{
\treturn 0;
";

    #[test]
    fn refine_prefers_the_source_and_falls_back_to_dwarf() {
        let root = tree(
            "refine",
            &[("Makefile", ""), ("MAINTAINERS", ""), ("k/a.c", C)],
        );
        let t = SourceTree::open(&root).unwrap();
        let symbols = [
            // Multi-line last statement: DWARF 7, source 9.
            sym("add", Some("k/a.c"), Some(2), Some(7)),
            sym("add.isra.0", Some("k/a.c"), Some(2), Some(8)),
            sym("__x64_sys_close", Some("k/a.c"), Some(10), Some(13)),
            sym("__do_sys_close", Some("k/a.c"), Some(10), None),
            // Unbalanced: DWARF kept.
            sym("broken", Some("k/a.c"), Some(14), Some(16)),
            sym("gone", Some("k/missing.c"), Some(3), Some(5)),
            sym("entry_SYSCALL_64", None, None, None),
        ];
        let r = refine(&t, &symbols);
        type Row<'a> = (
            Option<u32>,
            Option<u32>,
            Option<u32>,
            Option<SpanSource>,
            Option<&'a str>,
        );
        let got: Vec<Row> = r
            .iter()
            .map(|r| (r.end_line, r.lines, r.nloc, r.span_source, r.macro_kind))
            .collect();
        use SpanSource::*;
        assert_eq!(
            got,
            vec![
                (Some(9), Some(8), Some(6), Some(Source), None),
                (Some(9), Some(8), Some(6), Some(Both), None),
                (Some(13), Some(4), Some(4), Some(Both), Some("syscall")),
                (Some(13), Some(4), Some(4), Some(Source), Some("syscall")),
                (Some(16), Some(3), Some(3), Some(Dwarf), None),
                (Some(5), Some(3), None, Some(Dwarf), None),
                (None, None, None, None, None),
            ]
        );
        // Cached text, refused paths.
        assert!(t.text("k/a.c").unwrap().starts_with("static int"));
        assert!(t
            .read("../a.c")
            .unwrap_err()
            .to_string()
            .contains("Invalid source path"));
        assert!(t.read("/etc/passwd").is_err());
        assert!(t
            .read("k/missing.c")
            .unwrap_err()
            .to_string()
            .ends_with("Missing source file"));
        t.clear_cache();
        assert!(t.text("k/a.c").is_some());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn source_end_is_capped_by_the_next_function() {
        let text =
            "int f(void)\n{\n#ifdef A\n\tif (x) {\n#endif\n\treturn 0;\n}\nint g(void)\n{\n}\n";
        let root = tree(
            "cap",
            &[("Makefile", ""), ("MAINTAINERS", ""), ("b.c", text)],
        );
        let t = SourceTree::open(&root).unwrap();
        // The unbalanced #ifdef makes f run into g: the DWARF end is kept.
        let r = refine(
            &t,
            &[
                sym("f", Some("b.c"), Some(1), Some(7)),
                sym("g", Some("b.c"), Some(8), Some(10)),
            ],
        );
        assert_eq!(
            (r[0].end_line, r[0].span_source),
            (Some(7), Some(SpanSource::Dwarf))
        );
        assert_eq!(
            (r[1].end_line, r[1].span_source),
            (Some(10), Some(SpanSource::Both))
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn open_checks_for_a_kernel_tree() {
        let missing = Path::new("/nonexistent/hap/ksrc");
        let e = SourceTree::open(missing).unwrap_err().to_string();
        assert_eq!(
            e,
            "/nonexistent/hap/ksrc: Missing kernel source tree (run scripts/setup.sh to unpack the kernel sources)"
        );
        let root = tree("open", &[("Makefile", "")]);
        let e = SourceTree::open(&root).unwrap_err().to_string();
        assert!(e.ends_with("MAINTAINERS: Missing MAINTAINERS file (run scripts/setup.sh to unpack the kernel sources)"), "{e}");
        let e = Maintainers::load(&root).unwrap_err().to_string();
        assert!(e.ends_with("MAINTAINERS: Missing MAINTAINERS file"), "{e}");
        std::fs::write(root.join("MAINTAINERS"), "no sections here\n").unwrap();
        assert!(SourceTree::open(&root).is_ok());
        let e = Maintainers::load(&root).unwrap_err().to_string();
        assert!(
            e.ends_with("MAINTAINERS: Invalid MAINTAINERS file: no sections"),
            "{e}"
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
