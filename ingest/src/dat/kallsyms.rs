//! The traced kernel's `/proc/kallsyms`, as stored in trace.dat, and address
//! to function-name resolution that gives exactly the names `trace-cmd
//! report` prints.
//!
//! libtraceevent (`tep_parse_kallsyms`, `func_map_init`, `__find_func`):
//! - each line is `ADDR TYPE NAME[\t[MODULE]]`; symbols of type `A`/`a`
//!   (absolute, e.g. per-CPU offsets) and names starting with `$` are skipped;
//!   a malformed line ends the parse (symbols before it are kept);
//! - symbols are kept in a list built by prepending, then sorted by address
//!   with glibc's (stable, merge) `qsort`: symbols sharing an address end up in
//!   reverse file order;
//! - an address resolves with glibc's `bsearch` and a comparator that matches
//!   a symbol at exactly that address, or the symbol whose range
//!   `[addr, next symbol's addr)` contains it. Past the last symbol nothing
//!   matches. With aliases the probe order of the binary search decides which
//!   name is returned, so the search below replays glibc's exactly.

use std::sync::mpsc::Receiver;
use std::sync::{Mutex, OnceLock};

use super::cursor::{DatResult, Fault};

/// Symbol index meaning "not resolved".
pub(crate) const NO_SYM: u32 = u32::MAX;

/// One symbol in 16 bytes (a real kallsyms has ~90,000-150,000; at 32
/// bytes their vectors were a quarter of the parse's page faults): its
/// name as a range of the text, and the length of its module, which
/// always starts two bytes after the name (`\t[`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Sym {
    addr: u64,
    name_at: u32,
    /// [`LONG`]: the lengths are in [`Table::long`].
    name_len: u16,
    /// [`NO_MODULE`]: the core kernel.
    module_len: u16,
}

/// [`Sym::module_len`] of a symbol without a module.
const NO_MODULE: u16 = u16::MAX;
/// [`Sym::name_len`] of a symbol whose name or module is too long for 16
/// bits (only in a damaged or crafted file).
const LONG: u16 = u16::MAX;

impl Sym {
    /// The symbol at `addr` named `text[name.0..][..name.1]`, with the
    /// module of that length; lengths that do not fit go into `long`,
    /// keyed by the name's offset.
    fn new(addr: u64, name: (u32, u32), module: Option<u32>, long: &mut Vec<Long>) -> Sym {
        let (name_at, name_len) = name;
        let fits = name_len < u32::from(LONG) && module.is_none_or(|m| m < u32::from(NO_MODULE));
        if !fits {
            long.push(Long {
                name_at,
                name_len,
                module_len: module,
            });
        }
        Sym {
            addr,
            name_at,
            name_len: if fits { name_len as u16 } else { LONG },
            module_len: module.map_or(NO_MODULE, |m| if fits { m as u16 } else { 0 }),
        }
    }
}

/// The lengths of a symbol whose [`Sym::name_len`] is [`LONG`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Long {
    name_at: u32,
    name_len: u32,
    module_len: Option<u32>,
}

/// A kallsyms table, parsed now or elsewhere while the trace is read
/// ([`Kallsyms::coming`]); its first use waits for it.
#[derive(Debug, Default)]
pub(crate) struct Kallsyms {
    table: OnceLock<Table>,
    /// Whatever reads the section: the table, or why there is none.
    coming: Mutex<Option<Receiver<DatResult<Table>>>>,
    /// Why the table could not be made (it is then empty).
    failure: OnceLock<Fault>,
}

/// The parsed symbols.
#[derive(Debug, Default)]
pub(crate) struct Table {
    syms: Vec<Sym>,
    /// Lengths of the symbols marked [`LONG`], by name offset.
    long: Vec<Long>,
    text: String,
    /// Lines that were read (for diagnostics).
    pub lines: usize,
    /// Set if a malformed line stopped the parse (1-based line number).
    pub stopped_at_line: Option<usize>,
}

