//! Functions inlined into each symbol (`hap analyze --inline`).
//!
//! ftrace only sees out-of-line functions; the code of inlined functions
//! runs inside them. For every symbol this lists the distinct functions
//! whose inlined instances (`DW_TAG_inlined_subroutine`, at any depth, in
//! the concrete subprogram DIEs) have address ranges overlapping the
//! symbol's `[address, address + size)`:
//!
//! * **file and start line** are the abstract origin's `DW_AT_decl_file`
//!   (made relative to the source root like [`Symbol::file`]) and
//!   `DW_AT_decl_line`, origins and specifications followed;
//! * **end line**: when the function also has an out-of-line copy (a
//!   symbol of the table with the same file and start line), that symbol's
//!   `end_line`; otherwise the largest end line over all inlined instances
//!   of the function in the file, each computed by the rule of the `lines`
//!   module applied to the instance (rows of its ranges in the origin's
//!   file, nested inlinees' rows excluded but their call lines counted,
//!   capped by the next definition in the file, closing-brace correction);
//! * an instance declared at the symbol's own file and line (macro
//!   siblings such as `__do_sys_*` inlined into `__x64_sys_*`) is part of
//!   the symbol, not listed; its own inlinees are;
//! * entries are unique per symbol by `(file, start_line)` and sorted.
//!
//! Computed on demand (one parallel DWARF pass), not stored in the cached
//! table.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use super::{dwarf, elf, source_root, strip_root, Symbol, SymbolError, SymbolTable};

/// A function inlined into a symbol: its declaration file and line span.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InlinedFn {
    /// Declaration file of the inlined function, relative to the source root.
    pub file: String,
    /// `DW_AT_decl_line` of its abstract origin.
    pub start_line: u32,
    /// Last line of its body (rule in the module docs).
    pub end_line: u32,
}

impl SymbolTable {
    /// For each symbol index, the distinct functions inlined into it.
    ///
    /// `symbols` is the table built from the same file (sorted by address,
    /// as [`SymbolTable::symbols`]); its end lines are reused for functions
    /// that also exist out of line.
    pub fn inlined_from_path(
        path: &Path,
        symbols: &[Symbol],
    ) -> Result<Vec<Vec<InlinedFn>>, SymbolError> {
        let map = elf::map_file(path).map_err(|e| e.at_path(path))?;
        inlined_from_bytes(&map, symbols).map_err(|e| e.at_path(path))
    }
}

/// [`SymbolTable::inlined_from_path`] on an ELF image in memory.
pub(super) fn inlined_from_bytes(
    data: &[u8],
    symbols: &[Symbol],
) -> Result<Vec<Vec<InlinedFn>>, SymbolError> {
    let contents = elf::read_elf(data)?;
    let resolved =
        dwarf::resolve_with(&contents.dwarf, contents.endian, &contents.functions, true)?;
    let root = source_root(&resolved.comp_dirs);
    Ok(attribute(&resolved.inlines, symbols, root.as_deref()))
}

