//! `analyze::symbols` against the reference Debian kernel
//! (`vmlinux-6.1.0-57-cloud-amd64`, DWARF 5) and its source tree.
//!
//! * the row count and the `(address, name)` list equal `readelf`'s
//!   `STT_FUNC` symbols with a size in executable sections;
//! * pinned functions have the file and lines checked by hand against the
//!   source tree and `llvm-dwarfdump --lookup`;
//! * the oracle: every function is compared with LLVM's independent DWARF
//!   reader (`llvm-symbolizer --verbose --inlining`, the library behind
//!   `llvm-dwarfdump --lookup`: declaration file and line of the outermost
//!   frame) and its end line with brace matching in the real source file; a
//!   deterministic sample of 280 functions is also checked against
//!   `llvm-dwarfdump --lookup=ADDR --show-parents` and every end-line
//!   disagreement of the sample is printed with the source lines involved.
//!
//! The inputs are installed by the setup script; when they are missing the
//! tests fail (they never skip). `HAP_VMLINUX` and `HAP_KSRC` override the
//! default paths.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::OnceLock;

use analyze::symbols::{Symbol, SymbolTable};

mod common;
use common::{brace_end, ksrc, llvm_symbolizer_blocks, run, vmlinux, Kind};

const BUILD_ID: &str = "01d2640d3a13145ee314eb05b155f141b7b7058b";
/// LLVM joins relative include directories to `DW_AT_comp_dir`, which this
/// build maps to a relative path; the oracle strips it.
const COMP_DIR: &str = "debian/build/build_amd64_none_cloud-amd64/";

fn table() -> &'static SymbolTable {
    static TABLE: OnceLock<SymbolTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        let t0 = std::time::Instant::now();
        let table = SymbolTable::from_path(&vmlinux()).unwrap();
        eprintln!(
            "symbol table: {} rows in {:.2?}",
            table.symbols.len(),
            t0.elapsed()
        );
        table
    })
}

#[test]
fn build_id_is_read() {
    let hex: String = table()
        .build_id
        .as_ref()
        .unwrap()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(hex, BUILD_ID);
    assert_eq!(
        SymbolTable::build_id_of(&vmlinux()).unwrap(),
        table().build_id
    );
}

/// `(address, name)` of STT_FUNC symbols with size > 0 in sections whose
/// flags contain `X`, as listed by `readelf -SW` / `readelf -sW`.
fn readelf_functions(path: &Path) -> Vec<(u64, String)> {
    let path = path.to_str().unwrap();
    let mut exec = HashSet::new();
    for line in run("readelf", &["-SW", path]).lines() {
        let Some((idx, rest)) = line
            .trim_start()
            .strip_prefix('[')
            .and_then(|l| l.split_once(']'))
        else {
            continue;
        };
        let Ok(idx) = idx.trim().parse::<u32>() else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // name type addr off size es [flags] lk inf al
        if fields.len() == 10 && fields[6].contains('X') {
            exec.insert(idx.to_string());
        }
    }
    assert!(exec.len() >= 2, "readelf -SW parse failed: {exec:?}");
    let mut out = Vec::new();
    let mut in_symtab = false;
    for line in run("readelf", &["-sW", path]).lines() {
        if line.starts_with("Symbol table") {
            in_symtab = line.contains("'.symtab'");
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        if !in_symtab || f.len() < 8 || !f[0].ends_with(':') || f[3] != "FUNC" {
            continue;
        }
        let size = match f[2].strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).unwrap(),
            None => f[2].parse::<u64>().unwrap(),
        };
        if size > 0 && exec.contains(f[6]) {
            out.push((u64::from_str_radix(f[1], 16).unwrap(), f[7].to_string()));
        }
    }
    out.sort();
    out
}

#[test]
fn rows_equal_readelf_function_symbols() {
    let expected = readelf_functions(&vmlinux());
    let got: Vec<(u64, String)> = table()
        .symbols
        .iter()
        .map(|s| (s.address, s.name.clone()))
        .collect();
    assert_eq!(got.len(), expected.len(), "row count differs from readelf");
    assert_eq!(got, expected);
    assert!(got.len() > 40_000);
}

