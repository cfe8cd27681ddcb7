//! Traced function names to symbol-table rows.
//!
//! A text trace names functions, not addresses. Most names are unique in a
//! vmlinux, but static functions in different files can share one (the
//! 6.1 cloud kernel has hundreds of such names). Candidates that are the
//! same source function (aliases at one address, out-of-line copies of one
//! header `static inline`, i.e. same file and start line) collapse into one;
//! a name still left with several candidates is *ambiguous* and counted by
//! the [`Ambiguous`] policy.

use std::collections::HashMap;

use crate::select::FunctionUse;
use crate::symbols::{ModuleTables, Symbol, SymbolTable};

/// How to count a traced name that matches several distinct functions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Ambiguous {
    /// Count the candidate with the most lines (default): one name, one
    /// function, and never less than the smallest reading.
    #[default]
    Max,
    /// Count every candidate (an upper bound).
    All,
    /// Count none of them (a lower bound); they are still listed.
    Skip,
}

/// One traced function with the symbol it resolved to.
#[derive(Clone, Debug)]
pub struct FunctionRow {
    /// What the trace said.
    pub traced: FunctionUse,
    /// Distinct functions the name matched (0 = unresolved).
    pub candidates: u32,
    /// The symbol counted for this row (`None` when unresolved or skipped).
    pub symbol: Option<Symbol>,
    /// A baseline run calls this function too.
    pub in_baseline: bool,
    /// Its lines are in the totals (false for a subtracted baseline function
    /// or a second symbol of a source function already counted).
    pub counted: bool,
}

/// Name and address index over a symbol table (and, optionally, the
/// debug files of the kernel's modules).
#[derive(Debug)]
pub struct Resolver<'a> {
    /// Debug `.ko` files for functions of modules.
    modules: Option<&'a ModuleTables>,
    by_name: HashMap<&'a str, Vec<&'a Symbol>>,
    /// The table's symbols, sorted by address.
    symbols: &'a [Symbol],
    /// Runtime address − vmlinux address (the KASLR slide), for traced addresses.
    slide: u64,
}

impl<'a> Resolver<'a> {
    /// Index `table` by symbol name.
    pub fn new(table: &'a SymbolTable) -> Resolver<'a> {
        let mut by_name: HashMap<&str, Vec<&Symbol>> = HashMap::with_capacity(table.symbols.len());
        for s in &table.symbols {
            by_name.entry(s.name.as_str()).or_default().push(s);
        }
        Resolver {
            modules: None,
            by_name,
            symbols: &table.symbols,
            slide: 0,
        }
    }

    /// Resolve functions of modules (`name [module]`) in their debug `.ko` files.
    pub fn with_modules(mut self, modules: Option<&'a ModuleTables>) -> Resolver<'a> {
        self.modules = modules;
        self
    }

    /// Map traced (runtime) addresses to vmlinux addresses by subtracting `slide`.
    pub fn with_slide(mut self, slide: u64) -> Resolver<'a> {
        self.slide = slide;
        self
    }

    /// The function whose code contains runtime address `ip` (an alias named
    /// `name` preferred among symbols at one address).
    pub fn by_address(&self, ip: u64, name: &str) -> Option<&'a Symbol> {
        let addr = ip.wrapping_sub(self.slide);
        // The symbols starting at the greatest address <= addr (aliases share it).
        let end = self.symbols.partition_point(|s| s.address <= addr);
        let base = self.symbols.get(end.checked_sub(1)?)?.address;
        let start = self.symbols[..end].partition_point(|s| s.address < base);
        let at = &self.symbols[start..end];
        let inside = |s: &&Symbol| addr < s.address + s.size.max(1);
        at.iter()
            .filter(inside)
            .find(|s| s.name == name)
            .or_else(|| at.iter().find(inside))
    }

