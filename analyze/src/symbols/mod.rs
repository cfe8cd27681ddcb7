//! Per-function symbol table of a Linux `vmlinux` (or any ELF with DWARF).
//!
//! The Horizontal Attack Profile counts the kernel *code* a workload
//! reaches. Traces name functions by their ELF symbol (`vfs_read`,
//! `foo.isra.0`, `bar.cold`); to weigh and locate them we need, per symbol,
//! the source file and the source-line span of the function behind it.
//! This module builds that table once per kernel build (keyed by the GNU
//! build-id) from the ELF symbol table and the DWARF debug information:
//!
//! * `elf` maps the file and lists every `STT_FUNC` symbol with a size in an
//!   executable section (aliases and symbols without DWARF included) and the
//!   GNU build-id;
//! * `dwarf` walks the compile units in parallel (rayon) and attaches to
//!   each symbol the declaration file and line of its subprogram, following
//!   abstract origins for GCC clones and `DW_AT_ranges` for `.cold` parts;
//! * `lines` reads each unit's line table and derives the last line of the
//!   body and the number of lines that produced code; the end-line rule is
//!   documented there;
//! * [`modules`] reads kernel modules (`.ko`, `ET_REL`): a synthetic
//!   section layout, relocated DWARF, then the same builder;
//!   [`ModuleTables`] finds and caches them by module name;
//! * `error` holds [`SymbolError`].
//!
//! File names are made relative to the kernel source root: the root is the
//! part of an absolute `DW_AT_comp_dir` that precedes a relative one (Debian
//! builds with `-fdebug-prefix-map=ROOT=`, so C units carry the relative
//! `debian/build/build_amd64_none_cloud-amd64` and assembler units the
//! absolute `/build/reproducible-path/linux-6.1.192/debian/build/...`), or,
//! when no unit has a relative one, the most common compilation directory
//! (in-tree builds). Paths outside the root stay absolute.

#[cfg(test)]
mod corrupt_tests;
mod dwarf;
mod elf;
mod error;
pub mod inlined;
mod lines;
mod matching;
pub mod modules;
#[cfg(test)]
mod modules_tests;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::Path;

pub use error::SymbolError;
pub use inlined::InlinedFn;
pub use modules::ModuleTables;

/// One function symbol of the ELF file with its source location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symbol {
    /// ELF symbol name as in the symtab, e.g. `vfs_read`, `foo.isra.0`,
    /// `bar.cold`.
    pub name: String,
    /// `st_value`.
    pub address: u64,
    /// `st_size`.
    pub size: u64,
    /// Source file of the function's declaration (`DW_AT_decl_file` of the
    /// subprogram, its abstract origin or specification), relative to the
    /// kernel source root, e.g. `fs/read_write.c`.
    pub file: Option<String>,
    /// `DW_AT_decl_line`.
    pub start_line: Option<u32>,
    /// Last line of the body (see the `lines` module for the rule).
    pub end_line: Option<u32>,
    /// `end_line - start_line + 1`.
    pub lines: Option<u32>,
    /// Number of distinct line numbers, in the function's own decl file, of
    /// line-table rows whose address is in `[address, address + size)`.
    pub code_lines: Option<u32>,
    /// What the kernel source tree adds (`--source`); `None` from DWARF alone.
    pub source: Option<Box<SourceFacts>>,
}

/// Facts about a function read from the kernel source tree.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SourceFacts {
    /// The DWARF-derived end line, before refinement.
    pub dwarf_end_line: Option<u32>,
    /// Non-blank, non-comment lines of the body.
    pub nloc: Option<u32>,
    /// Which end line was kept: `dwarf`, `source` or `both` (agree within a line).
    pub span_source: Option<&'static str>,
    /// Macro family for macro-generated functions (`syscall`, `trace_event`, …).
    pub macro_kind: Option<&'static str>,
    /// MAINTAINERS section of the function's file.
    pub subsystem: Option<String>,
    /// Top-level area of the file (`fs`, `mm`, `fs/ext4`, …).
    pub area: String,
}

