//! `analyze::symbols` on real kernel modules: the debug `.ko` files of the
//! reference Debian kernel (`6.1.0-57-cloud-amd64`), installed beside its
//! vmlinux under `/usr/lib/debug/lib/modules/RELEASE/kernel`.
//!
//! * pinned functions that real block-I/O traces call (`virtblk_add_req`
//!   and `virtio_queue_rq` of `virtio_blk`, `virtqueue_add_sgs` and
//!   `vring_map_one_sg` of `virtio_ring`) have file and lines checked by
//!   hand in the kernel source and against `llvm-dwarfdump --name=`, whose
//!   `DW_AT_decl_line` and relocated `DW_AT_low_pc` must agree with ours;
//! * the rows of a module equal `readelf -sW`'s `STT_FUNC` symbols with a
//!   size in executable sections, at the documented layout (executable
//!   sections in index order, aligned, from 0; then the other allocated
//!   ones);
//! * every module of the directory loads without error.
//!
//! The inputs are installed by `scripts/setup.sh`; when they are missing the
//! tests fail (they never skip). `HAP_MODULES` (the `lib/modules/RELEASE`
//! debug directory) and `HAP_KSRC` override the default paths.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use std::sync::OnceLock;

use analyze::symbols::{ModuleTables, SymbolTable};

mod common;
use common::{ksrc, run};

const DEFAULT_MODULES: &str = "/usr/lib/debug/lib/modules/6.1.0-57-cloud-amd64";

fn modules_dir() -> PathBuf {
    let path =
        PathBuf::from(std::env::var("HAP_MODULES").unwrap_or_else(|_| DEFAULT_MODULES.into()));
    assert!(
        path.join("kernel/drivers/block/virtio_blk.ko").is_file(),
        "debug kernel modules are missing in {}: run scripts/setup.sh (it installs the \
         Debian package linux-image-6.1.0-57-cloud-amd64-dbg, which ships them)",
        path.display()
    );
    path
}

fn tables() -> &'static ModuleTables {
    static TABLES: OnceLock<ModuleTables> = OnceLock::new();
    TABLES.get_or_init(|| ModuleTables::new(&modules_dir()).unwrap())
}

/// `(module, function, file, start_line, end_line)`, read in the source:
/// the start is the line with the function's name in its definition, the
/// end the line of its closing brace.
const PINNED: &[(&str, &str, &str, u32, u32)] = &[
    (
        "virtio_blk",
        "virtblk_add_req",
        "drivers/block/virtio_blk.c",
        112,
        131,
    ),
    (
        "virtio_blk",
        "virtio_queue_rq",
        "drivers/block/virtio_blk.c",
        353,
        390,
    ),
    (
        "virtio_ring",
        "virtqueue_add_sgs",
        "drivers/virtio/virtio_ring.c",
        2134,
        2152,
    ),
    (
        "virtio_ring",
        "vring_map_one_sg",
        "drivers/virtio/virtio_ring.c",
        355,
        377,
    ),
];

/// The first `DW_AT_decl_line` and `DW_AT_low_pc` that
/// `llvm-dwarfdump --name=NAME` prints for `ko` (relocated by LLVM with
/// section addresses 0).
fn llvm_decl(ko: &Path, name: &str) -> (u32, u64) {
    let out = run(
        "llvm-dwarfdump",
        &[&format!("--name={name}"), ko.to_str().unwrap()],
    );
    let value = |attr: &str| -> &str {
        let line = out
            .lines()
            .find(|l| l.trim_start().starts_with(attr))
            .unwrap_or_else(|| panic!("{name}: no {attr} in\n{out}"));
        line.split(['(', ')']).nth(1).unwrap()
    };
    let decl = value("DW_AT_decl_line").parse().unwrap();
    let low = u64::from_str_radix(value("DW_AT_low_pc").trim_start_matches("0x"), 16).unwrap();
    (decl, low)
}