#[test]
fn pinned_functions() {
    let t = table();
    let find = |name: &str, file: &str| -> &Symbol {
        let hits: Vec<&Symbol> = t
            .symbols
            .iter()
            .filter(|s| s.name == name && s.file.as_deref() == Some(file))
            .collect();
        assert_eq!(hits.len(), 1, "{name} in {file}: {hits:?}");
        hits[0]
    };
    // (symbol, file, start_line, end_line): checked in the source tree
    // (closing brace) and with llvm-dwarfdump --lookup (DW_AT_decl_line).
    let pinned = [
        ("vfs_read", "fs/read_write.c", 450, 479),
        ("ksys_write", "fs/read_write.c", 626, 644),
        ("do_sys_openat2", "fs/open.c", 1304, 1331),
        // SYSCALL_DEFINE2(dup2, ...): wrapper and inlined __do_sys_dup2.
        ("__x64_sys_dup2", "fs/file.c", 1250, 1263),
        // SYSCALL_DEFINE5(add_key, ...): __do_sys_add_key is not inlined,
        // the wrapper shares its end line (macro family).
        ("__x64_sys_add_key", "security/keys/keyctl.c", 74, 152),
        ("__do_sys_add_key", "security/keys/keyctl.c", 74, 152),
        ("schedule", "kernel/sched/core.c", 6653, 6664),
        // Clones: declaration from DW_AT_abstract_origin.
        (
            "link_path_walk.part.0.constprop.0",
            "fs/namei.c",
            2251,
            2351,
        ),
        ("find_alive_thread.isra.0", "kernel/exit.c", 577, 586),
        ("do_pselect.constprop.0", "fs/select.c", 729, 762),
        // Cold part: second range of __mmdrop's DW_AT_ranges.
        ("__mmdrop.cold", "kernel/fork.c", 800, 812),
        ("__mmdrop", "kernel/fork.c", 800, 812),
        // Static functions sharing a name.
        ("state_show", "kernel/cpu.c", 2373, 2379),
        ("state_show", "kernel/power/main.c", 572, 590),
        ("init_once", "fs/ext4/super.c", 1458, 1467),
        // Ends with a tail call: no row for the closing brace.
        ("init_once", "fs/inode.c", 432, 437),
    ];
    for (name, file, start, end) in pinned {
        let s = find(name, file);
        assert_eq!(
            (s.start_line, s.end_line),
            (Some(start), Some(end)),
            "{name} in {file}"
        );
        assert_eq!(s.lines, Some(end - start + 1));
        assert!(s.code_lines.unwrap() > 0);
    }
    let cold = find("__mmdrop.cold", "kernel/fork.c");
    assert_ne!(cold.address, find("__mmdrop", "kernel/fork.c").address);
    let state_shows = t.symbols.iter().filter(|s| s.name == "state_show").count();
    assert!(
        state_shows >= 4,
        "static state_show functions must stay distinct rows"
    );
    // Out-of-line copies of a header inline, one per unit that needed one.
    let copies: Vec<&Symbol> = t
        .symbols
        .iter()
        .filter(|s| s.name == "cpumask_weight")
        .collect();
    assert!(copies.len() >= 10, "{copies:?}");
    for s in copies {
        assert_eq!(
            (s.file.as_deref(), s.start_line, s.end_line),
            (Some("include/linux/cpumask.h"), Some(638), Some(641))
        );
    }
}

/// Outermost frame of one `llvm-symbolizer --verbose --inlining` answer:
/// (file, start line).
fn parse_frames(block: &str) -> (Option<String>, Option<u32>) {
    let mut frames: Vec<HashMap<&str, &str>> = Vec::new();
    for line in block.lines() {
        if line.starts_with("  ") {
            if let (Some(frame), Some((k, v))) = (frames.last_mut(), line.trim().split_once(':')) {
                frame.insert(k, v.trim());
            }
        } else {
            frames.push(HashMap::new());
        }
    }
    let Some(outer) = frames.last() else {
        return (None, None);
    };
    let Some(line) = outer
        .get("Function start line")
        .and_then(|l| l.parse().ok())
    else {
        return (None, None);
    };
    // LLVM 14 leaves "Function start filename" empty for DIEs carrying
    // DW_AT_decl_file themselves; the entry row's file is then used.
    let file = outer
        .get("Function start filename")
        .filter(|f| !f.is_empty())
        .or_else(|| outer.get("Filename"))
        .map(|f| normalize(f));
    (file, Some(line))
}

