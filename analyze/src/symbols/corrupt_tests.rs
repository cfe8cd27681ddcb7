//! Corruption corpus for the ELF/DWARF reader (issue "Hostile input").
//!
//! Extends `tests.rs` (which covers a non-ELF, an ELF without DWARF, `gcc -s`
//! and random byte noise) with systematic damage to gcc-built binaries of
//! `analyze/tests/c/`: binaries stripped with the `strip` tool, truncation at
//! every section boundary and densely inside `.debug_info`, one bit flipped
//! in every byte of `.debug_info`, `.debug_line` and `.debug_abbrev`, flips
//! in the ELF and section headers, sections whose offsets and sizes lie, and
//! zlib-compressed debug sections (`-gz`) that claim huge uncompressed sizes.
//! Every case must return `Ok` or `Err`, never panic and never hang (each
//! corpus runs on a thread watched with a timeout).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use object::{Object, ObjectSection};

use super::SymbolTable;

/// A corpus that has not finished a case after this long is reported as hung.
const TIMEOUT: Duration = Duration::from_secs(10);

fn c_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c")
}

/// Compile `src` (in `analyze/tests/c`) with `flags` into `dir`; return the bytes.
fn gcc(dir: &Path, name: &str, src: &str, flags: &[&str]) -> Vec<u8> {
    let out = dir.join(name);
    let ok = Command::new("gcc")
        .current_dir(c_dir())
        .args(flags)
        .arg("-o")
        .arg(&out)
        .arg(src)
        .status()
        .expect("gcc is required for these tests")
        .success();
    assert!(ok, "gcc {flags:?} {src} failed");
    std::fs::read(&out).unwrap()
}

/// `strip ARGS` a copy of `bytes`; return the result.
fn strip(dir: &Path, name: &str, bytes: &[u8], args: &[&str]) -> Vec<u8> {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    let ok = Command::new("strip")
        .args(args)
        .arg(&p)
        .status()
        .expect("strip (binutils) is required for these tests")
        .success();
    assert!(ok, "strip {args:?} failed");
    std::fs::read(&p).unwrap()
}

/// (name, file offset, size) of every section with file contents.
fn sections(data: &[u8]) -> Vec<(String, usize, usize)> {
    let f = object::File::parse(data).unwrap();
    f.sections()
        .filter_map(|s| {
            let (o, n) = s.file_range()?;
            Some((s.name().ok()?.to_string(), o as usize, n as usize))
        })
        .collect()
}

fn range_of(data: &[u8], name: &str) -> (usize, usize) {
    sections(data)
        .into_iter()
        .find(|s| s.0 == name)
        .map(|s| (s.1, s.2))
        .unwrap_or_else(|| panic!("no {name}"))
}

/// Run every case on a worker thread; fail on panics and hangs.
/// Returns (ok, err) counts.
fn run(label: &str, cases: Vec<(String, Vec<u8>)>) -> (usize, usize) {
    let n = cases.len();
    let names: Vec<String> = cases.iter().map(|c| c.0.clone()).collect();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for (_, bytes) in cases {
            let r = catch_unwind(AssertUnwindSafe(|| SymbolTable::from_bytes(&bytes).is_ok()));
            let r = r.map_err(|p| {
                p.downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default()
            });
            if tx.send(r).is_err() {
                return;
            }
        }
    });
    let start = Instant::now();
    let (mut ok, mut err, mut failures) = (0, 0, Vec::new());
    for name in &names {
        match rx.recv_timeout(TIMEOUT) {
            Ok(Ok(true)) => ok += 1,
            Ok(Ok(false)) => err += 1,
            Ok(Err(m)) => failures.push(format!("{name}: PANIC: {m}")),
            Err(_) => {
                failures.push(format!("{name}: HANG"));
                break;
            }
        }
    }
    eprintln!(
        "{label}: {n} cases ({ok} ok, {err} errors) in {:?}",
        start.elapsed()
    );
    assert!(failures.is_empty(), "{label}:\n{}", failures.join("\n"));
    (ok, err)
}

