//! ELF side of the symbol table: memory-mapping the file, listing its
//! function symbols, finding its GNU build-id and handing the (possibly
//! compressed) DWARF sections to the DWARF reader.
//!
//! A *function symbol* is an `STT_FUNC` entry of `.symtab` with a non-zero
//! `st_size` whose section (`st_shndx`) has the `SHF_EXECINSTR` flag, i.e.
//! `.text`, `.init.text`, `.exit.text`, `.text.unlikely`, ... Every such
//! entry is listed, aliases included (several names at one address), whether
//! or not DWARF describes it. `.dynsym` is not read: a vmlinux has none and
//! for user-space binaries `.symtab` is a superset.

use std::borrow::Cow;
use std::fs::File;
use std::path::Path;

use gimli::{DwarfSections, RunTimeEndian};
use object::elf;
use object::read::elf::{ElfFile, FileHeader, SectionHeader, Sym};
use object::{Endian, Endianness, FileKind, Object, ObjectSection, SectionIndex};

use super::error::SymbolError;

/// One function symbol of `.symtab`, before any DWARF lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct FuncSym {
    /// Symbol name as stored in `.strtab` (lossily decoded as UTF-8).
    pub name: String,
    /// `st_value`.
    pub address: u64,
    /// `st_size`, always > 0.
    pub size: u64,
}

/// What the DWARF reader needs from the ELF file.
pub(super) struct ElfContents<'data> {
    /// Payload of the `NT_GNU_BUILD_ID` note, if any.
    pub build_id: Option<Vec<u8>>,
    /// Function symbols, sorted by `(address, name)`.
    pub functions: Vec<FuncSym>,
    /// Byte order of the file, for gimli.
    pub endian: RunTimeEndian,
    /// The DWARF sections, decompressed when `SHF_COMPRESSED`.
    pub dwarf: DwarfSections<Cow<'data, [u8]>>,
}

/// Read-only memory map of a whole file.
///
/// The file must not be truncated while the map is alive (the usual caveat
/// of `mmap`); debug files under `/usr/lib/debug` are not rewritten in place.
pub(super) fn map_file(path: &Path) -> Result<memmap2::Mmap, SymbolError> {
    let file = File::open(path).map_err(SymbolError::Io)?;
    // SAFETY: the map is read-only and only lives while the table is built;
    // concurrent truncation of the file by another process is the only
    // hazard and is outside what this tool can guard against.
    unsafe { memmap2::Mmap::map(&file) }.map_err(SymbolError::Io)
}

/// Parse an ELF image: function symbols, build-id and DWARF sections.
///
/// Errors, in the order checked: not an ELF file, malformed ELF headers,
/// no `.symtab`, no (or empty) `.debug_info`, undecodable compressed section.
pub(super) fn read_elf(data: &[u8]) -> Result<ElfContents<'_>, SymbolError> {
    match FileKind::parse(data) {
        Ok(FileKind::Elf64) => read_elf_generic::<elf::FileHeader64<Endianness>>(data),
        Ok(FileKind::Elf32) => read_elf_generic::<elf::FileHeader32<Endianness>>(data),
        Ok(kind) => Err(not_elf(format!("{kind:?} object file"))),
        Err(_) => Err(not_elf(describe_magic(data))),
    }
}

/// The GNU build-id of an ELF image without reading symbols or DWARF.
pub(super) fn build_id(data: &[u8]) -> Result<Option<Vec<u8>>, SymbolError> {
    match FileKind::parse(data) {
        Ok(FileKind::Elf64) => build_id_generic::<elf::FileHeader64<Endianness>>(data),
        Ok(FileKind::Elf32) => build_id_generic::<elf::FileHeader32<Endianness>>(data),
        Ok(kind) => Err(not_elf(format!("{kind:?} object file"))),
        Err(_) => Err(not_elf(describe_magic(data))),
    }
}

fn not_elf(what: String) -> SymbolError {
    SymbolError::UnsupportedFormat(format!("not an ELF file ({what})"))
}

/// Short description of a file that is not a recognised object file.
fn describe_magic(data: &[u8]) -> String {
    if data.is_empty() {
        "empty file".to_string()
    } else {
        let head: Vec<String> = data.iter().take(4).map(|b| format!("{b:02x}")).collect();
        format!("file starting with bytes {}", head.join(" "))
    }
}

