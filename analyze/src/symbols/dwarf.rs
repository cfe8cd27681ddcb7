//! DWARF side of the symbol table: source file, first and last line of the
//! function behind each ELF function symbol.
//!
//! Every compile unit is processed independently (rayon `par_iter` over the
//! unit headers). A unit is streamed once with gimli's `EntriesRaw` cursor,
//! reading attributes only for `DW_TAG_subprogram` and
//! `DW_TAG_inlined_subroutine` DIEs; nothing is kept as an owned tree. Then
//! the unit's line program is run once and its rows are sorted by address.
//!
//! * **Matching** (done in the `matching` module with the facts collected
//!   here). A *concrete* subprogram is one with `DW_AT_low_pc` /
//!   `DW_AT_high_pc` or `DW_AT_ranges`. An ELF symbol matches it when its
//!   address equals the entry (`low_pc`, rank 0), the start of one of its
//!   ranges (rank 1: the `.cold` part of a hot/cold split is the second
//!   range of its parent) or lies inside a range (rank 2). The best rank
//!   wins, ties go to the lowest DIE offset.
//! * **Declaration.** `decl_file` / `decl_line` come from the DIE itself or,
//!   attribute by attribute, from the first DIE along its
//!   `DW_AT_abstract_origin` / `DW_AT_specification` chain that has them
//!   (GCC clones `.isra.N`, `.constprop.N`, `.part.N` and out-of-line copies
//!   of inline functions only carry an origin). References may cross units
//!   (`DW_FORM_ref_addr`); the target unit is then parsed on demand.
//! * **End and code lines** are computed from the unit's line table by the
//!   rules documented in the `lines` module; the walk collects what they
//!   need: each function's ranges, the ranges and call lines of its inlined
//!   callees, and the declaration lines of all definitions of the unit.
//! * **Folded functions.** GCC's identical-code folding leaves definitions
//!   without `low_pc` (e.g. `msr_event_del`, many `__bpf_trace_*`); a symbol
//!   that no subprogram covers is matched by name (clone suffixes stripped)
//!   to such a definition of the unit whose line table covers its address
//!   (rank 3). Its end line comes from rows of its own address range past
//!   the declaration line, or from its macro family, else it is `None`: the
//!   folded code usually carries the lines of the twin it was merged with.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use gimli::{
    constants, AttributeValue, DebugInfoOffset, DwarfSections, EndianSlice, RunTimeEndian, Unit,
    UnitHeader, UnitOffset,
};
use rayon::prelude::*;

use super::elf::FuncSym;
use super::error::SymbolError;
use super::lines::{end_line, file_table, read_rows, Body, Row, NO_FILE};
use super::matching::{match_unit, merge, Decl, Facts, Func, Match, SourceInfo};

/// The gimli reader used throughout: slices of the mapped file.
pub(super) type R<'a> = EndianSlice<'a, RunTimeEndian>;
/// gimli's DWARF sections over [`R`].
pub(super) type Dwarf<'a> = gimli::Dwarf<R<'a>>;

/// Result of the DWARF pass for a whole file.
pub(super) struct Resolved {
    /// One entry per input symbol, in input order.
    pub infos: Vec<Option<SourceInfo>>,
    /// `DW_AT_comp_dir` of every unit that has one (to find the source root).
    pub comp_dirs: Vec<String>,
    /// Inlined instances inside concrete subprograms, when asked for
    /// (see [`resolve_with`]); empty otherwise.
    pub inlines: Vec<Inlinee>,
}

/// One `DW_TAG_inlined_subroutine` (any depth) inside a concrete
/// subprogram, with its abstract origin's declaration.
pub(super) struct Inlinee {
    /// Address ranges of the inlined instance.
    pub ranges: Vec<(u64, u64)>,
    /// Declaration file of the origin (joined, not yet made relative).
    pub file: Arc<str>,
    /// `DW_AT_decl_line` of the origin.
    pub line: u32,
    /// End line from this instance's rows (rules of the `lines` module
    /// applied to the instance: its rows in the origin's file, nested
    /// inlinees' rows excluded, their call lines counted), and whether any
    /// row supported it.
    pub end: (u32, bool),
}

