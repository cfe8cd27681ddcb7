//! Line-table side of the symbol table: file paths, the rows of a unit's
//! line program, and the end-line and code-line rules.
//!
//! **End line.** DWARF has no end-line attribute, so it is derived from the
//! rows of the unit's line table. It is the maximum line of the rows that
//!
//! 1. start inside the function's own address ranges (all of
//!    `DW_AT_ranges`, so a `.cold` part counts for its parent),
//! 2. belong to the function's declaration file,
//! 3. are not inside the ranges of an inlined callee (`DW_TAG_inlined_subroutine`
//!    children, at any depth under lexical blocks): those rows are the
//!    callee's lines, e.g. a static helper defined *below* its caller and
//!    inlined into it; the callee's `DW_AT_call_line` is a line of the caller
//!    and counts instead. An inlined callee declared at the very same file
//!    and line as the caller is *not* excluded: it is a macro sibling
//!    (`SYSCALL_DEFINEn` inlines `__se_sys_*` and the user-written body
//!    `__do_sys_*`, all declared on the macro line);
//! 4. lie in `[start_line, next)` where `next` is the declaration line of
//!    the next function defined further down in the same file (source-order
//!    cap: no C function extends past the start of the next one).
//!
//! Then two corrections:
//!
//! * **Closing brace.** If the rows of that maximum line all have a column
//!   greater than 1 (an indented statement rather than the `}` GCC puts on
//!   the epilogue, which sits in column 1), the function ended with a tail
//!   call, a `noreturn` call or code-free statements and has no row for its
//!   closing brace: the end line is taken as the next line (still below the
//!   cap, and never for a function whose code is all on its first line).
//! * **Macro families.** All definitions of a unit with the same declaration
//!   file and line share the largest end line among them (`__x64_sys_foo`
//!   whose body `__do_sys_foo` was not inlined gets the body's end).
//!
//! The end line is never below the start line.
//!
//! **Code lines.** Distinct line numbers of rows of the declaration file
//! whose address lies in `[st_value, st_value + st_size)`, inlined code of
//! the same file included, as `Symbol::code_lines` defines it.

use std::sync::Arc;

use gimli::Unit;

use super::dwarf::{Dwarf, R};
use super::error::SymbolError;

/// Path id of files the line table does not name properly.
pub(super) const NO_FILE: u32 = u32::MAX;

/// One line-table row.
#[derive(Clone, Copy)]
pub(super) struct Row {
    /// Start address of the row.
    pub addr: u64,
    /// Path id (see `UnitWalker::intern`), or [`NO_FILE`].
    pub file: u32,
    /// Line, > 0.
    pub line: u32,
    /// 1-based column, 0 when unknown.
    pub column: u32,
}

/// What the end-line rule needs to know about one function.
pub(super) struct Body<'f> {
    /// Declaration file (path id) and line.
    pub file: Option<u32>,
    /// `DW_AT_decl_line`.
    pub start: Option<u32>,
    /// The function's address ranges.
    pub ranges: &'f [(u64, u64)],
    /// Ranges of its inlined callees, sorted.
    pub inlined: &'f [(u64, u64)],
    /// `(call_file, call_line)` of those callees.
    pub calls: &'f [(u32, u32)],
}

/// Run the unit's line program: rows sorted by address, line 0 and
/// end-of-sequence rows dropped. `file_ids` maps raw file indices to path
/// ids; `err` wraps gimli errors with the program's `.debug_line` offset.
pub(super) fn read_rows(
    unit: &Unit<R<'_>>,
    file_ids: &[u32],
    err: impl Fn(gimli::Error, u64) -> SymbolError,
) -> Result<Vec<Row>, SymbolError> {
    let mut out = Vec::new();
    let Some(program) = unit.line_program.clone() else {
        return Ok(out);
    };
    let at = program.header().offset().0 as u64;
    let mut rows = program.rows();
    while let Some((_, row)) = rows.next_row().map_err(|e| err(e, at))? {
        if row.end_sequence() {
            continue;
        }
        let Some(line) = row.line() else { continue };
        let file = usize::try_from(row.file_index())
            .ok()
            .and_then(|i| file_ids.get(i).copied())
            .unwrap_or(NO_FILE);
        out.push(Row {
            addr: row.address(),
            file,
            line: clamp(line.get()),
            column: match row.column() {
                gimli::ColumnType::LeftEdge => 0,
                gimli::ColumnType::Column(c) => clamp(c.get()),
            },
        });
    }
    out.sort_by_key(|r| r.addr);
    Ok(out)
}

fn clamp(v: u64) -> u32 {
    v.min(u64::from(u32::MAX)) as u32
}

