//! Applying the source tree to a symbol table: refined spans, nloc, macro
//! families, and each function's MAINTAINERS subsystem and area.

use std::collections::HashMap;

use std::path::Path;

use super::{area_of, refine, Maintainers, SourceError, SourceTree};
use crate::symbols::{SourceFacts, SymbolTable};

/// Refine every symbol of `table` from `tree` (see [`super::refine`]) and
/// attach [`SourceFacts`]; `end_line` and `lines` become the refined ones.
pub fn annotate(table: &mut SymbolTable, tree: &SourceTree, maintainers: &Maintainers) {
    let refined = refine(tree, &table.symbols);
    let mut subsystems: HashMap<String, Option<String>> = HashMap::new();
    for (s, r) in table.symbols.iter_mut().zip(refined) {
        let Some(file) = s.file.clone() else { continue };
        let subsystem = subsystems
            .entry(file.clone())
            .or_insert_with(|| maintainers.subsystem_of(&file).map(str::to_string))
            .clone();
        let facts = SourceFacts {
            dwarf_end_line: s.end_line,
            nloc: r.nloc,
            span_source: r.span_source.map(|k| k.as_str()),
            macro_kind: r.macro_kind,
            subsystem,
            area: area_of(&file).to_string(),
        };
        s.end_line = r.end_line;
        s.lines = r.lines;
        s.source = Some(Box::new(facts));
    }
}

/// Open the kernel tree at `root` (with its MAINTAINERS) and [`annotate`] `table`.
pub fn annotate_from(table: &mut SymbolTable, root: &Path) -> Result<(), SourceError> {
    let tree = SourceTree::open(root)?;
    let maintainers = Maintainers::load(root)?;
    annotate(table, &tree, &maintainers);
    Ok(())
}