/// An inlined instance while its unit is walked.
struct Instance {
    ranges: Vec<(u64, u64)>,
    decl: Decl,
    /// Ranges of inlined subroutines directly below it.
    nested: Vec<(u64, u64)>,
    /// Their `(call_file, call_line)`.
    calls: Vec<(u32, u32)>,
}

/// Look up file, start and end line for every symbol of `syms` (sorted by
/// address).
pub(super) fn resolve(
    sections: &DwarfSections<Cow<'_, [u8]>>,
    endian: RunTimeEndian,
    syms: &[FuncSym],
) -> Result<Resolved, SymbolError> {
    resolve_with(sections, endian, syms, false)
}

/// [`resolve`], also collecting every inlined instance when `inlines`.
pub(super) fn resolve_with(
    sections: &DwarfSections<Cow<'_, [u8]>>,
    endian: RunTimeEndian,
    syms: &[FuncSym],
    inlines: bool,
) -> Result<Resolved, SymbolError> {
    let mut dwarf: Dwarf<'_> = sections.borrow(|s| EndianSlice::new(s, endian));
    dwarf.populate_abbreviations_cache(gimli::AbbreviationsCacheStrategy::Duplicates);
    let mut headers = Vec::new();
    let mut iter = dwarf.units();
    loop {
        let at = headers.last().map_or(0, |h: &UnitHeader<R<'_>>| {
            info_offset(h) + h.length_including_self() as u64
        });
        match iter.next() {
            Ok(Some(h)) => headers.push(h),
            Ok(None) => break,
            Err(e) => return Err(dwarf_error(&dwarf, e, ".debug_info", at)),
        }
    }
    let mut by_name: HashMap<&str, Vec<usize>> = HashMap::new();
    for (k, s) in syms.iter().enumerate() {
        let base = s.name.split('.').next().unwrap_or(&s.name);
        by_name.entry(base).or_default().push(k);
    }
    let ctx = Ctx {
        dwarf: &dwarf,
        headers: &headers,
        syms,
        by_name,
        inlines,
    };
    let per_unit: Vec<UnitResult> = headers
        .par_iter()
        .map(|h| UnitWalker::run(&ctx, h))
        .collect::<Result<_, _>>()?;
    let mut comp_dirs = Vec::new();
    let mut all = Vec::with_capacity(per_unit.len());
    let mut inlines = Vec::new();
    for (matches, comp_dir, found) in per_unit {
        comp_dirs.extend(comp_dir);
        all.push(matches);
        inlines.extend(found);
    }
    let infos = merge(syms.len(), all);
    Ok(Resolved {
        infos,
        comp_dirs,
        inlines,
    })
}

fn info_offset(h: &UnitHeader<R<'_>>) -> u64 {
    h.offset().0 as u64
}

/// Turn a gimli error into [`SymbolError::InvalidDwarf`], preferring the
/// exact section/offset gimli knows over the caller's context.
fn dwarf_error(dwarf: &Dwarf<'_>, e: gimli::Error, section: &str, offset: u64) -> SymbolError {
    if let gimli::Error::UnexpectedEof(id) = e {
        if let Some((_, sec, off)) = dwarf.lookup_offset_id(id) {
            return SymbolError::InvalidDwarf {
                section: sec.name().to_string(),
                offset: off as u64,
                detail: e.to_string(),
            };
        }
    }
    SymbolError::InvalidDwarf {
        section: section.to_string(),
        offset,
        detail: e.to_string(),
    }
}

/// Shared, read-only inputs of the per-unit workers.
struct Ctx<'c, 'a> {
    dwarf: &'c Dwarf<'a>,
    headers: &'c [UnitHeader<R<'a>>],
    syms: &'c [FuncSym],
    /// Symbol indices by name, clone suffixes (`.isra.0`, ...) stripped.
    by_name: HashMap<&'c str, Vec<usize>>,
    /// Also collect inlined instances at every depth.
    inlines: bool,
}

/// What one unit yields: matches, `DW_AT_comp_dir`, inlined instances.
type UnitResult = (Vec<Match>, Option<String>, Vec<Inlinee>);