/// Parse the hex address the way `%16llx` does: at most 16 hex digits after
/// optional leading white space and an optional `0x`.
fn scan_hex(s: &str) -> Option<(u64, &str)> {
    let s = s.trim_start();
    let s = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    let mut v = 0u64;
    let mut n = 0;
    for &b in s.as_bytes().iter().take(16) {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            _ => break,
        };
        v = v << 4 | u64::from(d);
        n += 1;
    }
    (n > 0).then(|| (v, &s[n..]))
}

/// A symbol line as read: address, name (offset in the text, length) and
/// module length (the module starts two bytes after the name).
type Line = (u64, (u32, u32), Option<u32>);

/// Offset of `part` (a slice of `whole`) in `whole`, and its length.
fn span(whole: &str, part: &str) -> (u32, u32) {
    let at = part.as_ptr() as usize - whole.as_ptr() as usize;
    (at as u32, part.len() as u32)
}

/// The symbols of `part` (whole lines of `text`), in file order: the
/// non-empty lines read and, if a malformed line stopped the parse, its
/// number (1-based within `part`).
struct Lines {
    syms: Vec<Sym>,
    long: Vec<Long>,
    lines: usize,
    stopped_at: Option<usize>,
}

fn parse_lines(text: &str, part: &str, room: usize) -> Lines {
    let mut out = Lines {
        syms: Vec::with_capacity(room),
        long: Vec::new(),
        lines: 0,
        stopped_at: None,
    };
    let base = part.as_ptr() as usize - text.as_ptr() as usize;
    let bytes = part.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\n' {
            // Empty lines are not counted.
            i += 1;
            continue;
        }
        out.lines += 1;
        if let Some((line, len)) = quick(&bytes[i..], base + i) {
            if let Some((addr, name, module)) = line {
                out.syms.push(Sym::new(addr, name, module, &mut out.long));
            }
            i += len + 1;
            continue;
        }
        let len = bytes[i..]
            .iter()
            .position(|&b| b == b'\n')
            .unwrap_or(bytes.len() - i);
        match general(text, &part[i..i + len]) {
            Ok(Some((addr, name, module))) => {
                out.syms.push(Sym::new(addr, name, module, &mut out.long))
            }
            Ok(None) => {}
            Err(()) => {
                out.stopped_at = Some(out.lines);
                break;
            }
        }
        i += len + 1;
    }
    out
}

/// The line at the start of `rest` (at offset `at` of the text) when it has
/// `/proc/kallsyms`'s own layout (`%016lx %c %s`, then optionally
/// `\t[%s]`): its symbol (`None`: one skipped) and its length, read in one
/// pass over its bytes. `None` for any other layout, left to [`general`],
/// which reads it the same way but more slowly (a kallsyms is ~150,000 lines
/// and splitting, trimming and scanning each several times was most of the
/// parse, docs/performance.md).
fn quick(rest: &[u8], at: usize) -> Option<(Option<Line>, usize)> {
    let head = rest.get(..19)?;
    if head[16] != b' ' || head[18] != b' ' || !head[17].is_ascii_graphic() {
        return None;
    }
    let mut addr = 0u64;
    for &b in &head[..16] {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            _ => return None,
        };
        addr = addr << 4 | u64::from(d);
    }
    let kind = head[17];
    let name = &rest[19..];
    let name_len = name
        .iter()
        .position(|b| b.is_ascii_whitespace())
        .unwrap_or(name.len());
    if name_len == 0 {
        return None;
    }
    let mut end = 19 + name_len;
    let mut module = None;
    if rest[end..].starts_with(b"\t[") {
        let m = &rest[end + 2..];
        let n = m
            .iter()
            .position(|b| b.is_ascii_whitespace())
            .unwrap_or(m.len());
        if n > 0 {
            // The last character is dropped (see `general`): here a byte.
            if !m[n - 1].is_ascii() {
                return None;
            }
            module = Some((n - 1) as u32);
        }
        end += 2 + n;
    }
    let len = end
        + rest[end..]
            .iter()
            .position(|&b| b == b'\n')
            .unwrap_or(rest.len() - end);
    let skipped = name[0] == b'$' || kind == b'A' || kind == b'a';
    let line = (addr, ((at + 19) as u32, name_len as u32), module);
    Some(((!skipped).then_some(line), len))
}

