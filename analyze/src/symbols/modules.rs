//! Symbol tables of loadable kernel modules (`.ko`, relocatable `ET_REL`
//! objects) and a lazy per-directory index of them.
//!
//! A module is never linked: its symbols hold offsets within their sections
//! and its DWARF refers to code through relocations (`.rela.debug_info`,
//! `.rela.debug_line`, ...). To reuse the vmlinux table builder unchanged,
//! the module is given a **synthetic layout** and its DWARF is relocated
//! against it before `dwarf::resolve` runs:
//!
//! * **Layout.** Executable (`SHF_ALLOC | SHF_EXECINSTR`) sections are laid
//!   out one after another in section-index order starting at address 0,
//!   each aligned to its `sh_addralign`; then the other `SHF_ALLOC`
//!   sections follow the same way (so data addresses in DWARF never alias
//!   code). Non-allocated sections (the `.debug_*` sections among them) have
//!   base 0. Since `.text` is normally the first executable section, its
//!   functions keep their `objdump -d` offsets. A function symbol's
//!   `address` is its section's base plus `st_value`.
//! * **Relocations.** Every `SHT_RELA` / `SHT_REL` section whose `sh_info`
//!   is a DWARF section is applied eagerly to an owned copy of that section
//!   (decompressed first when `SHF_COMPRESSED`): the value is `S + A` with
//!   `S` = base of the symbol's section (layout above, 0 for debug sections
//!   and undefined or absolute symbols) + `st_value` and `A` the explicit
//!   addend (`SHT_RELA`) or the bytes in place (`SHT_REL`). Supported types
//!   (x86-64): `R_X86_64_NONE`, `R_X86_64_64`, `R_X86_64_32`,
//!   `R_X86_64_32S` and the PC-relative `R_X86_64_PC32` / `R_X86_64_PC64`
//!   (`P` = base of the patched section + `r_offset`). Anything else, an
//!   out-of-range offset or a value that does not fit is an error naming the
//!   relocation section and offset. Eager patching is what addr2line's
//!   `RelocationMap` reader does lazily; it costs one copy of the debug
//!   sections, which for modules are small (≤ a few MiB).
//!
//! [`ModuleTables`] indexes the `*.ko` files below a directory (Debian:
//! `/usr/lib/debug/lib/modules/RELEASE`) by module name and builds a
//! module's table the first time it is looked up.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use gimli::DwarfSections;
use object::elf;
use object::read::elf::{ElfFile, FileHeader, Rel, Rela, SectionHeader, SectionTable, Sym};
use object::{Endianness, FileKind, Object, ObjectSection, SectionIndex, SymbolIndex};

use super::elf::{map_file, require_debug_info, runtime_endian, ElfContents, FuncSym};
use super::{Symbol, SymbolError, SymbolTable};

impl SymbolTable {
    /// Memory-map the kernel module (`ET_REL` object, e.g. `virtio_blk.ko`)
    /// at `path` and build its table; addresses follow the synthetic layout
    /// described in the `symbols::modules` docs. Errors name the path
    /// (`PATH: message`).
    pub fn from_module_path(path: &Path) -> Result<SymbolTable, SymbolError> {
        let map = map_file(path).map_err(|e| e.at_path(path))?;
        SymbolTable::from_module_bytes(&map).map_err(|e| e.at_path(path))
    }

    /// Build the table of a kernel module (`ET_REL` object) held in memory.
    pub fn from_module_bytes(data: &[u8]) -> Result<SymbolTable, SymbolError> {
        let contents = match FileKind::parse(data) {
            Ok(FileKind::Elf64) => read_module::<elf::FileHeader64<Endianness>>(data)?,
            Ok(FileKind::Elf32) => read_module::<elf::FileHeader32<Endianness>>(data)?,
            Ok(kind) => {
                return Err(SymbolError::UnsupportedFormat(format!(
                    "not an ELF file ({kind:?} object file)"
                )))
            }
            Err(_) => {
                return Err(SymbolError::UnsupportedFormat(
                    "not an ELF file (unrecognised header)".to_string(),
                ))
            }
        };
        super::build(contents)
    }
}