/// The attributes we care about, read from one DIE.
#[derive(Default)]
struct Attrs<'a> {
    low_pc: Option<AttributeValue<R<'a>>>,
    high_pc: Option<AttributeValue<R<'a>>>,
    ranges: Option<AttributeValue<R<'a>>>,
    origin: Option<AttributeValue<R<'a>>>,
    spec: Option<AttributeValue<R<'a>>>,
    decl_file: Option<u64>,
    decl_line: Option<u64>,
    call_file: Option<u64>,
    call_line: Option<u64>,
    declaration: bool,
    name: Option<AttributeValue<R<'a>>>,
}

impl<'a> Attrs<'a> {
    fn take(&mut self, attr: gimli::Attribute<R<'a>>) {
        let value = attr.value();
        match attr.name() {
            constants::DW_AT_low_pc => self.low_pc = Some(value),
            constants::DW_AT_high_pc => self.high_pc = Some(value),
            constants::DW_AT_ranges => self.ranges = Some(value),
            constants::DW_AT_abstract_origin => self.origin = Some(value),
            constants::DW_AT_specification => self.spec = Some(value),
            constants::DW_AT_decl_file => self.decl_file = file_index(&value),
            constants::DW_AT_decl_line => self.decl_line = attr.udata_value(),
            constants::DW_AT_call_file => self.call_file = file_index(&value),
            constants::DW_AT_call_line => self.call_line = attr.udata_value(),
            constants::DW_AT_declaration => self.declaration = value != AttributeValue::Flag(false),
            constants::DW_AT_name => self.name = Some(value),
            _ => {}
        }
    }
}

fn file_index(v: &AttributeValue<R<'_>>) -> Option<u64> {
    match *v {
        AttributeValue::FileIndex(i) => Some(i),
        _ => v.udata_value(),
    }
}

/// Another unit reached through `DW_FORM_ref_addr`, with its file paths.
type OtherUnit<'a> = Arc<(Unit<R<'a>>, Vec<Option<Arc<str>>>)>;

/// What the DIEs below the current one belong to.
enum Scope {
    Func(usize),
    /// Inside inlined instance `.1` of function `.0` (only when collecting).
    Inline(usize, usize),
    Transparent,
    Opaque,
}

/// Per-unit state: path interner, collected functions and definitions.
struct UnitWalker<'c, 'a> {
    ctx: &'c Ctx<'c, 'a>,
    unit: Arc<Unit<R<'a>>>,
    base: u64,
    end: u64,
    paths: Vec<Arc<str>>,
    path_ids: HashMap<Arc<str>, u32>,
    /// Line-table file index -> path id.
    file_ids: Vec<u32>,
    funcs: Vec<Func>,
    /// `(file, decl_line)` of every subprogram definition of the unit.
    defs: Vec<(u32, u32)>,
    decl_cache: HashMap<u64, Decl>,
    other_units: HashMap<u64, OtherUnit<'a>>,
    /// Named definitions without code ranges (see `matching`).
    no_pc: Vec<(&'a [u8], u64, Decl)>,
    /// Inlined instances (only when `ctx.inlines`).
    instances: Vec<Instance>,
}

impl<'c, 'a> UnitWalker<'c, 'a> {
    fn run(ctx: &'c Ctx<'c, 'a>, header: &UnitHeader<R<'a>>) -> Result<UnitResult, SymbolError> {
        let base = info_offset(header);
        let end = base + header.length_including_self() as u64;
        let unit = Arc::new(
            ctx.dwarf
                .unit(*header)
                .map_err(|e| ctx.err(e, ".debug_info", base))?,
        );
        let comp_dir = unit
            .comp_dir
            .map(|d| String::from_utf8_lossy(d.slice()).into_owned());
        let mut w = UnitWalker {
            ctx,
            unit,
            base,
            end,
            paths: Vec::new(),
            path_ids: HashMap::new(),
            file_ids: Vec::new(),
            funcs: Vec::new(),
            defs: Vec::new(),
            decl_cache: HashMap::new(),
            other_units: HashMap::new(),
            no_pc: Vec::new(),
            instances: Vec::new(),
        };
        let files = file_table(ctx.dwarf, &w.unit);
        w.file_ids = files
            .into_iter()
            .map(|p| p.map_or(NO_FILE, |p| w.intern(p)))
            .collect();
        w.walk()?;
        let rows = read_rows(&w.unit, &w.file_ids, |e, at| ctx.err(e, ".debug_line", at))?;
        let inlinees = w.finish_instances(&rows);
        let facts = Facts {
            funcs: w.funcs,
            defs: w.defs,
            paths: w.paths,
            no_pc: w.no_pc,
        };
        let matches = match_unit(facts, &rows, ctx.syms, &ctx.by_name);
        Ok((matches, comp_dir, inlinees))
    }