/// One non-empty line of `text`, read as libtraceevent's `sscanf` does:
/// its symbol, `None` for one skipped, an error for a malformed line
/// (which ends the parse).
fn general(text: &str, line: &str) -> Result<Option<Line>, ()> {
    let (addr, rest) = scan_hex(line).ok_or(())?;
    // " %c": skip white space, take one character.
    let rest = rest.trim_start();
    let mut chars = rest.chars();
    let kind = chars.next().ok_or(())?;
    let rest = chars.as_str().trim_start();
    // "%*s": the name runs to the next white space (ASCII white space
    // bytes never occur inside a multi-byte character).
    let name_len = rest
        .bytes()
        .position(|b| b.is_ascii_whitespace())
        .unwrap_or(rest.len());
    if name_len == 0 {
        return Err(());
    }
    let name = &rest[..name_len];
    let after = &rest[name_len..];
    if name.starts_with('$') || kind == 'A' || kind == 'a' {
        return Ok(None);
    }
    // "%*1[\t][%n%*s%n": exactly one tab, '[', then the module up to white space.
    let module = after
        .strip_prefix("\t[")
        .map(|m| {
            &m[..m
                .bytes()
                .position(|b| b.is_ascii_whitespace())
                .unwrap_or(m.len())]
        })
        .filter(|m| !m.is_empty())
        // libtraceevent drops the last character (the ']').
        .map(|m| &m[..m.char_indices().last().map_or(0, |(i, _)| i)]);
    Ok(Some((
        addr,
        span(text, name),
        module.map(|m| m.len() as u32),
    )))
}

/// Texts above this size are parsed in two halves on two threads.
const SPLIT_ABOVE: usize = 1 << 20;

impl Kallsyms {
    fn ready(table: Table) -> Kallsyms {
        Kallsyms {
            table: OnceLock::from(table),
            ..Kallsyms::default()
        }
    }

    /// The table that `reading` will send (or why there is none), made
    /// elsewhere while the trace is read; its first use waits for it.
    pub fn coming(reading: Receiver<DatResult<Table>>) -> Kallsyms {
        Kallsyms {
            coming: Mutex::new(Some(reading)),
            ..Kallsyms::default()
        }
    }

    /// The table, or why there is none, as read here.
    pub fn read(result: DatResult<Table>) -> Kallsyms {
        match result {
            Ok(table) => Kallsyms::ready(table),
            Err(fault) => Kallsyms {
                table: OnceLock::from(Table::default()),
                failure: OnceLock::from(fault),
                ..Kallsyms::default()
            },
        }
    }

    /// Why the table could not be made, once it is known (waits for it).
    pub fn failure(&self) -> Option<&Fault> {
        self.table();
        self.failure.get()
    }

    /// Parse kallsyms text.
    pub fn parse(text: &[u8]) -> Kallsyms {
        Kallsyms::ready(Table::parse(text))
    }

    #[inline]
    fn table(&self) -> &Table {
        match self.table.get() {
            Some(t) => t,
            None => self.wait(),
        }
    }

