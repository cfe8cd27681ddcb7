//! The symbol-table cache: building the table from a 590 MB vmlinux takes
//! seconds, reading it back takes milliseconds. Entries are keyed by the
//! vmlinux's GNU build-id (or, without one, by its path, size and mtime) and
//! live in `$HAP_CACHE_DIR`, else `$XDG_CACHE_HOME/hap`, else `~/.cache/hap`.

use std::path::{Path, PathBuf};

use crate::measure::hex;
use crate::symbols::SymbolTable;
use crate::{table, Error};

/// Bump when the table's meaning or schema changes, so old entries are ignored.
const CACHE_VERSION: u32 = 1;

/// Where a table came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Read from the cache.
    Cache,
    /// Built from the vmlinux (and stored in the cache if possible).
    Built,
}

/// The cache directory in effect.
pub fn cache_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("HAP_CACHE_DIR") {
        return Some(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return Some(PathBuf::from(d).join("hap"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("hap"))
}

fn key(vmlinux: &Path, build_id: Option<&[u8]>) -> Result<String, Error> {
    if let Some(id) = build_id {
        return Ok(format!("buildid-{}", hex(id)));
    }
    use std::hash::{Hash, Hasher};
    let meta = std::fs::metadata(vmlinux).map_err(|e| Error::io(vmlinux, e))?;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    std::fs::canonicalize(vmlinux)
        .unwrap_or_else(|_| vmlinux.to_path_buf())
        .hash(&mut h);
    meta.len().hash(&mut h);
    meta.modified().ok().hash(&mut h);
    Ok(format!("file-{:016x}", h.finish()))
}

/// The cache file for `vmlinux`, if there is a cache directory.
pub fn entry_path(vmlinux: &Path, build_id: Option<&[u8]>) -> Result<Option<PathBuf>, Error> {
    let Some(dir) = cache_dir() else {
        return Ok(None);
    };
    Ok(Some(dir.join(format!(
        "symbols-v{CACHE_VERSION}-{}.parquet",
        key(vmlinux, build_id)?
    ))))
}

/// The symbol table of `vmlinux`, from the cache when present, else built and cached.
/// `use_cache = false` always builds and never writes the cache.
pub fn load_symbols(vmlinux: &Path, use_cache: bool) -> Result<(SymbolTable, Source), Error> {
    if !use_cache {
        return Ok((SymbolTable::from_path(vmlinux)?, Source::Built));
    }
    let build_id = SymbolTable::build_id_of(vmlinux)?;
    let entry = entry_path(vmlinux, build_id.as_deref())?;
    if let Some(entry) = &entry {
        if entry.exists() {
            if let Ok(t) = table::read_symbols(entry, build_id.clone()) {
                return Ok((t, Source::Cache));
            }
        }
    }
    let t = SymbolTable::from_path(vmlinux)?;
    if let Some(entry) = entry {
        // A cache that cannot be written is not an error: the result is the same.
        if std::fs::create_dir_all(entry.parent().unwrap_or(Path::new("."))).is_ok() {
            let _ = table::write_symbols(&t, &entry);
        }
    }
    Ok((t, Source::Built))
}