    /// End lines of the collected inlined instances.
    fn finish_instances(&mut self, rows: &[Row]) -> Vec<Inlinee> {
        if self.instances.is_empty() {
            return Vec::new();
        }
        let mut defs = self.defs.clone();
        defs.sort_unstable();
        let instances = std::mem::take(&mut self.instances);
        instances
            .into_iter()
            .filter_map(|mut inst| {
                let (file, line) = (inst.decl.file?, inst.decl.line?);
                inst.nested.sort_unstable();
                let body = Body {
                    file: Some(file),
                    start: Some(line),
                    ranges: &inst.ranges,
                    inlined: &inst.nested,
                    calls: &inst.calls,
                };
                let end = end_line(&body, rows, &defs)?;
                Some(Inlinee {
                    file: self.paths[file as usize].clone(),
                    line,
                    end,
                    ranges: inst.ranges,
                })
            })
            .collect()
    }

    fn intern(&mut self, path: Arc<str>) -> u32 {
        if let Some(&id) = self.path_ids.get(&path) {
            return id;
        }
        let id = self.paths.len() as u32;
        self.paths.push(path.clone());
        self.path_ids.insert(path, id);
        id
    }

    fn local_file(&self, index: Option<u64>) -> Option<u32> {
        let id = *self.file_ids.get(usize::try_from(index?).ok()?)?;
        (id != NO_FILE).then_some(id)
    }

    /// Stream the DIEs of the unit once.
    fn walk(&mut self) -> Result<(), SymbolError> {
        let unit = self.unit.clone();
        let mut raw = unit
            .entries_raw(None)
            .map_err(|e| self.ctx.err(e, ".debug_info", self.base))?;
        let mut scopes: Vec<(isize, Scope)> = Vec::new();
        let mut skip_below: Option<isize> = None;
        while !raw.is_empty() {
            let depth = raw.next_depth();
            let die = self.base + raw.next_offset().0 as u64;
            let err = |e| self.ctx.err(e, ".debug_info", die);
            let Some(abbrev) = raw.read_abbreviation().map_err(err)? else {
                continue;
            };
            if let Some(d) = skip_below {
                if depth > d {
                    raw.skip_attributes(abbrev.attributes()).map_err(err)?;
                    continue;
                }
                skip_below = None;
            }
            while scopes.last().is_some_and(|(d, _)| *d >= depth) {
                scopes.pop();
            }
            let tag = abbrev.tag();
            if tag != constants::DW_TAG_subprogram && tag != constants::DW_TAG_inlined_subroutine {
                raw.skip_attributes(abbrev.attributes()).map_err(err)?;
                continue;
            }
            let mut a = Attrs::default();
            for spec in abbrev.attributes() {
                a.take(raw.read_attribute(*spec).map_err(err)?);
            }
            let children = abbrev.has_children();
            if tag == constants::DW_TAG_subprogram {
                let scope = self.subprogram(a, die)?;
                if children {
                    scopes.push((depth, scope));
                }
                continue;
            }
            // Inlined subroutine: find the function it belongs to.
            let owner = scopes.iter().rev().find_map(|(_, s)| match s {
                Scope::Func(i) => Some(Some((*i, None))),
                Scope::Inline(i, k) => Some(Some((*i, Some(*k)))),
                Scope::Opaque => Some(None),
                Scope::Transparent => None,
            });
            let Some(Some((fi, parent))) = owner else {
                if children {
                    skip_below = Some(depth);
                }
                continue;
            };
            let callee = match &a.origin {
                Some(v) => self.decl_of(v, die, 0)?,
                None => Decl::default(),
            };
            let caller = self.funcs[fi].decl;
            if callee.line.is_some() && callee == caller {
                if children {
                    scopes.push((depth, Scope::Transparent));
                }
                continue;
            }
            let ranges = self.ranges_of(&a, die)?;
            let call_file = self.local_file(a.call_file);
            let call = call_file.zip(a.call_line.map(|l| l as u32));
            match parent {
                None => {
                    let f = &mut self.funcs[fi];
                    f.inlined.extend(ranges.iter().copied());
                    f.calls.extend(call);
                }
                Some(p) => {
                    let p = &mut self.instances[p];
                    p.nested.extend(ranges.iter().copied());
                    p.calls.extend(call);
                }
            }
            if !self.ctx.inlines {
                if children {
                    skip_below = Some(depth);
                }
                continue;
            }
            self.instances.push(Instance {
                ranges,
                decl: callee,
                nested: Vec::new(),
                calls: Vec::new(),
            });
            if children {
                scopes.push((depth, Scope::Inline(fi, self.instances.len() - 1)));
            }
        }
        Ok(())
    }