fn flipped(data: &[u8], at: usize, bit: u32) -> Vec<u8> {
    let mut b = data.to_vec();
    b[at] ^= 1 << bit;
    b
}

fn patched(data: &[u8], at: usize, v: &[u8]) -> Vec<u8> {
    let mut b = data.to_vec();
    b[at..at + v.len()].copy_from_slice(v);
    b
}

#[test]
fn stripped_and_non_elf_inputs_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let dbg = gcc(dir.path(), "dbg", "clone.c", &["-O2", "-g"]);
    assert!(SymbolTable::from_bytes(&dbg).is_ok());
    let cases = vec![
        ("strip".to_string(), strip(dir.path(), "s1", &dbg, &[])),
        (
            "strip --strip-debug".to_string(),
            strip(dir.path(), "s2", &dbg, &["--strip-debug"]),
        ),
        (
            "strip --only-keep-debug".to_string(),
            strip(dir.path(), "s3", &dbg, &["--only-keep-debug"]),
        ),
        ("ELF magic only".to_string(), dbg[..4].to_vec()),
        ("ELF header only".to_string(), dbg[..64].to_vec()),
        ("zeros".to_string(), vec![0; 4096]),
        ("trace.dat".to_string(), b"\x17\x08\x44tracing6\0".to_vec()),
        ("gzip".to_string(), vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0]),
    ];
    let (ok, err) = run("stripped", cases);
    // Only --only-keep-debug keeps both a symtab and DWARF.
    assert!(ok <= 1 && err >= 7, "{ok} ok, {err} errors");
}

#[test]
fn truncated_elf_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let dbg = gcc(dir.path(), "dbg", "cold.c", &["-O2", "-g"]);
    let mut cuts = std::collections::BTreeSet::new();
    for (_, o, n) in sections(&dbg) {
        for x in [o, o + n / 2, o + n] {
            cuts.extend([x.saturating_sub(1), x, x + 1]);
        }
    }
    cuts.extend((0..dbg.len()).step_by(97));
    cuts.extend([1, 4, 16, 52, 63, 64, 65]);
    let (info, n) = range_of(&dbg, ".debug_info");
    cuts.extend((info..info + n).step_by(7));
    let (line, n) = range_of(&dbg, ".debug_line");
    cuts.extend((line..line + n).step_by(11));
    let cases = cuts
        .into_iter()
        .filter(|&c| c < dbg.len())
        .map(|c| (format!("cut at {c:#x}"), dbg[..c].to_vec()))
        .collect::<Vec<_>>();
    assert!(cases.len() > 500, "{} cases", cases.len());
    let (ok, _) = run("truncated", cases);
    // Sections past the cut are gone: a cut file is never fully read.
    assert!(ok < 50, "{ok} truncated files read");
}

#[test]
fn bit_flips_in_dwarf_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let dbg = gcc(dir.path(), "dbg", "inline_many.c", &["-O2", "-g"]);
    let mut cases = Vec::new();
    for name in [".debug_info", ".debug_abbrev", ".debug_line"] {
        let (o, n) = range_of(&dbg, name);
        for (i, at) in (o..o + n).enumerate() {
            let bit = (i % 8) as u32;
            cases.push((
                format!("{name} +{:#x} bit {bit}", at - o),
                flipped(&dbg, at, bit),
            ));
        }
    }
    for name in [
        ".debug_str",
        ".debug_rnglists",
        ".debug_line_str",
        ".debug_aranges",
    ] {
        if let Some((_, o, n)) = sections(&dbg).into_iter().find(|s| s.0 == name) {
            for (i, at) in (o..o + n).step_by(5).enumerate() {
                let bit = (i % 8) as u32;
                cases.push((
                    format!("{name} +{:#x} bit {bit}", at - o),
                    flipped(&dbg, at, bit),
                ));
            }
        }
    }
    assert!(cases.len() > 1000, "{} cases", cases.len());
    run("dwarf flips", cases);
}