fn normalize(path: &str) -> String {
    let path = path.strip_prefix(COMP_DIR).unwrap_or(path);
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    if path.starts_with('/') {
        format!("/{joined}")
    } else {
        joined
    }
}

/// `(file, start line)` per symbol according to LLVM.
fn llvm_answers(symbols: &[Symbol]) -> Vec<(Option<String>, Option<u32>)> {
    let addresses: Vec<u64> = symbols.iter().map(|s| s.address).collect();
    llvm_symbolizer_blocks(&addresses)
        .iter()
        .map(|b| parse_frames(b))
        .collect()
}

/// `DW_AT_decl_file` of the outermost subprogram DIE at `address`
/// according to `llvm-dwarfdump --lookup`, when the DIE carries it itself.
fn dwarfdump_decl_file(address: u64) -> Option<String> {
    let text = run(
        "llvm-dwarfdump",
        &[
            &format!("--lookup={address:#x}"),
            "--show-parents",
            vmlinux().to_str().unwrap(),
        ],
    );
    let sub = text.split("DW_TAG_subprogram").nth(1)?;
    let die = sub.split("DW_TAG_").next()?;
    let line = die
        .lines()
        .find(|l| l.trim_start().starts_with("DW_AT_decl_file"))?;
    let value = line.split_once("(\"")?.1.strip_suffix("\")")?;
    Some(normalize(value))
}

/// Deterministic sample: one function per address stratum plus clones and
/// `.cold` parts, with a fixed xorshift seed.
fn sample(symbols: &[Symbol]) -> Vec<usize> {
    let mut seed = 0x4841_5053_594d_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let with_file: Vec<usize> = (0..symbols.len())
        .filter(|&i| symbols[i].file.is_some())
        .collect();
    let clones: Vec<usize> = with_file
        .iter()
        .copied()
        .filter(|&i| {
            [".isra.", ".constprop.", ".part."]
                .iter()
                .any(|c| symbols[i].name.contains(c))
        })
        .collect();
    let colds: Vec<usize> = with_file
        .iter()
        .copied()
        .filter(|&i| symbols[i].name.ends_with(".cold"))
        .collect();
    let mut picked = Vec::new();
    for (pool, n) in [(&with_file, 240), (&clones, 20), (&colds, 20)] {
        for k in 0..n {
            let (lo, hi) = (k * pool.len() / n, (k + 1) * pool.len() / n);
            if hi > lo {
                picked.push(pool[lo + (next() as usize) % (hi - lo)]);
            }
        }
    }
    picked.sort_unstable();
    picked.dedup();
    picked
}

fn pct(a: usize, b: usize) -> f64 {
    if b == 0 {
        100.0
    } else {
        100.0 * a as f64 / b as f64
    }
}