    /// Record a subprogram DIE; returns the scope its children live in.
    fn subprogram(&mut self, a: Attrs<'a>, die: u64) -> Result<Scope, SymbolError> {
        if !a.declaration {
            if let (Some(f), Some(l)) = (self.local_file(a.decl_file), a.decl_line) {
                self.defs.push((f, l as u32));
            }
        }
        let ranges = self.ranges_of(&a, die)?;
        if ranges.is_empty() && (a.declaration || a.name.is_none()) {
            return Ok(Scope::Opaque);
        }
        let mut decl = Decl {
            file: self.local_file(a.decl_file),
            line: a.decl_line.map(|l| l as u32),
        };
        for link in [&a.origin, &a.spec].into_iter().flatten() {
            if decl.file.is_some() && decl.line.is_some() {
                break;
            }
            let d = self.decl_of(link, die, 0)?;
            decl.file = decl.file.or(d.file);
            decl.line = decl.line.or(d.line);
        }
        if ranges.is_empty() {
            if let Some(name) = a
                .name
                .and_then(|v| self.ctx.dwarf.attr_string(&self.unit, v).ok())
            {
                self.no_pc.push((name.slice(), die, decl));
            }
            return Ok(Scope::Opaque);
        }
        let entry = match a.low_pc {
            Some(v) => self.address(v, die)?,
            None => None,
        };
        let entry = entry.or_else(|| ranges.first().map(|r| r.0));
        self.funcs.push(Func {
            die,
            entry,
            ranges,
            decl,
            inlined: Vec::new(),
            calls: Vec::new(),
        });
        Ok(Scope::Func(self.funcs.len() - 1))
    }

    fn address(&self, v: AttributeValue<R<'a>>, die: u64) -> Result<Option<u64>, SymbolError> {
        self.ctx
            .dwarf
            .attr_address(&self.unit, v)
            .map_err(|e| self.ctx.err(e, ".debug_info", die))
    }

    /// Address ranges of a DIE (`low_pc`/`high_pc` or `DW_AT_ranges`),
    /// without empty and tombstoned ranges.
    fn ranges_of(&self, a: &Attrs<'a>, die: u64) -> Result<Vec<(u64, u64)>, SymbolError> {
        let err = |e| self.ctx.err(e, ".debug_info", die);
        let mut out = Vec::new();
        if let Some(low) = a.low_pc {
            let Some(low) = self.address(low, die)? else {
                return Ok(out);
            };
            let high = match a.high_pc {
                Some(AttributeValue::Udata(len)) => low.checked_add(len),
                Some(v) => self.address(v, die)?,
                None => None,
            };
            if let Some(high) = high {
                out.push((low, high));
            }
        } else if let Some(v) = a.ranges {
            if let Some(mut iter) = self.ctx.dwarf.attr_ranges(&self.unit, v).map_err(err)? {
                while let Some(r) = iter.next().map_err(err)? {
                    out.push((r.begin, r.end));
                }
            }
        }
        out.retain(|&(b, e)| b < e && !self.unit.is_tombstone_address(b));
        Ok(out)
    }

