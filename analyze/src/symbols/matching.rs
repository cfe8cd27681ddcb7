//! Joining a unit's DWARF facts with the ELF function symbols.
//!
//! For every concrete subprogram the end line is computed (rules in the
//! `lines` module), macro families share their largest end line, and every
//! symbol whose address falls in one of the subprogram's ranges gets a
//! [`Match`] ranked by how it was found: 0 at the entry (`low_pc`), 1 at
//! the start of another range (`.cold` parts), 2 inside a range, 3 by name
//! for folded functions without `low_pc`. [`merge`] keeps, per symbol, the
//! match of lowest `(rank, DIE offset)` over all units.

use std::collections::HashMap;
use std::sync::Arc;

use super::elf::FuncSym;
use super::lines::{code_lines, end_line, rows_in, Body, Row};

/// Source information found for one ELF symbol.
#[derive(Debug, Clone, Default)]
pub(super) struct SourceInfo {
    /// Declaration file as written in DWARF, joined and normalised but not
    /// yet made relative to the source root (see `super::strip_root`).
    pub file: Option<Arc<str>>,
    /// `DW_AT_decl_line`.
    pub start_line: Option<u32>,
    /// Last line of the body (rules in the `lines` module).
    pub end_line: Option<u32>,
    /// Distinct code lines in the symbol's own address range.
    pub code_lines: Option<u32>,
}

/// Declaration coordinates; `file` is an id in the walker's path interner.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Decl {
    /// Path id of `DW_AT_decl_file`.
    pub file: Option<u32>,
    /// `DW_AT_decl_line`.
    pub line: Option<u32>,
}

/// A candidate source location for one symbol, ranked (lower is better).
pub(super) struct Match {
    sym: usize,
    rank: (u8, u64),
    info: SourceInfo,
}

/// A concrete (code-carrying) subprogram of the unit.
pub(super) struct Func {
    /// `.debug_info` offset of the DIE.
    pub die: u64,
    /// `low_pc`, or the start of the first range.
    pub entry: Option<u64>,
    /// Address ranges, empty and tombstoned ones removed.
    pub ranges: Vec<(u64, u64)>,
    /// Declaration, origins followed.
    pub decl: Decl,
    /// Address ranges of inlined callees (their rows are not ours).
    pub inlined: Vec<(u64, u64)>,
    /// `(call_file, call_line)` of those callees.
    pub calls: Vec<(u32, u32)>,
}

impl Func {
    fn body(&self) -> Body<'_> {
        Body {
            file: self.decl.file,
            start: self.decl.line,
            ranges: &self.ranges,
            inlined: &self.inlined,
            calls: &self.calls,
        }
    }
}

/// What the DIE walk of one unit found.
pub(super) struct Facts<'a> {
    /// Concrete subprograms.
    pub funcs: Vec<Func>,
    /// `(file, decl_line)` of every subprogram definition of the unit.
    pub defs: Vec<(u32, u32)>,
    /// Path of each path id.
    pub paths: Vec<Arc<str>>,
    /// Named definitions without code ranges: `(name, DIE offset, decl)`.
    pub no_pc: Vec<(&'a [u8], u64, Decl)>,
}

/// Match the unit's functions to the ELF symbols `syms` (sorted by
/// address; `by_name` indexes them by name without clone suffixes).
pub(super) fn match_unit(
    facts: Facts<'_>,
    rows: &[Row],
    syms: &[FuncSym],
    by_name: &HashMap<&str, Vec<usize>>,
) -> Vec<Match> {
    let unit = Unit {
        facts,
        syms,
        by_name,
    };
    unit.finish(rows)
}

/// Best match per symbol over all units (`n` symbols).
pub(super) fn merge(n: usize, per_unit: Vec<Vec<Match>>) -> Vec<Option<SourceInfo>> {
    let mut best: Vec<Option<Match>> = (0..n).map(|_| None).collect();
    for m in per_unit.into_iter().flatten() {
        let slot = &mut best[m.sym];
        if slot.as_ref().is_none_or(|b| m.rank < b.rank) {
            *slot = Some(m);
        }
    }
    best.into_iter().map(|m| m.map(|m| m.info)).collect()
}