    #[cold]
    fn wait(&self) -> &Table {
        self.table.get_or_init(|| {
            let coming = self.coming.lock().map(|mut p| p.take());
            match coming {
                Ok(Some(rx)) => match rx.recv() {
                    Ok(Ok(table)) => table,
                    Ok(Err(fault)) => {
                        let _ = self.failure.set(fault);
                        Table::default()
                    }
                    // The reader stopped without a word (it cannot panic).
                    Err(_) => {
                        let _ = self
                            .failure
                            .set(Fault::invalid(0, "kallsyms (reader stopped)"));
                        Table::default()
                    }
                },
                _ => Table::default(),
            }
        })
    }

    /// Lines that were read.
    #[cfg(test)]
    pub fn lines(&self) -> usize {
        self.table().lines
    }

    /// Set if a malformed line stopped the parse (1-based line number).
    #[cfg(test)]
    pub fn stopped_at_line(&self) -> Option<usize> {
        self.table().stopped_at_line
    }

    /// Number of symbols kept.
    pub fn len(&self) -> usize {
        self.table().syms.len()
    }

    /// The symbol index for `addr`, or [`NO_SYM`].
    pub fn lookup(&self, addr: u64) -> u32 {
        self.table().lookup(addr)
    }

    /// Name of symbol `i`.
    pub fn name(&self, i: u32) -> Option<&str> {
        self.table().name(i)
    }

    /// Module of symbol `i` (`None` for the core kernel).
    pub fn module(&self, i: u32) -> Option<&str> {
        self.table().module(i)
    }

    /// Start address of symbol `i`.
    pub fn addr(&self, i: u32) -> Option<u64> {
        self.table().addr(i)
    }
}

impl Table {
    pub(crate) fn parse(text: &[u8]) -> Table {
        // Names are kept as ranges of the text itself.
        Table::parse_text(match std::str::from_utf8(text) {
            Ok(t) => t.to_string(),
            Err(_) => String::from_utf8_lossy(text).into_owned(),
        })
    }

    /// Parse the kallsyms text at `range` of `buf`, keeping `buf` instead
    /// of copying the text out of it (the bytes before the range become
    /// empty lines, those after it are dropped).
    pub(crate) fn parse_in(mut buf: Vec<u8>, range: std::ops::Range<usize>) -> Table {
        buf.truncate(range.end);
        buf[..range.start].fill(b'\n');
        Table::parse_text(match String::from_utf8(buf) {
            Ok(t) => t,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })
    }

    fn parse_text(text: String) -> Table {
        // A real kallsyms is ~150,000 lines; its two halves (split after a
        // newline) are parsed at once, then joined as if read in one go.
        let cut = if text.len() > SPLIT_ABOVE {
            text[text.len() / 2..]
                .find('\n')
                .map_or(text.len(), |i| text.len() / 2 + i + 1)
        } else {
            text.len()
        };
        let (first, second) = text.split_at(cut);
        // Lines are ~40 bytes; a symbol takes 32.
        let room = text.len() / 32;
        let (a, b) = if second.is_empty() {
            (
                parse_lines(&text, first, room),
                Some(parse_lines(&text, second, 0)),
            )
        } else {
            std::thread::scope(|scope| {
                let later = scope.spawn(|| parse_lines(&text, second, second.len() / 32));
                // Room for both halves: the second is appended to the first.
                let a = parse_lines(&text, first, room);
                (a, later.join().ok())
            })
        };
        let mut ks = Table {
            lines: a.lines,
            stopped_at_line: a.stopped_at,
            ..Table::default()
        };
        let mut syms = a.syms;
        let mut long = a.long;
        if a.stopped_at.is_none() {
            // (The thread cannot fail: parsing has no panics. If it did,
            // the half is parsed here.)
            let b = b.unwrap_or_else(|| parse_lines(&text, second, 0));
            ks.lines = a.lines + b.lines;
            ks.stopped_at_line = b.stopped_at.map(|n| a.lines + n);
            syms.extend(b.syms);
            long.extend(b.long);
        }
        // libtraceevent prepends to a list (registration order reversed),
        // then sorts it stably by address: equal addresses end up last
        // registered first. The same order from a stable sort of the lines
        // as read (nearly sorted already: one pass over ascending runs; an
        // unstable sort by address and name offset took 5 times as long),
        // each run of equal addresses then reversed.
        syms.sort_by_key(|s| s.addr);
        for run in syms.chunk_by_mut(|a, b| a.addr == b.addr) {
            run.reverse();
        }
        long.sort_unstable_by_key(|l| l.name_at);
        ks.syms = syms;
        ks.long = long;
        ks.text = text;
        ks
    }