#[test]
fn pinned_functions_match_source_and_llvm() {
    let src = ksrc();
    for &(module, name, file, start, end) in PINNED {
        let s = tables()
            .lookup(module, name)
            .unwrap()
            .unwrap_or_else(|| panic!("{name} not found in {module}"));
        assert_eq!(
            (s.file.as_deref(), s.start_line, s.end_line, s.lines),
            (Some(file), Some(start), Some(end), Some(end - start + 1)),
            "{module}:{name}"
        );
        assert!(s.code_lines.is_some_and(|c| c > 0), "{name}: {s:?}");
        let text = std::fs::read_to_string(src.join(file)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let first = lines[start as usize - 1];
        assert!(
            first.contains(&format!("{name}(")),
            "{name}: line {start} is {first:?}"
        );
        assert_eq!(lines[end as usize - 1], "}", "{name}: line {end}");
        // All four live in `.text`, whose base is 0 like LLVM's.
        let ko = tables().path(module).unwrap();
        assert_eq!(llvm_decl(ko, name), (start, s.address), "{module}:{name}");
    }
}

#[test]
fn module_names_accept_dashes_and_unknown_names_are_none() {
    let a = tables().lookup("virtio-blk", "virtblk_add_req").unwrap();
    assert_eq!(a, tables().lookup("virtio_blk", "virtblk_add_req").unwrap());
    assert!(tables()
        .lookup("virtio_blk", "no_such_function")
        .unwrap()
        .is_none());
    assert!(tables()
        .lookup("no_such_module", "virtblk_add_req")
        .unwrap()
        .is_none());
    assert!(tables().len() >= 1000, "{} modules", tables().len());
}

/// `(address, name)` of `readelf -sW`'s `STT_FUNC` symbols with size > 0 in
/// sections flagged `X`, at the layout documented in `symbols::modules`
/// computed from `readelf -SW`.
fn readelf_functions(ko: &Path) -> Vec<(u64, String)> {
    let ko = ko.to_str().unwrap();
    // (index, size, align, flags)
    let mut sections: Vec<(usize, u64, u64, String)> = Vec::new();
    for line in run("readelf", &["-SW", ko]).lines() {
        let Some((idx, rest)) = line
            .trim_start()
            .strip_prefix('[')
            .and_then(|l| l.split_once(']'))
        else {
            continue;
        };
        let Ok(idx) = idx.trim().parse::<usize>() else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        // name type addr off size es [flags] lk inf al
        let (flags, al) = if f.len() == 10 {
            (f[6], f[9])
        } else {
            ("", f[f.len() - 1])
        };
        let size = u64::from_str_radix(f[4], 16).unwrap();
        sections.push((idx, size, al.parse().unwrap(), flags.to_string()));
    }
    let mut base: HashMap<usize, u64> = HashMap::new();
    let mut next = 0u64;
    for exec in [true, false] {
        for (idx, size, align, flags) in &sections {
            if flags.contains('A') && flags.contains('X') == exec {
                let start = next.next_multiple_of((*align).max(1));
                base.insert(*idx, start);
                next = start + size;
            }
        }
    }
    let exec: HashMap<usize, bool> = sections.iter().map(|s| (s.0, s.3.contains('X'))).collect();
    let mut out = Vec::new();
    for line in run("readelf", &["-sW", ko]).lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 8 || f[3] != "FUNC" || f[2] == "0" {
            continue;
        }
        let Ok(ndx) = f[6].parse::<usize>() else {
            continue;
        };
        if exec.get(&ndx) != Some(&true) {
            continue;
        }
        let value = u64::from_str_radix(f[1], 16).unwrap();
        out.push((base[&ndx] + value, f[7].to_string()));
    }
    out.sort();
    out
}

#[test]
fn rows_equal_readelf_at_the_documented_layout() {
    for (module, expected_rows) in [("virtio_blk", 34), ("virtio_ring", 62), ("virtio_pci", 57)] {
        let ko = tables().path(module).unwrap().to_path_buf();
        let t0 = std::time::Instant::now();
        let table = SymbolTable::from_module_path(&ko).unwrap();
        eprintln!(
            "{module}: {} rows in {:.2?}",
            table.symbols.len(),
            t0.elapsed()
        );
        let mut ours: Vec<(u64, String)> = table
            .symbols
            .iter()
            .map(|s| (s.address, s.name.clone()))
            .collect();
        ours.sort();
        assert_eq!(ours, readelf_functions(&ko), "{module}");
        assert_eq!(table.symbols.len(), expected_rows, "{module}");
        let with_file = table.symbols.iter().filter(|s| s.file.is_some()).count();
        assert_eq!(
            with_file,
            table.symbols.len(),
            "{module}: every C function has DWARF"
        );
    }
    let vp = tables().lookup("virtio_pci", "vp_notify").unwrap().unwrap();
    assert_eq!(
        vp.file.as_deref(),
        Some("drivers/virtio/virtio_pci_common.c")
    );
}

#[test]
fn every_module_loads() {
    let dir = modules_dir().join("kernel");
    let mut paths = Vec::new();
    let mut pending = vec![dir];
    while let Some(d) = pending.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                pending.push(p);
            } else if p.extension().is_some_and(|x| x == "ko") {
                paths.push(p);
            }
        }
    }
    assert!(paths.len() >= 1000, "{} modules", paths.len());
    let t0 = std::time::Instant::now();
    let (mut rows, mut with_lines) = (0, 0);
    for p in &paths {
        let table = SymbolTable::from_module_path(p).unwrap_or_else(|e| panic!("{e}"));
        rows += table.symbols.len();
        with_lines += table
            .symbols
            .iter()
            .filter(|s| s.end_line.is_some())
            .count();
    }
    eprintln!(
        "{} modules, {rows} rows, {with_lines} with lines, in {:.2?}",
        paths.len(),
        t0.elapsed()
    );
    assert!(
        with_lines * 100 >= rows * 90,
        "{with_lines} of {rows} rows have lines"
    );
}