fn invalid_elf(what: impl fmt::Display) -> SymbolError {
    SymbolError::InvalidElf(what.to_string())
}

/// Symbols, layout-adjusted addresses and relocated DWARF of a module.
fn read_module<Elf: FileHeader<Endian = Endianness>>(
    data: &[u8],
) -> Result<ElfContents<'_>, SymbolError> {
    let file = ElfFile::<Elf>::parse(data).map_err(invalid_elf)?;
    let endian = file.endian();
    let header = file.elf_header();
    if header.e_type(endian) != elf::ET_REL {
        return Err(SymbolError::UnsupportedFormat(
            "not a relocatable object (ET_REL); use the vmlinux reader for linked files"
                .to_string(),
        ));
    }
    if header.e_machine(endian) != elf::EM_X86_64 {
        return Err(SymbolError::UnsupportedFormat(format!(
            "relocatable object for machine {}; only x86-64 modules are supported",
            header.e_machine(endian).0
        )));
    }
    let sections = file.elf_section_table();
    let bases = layout(sections, endian)?;
    let build_id = file
        .build_id()
        .map_err(|e| invalid_elf(format!("build-id note: {e}")))?
        .map(<[u8]>::to_vec);
    let functions = function_symbols(&file, &bases)?;
    require_debug_info(&file)?;
    let dwarf = DwarfSections::load(|id| match file.section_by_name(id.name()) {
        Some(section) => relocated(&file, &bases, section.index(), id.name()),
        None => Ok(Cow::Borrowed(&[][..])),
    })?;
    Ok(ElfContents {
        build_id,
        functions,
        endian: runtime_endian(endian),
        dwarf,
    })
}

/// Base address of every section: executable ones first, then the other
/// allocated ones, each group in index order; 0 for the rest.
fn layout<Elf: FileHeader<Endian = Endianness>>(
    sections: &SectionTable<'_, Elf>,
    endian: Endianness,
) -> Result<Vec<u64>, SymbolError> {
    let mut bases = vec![0u64; sections.len()];
    let mut next = 0u64;
    for want_exec in [true, false] {
        for (i, s) in sections.iter().enumerate() {
            let flags = s.sh_flags(endian).0;
            let exec = flags & elf::SHF_EXECINSTR.0 != 0;
            if flags & elf::SHF_ALLOC.0 == 0 || exec != want_exec {
                continue;
            }
            let align: u64 = s.sh_addralign(endian).into();
            let size: u64 = s.sh_size(endian).into();
            let overflow = || invalid_elf(format!("section {i}: layout overflows 64 bits"));
            let start = match align {
                0 | 1 => next,
                a => next.checked_next_multiple_of(a).ok_or_else(overflow)?,
            };
            bases[i] = start;
            next = start.checked_add(size).ok_or_else(overflow)?;
        }
    }
    Ok(bases)
}

/// `STT_FUNC` symbols with a size in executable sections, at their section
/// base + `st_value`, sorted by `(address, name)`.
fn function_symbols<Elf: FileHeader<Endian = Endianness>>(
    file: &ElfFile<'_, Elf>,
    bases: &[u64],
) -> Result<Vec<FuncSym>, SymbolError> {
    let endian = file.endian();
    let symtab = file.elf_symbol_table();
    if symtab.is_empty() {
        return Err(SymbolError::MissingSymtab);
    }
    let sections = file.elf_section_table();
    let mut out = Vec::new();
    for (index, sym) in symtab.enumerate() {
        let size: u64 = sym.st_size(endian).into();
        if sym.st_type() != elf::STT_FUNC || size == 0 {
            continue;
        }
        let section = symtab
            .symbol_section(endian, sym, index)
            .map_err(|e| invalid_elf(format!("symbol {}: {e}", index.0)))?;
        let Some(SectionIndex(section)) = section else {
            continue;
        };
        let exec = sections
            .section(SectionIndex(section))
            .is_ok_and(|s| s.sh_flags(endian).0 & elf::SHF_EXECINSTR.0 != 0);
        if !exec {
            continue;
        }
        let name = symtab
            .symbol_name(endian, sym)
            .map_err(|e| invalid_elf(format!("symbol {} name: {e}", index.0)))?;
        let value: u64 = sym.st_value(endian).into();
        let address = bases[section]
            .checked_add(value)
            .ok_or_else(|| invalid_elf(format!("symbol {}: address overflows", index.0)))?;
        out.push(FuncSym {
            name: String::from_utf8_lossy(name).into_owned(),
            address,
            size,
        });
    }
    out.sort_by(|a, b| (a.address, &a.name).cmp(&(b.address, &b.name)));
    Ok(out)
}