fn parse_file<'data, Elf: FileHeader<Endian = Endianness>>(
    data: &'data [u8],
) -> Result<ElfFile<'data, Elf>, SymbolError> {
    ElfFile::<Elf>::parse(data).map_err(|e| SymbolError::InvalidElf(e.to_string()))
}

fn build_id_generic<Elf: FileHeader<Endian = Endianness>>(
    data: &[u8],
) -> Result<Option<Vec<u8>>, SymbolError> {
    let file = parse_file::<Elf>(data)?;
    file.build_id()
        .map(|id| id.map(<[u8]>::to_vec))
        .map_err(|e| SymbolError::InvalidElf(format!("build-id note: {e}")))
}

fn read_elf_generic<Elf: FileHeader<Endian = Endianness>>(
    data: &[u8],
) -> Result<ElfContents<'_>, SymbolError> {
    let file = parse_file::<Elf>(data)?;
    let endian = file.endian();
    if file.elf_header().e_type(endian) == elf::ET_REL {
        // Section-relative addresses and unrelocated DWARF: matching by
        // address would be wrong.
        return Err(SymbolError::UnsupportedFormat(
            "relocatable ELF object (ET_REL); link it first, only executables such as vmlinux \
             are supported"
                .to_string(),
        ));
    }
    let build_id = file
        .build_id()
        .map_err(|e| SymbolError::InvalidElf(format!("build-id note: {e}")))?
        .map(<[u8]>::to_vec);
    let functions = function_symbols(&file)?;

    require_debug_info(&file)?;
    let dwarf = DwarfSections::load(|id| -> Result<Cow<'_, [u8]>, SymbolError> {
        match file.section_by_name(id.name()) {
            Some(section) => section
                .uncompressed_data()
                .map_err(|e| SymbolError::InvalidSection {
                    name: id.name().to_string(),
                    detail: e.to_string(),
                }),
            None => Ok(Cow::Borrowed(&[][..])),
        }
    })?;
    Ok(ElfContents {
        build_id,
        functions,
        endian: runtime_endian(endian),
        dwarf,
    })
}

/// Refuse an ELF file without (or with an empty) `.debug_info`.
pub(super) fn require_debug_info<Elf: FileHeader<Endian = Endianness>>(
    file: &ElfFile<'_, Elf>,
) -> Result<(), SymbolError> {
    match file.section_by_name(".debug_info") {
        Some(s) if s.size() > 0 => Ok(()),
        _ => Err(SymbolError::MissingDebugInfo { path: None }),
    }
}

/// The file's byte order as gimli wants it.
pub(super) fn runtime_endian(endian: Endianness) -> RunTimeEndian {
    if endian.is_little_endian() {
        RunTimeEndian::Little
    } else {
        RunTimeEndian::Big
    }
}

/// All `STT_FUNC` symbols with `st_size > 0` defined in executable sections,
/// sorted by `(address, name)`.
fn function_symbols<Elf: FileHeader<Endian = Endianness>>(
    file: &ElfFile<'_, Elf>,
) -> Result<Vec<FuncSym>, SymbolError> {
    let endian = file.endian();
    let sections = file.elf_section_table();
    let symtab = file.elf_symbol_table();
    if symtab.is_empty() {
        return Err(SymbolError::MissingSymtab);
    }
    // Executable flag per section index, computed once.
    let exec: Vec<bool> = sections
        .iter()
        .map(|s| s.sh_flags(endian).0 & elf::SHF_EXECINSTR.0 != 0)
        .collect();
    let mut out = Vec::new();
    for (index, sym) in symtab.enumerate() {
        if sym.st_type() != elf::STT_FUNC {
            continue;
        }
        let size: u64 = sym.st_size(endian).into();
        if size == 0 {
            continue;
        }
        let section = symtab
            .symbol_section(endian, sym, index)
            .map_err(|e| SymbolError::InvalidElf(format!("symbol {}: {e}", index.0)))?;
        let Some(SectionIndex(section)) = section else {
            continue;
        };
        if !exec.get(section).copied().unwrap_or(false) {
            continue;
        }
        let name = symtab
            .symbol_name(endian, sym)
            .map_err(|e| SymbolError::InvalidElf(format!("symbol {} name: {e}", index.0)))?;
        out.push(FuncSym {
            name: String::from_utf8_lossy(name).into_owned(),
            address: sym.st_value(endian).into(),
            size,
        });
    }
    out.sort_by(|a, b| (a.address, &a.name).cmp(&(b.address, &b.name)));
    Ok(out)
}