/// One unit's facts with the symbols they are matched against.
struct Unit<'u, 'a> {
    facts: Facts<'a>,
    syms: &'u [FuncSym],
    by_name: &'u HashMap<&'u str, Vec<usize>>,
}

impl Unit<'_, '_> {
    /// Compute end lines and match the unit's functions to ELF symbols.
    fn finish(mut self, rows: &[Row]) -> Vec<Match> {
        self.facts.defs.sort_unstable();
        let mut out = Vec::new();
        for f in &mut self.facts.funcs {
            f.inlined.sort_unstable();
        }
        // Macro families (SYSCALL_DEFINEn, DEFINE_IDTENTRY*, ...): every
        // definition at the same file and line shares the largest end line.
        let mut family: HashMap<(u32, u32), u32> = HashMap::new();
        let ends: Vec<Option<u32>> = self
            .facts
            .funcs
            .iter()
            .map(|f| {
                let (end, _) = end_line(&f.body(), rows, &self.facts.defs)?;
                let key = (f.decl.file?, f.decl.line?);
                let e = family.entry(key).or_insert(end);
                *e = (*e).max(end);
                Some(end)
            })
            .collect();
        for (f, end) in self.facts.funcs.iter().zip(ends) {
            let end_line = match (f.decl.file, f.decl.line) {
                (Some(file), Some(line)) => family.get(&(file, line)).copied().or(end),
                _ => end,
            };
            let file = f.decl.file.map(|id| self.facts.paths[id as usize].clone());
            for &(b, e) in &f.ranges {
                let syms = self.syms;
                let first = syms.partition_point(|s| s.address < b);
                for (k, sym) in syms.iter().enumerate().skip(first) {
                    let (addr, size) = (sym.address, sym.size);
                    if addr >= e {
                        break;
                    }
                    let rank = if Some(addr) == f.entry {
                        0
                    } else if addr == b {
                        1
                    } else {
                        2
                    };
                    let code_lines = f
                        .decl
                        .file
                        .map(|fid| code_lines(rows, fid, addr, addr.saturating_add(size)));
                    out.push(Match {
                        sym: k,
                        rank: (rank, f.die),
                        info: SourceInfo {
                            file: file.clone(),
                            start_line: f.decl.line,
                            end_line,
                            code_lines,
                        },
                    });
                }
            }
        }
        self.fallback(rows, &family, &mut out);
        out
    }

    /// Rank-3 matches for symbols that no subprogram of any unit covers but
    /// that this unit's line table does: GCC's identical-code-folding keeps
    /// a definition DIE without `low_pc` for the folded function (e.g.
    /// `msr_event_del`, many `__bpf_trace_*`). Matched by name (clone
    /// suffixes stripped); the end line uses the symbol's own range or the
    /// macro family, and is unknown (`None`) when neither tells.
    fn fallback(&self, rows: &[Row], family: &HashMap<(u32, u32), u32>, out: &mut Vec<Match>) {
        for &(name, die, decl) in &self.facts.no_pc {
            let Ok(name) = std::str::from_utf8(name) else {
                continue;
            };
            let Some(cands) = self.by_name.get(name) else {
                continue;
            };
            for &k in cands {
                let s = &self.syms[k];
                let end = s.address.saturating_add(s.size);
                if rows_in(rows, s.address, end).is_empty() {
                    continue;
                }
                let f = Func {
                    die,
                    entry: Some(s.address),
                    ranges: vec![(s.address, end)],
                    decl,
                    inlined: Vec::new(),
                    calls: Vec::new(),
                };
                // The folded code is often the twin's (other lines): only
                // rows past the declaration line, below the next function,
                // say something about this body; otherwise it is unknown.
                let own = end_line(&f.body(), rows, &self.facts.defs)
                    .and_then(|(e, found)| (found && Some(e) > decl.line).then_some(e));
                let fam = decl
                    .file
                    .zip(decl.line)
                    .and_then(|k| family.get(&k).copied());
                let end_line = match (own, fam) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
                out.push(Match {
                    sym: k,
                    rank: (3, die),
                    info: SourceInfo {
                        file: decl.file.map(|id| self.facts.paths[id as usize].clone()),
                        start_line: decl.line,
                        end_line,
                        code_lines: decl.file.map(|fid| code_lines(rows, fid, s.address, end)),
                    },
                });
            }
        }
    }
}