/// One relocation, independent of REL/RELA.
struct Reloc {
    offset: u64,
    kind: u32,
    sym: u32,
    addend: Option<i64>,
}

/// The contents of section `target` (named `name`) with every relocation
/// section that applies to it applied.
fn relocated<'data, Elf: FileHeader<Endian = Endianness>>(
    file: &ElfFile<'data, Elf>,
    bases: &[u64],
    target: SectionIndex,
    name: &str,
) -> Result<Cow<'data, [u8]>, SymbolError> {
    let endian = file.endian();
    let sections = file.elf_section_table();
    let section = file
        .section_by_index(target)
        .map_err(|e| invalid_elf(format!("{name}: {e}")))?;
    let mut data = section
        .uncompressed_data()
        .map_err(|e| SymbolError::InvalidSection {
            name: name.to_string(),
            detail: e.to_string(),
        })?;
    for (ri, rs) in sections.iter().enumerate() {
        if rs.sh_info(endian) as usize != target.0 {
            continue;
        }
        let rname = sections.section_name(endian, rs).unwrap_or(b"?");
        let rname = String::from_utf8_lossy(rname).into_owned();
        let bad = |detail: String| SymbolError::InvalidSection {
            name: rname.clone(),
            detail,
        };
        let mut relocs = Vec::new();
        if let Some((rela, _)) = rs
            .rela(endian, file.data())
            .map_err(|e| bad(e.to_string()))?
        {
            relocs.extend(rela.iter().map(|r| Reloc {
                offset: r.r_offset(endian).into(),
                kind: r.r_type(endian, false).0,
                sym: r.r_sym(endian, false),
                addend: Some(r.r_addend(endian).into()),
            }));
        } else if let Some((rel, _)) = rs
            .rel(endian, file.data())
            .map_err(|e| bad(e.to_string()))?
        {
            relocs.extend(rel.iter().map(|r| Reloc {
                offset: r.r_offset(endian).into(),
                kind: r.r_type(endian).0,
                sym: r.r_sym(endian),
                addend: None,
            }));
        } else {
            continue;
        }
        let buf = data.to_mut();
        for (k, r) in relocs.iter().enumerate() {
            apply(file, bases, bases[target.0], buf, r).map_err(|detail| {
                bad(format!(
                    "relocation {k} (section {ri}) at offset {:#x}: {detail}",
                    r.offset
                ))
            })?;
        }
    }
    Ok(data)
}

