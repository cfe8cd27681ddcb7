//! Unit tests of the kernel-module reader: tiny C files compiled with
//! `gcc -O2 -g -c` (relocatable `ET_REL` objects, like a `.ko`), checked
//! against values verified by hand in the sources below and with
//! `llvm-dwarfdump` (DIEs and line table). gcc is required: without it the
//! tests fail, they do not skip.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use object::{Object, ObjectSection};

use super::{ModuleTables, Symbol, SymbolError, SymbolTable};

/// Line numbers matter: `first` is lines 4–10 (`.text`), `second` 12–18
/// (`.init.text`). `llvm-dwarfdump` shows `DW_AT_decl_line` 4 and 12, and
/// line-table rows 5..=10 and 13..=18 (the closing braces, column 1, are
/// the last rows of each sequence).
const TINY: &str = "\
/* Two functions in two executable sections of one ET_REL object. */
extern int sink(int);

__attribute__((noinline)) int first(int a, int b)
{
\tint s = sink(a);
\tif (s > b)
\t\ts -= b;
\treturn sink(s) + 1;
}

__attribute__((noinline, section(\".init.text\"))) int second(int n)
{
\tint t = 0;
\tfor (int i = 0; i < n; i++)
\t\tt += sink(i);
\treturn t;
}
";

/// A static `dup` of 3 lines (4–6); linked with [`DUP_LONG`] by `ld -r`.
const DUP_SHORT: &str = "\
extern int sink(int);

__attribute__((noinline, used))
static int dup(int a)
{
\treturn sink(a) + 1; }
int call_short(int a) { return dup(a); }
";

/// A static `dup` of 7 lines (3–9).
const DUP_LONG: &str = "\
extern int sink(int);

__attribute__((noinline, used)) static int dup(int a)
{
\tint s = sink(a);
\tif (s > 3)
\t\ts = sink(s);
\treturn s * 2;
}
int call_long(int a) { return dup(a); }
";

/// A fresh temporary directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "hap-modules-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?} (is it installed?): {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Compile `source` with `gcc -O2 -g -c` into `dir/name.o`.
fn compile(dir: &Path, name: &str, source: &str) -> PathBuf {
    let c = dir.join(format!("{name}.c"));
    std::fs::write(&c, source).unwrap();
    let o = dir.join(format!("{name}.o"));
    run(Command::new("gcc")
        .args(["-O2", "-g", "-gdwarf-5", "-c"])
        .arg(&c)
        .arg("-o")
        .arg(&o)
        .current_dir(dir));
    o
}

fn one<'t>(table: &'t SymbolTable, name: &str) -> &'t Symbol {
    let found: Vec<&Symbol> = table.symbols.iter().filter(|s| s.name == name).collect();
    assert_eq!(found.len(), 1, "{name}: {found:?}");
    found[0]
}

fn span(s: &Symbol) -> (Option<&str>, Option<u32>, Option<u32>, Option<u32>) {
    (s.file.as_deref(), s.start_line, s.end_line, s.code_lines)
}

#[test]
fn relocatable_object_gets_layout_and_exact_lines() {
    let dir = Scratch::new();
    let o = compile(&dir.0, "tiny", TINY);
    let table = SymbolTable::from_module_path(&o).unwrap();
    assert_eq!(table.symbols.len(), 2, "{:?}", table.symbols);
    let first = one(&table, "first");
    let second = one(&table, "second");
    assert_eq!(span(first), (Some("tiny.c"), Some(4), Some(10), Some(6)));
    assert_eq!(span(second), (Some("tiny.c"), Some(12), Some(18), Some(6)));
    assert_eq!(first.lines, Some(7));
    // `.text` (27 bytes) at 0, `.init.text` next, aligned to 16.
    assert_eq!((first.address, first.size), (0, 27));
    assert_eq!((second.address, second.size), (0x20, 57));
}

#[test]
fn vmlinux_reader_still_rejects_relocatable_objects() {
    let dir = Scratch::new();
    let o = compile(&dir.0, "tiny", TINY);
    let err = SymbolTable::from_path(&o).unwrap_err().to_string();
    assert!(err.contains("relocatable ELF object (ET_REL)"), "{err}");
    // And the module reader rejects linked files.
    let exe = dir.0.join("tiny.so");
    run(Command::new("gcc")
        .args(["-shared", "-o"])
        .arg(&exe)
        .arg(&o));
    let err = SymbolTable::from_module_path(&exe).unwrap_err().to_string();
    assert!(err.contains("not a relocatable object (ET_REL)"), "{err}");
    assert!(err.starts_with(exe.to_str().unwrap()), "{err}");
}

#[test]
fn module_tables_normalise_names_load_lazily_and_pick_longest_static() {
    let dir = Scratch::new();
    let sub = dir.0.join("kernel/drivers/x");
    std::fs::create_dir_all(&sub).unwrap();
    let tiny = compile(&dir.0, "tiny", TINY);
    std::fs::copy(&tiny, sub.join("tiny-mod.ko")).unwrap();
    let a = compile(&dir.0, "dup_short", DUP_SHORT);
    let b = compile(&dir.0, "dup_long", DUP_LONG);
    run(Command::new("ld")
        .arg("-r")
        .arg(&a)
        .arg(&b)
        .arg("-o")
        .arg(dir.0.join("kernel/dups.ko")));
    std::fs::write(dir.0.join("kernel/notes.txt"), "not a module").unwrap();

    let tables = ModuleTables::new(&dir.0).unwrap();
    assert_eq!(tables.len(), 2);
    assert!(format!("{tables:?}").contains("loaded: 0"));
    let s = tables.lookup("tiny_mod", "second").unwrap().unwrap();
    assert_eq!(span(&s), (Some("tiny.c"), Some(12), Some(18), Some(6)));
    let f = tables.lookup("tiny-mod", "first").unwrap().unwrap();
    assert_eq!((f.start_line, f.end_line), (Some(4), Some(10)));
    assert!(tables.lookup("tiny_mod", "missing").unwrap().is_none());
    assert!(tables.lookup("nonexistent", "first").unwrap().is_none());
    assert!(format!("{tables:?}").contains("loaded: 1"));

    let dups = tables.table("dups").unwrap().unwrap();
    let both: Vec<_> = dups.symbols.iter().filter(|s| s.name == "dup").collect();
    assert_eq!(both.len(), 2, "{both:?}");
    let d = tables.lookup("dups", "dup").unwrap().unwrap();
    assert_eq!(
        span(&d),
        (Some("dup_long.c"), Some(3), Some(9), d.code_lines)
    );
    assert_eq!(d.lines, Some(7));
}

#[test]
fn module_tables_can_be_shared_between_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<ModuleTables>();
}