    /// Declaration of the DIE referenced by `link`, following its own
    /// origin/specification links (at most 8 hops).
    fn decl_of(
        &mut self,
        link: &AttributeValue<R<'a>>,
        from: u64,
        hops: u32,
    ) -> Result<Decl, SymbolError> {
        let target = match *link {
            AttributeValue::UnitRef(o) => self.base + o.0 as u64,
            AttributeValue::DebugInfoRef(o) => o.0 as u64,
            _ => return Ok(Decl::default()),
        };
        if hops > 8 {
            return Ok(Decl::default());
        }
        if let Some(d) = self.decl_cache.get(&target) {
            return Ok(*d);
        }
        let (a, mut decl) = if (self.base..self.end).contains(&target) {
            let off = UnitOffset((target - self.base) as usize);
            let a = self.read_die(&self.unit, off, target)?;
            let decl = Decl {
                file: self.local_file(a.decl_file),
                line: a.decl_line.map(|l| l as u32),
            };
            (a, decl)
        } else {
            let other = self.other_unit(target, from)?;
            let off = UnitOffset((target - info_offset(&other.0.header)) as usize);
            let a = self.read_die(&other.0, off, target)?;
            let path = a
                .decl_file
                .and_then(|i| other.1.get(i as usize).cloned().flatten());
            let file = path.map(|p| self.intern(p));
            let line = a.decl_line.map(|l| l as u32);
            (a, Decl { file, line })
        };
        // Links that cross into another unit are resolved there by offset,
        // which `decl_of` handles uniformly through `target`.
        for link in [&a.origin, &a.spec].into_iter().flatten() {
            if decl.file.is_some() && decl.line.is_some() {
                break;
            }
            let link = match *link {
                AttributeValue::UnitRef(o) if !(self.base..self.end).contains(&target) => {
                    let other = self.other_unit(target, from)?;
                    AttributeValue::DebugInfoRef(DebugInfoOffset(
                        info_offset(&other.0.header) as usize + o.0,
                    ))
                }
                l => l,
            };
            let d = self.decl_of(&link, target, hops + 1)?;
            decl.file = decl.file.or(d.file);
            decl.line = decl.line.or(d.line);
        }
        self.decl_cache.insert(target, decl);
        Ok(decl)
    }

    fn read_die(
        &self,
        unit: &Unit<R<'a>>,
        off: UnitOffset,
        at: u64,
    ) -> Result<Attrs<'a>, SymbolError> {
        let entry = unit
            .entry(off)
            .map_err(|e| self.ctx.err(e, ".debug_info", at))?;
        let mut a = Attrs::default();
        for attr in entry.attrs() {
            a.take(*attr);
        }
        Ok(a)
    }

    /// The unit containing `.debug_info` offset `target`, parsed on demand.
    fn other_unit(&mut self, target: u64, from: u64) -> Result<OtherUnit<'a>, SymbolError> {
        let headers = self.ctx.headers;
        let i = headers.partition_point(|h| info_offset(h) <= target);
        let bad = || SymbolError::InvalidDwarf {
            section: ".debug_info".into(),
            offset: from,
            detail: format!("reference to offset {target:#x} outside any unit"),
        };
        let header = headers
            .get(i.checked_sub(1).ok_or_else(bad)?)
            .ok_or_else(bad)?;
        let start = info_offset(header);
        if target >= start + header.length_including_self() as u64 {
            return Err(bad());
        }
        if let Some(u) = self.other_units.get(&start) {
            return Ok(u.clone());
        }
        let unit = self
            .ctx
            .dwarf
            .unit(*header)
            .map_err(|e| self.ctx.err(e, ".debug_info", start))?;
        let files = file_table(self.ctx.dwarf, &unit);
        let entry = Arc::new((unit, files));
        self.other_units.insert(start, entry.clone());
        Ok(entry)
    }
}

impl Ctx<'_, '_> {
    fn err(&self, e: gimli::Error, section: &str, offset: u64) -> SymbolError {
        dwarf_error(self.dwarf, e, section, offset)
    }
}