#[test]
fn lying_elf_headers_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let mut cases = Vec::new();
    for (label, flags) in [
        ("plain", &["-O2", "-g"][..]),
        ("zlib", &["-O2", "-g", "-gz=zlib"][..]),
    ] {
        let dbg = gcc(dir.path(), label, "clone.c", flags);
        assert!(SymbolTable::from_bytes(&dbg).is_ok(), "{label} reads");
        // Every bit of the ELF header.
        for at in 0..64 {
            for bit in 0..8 {
                cases.push((
                    format!("{label} ELF header byte {at} bit {bit}"),
                    flipped(&dbg, at, bit),
                ));
            }
        }
        // Section headers: offsets and sizes that lie.
        let shoff = u64::from_le_bytes(dbg[0x28..0x30].try_into().unwrap()) as usize;
        let shnum = u16::from_le_bytes(dbg[0x3c..0x3e].try_into().unwrap()) as usize;
        let len = dbg.len() as u64;
        for i in 0..shnum {
            let sh = shoff + 64 * i;
            for v in [len, len + 1, 0xffff_ffff_ffff, u64::MAX, u64::MAX - 7] {
                let vb = v.to_le_bytes();
                cases.push((
                    format!("{label} section {i} offset {v:#x}"),
                    patched(&dbg, sh + 0x18, &vb),
                ));
                cases.push((
                    format!("{label} section {i} size {v:#x}"),
                    patched(&dbg, sh + 0x20, &vb),
                ));
            }
            for bit in [0u32, 1, 2, 3, 4, 8, 11] {
                cases.push((
                    format!("{label} section {i} type/flags bit {bit}"),
                    flipped(&dbg, sh + 4 + (bit / 8) as usize, bit % 8),
                ));
                cases.push((
                    format!("{label} section {i} flags bit {bit}"),
                    flipped(&dbg, sh + 8 + (bit / 8) as usize, bit % 8),
                ));
            }
            // sh_link / sh_entsize.
            cases.push((
                format!("{label} section {i} link"),
                patched(&dbg, sh + 0x28, &u32::MAX.to_le_bytes()),
            ));
            cases.push((
                format!("{label} section {i} entsize 0"),
                patched(&dbg, sh + 0x38, &0u64.to_le_bytes()),
            ));
            cases.push((
                format!("{label} section {i} entsize 1"),
                patched(&dbg, sh + 0x38, &1u64.to_le_bytes()),
            ));
        }
        for v in [0u64, len, u64::MAX] {
            cases.push((
                format!("{label} e_shoff {v:#x}"),
                patched(&dbg, 0x28, &v.to_le_bytes()),
            ));
        }
        for v in [0u16, 1, u16::MAX] {
            cases.push((
                format!("{label} e_shnum {v}"),
                patched(&dbg, 0x3c, &v.to_le_bytes()),
            ));
            cases.push((
                format!("{label} e_shstrndx {v}"),
                patched(&dbg, 0x3e, &v.to_le_bytes()),
            ));
        }
        if label == "zlib" {
            // Compressed sections: Elf64_Chdr { type:4, reserved:4, size:8, align:8 }.
            for name in [".debug_info", ".debug_abbrev", ".debug_line", ".debug_str"] {
                let Some((_, o, n)) = sections(&dbg).into_iter().find(|s| s.0 == name) else {
                    continue;
                };
                for v in [0u64, 1, 1 << 40, 0xffff_ffff_ffff, u64::MAX] {
                    cases.push((
                        format!("zlib {name} claims {v:#x} bytes"),
                        patched(&dbg, o + 8, &v.to_le_bytes()),
                    ));
                }
                for t in [0u32, 2, 3, u32::MAX] {
                    cases.push((
                        format!("zlib {name} compression type {t}"),
                        patched(&dbg, o, &t.to_le_bytes()),
                    ));
                }
                for (i, at) in (o + 24..o + n).step_by(13).enumerate() {
                    cases.push((
                        format!("zlib {name} +{:#x}", at - o),
                        flipped(&dbg, at, (i % 8) as u32),
                    ));
                }
            }
        }
    }
    run("ELF headers", cases);
}