#[test]
fn missing_directory_is_an_error_naming_it() {
    let err = ModuleTables::new(Path::new("/nonexistent/hap/modules")).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("/nonexistent/hap/modules: Missing file"),
        "{err}"
    );
}

#[test]
fn bad_relocation_is_an_error_with_section_and_offset() {
    let dir = Scratch::new();
    let o = compile(&dir.0, "tiny", TINY);
    let mut data = std::fs::read(&o).unwrap();
    let (start, _) = {
        let file = object::File::parse(&*data).unwrap();
        let s = file.section_by_name(".rela.debug_info").unwrap();
        s.file_range().unwrap()
    };
    // First entry's r_offset far outside .debug_info.
    let at = start as usize;
    data[at..at + 8].copy_from_slice(&0x00ff_ffffu64.to_le_bytes());
    let err = SymbolTable::from_module_bytes(&data).unwrap_err();
    assert!(matches!(err, SymbolError::InvalidSection { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(".rela.debug_info"), "{msg}");
    assert!(msg.contains("at offset 0xffffff"), "{msg}");
    // Unsupported relocation type.
    let mut data = std::fs::read(&o).unwrap();
    data[at + 8] = 0x7f;
    let msg = SymbolTable::from_module_bytes(&data)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("unsupported relocation type 127"), "{msg}");
}

#[test]
fn random_corruption_never_panics() {
    let dir = Scratch::new();
    let o = compile(&dir.0, "tiny", TINY);
    let clean = std::fs::read(&o).unwrap();
    assert!(SymbolTable::from_module_bytes(&clean[..clean.len() / 2]).is_err());
    assert!(SymbolTable::from_module_bytes(b"").is_err());
    // Deterministic xorshift: corrupt a few bytes at a time, anywhere.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..400 {
        let mut data = clean.clone();
        for _ in 0..4 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let i = (x as usize) % data.len();
            data[i] = (x >> 32) as u8;
        }
        let _ = SymbolTable::from_module_bytes(&data);
    }
}