/// Patch `buf` with one x86-64 relocation; `place_base` is the base of the
/// patched section (for PC-relative types).
fn apply<Elf: FileHeader<Endian = Endianness>>(
    file: &ElfFile<'_, Elf>,
    bases: &[u64],
    place_base: u64,
    buf: &mut [u8],
    r: &Reloc,
) -> Result<(), String> {
    let endian = file.endian();
    let (width, pc_rel, signed) = match r.kind {
        k if k == elf::R_X86_64_NONE.0 => return Ok(()),
        k if k == elf::R_X86_64_64.0 => (8, false, false),
        k if k == elf::R_X86_64_32.0 => (4, false, false),
        k if k == elf::R_X86_64_32S.0 => (4, false, true),
        k if k == elf::R_X86_64_PC32.0 => (4, true, true),
        k if k == elf::R_X86_64_PC64.0 => (8, true, false),
        k => return Err(format!("unsupported relocation type {k}")),
    };
    let start = usize::try_from(r.offset).map_err(|_| "offset out of range".to_string())?;
    let field = start
        .checked_add(width)
        .and_then(|end| buf.get_mut(start..end))
        .ok_or_else(|| format!("field of {width} bytes outside the section"))?;
    let addend = match r.addend {
        Some(a) => a,
        None if width == 8 => i64::from_le_bytes(field.try_into().unwrap_or([0; 8])),
        None => i64::from(i32::from_le_bytes(field.try_into().unwrap_or([0; 4]))),
    };
    let mut s = 0u64;
    if r.sym != 0 {
        let symtab = file.elf_symbol_table();
        let index = SymbolIndex(r.sym as usize);
        let sym = symtab.symbol(index).map_err(|e| e.to_string())?;
        let section = symtab
            .symbol_section(endian, sym, index)
            .map_err(|e| e.to_string())?;
        let base = section.and_then(|i| bases.get(i.0).copied()).unwrap_or(0);
        s = base.wrapping_add(sym.st_value(endian).into());
    }
    let mut value = s.wrapping_add(addend as u64);
    if pc_rel {
        value = value.wrapping_sub(place_base.wrapping_add(r.offset));
    }
    if width == 8 {
        field.copy_from_slice(&value.to_le_bytes());
        return Ok(());
    }
    let fits = if signed {
        i32::try_from(value as i64).is_ok()
    } else {
        u32::try_from(value).is_ok()
    };
    if !fits {
        return Err(format!("value {value:#x} does not fit in 32 bits"));
    }
    field.copy_from_slice(&(value as u32).to_le_bytes());
    Ok(())
}

/// Module name of a file name or module name: `.ko` stripped, `-` → `_`.
fn module_name(name: &str) -> String {
    name.strip_suffix(".ko").unwrap_or(name).replace('-', "_")
}

/// A loaded module table with its by-name index.
#[derive(Debug)]
struct Loaded {
    table: Arc<SymbolTable>,
    /// Symbol index of the chosen function per name.
    by_name: HashMap<String, usize>,
}

type Slot = Arc<OnceLock<Result<Arc<Loaded>, SymbolError>>>;

/// The kernel modules below a directory, by module name, with their
/// symbol tables built lazily on first use and cached (thread-safe: tables
/// of different modules load in parallel, each one only once; a load error
/// is cached too and returned again on every lookup of that module).
pub struct ModuleTables {
    dir: PathBuf,
    /// Module name (`_` form) → file. When several files normalise to the
    /// same name the first path in sorted order wins.
    paths: HashMap<String, PathBuf>,
    loaded: Mutex<HashMap<String, Slot>>,
}

impl fmt::Debug for ModuleTables {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let loaded = self.loaded.lock().map_or(0, |m| m.len());
        f.debug_struct("ModuleTables")
            .field("dir", &self.dir)
            .field("modules", &self.paths.len())
            .field("loaded", &loaded)
            .finish()
    }
}

impl ModuleTables {
    /// Index every `*.ko` file below `dir`, recursively (symbolic links are
    /// not followed; unreadable subdirectories are skipped). Compressed
    /// modules (`.ko.xz`, `.ko.zst`) are not indexed: Debian's debug
    /// modules are plain. Fails only when `dir` itself cannot be read.
    pub fn new(dir: &Path) -> Result<ModuleTables, SymbolError> {
        let mut files = Vec::new();
        let top = std::fs::read_dir(dir).map_err(|e| SymbolError::Io(e).at_path(dir))?;
        let mut pending = vec![top];
        while let Some(entries) = pending.pop() {
            for entry in entries.flatten() {
                let Ok(kind) = entry.file_type() else {
                    continue;
                };
                let path = entry.path();
                if kind.is_dir() {
                    if let Ok(sub) = std::fs::read_dir(&path) {
                        pending.push(sub);
                    }
                } else if kind.is_file() && path.extension().is_some_and(|x| x == "ko") {
                    files.push(path);
                }
            }
        }
        files.sort();
        let mut paths = HashMap::new();
        for path in files {
            let Some(stem) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            paths.entry(module_name(stem)).or_insert(path);
        }
        Ok(ModuleTables {
            dir: dir.to_path_buf(),
            paths,
            loaded: Mutex::new(HashMap::new()),
        })
    }