#[test]
fn oracle_agreement() {
    let t = table();
    let root = ksrc();
    let answers = llvm_answers(&t.symbols);
    let mut sources: HashMap<String, Option<String>> = HashMap::new();
    let mut source = |file: &str| -> Option<Vec<String>> {
        let text = sources.entry(file.to_string()).or_insert_with(|| {
            std::fs::read(root.join(file))
                .ok()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
        });
        text.as_ref()
            .map(|t| t.lines().map(str::to_string).collect())
    };

    let (mut file_ok, mut start_ok, mut compared) = (0, 0, 0);
    let (mut no_oracle, mut no_ours) = (0, 0);
    let (mut end_ok, mut end_cmp) = (0, 0);
    let mut kinds: HashMap<Kind, usize> = HashMap::new();
    let mut truth: Vec<Option<(usize, Kind)>> = vec![None; t.symbols.len()];
    for (k, (s, (ofile, oline))) in t.symbols.iter().zip(&answers).enumerate() {
        let (Some(ofile), Some(oline)) = (ofile, oline) else {
            no_oracle += 1;
            continue;
        };
        if s.file.is_none() {
            no_ours += 1;
            continue;
        }
        compared += 1;
        file_ok += usize::from(s.file.as_deref() == Some(ofile.as_str()));
        start_ok += usize::from(s.start_line == Some(*oline));
        let Some(lines) = source(ofile) else { continue };
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        let base = s.name.split('.').next().unwrap();
        let (end, kind) = brace_end(&lines, *oline as usize, base);
        *kinds.entry(kind).or_default() += 1;
        if let Some(end) = end {
            truth[k] = Some((end, kind));
            end_cmp += 1;
            end_ok += usize::from(s.end_line == Some(end as u32));
        }
    }
    eprintln!("== oracle over all {} rows", t.symbols.len());
    eprintln!("   compared with llvm-symbolizer: {compared} (no DWARF subprogram for LLVM: {no_oracle}, LLVM has one but we do not: {no_ours})");
    eprintln!(
        "   file:       {file_ok}/{compared} = {:.2}%",
        pct(file_ok, compared)
    );
    eprintln!(
        "   start_line: {start_ok}/{compared} = {:.2}%",
        pct(start_ok, compared)
    );
    eprintln!(
        "   end_line vs brace matching: {end_ok}/{end_cmp} = {:.2}%  (kinds {kinds:?})",
        pct(end_ok, end_cmp)
    );

    // The deterministic sample, with llvm-dwarfdump for decl_file and
    // every end-line disagreement listed.
    let picked = sample(&t.symbols);
    let (mut sf_ok, mut ss_ok, mut s_cmp, mut se_ok, mut se_cmp, mut dd_ok, mut dd_cmp) =
        (0, 0, 0, 0, 0, 0, 0);
    let mut lines_out = Vec::new();
    for &k in &picked {
        let s = &t.symbols[k];
        let (ofile, oline) = &answers[k];
        if oline.is_some() {
            s_cmp += 1;
            sf_ok += usize::from(s.file == *ofile);
            ss_ok += usize::from(s.start_line == *oline);
        }
        if let Some(df) = dwarfdump_decl_file(s.address) {
            dd_cmp += 1;
            dd_ok += usize::from(s.file.as_deref() == Some(df.as_str()));
        }
        let Some((end, kind)) = truth[k] else {
            continue;
        };
        se_cmp += 1;
        if s.end_line == Some(end as u32) {
            se_ok += 1;
            continue;
        }
        let file = s.file.clone().unwrap_or_default();
        let text = source(&file).unwrap_or_default();
        let ours = s.end_line.unwrap_or(0) as usize;
        let (lo, hi) = (ours.min(end), ours.max(end));
        let context: Vec<String> = (lo..=hi.min(lo + 6))
            .map(|l| format!("{l}: {}", text.get(l - 1).map_or("", |x| x.trim())))
            .collect();
        lines_out.push(format!(
            "   {} {}:{} ours {} truth {} ({kind:?}) | {}",
            s.name,
            file,
            s.start_line.unwrap_or(0),
            ours,
            end,
            context.join(" | ")
        ));
    }
    let n = picked.len();
    eprintln!(
        "== sample of {n} functions (seeded, stratified by address; clones and .cold included)"
    );
    eprintln!(
        "   (LLVM finds no subprogram for {} of them: ICF-folded functions matched by name)",
        n - s_cmp
    );
    eprintln!(
        "   file vs llvm-symbolizer: {sf_ok}/{s_cmp} = {:.1}%",
        pct(sf_ok, s_cmp)
    );
    eprintln!(
        "   file vs llvm-dwarfdump DW_AT_decl_file: {dd_ok}/{dd_cmp} = {:.1}%",
        pct(dd_ok, dd_cmp)
    );
    eprintln!(
        "   start_line vs llvm-symbolizer: {ss_ok}/{s_cmp} = {:.1}%",
        pct(ss_ok, s_cmp)
    );
    eprintln!(
        "   end_line vs brace matching: {se_ok}/{se_cmp} = {:.1}%; disagreements:",
        pct(se_ok, se_cmp)
    );
    for l in &lines_out {
        eprintln!("{l}");
    }

    // Measured: 100% / 100% / 98.4% on all rows, 98.9% on the sample.
    assert!(n >= 200);
    assert!(pct(file_ok, compared) >= 99.5 && pct(start_ok, compared) >= 99.5);
    assert!(pct(end_ok, end_cmp) >= 97.0, "end-line agreement regressed");
    assert!(pct(dd_ok, dd_cmp) >= 99.0 && dd_cmp >= 100);
    assert!(pct(se_ok, se_cmp) >= 95.0, "end-line agreement regressed");
}