    /// Distinct functions named `name` (see the module docs for "distinct").
    pub fn candidates(&self, name: &str) -> Vec<&'a Symbol> {
        let mut out: Vec<&Symbol> = Vec::new();
        for s in self.by_name.get(name).into_iter().flatten() {
            let same = out.iter().any(|o| {
                o.address == s.address
                    || (s.file.is_some() && o.file == s.file && o.start_line == s.start_line)
            });
            if !same {
                out.push(s);
            }
        }
        out
    }

    /// Rows for one traced function under `policy`.
    pub fn resolve(&self, traced: &FunctionUse, policy: Ambiguous) -> Vec<FunctionRow> {
        // A traced address names exactly one function.
        if let (Some(ip), None) = (traced.ip, &traced.module) {
            if let Some(sym) = self.by_address(ip, &traced.name) {
                return vec![FunctionRow {
                    traced: traced.clone(),
                    candidates: 1,
                    symbol: Some(sym.clone()),
                    in_baseline: false,
                    counted: true,
                }];
            }
        }
        // Module functions live outside vmlinux: in the module's debug file.
        let cands = if let Some(module) = &traced.module {
            let found = self
                .modules
                .and_then(|m| m.lookup(module, &traced.name).ok().flatten());
            return vec![FunctionRow {
                traced: traced.clone(),
                candidates: u32::from(found.is_some()),
                symbol: found,
                in_baseline: false,
                counted: true,
            }];
        } else {
            self.candidates(&traced.name)
        };
        let n = cands.len() as u32;
        let row = |symbol: Option<&Symbol>| FunctionRow {
            traced: traced.clone(),
            candidates: n,
            symbol: symbol.cloned(),
            in_baseline: false,
            counted: true,
        };
        match (n, policy) {
            (0, _) => vec![row(None)],
            (1, _) => vec![row(Some(cands[0]))],
            (_, Ambiguous::All) => cands.into_iter().map(|c| row(Some(c))).collect(),
            (_, Ambiguous::Skip) => vec![row(None)],
            (_, Ambiguous::Max) => {
                let best = cands
                    .into_iter()
                    .max_by_key(|c| (c.lines.unwrap_or(0), std::cmp::Reverse(c.address)))
                    .expect("n > 1");
                vec![row(Some(best))]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sym(name: &str, address: u64, file: &str, start: u32, lines: u32) -> Symbol {
        Symbol {
            name: name.into(),
            address,
            size: 16,
            file: Some(file.into()),
            start_line: Some(start),
            end_line: Some(start + lines - 1),
            lines: Some(lines),
            code_lines: Some(1),
            source: None,
        }
    }

    fn used(name: &str) -> FunctionUse {
        FunctionUse {
            name: name.into(),
            module: None,
            events: 1,
            first_ts_ns: 0,
            first_event: 0,
            caller: None,
            syscall: None,
            ip: None,
        }
    }

    #[test]
    fn collapses_copies_and_applies_policy() {
        let table = SymbolTable {
            build_id: None,
            symbols: vec![
                sym("show", 0x10, "a.c", 5, 10),
                sym("show", 0x20, "b.c", 7, 30),
                sym("inl", 0x30, "include/x.h", 3, 4),
                sym("inl", 0x40, "include/x.h", 3, 4),
                sym("one", 0x50, "c.c", 1, 2),
            ],
        };
        let r = Resolver::new(&table);
        assert_eq!(r.candidates("inl").len(), 1);
        let max = r.resolve(&used("show"), Ambiguous::Max);
        assert_eq!(
            (
                max.len(),
                max[0].candidates,
                max[0].symbol.as_ref().unwrap().address
            ),
            (1, 2, 0x20)
        );
        assert_eq!(r.resolve(&used("show"), Ambiguous::All).len(), 2);
        assert!(r.resolve(&used("show"), Ambiguous::Skip)[0]
            .symbol
            .is_none());
        let none = r.resolve(&used("missing"), Ambiguous::Max);
        assert_eq!((none[0].candidates, none[0].symbol.is_none()), (0, true));
    }
}

/// How the traced addresses line up with the vmlinux.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SlideCheck {
    /// Runtime − vmlinux address of most sampled functions (0 without KASLR).
    pub slide: u64,
    /// Sampled functions (traced with an address, name unique in the vmlinux).
    pub sampled: u64,
    /// Of those, how many agree with `slide`.
    pub agree: u64,
}

impl SlideCheck {
    /// True when the addresses fit the vmlinux: at least 90 % of at least
    /// ten sampled functions agree on one slide (or there is nothing to check).
    pub fn matches(&self) -> bool {
        self.sampled < 10 || self.agree * 10 >= self.sampled * 9
    }
}

/// Estimate the KASLR slide from functions traced with an address whose name
/// is unique in the vmlinux. Slides are multiples of 2 MiB (x86-64's kernel
/// alignment); an address a few bytes into the function (the `fentry` call
/// after `endbr64`) rounds to the same slide.
pub fn estimate_slide(uses: &[FunctionUse], resolver: &Resolver<'_>) -> SlideCheck {
    const ALIGN: u64 = 0x20_0000;
    let mut counts: HashMap<u64, u64> = HashMap::new();
    let mut sampled = 0;
    for u in uses.iter().filter(|u| u.module.is_none()) {
        let Some(ip) = u.ip else { continue };
        let cands = resolver
            .by_name
            .get(u.name.as_str())
            .map_or(&[][..], Vec::as_slice);
        if let [only] = cands {
            sampled += 1;
            let d = ip.wrapping_sub(only.address).wrapping_add(ALIGN / 2) & !(ALIGN - 1);
            *counts.entry(d).or_default() += 1;
        }
    }
    let (slide, agree) = counts
        .into_iter()
        .max_by_key(|&(d, n)| (n, std::cmp::Reverse(d)))
        .unwrap_or((0, 0));
    SlideCheck {
        slide,
        sampled,
        agree,
    }
}