    /// The symbol index for `addr`, or [`NO_SYM`].
    fn lookup(&self, addr: u64) -> u32 {
        let syms = &self.syms;
        let n = syms.len();
        // glibc bsearch over n elements; func_bcmp reads element i+1, which
        // for the last element is the zero-address sentinel.
        let (mut l, mut u) = (0usize, n);
        while l < u {
            let idx = (l + u) / 2;
            let a = syms[idx].addr;
            let next = if idx + 1 < n { syms[idx + 1].addr } else { 0 };
            if addr == a || (addr > a && addr < next) {
                return idx as u32;
            }
            if addr < a {
                u = idx;
            } else {
                l = idx + 1;
            }
        }
        NO_SYM
    }

    /// Name offset and length, and module length, of symbol `i`.
    fn spans(&self, i: u32) -> Option<(usize, usize, Option<usize>)> {
        let s = self.syms.get(i as usize)?;
        let at = s.name_at as usize;
        if s.name_len != LONG {
            let module = (s.module_len != NO_MODULE).then_some(usize::from(s.module_len));
            return Some((at, usize::from(s.name_len), module));
        }
        let l = self.long[self
            .long
            .binary_search_by_key(&s.name_at, |l| l.name_at)
            .ok()?];
        Some((at, l.name_len as usize, l.module_len.map(|m| m as usize)))
    }

    /// Name of symbol `i`.
    fn name(&self, i: u32) -> Option<&str> {
        let (at, len, _) = self.spans(i)?;
        self.text.get(at..at + len)
    }

    /// Module of symbol `i` (`None` for the core kernel).
    fn module(&self, i: u32) -> Option<&str> {
        let (at, len, module) = self.spans(i)?;
        let from = at + len + 2;
        self.text.get(from..from + module?)
    }

    /// Start address of symbol `i`.
    fn addr(&self, i: u32) -> Option<u64> {
        self.syms.get(i as usize).map(|s| s.addr)
    }
}

/// A direct-mapped cache of [`Kallsyms::lookup`] results: a trace calls the
/// same few thousand functions again and again, and the binary search over
/// ~150,000 symbols was the decoder's largest cost (callgrind, docs/performance.md).
#[derive(Debug)]
pub(crate) struct SymCache {
    slots: Vec<(u64, u32)>,
}

impl Default for SymCache {
    fn default() -> SymCache {
        // Address 0 never caches: it is looked up each time (and is rare).
        SymCache {
            slots: vec![(0, NO_SYM); 1 << 14],
        }
    }
}