/// Turn the inlined instances into per-symbol lists.
fn attribute(
    inlines: &[dwarf::Inlinee],
    symbols: &[Symbol],
    root: Option<&str>,
) -> Vec<Vec<InlinedFn>> {
    // End lines of out-of-line copies, by (file, start line).
    let mut out_of_line: HashMap<(&str, u32), u32> = HashMap::new();
    for s in symbols {
        if let (Some(f), Some(l), Some(e)) = (&s.file, s.start_line, s.end_line) {
            let v = out_of_line.entry((f.as_str(), l)).or_insert(e);
            *v = (*v).max(e);
        }
    }
    // Relative paths, and the largest instance end line per function.
    let mut relative: HashMap<Arc<str>, Arc<str>> = HashMap::new();
    let mut files: Vec<Arc<str>> = Vec::with_capacity(inlines.len());
    let mut inst_end: HashMap<(Arc<str>, u32), u32> = HashMap::new();
    for i in inlines {
        let rel = relative
            .entry(i.file.clone())
            .or_insert_with(|| Arc::from(strip_root(&i.file, root)))
            .clone();
        let e = inst_end.entry((rel.clone(), i.line)).or_insert(i.end.0);
        *e = (*e).max(i.end.0);
        files.push(rel);
    }
    let end_of = |file: &Arc<str>, line: u32| -> u32 {
        out_of_line
            .get(&(&**file, line))
            .copied()
            .or_else(|| inst_end.get(&(file.clone(), line)).copied())
            .unwrap_or(line)
            .max(line)
    };
    // Running maximum of symbol end addresses, to stop scanning back.
    let mut reach = Vec::with_capacity(symbols.len());
    let mut far = 0u64;
    for s in symbols {
        far = far.max(s.address.saturating_add(s.size));
        reach.push(far);
    }
    let mut out: Vec<Vec<InlinedFn>> = vec![Vec::new(); symbols.len()];
    for (i, file) in inlines.iter().zip(&files) {
        let mut hit: Vec<usize> = Vec::new();
        for &(b, e) in &i.ranges {
            // Symbols overlapping [b, e): starting before e, ending past b.
            let hi = symbols.partition_point(|s| s.address < e);
            for k in (0..hi).rev() {
                if reach[k] <= b {
                    break;
                }
                let s = &symbols[k];
                if s.address.saturating_add(s.size) > b {
                    hit.push(k);
                }
            }
        }
        hit.sort_unstable();
        hit.dedup();
        for k in hit {
            let s = &symbols[k];
            if s.file.as_deref() == Some(&**file) && s.start_line == Some(i.line) {
                continue;
            }
            out[k].push(InlinedFn {
                file: file.to_string(),
                start_line: i.line,
                end_line: end_of(file, i.line),
            });
        }
    }
    for list in &mut out {
        list.sort_by(|a, b| (&a.file, a.start_line).cmp(&(&b.file, b.start_line)));
        list.dedup_by(|a, b| a.file == b.file && a.start_line == b.start_line);
    }
    out
}

#[cfg(test)]
mod tests {
    //! `analyze/tests/c/inline_many.c` compiled with `gcc -O2 -g`; values
    //! checked in the source and with `llvm-dwarfdump`.

    use std::path::{Path, PathBuf};
    use std::process::Command;

    use super::{InlinedFn, SymbolTable};

    fn c_dir() -> PathBuf {
        let here = Path::new(file!());
        let analyze = here
            .ancestors()
            .nth(3)
            .expect("file!() is analyze/src/symbols/inlined.rs");
        let candidates = [
            analyze.join("tests/c"),
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c"),
        ];
        candidates
            .iter()
            .find(|p| p.join("inline_many.c").is_file())
            .unwrap_or_else(|| panic!("C sources not found in {candidates:?}"))
            .clone()
    }

    #[test]
    fn caller_lists_each_inlined_helper_once_with_its_span() {
        let dir = std::env::temp_dir().join(format!("hap-inlined-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let exe = dir.join("inline_many");
        let status = Command::new("gcc")
            .current_dir(c_dir())
            .args(["-O2", "-g", "-o"])
            .arg(&exe)
            .arg("inline_many.c")
            .status()
            .expect("gcc is required for these tests");
        assert!(status.success(), "gcc failed");
        let table = SymbolTable::from_path(&exe).unwrap();
        let inl = SymbolTable::inlined_from_path(&exe, &table.symbols).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(inl.len(), table.symbols.len());
        let k = table
            .symbols
            .iter()
            .position(|s| s.name == "caller")
            .expect("caller symbol");
        let f = |start_line, end_line| InlinedFn {
            file: "inline_many.c".into(),
            start_line,
            end_line,
        };
        // add_above: lines 8-12 (above caller), inlined twice;
        // mul_below: lines 30-38 (below caller and main, loop inside).
        assert_eq!(inl[k], vec![f(8, 12), f(30, 38)]);
        // The helpers have no out-of-line copy; main inlines nothing.
        assert!(!table
            .symbols
            .iter()
            .any(|s| s.name.starts_with("add_above") || s.name.starts_with("mul_below")));
        let m = table.symbols.iter().position(|s| s.name == "main").unwrap();
        assert_eq!(inl[m], vec![]);
    }
}