/// All function symbols of one ELF file, with source locations.
#[derive(Debug)]
pub struct SymbolTable {
    /// GNU build-id (`NT_GNU_BUILD_ID` note payload), if the file has one.
    pub build_id: Option<Vec<u8>>,
    /// Function symbols sorted by `(address, name)`.
    pub symbols: Vec<Symbol>,
}

impl SymbolTable {
    /// Memory-map `path` and build its table. Errors name the path
    /// (`PATH: message`).
    pub fn from_path(path: &Path) -> Result<SymbolTable, SymbolError> {
        let map = elf::map_file(path).map_err(|e| e.at_path(path))?;
        SymbolTable::from_bytes(&map).map_err(|e| e.at_path(path))
    }

    /// Build the table of an ELF image held in memory.
    pub fn from_bytes(data: &[u8]) -> Result<SymbolTable, SymbolError> {
        build(elf::read_elf(data)?)
    }

    /// The GNU build-id of the ELF file at `path`, reading only its headers
    /// and note sections (cheap enough to be used as a cache key).
    pub fn build_id_of(path: &Path) -> Result<Option<Vec<u8>>, SymbolError> {
        let map = elf::map_file(path).map_err(|e| e.at_path(path))?;
        elf::build_id(&map).map_err(|e| e.at_path(path))
    }
}

/// The table of parsed ELF contents (symbols with final addresses, DWARF
/// with final addresses): shared by vmlinux and module readers.
fn build(contents: elf::ElfContents<'_>) -> Result<SymbolTable, SymbolError> {
    let resolved = dwarf::resolve(&contents.dwarf, contents.endian, &contents.functions)?;
    let root = source_root(&resolved.comp_dirs);
    let mut relative: HashMap<std::sync::Arc<str>, String> = HashMap::new();
    let symbols = contents
        .functions
        .into_iter()
        .zip(resolved.infos)
        .map(|(f, info)| {
            let info = info.unwrap_or_default();
            let file = info.file.map(|p| {
                relative
                    .entry(p.clone())
                    .or_insert_with(|| strip_root(&p, root.as_deref()))
                    .clone()
            });
            let lines = match (info.start_line, info.end_line) {
                (Some(s), Some(e)) => Some(e.saturating_sub(s).saturating_add(1)),
                _ => None,
            };
            Symbol {
                name: f.name,
                address: f.address,
                size: f.size,
                file,
                start_line: info.start_line,
                end_line: info.end_line,
                lines,
                code_lines: info.code_lines,
                source: None,
            }
        })
        .collect();
    Ok(SymbolTable {
        build_id: contents.build_id,
        symbols,
    })
}

/// The source root to strip from absolute paths, from the units'
/// compilation directories (see the module docs).
fn source_root(comp_dirs: &[String]) -> Option<String> {
    let mut absolute: HashMap<&str, usize> = HashMap::new();
    let mut relative: Vec<&str> = Vec::new();
    for d in comp_dirs {
        let d = d.trim_end_matches('/');
        if d.starts_with('/') {
            *absolute.entry(d).or_default() += 1;
        } else if !d.is_empty() && !relative.contains(&d) {
            relative.push(d);
        }
    }
    let mut by_count: Vec<(&str, usize)> = absolute.into_iter().collect();
    by_count.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    for &(abs, _) in &by_count {
        for rel in &relative {
            if let Some(root) = abs.strip_suffix(rel).and_then(|r| r.strip_suffix('/')) {
                return Some(root.to_string());
            }
        }
    }
    if relative.is_empty() {
        by_count.first().map(|(d, _)| d.to_string())
    } else {
        None
    }
}

/// `path` relative to `root` when it lies below it, else unchanged.
fn strip_root(path: &str, root: Option<&str>) -> String {
    root.and_then(|r| path.strip_prefix(r))
        .and_then(|rest| rest.strip_prefix('/'))
        .unwrap_or(path)
        .to_string()
}
