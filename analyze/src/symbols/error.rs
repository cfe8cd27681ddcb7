//! Errors of the symbol-table builder.
//!
//! Every message follows the grammar `Invalid|Missing|Unsupported <thing>`
//! followed by details; [`SymbolError::Path`] wraps any of them with the file
//! it concerns and prints `PATH: message`. Malformed input of any kind is
//! reported through this type; the builder never panics on bad data.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Why a symbol table could not be built.
#[derive(Debug)]
pub enum SymbolError {
    /// The file could not be opened or memory-mapped.
    Io(io::Error),
    /// The data is not an ELF file this module can read (the string says
    /// what it is instead).
    UnsupportedFormat(String),
    /// The ELF headers, section table or symbol table are malformed.
    InvalidElf(String),
    /// A section could not be read or decompressed (`SHF_COMPRESSED`).
    InvalidSection {
        /// Section name, e.g. `.debug_info`.
        name: String,
        /// What went wrong.
        detail: String,
    },
    /// The ELF file has no `.symtab` (it was stripped).
    MissingSymtab,
    /// The ELF file has no `.debug_info`: the debug package is not installed
    /// or the image was stripped. `path` is filled in by
    /// [`SymbolTable::from_path`](super::SymbolTable::from_path).
    MissingDebugInfo {
        /// The file that lacks DWARF, when known.
        path: Option<PathBuf>,
    },
    /// DWARF data that gimli could not parse.
    InvalidDwarf {
        /// Section where the problem was found, e.g. `.debug_info`.
        section: String,
        /// Offset within that section (of the byte, DIE, unit or line
        /// program being read).
        offset: u64,
        /// gimli's description of the problem.
        detail: String,
    },
    /// Another error, about the given file.
    Path {
        /// The file being read.
        path: PathBuf,
        /// The underlying error.
        source: Box<SymbolError>,
    },
}

impl SymbolError {
    /// Attach `path` to this error: [`SymbolError::MissingDebugInfo`] gets
    /// the path inside its own message, every other error is wrapped in
    /// [`SymbolError::Path`].
    pub(super) fn at_path(self, path: &std::path::Path) -> SymbolError {
        match self {
            SymbolError::MissingDebugInfo { path: None } => {
                let inner = SymbolError::MissingDebugInfo {
                    path: Some(path.to_path_buf()),
                };
                SymbolError::Path {
                    path: path.to_path_buf(),
                    source: Box::new(inner),
                }
            }
            e @ SymbolError::Path { .. } => e,
            e => SymbolError::Path {
                path: path.to_path_buf(),
                source: Box::new(e),
            },
        }
    }
}

impl fmt::Display for SymbolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SymbolError::Io(e) if e.kind() == io::ErrorKind::NotFound => {
                write!(f, "Missing file: {e}")
            }
            SymbolError::Io(e) => write!(f, "Invalid file: {e}"),
            SymbolError::UnsupportedFormat(what) => write!(f, "Unsupported file format: {what}"),
            SymbolError::InvalidElf(detail) => write!(f, "Invalid ELF file: {detail}"),
            SymbolError::InvalidSection { name, detail } => {
                write!(f, "Invalid ELF section {name}: {detail}")
            }
            SymbolError::MissingSymtab => {
                write!(f, "Missing ELF .symtab section (the file is stripped)")
            }
            SymbolError::MissingDebugInfo { path: Some(p) } => write!(
                f,
                "Missing DWARF .debug_info in {}; install the -dbg package",
                p.display()
            ),
            SymbolError::MissingDebugInfo { path: None } => {
                write!(
                    f,
                    "Missing DWARF .debug_info in the ELF file; install the -dbg package"
                )
            }
            SymbolError::InvalidDwarf {
                section,
                offset,
                detail,
            } => {
                write!(
                    f,
                    "Invalid DWARF in {section} at offset {offset:#x}: {detail}"
                )
            }
            SymbolError::Path { path, source } => write!(f, "{}: {source}", path.display()),
        }
    }
}

impl std::error::Error for SymbolError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SymbolError::Io(e) => Some(e),
            SymbolError::Path { source, .. } => Some(source.as_ref()),
            _ => None,
        }
    }
}