    /// Number of modules indexed.
    pub fn len(&self) -> usize {
        self.paths.len()
    }

    /// Whether no module was found.
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// The file of `module` (`-` and `_` are equivalent), if indexed.
    pub fn path(&self, module: &str) -> Option<&Path> {
        self.paths.get(&module_name(module)).map(PathBuf::as_path)
    }

    /// The whole table of `module`, loading it on first use; `Ok(None)` when
    /// no such module is indexed.
    pub fn table(&self, module: &str) -> Result<Option<Arc<SymbolTable>>, SymbolError> {
        Ok(self.load(module)?.map(|l| l.table.clone()))
    }

    /// The function `name` of `module` (e.g. `("virtio_blk",
    /// "virtblk_add_req")`), loading the module's table on first use.
    /// `Ok(None)` when the module is not indexed or has no such function.
    /// When several function symbols of the module share the name (statics
    /// of different files, or aliases) the one with the most `lines` wins,
    /// then the lowest address.
    pub fn lookup(&self, module: &str, name: &str) -> Result<Option<Symbol>, SymbolError> {
        let Some(loaded) = self.load(module)? else {
            return Ok(None);
        };
        Ok(loaded
            .by_name
            .get(name)
            .and_then(|&i| loaded.table.symbols.get(i))
            .cloned())
    }

    fn load(&self, module: &str) -> Result<Option<Arc<Loaded>>, SymbolError> {
        let key = module_name(module);
        let Some(path) = self.paths.get(&key) else {
            return Ok(None);
        };
        let slot = {
            let mut map = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
            map.entry(key).or_default().clone()
        };
        let result = slot.get_or_init(|| {
            let table = SymbolTable::from_module_path(path)?;
            let mut by_name: HashMap<String, usize> = HashMap::new();
            for (i, s) in table.symbols.iter().enumerate() {
                let best = by_name.entry(s.name.clone()).or_insert(i);
                let b = &table.symbols[*best];
                // Symbols are sorted by address: on equal lines keep the first.
                if s.lines > b.lines {
                    *best = i;
                }
            }
            Ok(Arc::new(Loaded {
                table: Arc::new(table),
                by_name,
            }))
        });
        match result {
            Ok(l) => Ok(Some(l.clone())),
            Err(e) => Err(replay(e)),
        }
    }
}

/// An equal copy of a cached error (`SymbolError` is not `Clone` because of
/// `io::Error`; the kind and message are kept).
fn replay(e: &SymbolError) -> SymbolError {
    match e {
        SymbolError::Io(io) => SymbolError::Io(std::io::Error::new(io.kind(), io.to_string())),
        SymbolError::UnsupportedFormat(s) => SymbolError::UnsupportedFormat(s.clone()),
        SymbolError::InvalidElf(s) => SymbolError::InvalidElf(s.clone()),
        SymbolError::InvalidSection { name, detail } => SymbolError::InvalidSection {
            name: name.clone(),
            detail: detail.clone(),
        },
        SymbolError::MissingSymtab => SymbolError::MissingSymtab,
        SymbolError::MissingDebugInfo { path } => {
            SymbolError::MissingDebugInfo { path: path.clone() }
        }
        SymbolError::InvalidDwarf {
            section,
            offset,
            detail,
        } => SymbolError::InvalidDwarf {
            section: section.clone(),
            offset: *offset,
            detail: detail.clone(),
        },
        SymbolError::Path { path, source } => SymbolError::Path {
            path: path.clone(),
            source: Box::new(replay(source)),
        },
    }
}
