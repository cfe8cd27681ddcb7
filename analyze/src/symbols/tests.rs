//! Unit tests: tiny C programs from `analyze/tests/c/` compiled with
//! `gcc -O2 -g` and linked, then checked against values verified by hand in
//! the C sources and with `llvm-dwarfdump` (line table and DIEs). gcc is
//! required: without it the tests fail, they do not skip.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::lines::join_path;
use super::{source_root, Symbol, SymbolError, SymbolTable};

/// `analyze/tests/c`, whether this folder is compiled inside the `analyze`
/// crate or as a standalone crate root elsewhere.
fn c_dir() -> PathBuf {
    let here = Path::new(file!());
    let analyze = here
        .ancestors()
        .nth(3)
        .expect("file!() is analyze/src/symbols/tests.rs");
    let candidates = [
        analyze.join("tests/c"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c"),
    ];
    candidates
        .iter()
        .find(|p| p.join("inline_below.c").is_file())
        .unwrap_or_else(|| panic!("C sources not found in {candidates:?}"))
        .clone()
}

/// A fresh temporary directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "hap-symbols-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A program built by [`build`]; deleted with its directory when dropped.
struct Exe {
    path: PathBuf,
    _dir: Scratch,
}

impl std::ops::Deref for Exe {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<Path> for Exe {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

/// Compile and link `sources` (relative to `c_dir()`) with extra `flags`.
fn build(out_name: &str, sources: &[&str], flags: &[&str]) -> Exe {
    let dir = Scratch::new();
    let out = dir.join(out_name);
    let status = Command::new("gcc")
        .current_dir(c_dir())
        .args(flags)
        .arg("-o")
        .arg(&out)
        .args(sources)
        .status()
        .expect("gcc is required for these tests (apt-get install gcc)");
    assert!(status.success(), "gcc failed on {sources:?}");
    Exe {
        path: out,
        _dir: dir,
    }
}

fn build_dbg(out_name: &str, sources: &[&str]) -> Exe {
    build(out_name, sources, &["-O2", "-g"])
}

fn nm_names(path: &Path) -> Vec<String> {
    let out = Command::new("nm")
        .arg(path)
        .output()
        .expect("nm (binutils) is required");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2).map(str::to_string))
        .collect()
}

fn find<'t>(table: &'t SymbolTable, name: &str) -> Vec<&'t Symbol> {
    table.symbols.iter().filter(|s| s.name == name).collect()
}

fn one<'t>(table: &'t SymbolTable, name: &str) -> &'t Symbol {
    let found = find(table, name);
    assert_eq!(
        found.len(),
        1,
        "exactly one {name} expected in {:?}",
        table.symbols
    );
    found[0]
}

fn span(s: &Symbol) -> (Option<&str>, Option<u32>, Option<u32>, Option<u32>) {
    (s.file.as_deref(), s.start_line, s.end_line, s.lines)
}

#[test]
fn inlined_callee_defined_below_does_not_stretch_caller() {
    let exe = build_dbg("inline_below", &["inline_below.c"]);
    let table = SymbolTable::from_path(&exe).unwrap();
    assert!(
        !nm_names(&exe).iter().any(|n| n.starts_with("helper")),
        "helper must be inlined"
    );
    let caller = one(&table, "caller");
    // Lines 15-22 (helper's body) have rows inside caller's range; the
    // closing brace of caller is line 13.
    assert_eq!(
        span(caller),
        (Some("inline_below.c"), Some(7), Some(13), Some(7))
    );
    assert!(caller.code_lines.unwrap() >= 3);
    // main ends with a tail call: no row for its closing brace (line 29).
    assert_eq!(
        span(one(&table, "main")),
        (Some("inline_below.c"), Some(25), Some(29), Some(5))
    );
}

#[test]
fn static_functions_sharing_a_name_stay_distinct() {
    let exe = build_dbg("dup", &["dup_a.c", "dup_b.c"]);
    let table = SymbolTable::from_path(&exe).unwrap();
    let shows = find(&table, "show");
    assert_eq!(shows.len(), 2);
    assert_ne!(shows[0].address, shows[1].address);
    let mut spans: Vec<_> = shows.iter().map(|s| span(s)).collect();
    spans.sort();
    assert_eq!(
        spans,
        vec![
            (Some("dup_a.c"), Some(4), Some(8), Some(5)),
            (Some("dup_b.c"), Some(5), Some(10), Some(6)),
        ]
    );
    assert_eq!(
        span(one(&table, "use_b")),
        (Some("dup_b.c"), Some(12), Some(15), Some(4))
    );
}

#[test]
fn clone_takes_declaration_from_abstract_origin() {
    let exe = build_dbg("clone", &["clone.c"]);
    let names = nm_names(&exe);
    let clone = names
        .iter()
        .find(|n| n.starts_with("scale."))
        .unwrap_or_else(|| panic!("gcc made no clone of scale: {names:?}"));
    let table = SymbolTable::from_path(&exe).unwrap();
    assert_eq!(
        span(one(&table, clone)),
        (Some("clone.c"), Some(5), Some(12), Some(8))
    );
    assert_eq!(
        span(one(&table, "first")),
        (Some("clone.c"), Some(14), Some(17), Some(4))
    );
    assert_eq!(
        span(one(&table, "second")),
        (Some("clone.c"), Some(19), Some(22), Some(4))
    );
}