/// Rows whose start address lies in `[b, e)`.
pub(super) fn rows_in(rows: &[Row], b: u64, e: u64) -> &[Row] {
    let lo = rows.partition_point(|r| r.addr < b);
    let hi = rows.partition_point(|r| r.addr < e);
    &rows[lo..hi.max(lo)]
}

/// End line of `body` by the rule in the module docs, and whether any row
/// or call site supported it (else it is just the start line).
pub(super) fn end_line(body: &Body<'_>, rows: &[Row], defs: &[(u32, u32)]) -> Option<(u32, bool)> {
    let (file, start) = (body.file?, body.start?);
    // Source-order cap: first definition in the same file after `start`.
    let i = defs.partition_point(|&d| d <= (file, start));
    let cap = match defs.get(i) {
        Some(&(df, dl)) if df == file => dl,
        _ => u32::MAX,
    };
    let in_inlined = |addr: u64| {
        let k = body.inlined.partition_point(|r| r.0 <= addr);
        body.inlined[..k].iter().rev().any(|r| addr < r.1)
    };
    let mut end = start;
    let mut found = false;
    // Whether a row of the current `end` line sits at column 0/1, i.e. is
    // (or may be) the closing brace itself.
    let mut at_brace = false;
    let mut see = |line: u32, column: u32| {
        if line > end {
            end = line;
            at_brace = false;
        }
        if line == end {
            at_brace |= column <= 1;
        }
        found = true;
    };
    for &(b, e) in body.ranges {
        for r in rows_in(rows, b, e) {
            if r.file == file && r.line < cap && r.line >= start && !in_inlined(r.addr) {
                see(r.line, r.column);
            }
        }
    }
    for &(cf, cl) in body.calls {
        if cf == file && cl < cap && cl >= start {
            see(cl, u32::MAX);
        }
    }
    // The last code line is an indented statement (a tail call, a call to a
    // noreturn function, ...): no row was emitted for the closing brace,
    // which follows on a later line; assume the next one.
    if found && !at_brace && end > start && end.saturating_add(1) < cap {
        end += 1;
    }
    Some((end, found))
}

/// Number of distinct lines of `file` among rows in `[b, e)`.
pub(super) fn code_lines(rows: &[Row], file: u32, b: u64, e: u64) -> u32 {
    let mut lines: Vec<u32> = rows_in(rows, b, e)
        .iter()
        .filter(|r| r.file == file)
        .map(|r| r.line)
        .collect();
    lines.sort_unstable();
    lines.dedup();
    lines.len() as u32
}

/// Paths of the unit's line-table files, indexed by raw file index.
pub(super) fn file_table(dwarf: &Dwarf<'_>, unit: &Unit<R<'_>>) -> Vec<Option<Arc<str>>> {
    let Some(program) = &unit.line_program else {
        return Vec::new();
    };
    let header = program.header();
    let comp_dir = unit
        .comp_dir
        .map(|d| String::from_utf8_lossy(d.slice()).into_owned());
    let count = header.file_names().len() + 1;
    let string = |v| {
        dwarf
            .attr_string(unit, v)
            .ok()
            .map(|s| String::from_utf8_lossy(s.slice()).into_owned())
    };
    (0..count as u64)
        .map(|i| {
            let fe = header.file(i)?;
            let name = string(fe.path_name())?;
            let dir = fe.directory(header).and_then(&string);
            let dir_is_comp = fe.directory_index() == 0;
            Some(Arc::from(join_path(
                comp_dir.as_deref(),
                dir.as_deref(),
                dir_is_comp,
                &name,
            )))
        })
        .collect()
}

/// Join a line-table file name with its directory.
///
/// Relative directories are relative to the compilation directory, except
/// when the compilation directory itself is relative: the build then used
/// `-fdebug-prefix-map=SRCROOT=`, so plain relative directories such as
/// `include/linux` are relative to the source root and only `./` or `../`
/// ones (objtree-generated headers) are relative to the compilation
/// directory.
pub(super) fn join_path(
    comp_dir: Option<&str>,
    dir: Option<&str>,
    dir_is_comp: bool,
    name: &str,
) -> String {
    if name.starts_with('/') {
        return normalize(name);
    }
    let dir = dir.unwrap_or("");
    let comp = comp_dir.unwrap_or("");
    let base = if dir.starts_with('/') || dir_is_comp {
        dir.to_string()
    } else if comp.starts_with('/') || dir.starts_with("./") || dir.starts_with("../") || dir == "."
    {
        format!("{comp}/{dir}")
    } else {
        dir.to_string()
    };
    normalize(&format!("{base}/{name}"))
}

/// Lexically resolve `.`, `..` and repeated slashes.
fn normalize(path: &str) -> String {
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    if absolute {
        format!("/{joined}")
    } else {
        joined
    }
}