impl SymCache {
    /// `ks.lookup(addr)`, from the cache when `addr` was seen last in its slot.
    #[inline]
    pub fn lookup(&mut self, ks: &Kallsyms, addr: u64) -> u32 {
        let slot = ((addr ^ (addr >> 12)) as usize) & (self.slots.len() - 1);
        let (a, sym) = self.slots[slot];
        if a == addr && addr != 0 {
            return sym;
        }
        let sym = ks.lookup(addr);
        self.slots[slot] = (addr, sym);
        sym
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_large_table_parsed_in_halves_is_the_table_parsed_in_one_go() {
        // > 1 MiB, with aliases, skipped symbols, modules, empty lines, and
        // a malformed line in the second half (which ends the parse).
        let mut text = String::new();
        for i in 0..60_000u64 {
            let kind = if i % 97 == 0 { 'a' } else { 't' };
            text.push_str(&format!("ffffffff81{:06x} {kind} func_{i}", (i / 2) * 16));
            if i % 13 == 0 {
                text.push_str(&format!("\t[mod{}]", i % 5));
            }
            text.push('\n');
            if i % 1_000 == 0 {
                text.push('\n');
            }
            if i == 45_000 {
                text.push_str("zz not a line\n");
            }
        }
        assert!(text.len() > SPLIT_ABOVE);
        let ks = Kallsyms::parse(text.as_bytes());
        let one = parse_lines(&text, &text, 0);
        assert_eq!(ks.stopped_at_line(), one.stopped_at);
        // Empty lines are not counted: the 45,001st symbol line, then the bad one.
        assert_eq!(ks.stopped_at_line(), Some(45_002));
        assert_eq!(ks.lines(), one.lines);
        let mut want = one.syms;
        want.reverse();
        want.sort_by_key(|s| s.addr);
        assert_eq!(ks.table().syms, want);
        assert!(ks.len() > 40_000);
        // Parsed on a thread of its own, from inside a larger buffer: the
        // same table, names and all.
        let mut buf = b"size".to_vec();
        buf.extend_from_slice(text.as_bytes());
        buf.extend_from_slice(b"trailing section bytes");
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let len = text.len();
        std::thread::spawn(move || tx.send(Ok(Table::parse_in(buf, 4..4 + len))));
        let bg = Kallsyms::coming(rx);
        assert!(bg.failure().is_none());
        assert_eq!(bg.len(), ks.len());
        assert_eq!(bg.table().syms.len(), want.len());
        for i in [0, 1, 20_000, ks.len() as u32 - 1] {
            assert_eq!(bg.name(i), ks.name(i));
            assert_eq!(bg.module(i), ks.module(i));
            assert_eq!(bg.addr(i), ks.addr(i));
        }
        assert_eq!(bg.stopped_at_line(), Some(45_002));
    }

    use super::*;

    #[test]
    fn names_and_modules_longer_than_16_bits_come_back_whole() {
        let long_name = "n".repeat(70_000);
        let long_module = "m".repeat(70_000);
        let text = format!(
            "ffffffff81000000 T first\n\
             ffffffff81000010 t {long_name}\n\
             ffffffff81000020 t short\t[{long_module}]\n\
             ffffffff81000030 t last\t[ext4]\n"
        );
        let k = Kallsyms::parse(text.as_bytes());
        assert_eq!(k.len(), 4);
        let at = |a: u64| {
            let i = k.lookup(a);
            (k.name(i), k.module(i))
        };
        assert_eq!(at(0xffffffff81000004), (Some("first"), None));
        assert_eq!(at(0xffffffff81000014), (Some(long_name.as_str()), None));
        assert_eq!(
            at(0xffffffff81000020),
            (Some("short"), Some(long_module.as_str()))
        );
        assert_eq!(at(0xffffffff81000030), (Some("last"), Some("ext4")));
    }

    #[test]
    fn a_table_that_could_not_be_read_is_empty_and_says_why() {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        tx.send(Err(Fault::invalid(1234, "kallsyms (bad)")))
            .unwrap();
        let ks = Kallsyms::coming(rx);
        assert_eq!(ks.lookup(0xffff_ffff_8100_0000), NO_SYM);
        assert_eq!(ks.len(), 0);
        let f = ks.failure().expect("the fault");
        assert_eq!((f.offset, f.what.as_str()), (1234, "kallsyms (bad)"));
    }

    const TEXT: &[u8] = b"0000000000000000 A fixed_percpu_data\n\
ffffffff81000000 T _stext\n\
ffffffff81000000 T _text\n\
ffffffff81000010 t first\n\
ffffffff81000040 t $x\n\
ffffffff81000080 T second\n\
ffffffffc0001000 t mod_fn\t[ext4]\n";

    #[test]
    fn resolution_matches_libtraceevent() {
        let k = Kallsyms::parse(TEXT);
        assert_eq!(k.len(), 5);
        // Aliases sort in reverse file order: _text, then _stext.
        assert_eq!(k.name(0), Some("_text"));
        assert_eq!(k.name(1), Some("_stext"));
        // Exact match on an alias: glibc probes index 2, then 1, which is
        // an exact match, so the later alias in sorted order wins here.
        assert_eq!(k.name(k.lookup(0xffffffff81000000)), Some("_stext"));
        // Inside a range: the last alias of the group owns it.
        assert_eq!(k.name(k.lookup(0xffffffff81000008)), Some("_stext"));
        assert_eq!(k.name(k.lookup(0xffffffff81000044)), Some("first"));
        assert_eq!(k.name(k.lookup(0xffffffff81000080)), Some("second"));
        assert_eq!(k.name(k.lookup(0xffffffff81000090)), Some("second"));
        let m = k.lookup(0xffffffffc0001000);
        assert_eq!((k.name(m), k.module(m)), (Some("mod_fn"), Some("ext4")));
        // Past the last symbol and before the first: unresolved.
        assert_eq!(k.lookup(0xffffffffc0001004), NO_SYM);
        assert_eq!(k.lookup(5), NO_SYM);
    }

    #[test]
    fn the_quick_reading_of_a_line_is_the_general_one() {
        let lines = [
            "ffffffff81000000 T _stext",
            "FFFFFFFF81000000 T upper_case_address",
            "ffffffffc0001000 t mod_fn\t[ext4]",
            "ffffffffc0001000 t mod_fn\t[ext4] trailing words",
            "ffffffffc0001000 t mod_fn\t[]",
            "ffffffffc0001000 t mod_fn\t[x]",
            "ffffffffc0001000 t mod_fn\t[mod\u{e9}]",
            "ffffffffc0001000 t mod_fn [not_a_module]",
            "ffffffff81000000 T n\u{e4}m\u{e9}\t[mod]",
            "ffffffff81000000 T name\r",
            "0000000000000000 A fixed_percpu_data",
            "ffffffff81000040 a absolute",
            "ffffffff81000040 t $x",
            "ffffffff81000000 T  two_spaces",
            "ffffffff81000000 T ",
            "ffffffff81000000 \u{1} control_kind",
            "0xffffffff810000 T prefixed",
            "  ffffffff8100000 T indented",
            "ffffffff8100000g T not_hex",
            "ffffffff81000000T glued",
        ];
        let mut quick_ones = 0;
        for l in lines {
            let text = format!("{l}\nnext line\n");
            let general = general(&text, &text[..l.len()]);
            if let Some((sym, len)) = quick(text.as_bytes(), 0) {
                quick_ones += 1;
                assert_eq!(len, l.len(), "{l:?}");
                assert_eq!(Ok(sym), general, "{l:?}");
            }
        }
        // The layout /proc/kallsyms writes is read the quick way.
        assert_eq!(quick_ones, 13);
        let k = Kallsyms::parse(TEXT);
        let slow = parse_lines_generally(std::str::from_utf8(TEXT).unwrap());
        assert_eq!(k.table().syms.len(), slow.len());
    }

    /// Every line of `text` through [`general`], in file order.
    fn parse_lines_generally(text: &str) -> Vec<Line> {
        text.split('\n')
            .filter(|l| !l.is_empty())
            .filter_map(|l| general(text, l).ok().flatten())
            .collect()
    }

    #[test]
    fn malformed_line_stops_the_parse() {
        let k = Kallsyms::parse(b"ffffffff81000000 T a\nzzzz T b\nffffffff81000010 T c\n");
        assert_eq!(k.len(), 1);
        assert_eq!(k.stopped_at_line(), Some(2));
        assert_eq!(Kallsyms::parse(b"").len(), 0);
    }
}