#[test]
fn abstract_origin_in_another_unit_with_lto() {
    // With -flto, GCC keeps the abstract DIEs in an early-debug unit and
    // the concrete ones in the LTRANS unit refer to them with
    // DW_FORM_ref_addr.
    let exe = build("lto", &["clone.c"], &["-O2", "-g", "-flto"]);
    // The clone's DIE and its abstract origin live in different units.
    let data = std::fs::read(&exe).unwrap();
    let (info, size) = section_range(&data, ".debug_info");
    let (mut units, mut at) = (0, 0);
    while at + 4 <= size {
        let len = u32::from_le_bytes(data[info + at..info + at + 4].try_into().unwrap());
        at += 4 + len as usize;
        units += 1;
    }
    assert!(units >= 2, "expected an early-debug and an LTRANS unit");
    let table = SymbolTable::from_path(&exe).unwrap();
    let clone = table
        .symbols
        .iter()
        .find(|s| s.name.starts_with("scale."))
        .unwrap();
    assert_eq!(span(clone), (Some("clone.c"), Some(5), Some(12), Some(8)));
    assert_eq!(
        span(one(&table, "main")),
        (Some("clone.c"), Some(24), Some(28), Some(5))
    );
}

#[test]
fn cold_part_is_matched_through_parent_ranges() {
    let exe = build_dbg("cold", &["cold.c"]);
    assert!(
        nm_names(&exe).iter().any(|n| n == "checked_div.cold"),
        "no .cold part"
    );
    let table = SymbolTable::from_path(&exe).unwrap();
    let hot = one(&table, "checked_div");
    let cold = one(&table, "checked_div.cold");
    assert_ne!(hot.address, cold.address);
    assert_eq!(span(hot), (Some("cold.c"), Some(12), Some(20), Some(9)));
    assert_eq!(span(cold), (Some("cold.c"), Some(12), Some(20), Some(9)));
    assert!(cold.code_lines.unwrap() >= 1);
    assert_eq!(
        span(one(&table, "report")),
        (Some("cold.c"), Some(7), Some(10), Some(4))
    );
    assert_eq!(
        span(one(&table, "main")),
        (Some("cold.c"), Some(22), Some(26), Some(5))
    );
}

#[test]
fn table_is_sorted_and_lists_every_function_symbol() {
    let exe = build_dbg("dup2", &["dup_a.c", "dup_b.c"]);
    let table = SymbolTable::from_path(&exe).unwrap();
    assert!(table
        .symbols
        .windows(2)
        .all(|w| (w[0].address, &w[0].name) <= (w[1].address, &w[1].name)));
    assert!(table.symbols.iter().all(|s| s.size > 0));
    // Symbols without DWARF (crt files) are listed with no line fields.
    for s in &table.symbols {
        assert_eq!(s.file.is_some(), s.start_line.is_some(), "{s:?}");
        if let (Some(a), Some(b), Some(n)) = (s.start_line, s.end_line, s.lines) {
            assert!(b >= a && n == b - a + 1, "{s:?}");
        }
    }
    let id = table
        .build_id
        .clone()
        .expect("gcc on Debian links with --build-id");
    assert_eq!(id.len(), 20);
    assert_eq!(SymbolTable::build_id_of(&exe).unwrap(), Some(id));
}

#[test]
fn non_elf_is_an_error() {
    let err = SymbolTable::from_bytes(b"#!/bin/sh\necho not elf\n").unwrap_err();
    assert!(matches!(err, SymbolError::UnsupportedFormat(_)), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("Unsupported file format: not an ELF file"),
        "{err}"
    );
    assert!(matches!(
        SymbolTable::from_bytes(b"").unwrap_err(),
        SymbolError::UnsupportedFormat(_)
    ));
    let dir = Scratch::new();
    let path = dir.join("text");
    std::fs::write(&path, "hello").unwrap();
    let err = SymbolTable::from_path(&path).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: {}",
            path.display(),
            "Unsupported file format: not an ELF file (file starting with bytes 68 65 6c 6c)"
        )
    );
    let missing = dir.join("nope");
    let err = SymbolTable::from_path(&missing).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("{}: Missing file", missing.display())),
        "{err}"
    );
}

#[test]
fn elf_without_debug_info_or_symtab_is_an_error() {
    let plain = build("plain", &["dup_a.c", "dup_b.c"], &["-O2"]);
    let err = SymbolTable::from_path(&plain).unwrap_err();
    let p = plain.display();
    assert_eq!(
        err.to_string(),
        format!("{p}: Missing DWARF .debug_info in {p}; install the -dbg package")
    );
    let stripped = build("stripped", &["dup_a.c", "dup_b.c"], &["-O2", "-g", "-s"]);
    let err = SymbolTable::from_path(&stripped).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("Missing ELF .symtab section (the file is stripped)"),
        "{err}"
    );
    let dir = Scratch::new();
    let obj = dir.join("obj.o");
    let status = Command::new("gcc")
        .current_dir(c_dir())
        .args(["-O2", "-g", "-c", "-o"])
        .arg(&obj)
        .arg("clone.c")
        .status()
        .expect("gcc is required");
    assert!(status.success());
    let err = SymbolTable::from_path(&obj).unwrap_err();
    assert!(
        err.to_string()
            .contains("Unsupported file format: relocatable ELF object"),
        "{err}"
    );
}

/// File offset and size of a section, found with the `object` crate.
fn section_range(data: &[u8], name: &str) -> (usize, usize) {
    use object::{Object, ObjectSection};
    let file = object::File::parse(data).unwrap();
    let (off, size) = file.section_by_name(name).unwrap().file_range().unwrap();
    (off as usize, size as usize)
}

#[test]
fn corrupt_dwarf_is_an_error_with_section_and_offset() {
    let exe = build_dbg("corrupt", &["cold.c"]);
    let data = std::fs::read(&exe).unwrap();
    let (info, _) = section_range(&data, ".debug_info");
    // A reserved DWARF32 unit length.
    let mut bad = data.clone();
    bad[info..info + 4].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
    let err = SymbolTable::from_bytes(&bad).unwrap_err();
    assert!(
        matches!(err, SymbolError::InvalidDwarf { ref section, offset: 0, .. } if section == ".debug_info"),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("Invalid DWARF in .debug_info at offset 0x0: "),
        "{err}"
    );
    // Unknown abbreviation codes in the middle of the DIEs.
    let mut bad = data.clone();
    for b in &mut bad[info + 0x30..info + 0x40] {
        *b = 0x7f;
    }
    let err = SymbolTable::from_bytes(&bad).unwrap_err();
    assert!(matches!(err, SymbolError::InvalidDwarf { .. }), "{err:?}");
}

#[test]
fn random_corruption_never_panics() {
    let exe = build_dbg("fuzz", &["clone.c"]);
    let data = std::fs::read(&exe).unwrap();
    let mut seed = 0x4841_5053_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for name in [
        ".debug_info",
        ".debug_abbrev",
        ".debug_line",
        ".debug_str",
        ".symtab",
    ] {
        let (off, size) = section_range(&data, name);
        for _ in 0..60 {
            let mut bad = data.clone();
            for _ in 0..1 + next() % 4 {
                let at = off + (next() as usize) % size;
                bad[at] = next() as u8;
            }
            let _ = SymbolTable::from_bytes(&bad);
        }
    }
    let _ = SymbolTable::from_bytes(&data[..data.len() / 2]);
}

#[test]
fn paths_are_joined_like_the_debian_build() {
    let comp = Some("debian/build/build_amd64_none_cloud-amd64");
    assert_eq!(
        join_path(comp, Some("fs"), false, "read_write.c"),
        "fs/read_write.c"
    );
    assert_eq!(
        join_path(comp, Some("include/linux"), false, "list.h"),
        "include/linux/list.h"
    );
    assert_eq!(
        join_path(
            comp,
            Some("./arch/x86/include/generated/asm"),
            false,
            "rwonce.h"
        ),
        "debian/build/build_amd64_none_cloud-amd64/arch/x86/include/generated/asm/rwonce.h"
    );
    assert_eq!(
        join_path(comp, comp, true, "x.c"),
        "debian/build/build_amd64_none_cloud-amd64/x.c"
    );
    let abs =
        Some("/build/reproducible-path/linux-6.1.192/debian/build/build_amd64_none_cloud-amd64");
    assert_eq!(
        join_path(
            abs,
            Some("/build/reproducible-path/linux-6.1.192/arch/x86/kernel/../../x86/xen"),
            false,
            "xen-head.S"
        ),
        "/build/reproducible-path/linux-6.1.192/arch/x86/xen/xen-head.S"
    );
    assert_eq!(
        join_path(Some("/src/linux"), Some("./include/linux"), false, "a.h"),
        "/src/linux/include/linux/a.h"
    );
    assert_eq!(
        join_path(Some("/src/linux"), Some("/usr/include"), false, "stdio.h"),
        "/usr/include/stdio.h"
    );
    assert_eq!(join_path(None, None, false, "/abs/x.c"), "/abs/x.c");
}

#[test]
fn source_root_is_found_from_comp_dirs() {
    let dirs = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let debian = dirs(&[
        "debian/build/build_amd64_none_cloud-amd64",
        "/build/reproducible-path/linux-6.1.192/debian/build/build_amd64_none_cloud-amd64",
    ]);
    assert_eq!(
        source_root(&debian).as_deref(),
        Some("/build/reproducible-path/linux-6.1.192")
    );
    assert_eq!(
        source_root(&dirs(&["/src/linux", "/src/linux", "/tmp"])).as_deref(),
        Some("/src/linux")
    );
    assert_eq!(source_root(&dirs(&["rel/only"])), None);
    assert_eq!(source_root(&[]), None);
}
