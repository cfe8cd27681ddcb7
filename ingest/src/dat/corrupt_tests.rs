//! Corruption corpus for the trace.dat reader (issue "Hostile input").
//!
//! Damaged files are generated at test time from the real fixtures in
//! `fixtures/dat` (nothing large is committed): truncation at every section
//! boundary found by parsing the file and at many offsets inside pages,
//! single-bit flips in the file header, the `header_page` and event format
//! texts, the v7 section headers and the ring-buffer page headers, lying
//! sizes and offsets (past the end, overlapping, huge), compressed blocks that
//! claim huge uncompressed sizes and format texts with absurd field offsets
//! and sizes.
//!
//! Every case runs [`super::parse`] under `catch_unwind` on a worker thread
//! watched with a timeout: it must return `Ok` (possibly with fewer events)
//! or an error naming the file and a byte offset, never panic and never hang.
//! The v7 fixtures compress their metadata, so texts and options are
//! corrupted in a "flattened" copy: the original bytes followed by
//! uncompressed copies of the metadata sections and one uncompressed options
//! section, to which the header is repointed (the CPU data stays in place).
//! Crashes found by the corpus are kept as named regression tests at the end.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::ops::Range;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use super::cursor::Cursor;
use super::header::{parse_file_header, FileHeader};
use super::sections::{chunk_table, id, read_block, section_header, Decompressor};
use super::{parse, Options};
use crate::event::{Event, TraceInfo};

/// A case that has not answered after this long is reported as a hang.
const TIMEOUT: Duration = Duration::from_secs(10);

fn fixture(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/dat")
        .join(name);
    let raw = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    if name.ends_with(".zst") {
        zstd::decode_all(&raw[..]).expect("fixture decompresses")
    } else {
        raw
    }
}

/// One damaged file: `base` cut at `cut` (if set) with `patches` written over it.
struct Case {
    name: String,
    base: Arc<Vec<u8>>,
    cut: Option<usize>,
    patches: Vec<(usize, Vec<u8>)>,
}

impl Case {
    fn bytes(&self) -> Cow<'_, [u8]> {
        let end = self.cut.unwrap_or(self.base.len()).min(self.base.len());
        if self.patches.is_empty() {
            return Cow::Borrowed(&self.base[..end]);
        }
        let mut b = self.base[..end].to_vec();
        for (at, p) in &self.patches {
            if *at < b.len() {
                let n = p.len().min(b.len() - at);
                b[*at..*at + n].copy_from_slice(&p[..n]);
            }
        }
        Cow::Owned(b)
    }
}

/// The cases of one corpus, built on one base file.
struct Corpus {
    base: Arc<Vec<u8>>,
    cases: Vec<Case>,
}

impl Corpus {
    fn new(base: Vec<u8>) -> Corpus {
        Corpus {
            base: Arc::new(base),
            cases: Vec::new(),
        }
    }

    fn cut(&mut self, name: impl Into<String>, at: usize) {
        self.cases.push(Case {
            name: name.into(),
            base: self.base.clone(),
            cut: Some(at),
            patches: Vec::new(),
        });
    }

    fn patch(&mut self, name: impl Into<String>, at: usize, bytes: Vec<u8>) {
        self.cases.push(Case {
            name: name.into(),
            base: self.base.clone(),
            cut: None,
            patches: vec![(at, bytes)],
        });
    }

    fn flip(&mut self, name: &str, at: usize, bit: u32) {
        let b = self.base[at] ^ (1 << bit);
        self.patch(
            format!("{name}: flip bit {bit} of byte {at:#x}"),
            at,
            vec![b],
        );
    }

    fn whole(&mut self, name: impl Into<String>, bytes: Vec<u8>) {
        self.cases.push(Case {
            name: name.into(),
            base: Arc::new(bytes),
            cut: None,
            patches: Vec::new(),
        });
    }

    fn extend(&mut self, other: Corpus) {
        self.cases.extend(other.cases);
    }
}

/// Outcome of one case.
enum Outcome {
    Ok(u64),
    Err(String),
    Panic(String),
}

fn run_case(bytes: &[u8], path: &Path) -> Outcome {
    let r = catch_unwind(AssertUnwindSafe(|| {
        let mut n = 0u64;
        let mut info = TraceInfo::default();
        let mut sink = |_: &Event<'_>| {
            n += 1;
            Ok(())
        };
        let r = parse(bytes, path, &Options::default(), &mut info, &mut sink);
        r.map(|_| n).map_err(|e| e.to_string())
    }));
    match r {
        Ok(Ok(n)) => Outcome::Ok(n),
        Ok(Err(e)) => Outcome::Err(e),
        Err(p) => Outcome::Panic(
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "non-string panic".into()),
        ),
    }
}

/// What a corpus run saw.
#[derive(Debug, Default)]
struct Tally {
    ok: usize,
    err: usize,
    failures: Vec<String>,
}

/// Run every case on a worker thread, each watched with [`TIMEOUT`]; collect
/// panics, hangs and errors that do not name the file and an offset.
fn run(label: &str, corpus: Corpus) -> Tally {
    let path = PathBuf::from(format!("corrupt/{label}"));
    let names: Vec<String> = corpus.cases.iter().map(|c| c.name.clone()).collect();
    let (tx, rx) = mpsc::channel();
    let p = path.clone();
    let cases = corpus.cases;
    std::thread::spawn(move || {
        for c in cases {
            let out = run_case(&c.bytes(), &p);
            if tx.send(out).is_err() {
                return;
            }
        }
    });
    let mut t = Tally::default();
    let want = format!("{}: offset 0x", path.display());
    let mut slowest = (Duration::ZERO, "");
    for name in &names {
        let start = Instant::now();
        let got = rx.recv_timeout(TIMEOUT);
        if start.elapsed() > slowest.0 {
            slowest = (start.elapsed(), name);
        }
        match got {
            Ok(Outcome::Ok(_)) => t.ok += 1,
            Ok(Outcome::Err(e)) => {
                t.err += 1;
                if !e.starts_with(&want) {
                    t.failures
                        .push(format!("{name}: error without path/offset: {e}"));
                }
            }
            Ok(Outcome::Panic(m)) => t.failures.push(format!("{name}: PANIC: {m}")),
            Err(_) => {
                t.failures.push(format!(
                    "{name}: HANG (no answer after {:?})",
                    start.elapsed()
                ));
                break;
            }
        }
    }
    eprintln!(
        "{label}: {} cases, {} ok, {} errors, {} failures; slowest {:?}: {}",
        names.len(),
        t.ok,
        t.err,
        t.failures.len(),
        slowest.0,
        slowest.1
    );
    t
}

fn check(label: &str, corpus: Corpus, min_cases: usize) {
    let n = corpus.cases.len();
    assert!(n >= min_cases, "{label}: only {n} cases generated");
    let start = Instant::now();
    let t = run(label, corpus);
    eprintln!("{label}: {n} cases in {:?}", start.elapsed());
    assert!(
        t.failures.is_empty(),
        "{label}: {} of {n} cases failed:\n{}",
        t.failures.len(),
        t.failures
            .iter()
            .take(30)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Events of an undamaged file (sanity check of the harness).
fn events(bytes: &[u8]) -> u64 {
    match run_case(bytes, Path::new("pristine.dat")) {
        Outcome::Ok(n) => n,
        Outcome::Err(e) => panic!("pristine file fails: {e}"),
        Outcome::Panic(m) => panic!("pristine file panics: {m}"),
    }
}

fn le64(v: u64) -> Vec<u8> {
    v.to_le_bytes().to_vec()
}

fn le32(v: u32) -> Vec<u8> {
    v.to_le_bytes().to_vec()
}

/// Offsets where the initial header's parts start and end.
fn header_boundaries(d: &[u8], h: &FileHeader) -> Vec<usize> {
    let mut b = vec![0, 3, 10];
    let ver_end = 10 + d[10..].iter().position(|&x| x == 0).unwrap_or(0) + 1;
    b.extend([ver_end, ver_end + 1, ver_end + 2, ver_end + 6]);
    b.push(h.body as usize);
    if h.version >= 7 {
        b.push(h.body as usize - 8);
        let name_end = ver_end + 6 + d[ver_end + 6..].iter().position(|&x| x == 0).unwrap() + 1;
        b.push(name_end);
    }
    b
}

/// Cut at `b - 1`, `b`, `b + 1` for every boundary.
fn cuts_around(c: &mut Corpus, what: &str, bounds: &BTreeSet<usize>) {
    let len = c.base.len();
    let mut at = BTreeSet::new();
    for &b in bounds {
        for x in [b.saturating_sub(1), b, b + 1] {
            if x < len {
                at.insert(x);
            }
        }
    }
    for x in at {
        c.cut(format!("{what}: truncated at {x:#x}"), x);
    }
}

/// Cuts at `4096 * i + k` through the whole file.
fn cuts_in_pages(c: &mut Corpus, what: &str, page_stride: usize) {
    let len = c.base.len();
    for page in (0..len / 4096 + 1).step_by(page_stride) {
        for k in [1usize, 8, 12, 16, 20, 100, 2049, 4095] {
            let x = page * 4096 + k;
            if x < len {
                c.cut(format!("{what}: truncated at {x:#x} (in page)"), x);
            }
        }
    }
}

/// Flip every bit of `range`.
fn flip_all(c: &mut Corpus, what: &str, range: Range<usize>) {
    for at in range {
        for bit in 0..8 {
            c.flip(what, at, bit);
        }
    }
}

/// Flip one bit (cycling through the bit positions) of every `stride`-th byte.
fn flip_sampled(c: &mut Corpus, what: &str, range: Range<usize>, stride: usize) {
    for (i, at) in range.step_by(stride).enumerate() {
        c.flip(what, at, (i % 8) as u32);
    }
}

// ---------------------------------------------------------------- v6 ----

/// Where the parts of a v6 file are.
#[derive(Debug, Default)]
struct V6Map {
    bounds: BTreeSet<usize>,
    header_page: Range<usize>,
    formats: Vec<(String, Range<usize>)>,
    cpu_table: usize,
    cpus: Vec<(u64, u64)>,
}

fn map_v6(d: &[u8]) -> V6Map {
    let h = parse_file_header(d).unwrap();
    assert_eq!(h.version, 6);
    let mut m = V6Map::default();
    m.bounds.extend(header_boundaries(d, &h));
    let mut c = Cursor::new(d, 0, h.big_endian);
    c.skip(h.body, "").unwrap();
    let mark = |c: &Cursor<'_>, m: &mut V6Map| {
        m.bounds.insert(c.offset() as usize);
    };
    c.skip(12, "").unwrap();
    mark(&c, &mut m);
    let size = c.u64("").unwrap();
    mark(&c, &mut m);
    let at = c.offset() as usize;
    m.header_page = at..at + size as usize;
    c.skip(size, "").unwrap();
    mark(&c, &mut m);
    c.skip(13, "").unwrap();
    let size = c.u64("").unwrap();
    c.skip(size, "").unwrap();
    mark(&c, &mut m);
    let format = |c: &mut Cursor<'_>, m: &mut V6Map| {
        m.bounds.insert(c.offset() as usize);
        let size = c.u64("").unwrap();
        let at = c.offset() as usize;
        let text = c.bytes(size, "").unwrap();
        let name = String::from_utf8_lossy(text)
            .lines()
            .next()
            .unwrap_or("")
            .to_string();
        m.formats.push((name, at..at + size as usize));
    };
    let n = c.u32("").unwrap();
    for _ in 0..n {
        format(&mut c, &mut m);
    }
    mark(&c, &mut m);
    let systems = c.u32("").unwrap();
    for _ in 0..systems {
        mark(&c, &mut m);
        c.cstr("").unwrap();
        let n = c.u32("").unwrap();
        for _ in 0..n {
            format(&mut c, &mut m);
        }
    }
    mark(&c, &mut m); // kallsyms
    let n = c.u32("").unwrap();
    c.skip(u64::from(n), "").unwrap();
    mark(&c, &mut m); // printk
    let n = c.u32("").unwrap();
    c.skip(u64::from(n), "").unwrap();
    mark(&c, &mut m); // cmdlines
    let n = c.u64("").unwrap();
    c.skip(n, "").unwrap();
    mark(&c, &mut m); // CPU count
    let cpus = c.u32("").unwrap();
    mark(&c, &mut m);
    let mut tag = c.bytes(10, "").unwrap();
    if tag.starts_with(b"options") {
        loop {
            mark(&c, &mut m);
            let id = c.u16("").unwrap();
            if id == 0 {
                break;
            }
            let size = c.u32("").unwrap();
            c.skip(u64::from(size), "").unwrap();
        }
        mark(&c, &mut m);
        tag = c.bytes(10, "").unwrap();
    }
    assert!(tag.starts_with(b"flyrecord"), "fixture is a flyrecord file");
    m.cpu_table = c.offset() as usize;
    for _ in 0..cpus {
        mark(&c, &mut m);
        let off = c.u64("").unwrap();
        let size = c.u64("").unwrap();
        m.cpus.push((off, size));
        m.bounds.insert(off as usize);
        m.bounds.insert((off + size) as usize);
    }
    mark(&c, &mut m);
    m
}

fn v6_corpus(d: Vec<u8>) -> Corpus {
    let m = map_v6(&d);
    let mut c = Corpus::new(d);
    let len = c.base.len();
    cuts_around(&mut c, "v6", &m.bounds);
    cuts_in_pages(&mut c, "v6", 41);
    let h = parse_file_header(&c.base).unwrap();
    flip_all(&mut c, "v6 file header", 0..h.body as usize);
    flip_sampled(&mut c, "v6 header_page", m.header_page.clone(), 1);
    // The formats the decoder uses, densely; every 40th other one, sparsely.
    for (i, (name, r)) in m.formats.clone().into_iter().enumerate() {
        let stride = if name.ends_with(" function") || name.ends_with("funcgraph_entry") {
            2
        } else if i % 40 == 0 {
            97
        } else {
            continue;
        };
        flip_sampled(&mut c, &format!("v6 format {name:?}"), r, stride);
    }
    // Ring-buffer page headers: timestamp and commit of sampled pages.
    for (cpu, &(off, size)) in m.cpus.iter().enumerate() {
        let pages = (size as usize).div_ceil(4096);
        let sample: BTreeSet<usize> = [0, 1, pages / 2, pages.saturating_sub(1)]
            .into_iter()
            .chain((0..pages).step_by(41))
            .filter(|&p| p < pages)
            .collect();
        for p in sample {
            let at = off as usize + p * 4096;
            let what = format!("v6 CPU {cpu} page {p}");
            for bit in [0u32, 27, 56, 63] {
                c.flip(&format!("{what} ts"), at + (bit / 8) as usize, bit % 8);
            }
            for bit in [0u32, 1, 2, 5, 10, 20, 26, 27, 28, 29, 30, 31, 40, 63] {
                c.flip(
                    &format!("{what} commit"),
                    at + 8 + (bit / 8) as usize,
                    bit % 8,
                );
            }
            // The first record header word: type_len and delta.
            for bit in [0u32, 1, 2, 3, 4, 5, 20, 31] {
                c.flip(
                    &format!("{what} record"),
                    at + 16 + (bit / 8) as usize,
                    bit % 8,
                );
            }
        }
        // Lying CPU table: sizes that end inside pages, past the end, huge;
        // offsets overlapping the other CPU, the metadata, past the end.
        let entry = m.cpu_table + 16 * cpu;
        for s in [1u64, 15, 16, 17, 4095, 4097, 8192 + 100, size - 1] {
            c.patch(format!("v6 CPU {cpu} size {s}"), entry + 8, le64(s));
        }
        for s in [size + 1, len as u64, 0xffff_ffff_ffff, u64::MAX] {
            c.patch(format!("v6 CPU {cpu} size {s:#x}"), entry + 8, le64(s));
        }
        let other = m.cpus[(cpu + 1) % m.cpus.len()].0;
        for o in [
            0u64,
            1,
            other,
            other + 4096,
            off + 1,
            len as u64,
            u64::MAX - 8,
        ] {
            c.patch(format!("v6 CPU {cpu} offset {o:#x}"), entry, le64(o));
        }
    }
    // Lying text sizes (header_page, formats).
    for s in [0u64, 1, len as u64, 0xffff_ffff_ffff, u64::MAX] {
        c.patch(
            format!("v6 header_page size {s:#x}"),
            m.header_page.start - 8,
            le64(s),
        );
        let f = m.formats[0].1.start - 8;
        c.patch(format!("v6 first format size {s:#x}"), f, le64(s));
    }
    c
}

// ---------------------------------------------------------------- v7 ----

/// The raw option records of a v7 file (DONE excluded) and the chain offsets.
fn raw_options(d: &[u8]) -> (Vec<(u16, Vec<u8>)>, Vec<u64>) {
    let h = parse_file_header(d).unwrap();
    let big = h.big_endian;
    let mut dec = h.compression.map(Decompressor::new);
    let mut next = h.first_options.unwrap();
    let (mut recs, mut chain) = (Vec::new(), Vec::new());
    while next != 0 {
        chain.push(next);
        let s = section_header(d, next, big).unwrap();
        let body = if s.compressed() {
            read_block(d, s.body, big, dec.as_mut().unwrap()).unwrap().0
        } else {
            d[s.body as usize..].to_vec()
        };
        let mut c = Cursor::new(&body, 0, big);
        loop {
            let id = c.u16("").unwrap();
            let size = c.u32("").unwrap();
            let p = c.bytes(u64::from(size), "").unwrap();
            if id == 0 {
                next = Cursor::new(p, 0, big).u64("").unwrap();
                break;
            }
            recs.push((id, p.to_vec()));
        }
    }
    (recs, chain)
}

fn section_bytes(sid: u16, flags: u16, size: u64, body: &[u8]) -> Vec<u8> {
    let mut v = sid.to_le_bytes().to_vec();
    v.extend_from_slice(&flags.to_le_bytes());
    v.extend_from_slice(&0u32.to_le_bytes());
    v.extend_from_slice(&size.to_le_bytes());
    v.extend_from_slice(body);
    v
}

/// Append one plain options section holding `recs` and point the header at it.
fn with_options(d: &[u8], recs: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let h = parse_file_header(d).unwrap();
    let mut body = Vec::new();
    for (id, p) in recs {
        body.extend_from_slice(&id.to_le_bytes());
        body.extend_from_slice(&(p.len() as u32).to_le_bytes());
        body.extend_from_slice(p);
    }
    body.extend_from_slice(&0u16.to_le_bytes());
    body.extend_from_slice(&8u32.to_le_bytes());
    body.extend_from_slice(&0u64.to_le_bytes());
    let mut out = d.to_vec();
    let at = out.len() as u64;
    out.extend(section_bytes(0, 0, body.len() as u64, &body));
    let b = h.body as usize;
    out[b - 8..b].copy_from_slice(&at.to_le_bytes());
    out
}

/// A v7 file with its metadata sections appended uncompressed.
struct Flat {
    bytes: Vec<u8>,
    recs: Vec<(u16, Vec<u8>)>,
    /// Body range of each appended section, by section id.
    bodies: Vec<(u16, Range<usize>)>,
}

impl Flat {
    fn new(d: &[u8]) -> Flat {
        let h = parse_file_header(d).unwrap();
        let mut dec = h.compression.map(Decompressor::new);
        let (mut recs, _) = raw_options(d);
        let mut out = d.to_vec();
        let mut bodies = Vec::new();
        for (sid, p) in recs.iter_mut() {
            if !(id::HEADER_INFO..=id::CMDLINES).contains(sid) {
                continue;
            }
            let off = u64::from_le_bytes(p[..8].try_into().unwrap());
            let (body, _) =
                super::sections::section_body(d, off, *sid, h.big_endian, dec.as_mut()).unwrap();
            let at = out.len();
            out.extend(section_bytes(*sid, 0, body.len() as u64, &body));
            bodies.push((*sid, at + 16..out.len()));
            *p = le64(at as u64);
        }
        let bytes = with_options(&out, &recs);
        Flat {
            bytes,
            recs,
            bodies,
        }
    }

    fn body(&self, sid: u16) -> Range<usize> {
        self.bodies
            .iter()
            .find(|b| b.0 == sid)
            .map(|b| b.1.clone())
            .unwrap()
    }

    /// The file with section `sid` replaced by a plain section holding `body`
    /// whose header declares `size` (and `flags`).
    fn with_section(&self, sid: u16, flags: u16, size: u64, body: &[u8]) -> Vec<u8> {
        let mut out = self.bytes.clone();
        let at = out.len() as u64;
        out.extend(section_bytes(sid, flags, size, body));
        let recs: Vec<_> = self
            .recs
            .iter()
            .map(|(i, p)| (*i, if *i == sid { le64(at) } else { p.clone() }))
            .collect();
        with_options(&out, &recs)
    }

    /// The file with the option records changed by `f`.
    fn with_recs(&self, f: impl FnOnce(&mut Vec<(u16, Vec<u8>)>)) -> Vec<u8> {
        let mut recs = self.recs.clone();
        f(&mut recs);
        with_options(&self.bytes, &recs)
    }
}

/// The format texts in an FTRACE_EVENTS body: (name line, range in the body).
fn ftrace_formats(body: &[u8]) -> Vec<(String, Range<usize>)> {
    let mut c = Cursor::new(body, 0, false);
    let n = c.u32("").unwrap();
    (0..n)
        .map(|_| {
            let size = c.u64("").unwrap();
            let at = c.offset() as usize;
            let t = c.bytes(size, "").unwrap();
            let name = String::from_utf8_lossy(t)
                .lines()
                .next()
                .unwrap()
                .to_string();
            (name, at..at + size as usize)
        })
        .collect()
}

/// An FTRACE_EVENTS body with the format named `name` rewritten by `f`.
fn rewrite_format(body: &[u8], name: &str, f: impl Fn(&str) -> String) -> Vec<u8> {
    let mut out = body[..4].to_vec();
    for (n, r) in ftrace_formats(body) {
        let text = String::from_utf8_lossy(&body[r]).into_owned();
        let text = if n == format!("name: {name}") {
            f(&text)
        } else {
            text
        };
        out.extend_from_slice(&(text.len() as u64).to_le_bytes());
        out.extend_from_slice(text.as_bytes());
    }
    out
}

/// `text` with `key:value;` of the field line naming `field` set to `value`.
fn set_field(text: &str, field: &str, key: &str, value: &str) -> String {
    text.lines()
        .map(|l| {
            if l.contains(&format!(" {field};")) && l.trim_start().starts_with("field:") {
                l.split(';')
                    .map(|p| {
                        if p.trim_start().starts_with(&format!("{key}:")) {
                            format!("\t{key}:{value}")
                        } else {
                            p.to_string()
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(";")
            } else {
                l.to_string()
            }
        })
        .map(|l| l + "\n")
        .collect()
}

const ABSURD: [&str; 6] = [
    "18446744073709551615",
    "18446744073709551608",
    "4294967295",
    "65536",
    "3",
    "0",
];

fn v7_corpus(label: &str, d: Vec<u8>) -> Corpus {
    let h = parse_file_header(&d).unwrap();
    let big = h.big_endian;
    let mut dec = h.compression.map(Decompressor::new);
    let opts =
        super::options::read_v7_options(&d, h.first_options.unwrap(), big, dec.as_mut()).unwrap();
    let (recs, chain) = raw_options(&d);
    let mut bounds: BTreeSet<usize> = header_boundaries(&d, &h).into_iter().collect();
    let mut headers = Vec::new(); // section header offsets
    for &o in chain
        .iter()
        .chain(opts.sections.iter().map(|s| &s.1))
        .chain(opts.buffers.iter().map(|b| &b.offset))
    {
        let s = section_header(&d, o, big).unwrap();
        headers.push(o as usize);
        bounds.extend([o as usize, o as usize + 4, o as usize + 8, s.body as usize]);
        bounds.insert((s.body + s.size) as usize);
        if s.compressed() {
            bounds.extend([s.body as usize + 4, s.body as usize + 8]);
        }
    }
    let mut chunks = Vec::new();
    for b in &opts.buffers {
        for cpu in &b.cpus {
            bounds.extend([cpu.offset as usize, (cpu.offset + cpu.size) as usize]);
            if let Ok(t) = chunk_table(&d, cpu.offset, big) {
                for ch in t {
                    let z = ch.zoffset as usize;
                    bounds.extend([z - 8, z - 4, z, z + ch.zsize as usize / 2]);
                    chunks.push(ch);
                }
            }
        }
    }
    let mut c = Corpus::new(d);
    let len = c.base.len();
    cuts_around(&mut c, label, &bounds);
    cuts_in_pages(&mut c, label, 5);
    flip_all(&mut c, &format!("{label} file header"), 0..h.body as usize);
    for &o in &headers {
        let what = format!("{label} section header at {o:#x}");
        flip_all(&mut c, &what, o..o + 4); // id, flags
        for bit in [0u32, 1, 7, 8, 15, 20, 31, 40, 47, 63] {
            c.flip(&what, o + 8 + (bit / 8) as usize, bit % 8); // size
        }
        for s in [0u64, 1, len as u64, 0xffff_ffff_ffff, u64::MAX] {
            c.patch(format!("{what}: size {s:#x}"), o + 8, le64(s));
        }
    }
    // Compressed blocks and chunks that lie about their sizes.
    for (i, ch) in chunks.iter().enumerate().step_by(3) {
        let z = ch.zoffset as usize;
        let what = format!("{label} chunk {i} at {z:#x}");
        for v in [
            0u32,
            1,
            ch.size - 1,
            ch.size + 1,
            256 << 20,
            (256 << 20) + 1,
        ] {
            c.patch(format!("{what}: uncompressed size {v}"), z - 4, le32(v));
        }
        for v in [0u32, 1, ch.zsize - 1, ch.zsize + 1, u32::MAX] {
            c.patch(format!("{what}: compressed size {v}"), z - 8, le32(v));
        }
        for k in [0usize, 4, 13, ch.zsize as usize / 2, ch.zsize as usize - 1] {
            c.flip(&what, z + k, (k % 8) as u32);
        }
    }
    for &o in &chain {
        let s = section_header(&c.base, o, big).unwrap();
        if s.compressed() {
            let b = s.body as usize;
            for v in [0u32, 1, u32::MAX, 256 << 20] {
                c.patch(
                    format!("{label} options block: size {v:#x}"),
                    b + 4,
                    le32(v),
                );
                c.patch(format!("{label} options block: zsize {v:#x}"), b, le32(v));
            }
        }
    }
    // The header's first options offset.
    let fo = h.body as usize - 8;
    for v in [0u64, 1, fo as u64, headers[1] as u64, len as u64, u64::MAX] {
        c.patch(format!("{label} first options offset {v:#x}"), fo, le64(v));
    }
    let extra = flat_cases(label, &c.base, &recs);
    c.extend(extra);
    c
}

/// Cases on the flattened file: text flips, absurd formats, lying options.
fn flat_cases(label: &str, d: &[u8], recs: &[(u16, Vec<u8>)]) -> Corpus {
    let f = Flat::new(d);
    let mut c = Corpus::new(f.bytes.clone());
    let len = f.bytes.len() as u64;
    let hi = f.body(id::HEADER_INFO);
    let hp = hi.start + 20..hi.start + 20 + {
        let n = &f.bytes[hi.start + 12..hi.start + 20];
        u64::from_le_bytes(n.try_into().unwrap()) as usize
    };
    flip_sampled(&mut c, &format!("{label} flat header_page"), hp.clone(), 2);
    flip_sampled(&mut c, &format!("{label} flat header info"), hi.clone(), 11);
    let fe = f.body(id::FTRACE_EVENTS);
    let fbody = f.bytes[fe.clone()].to_vec();
    for (name, r) in ftrace_formats(&fbody) {
        let stride = if name == "name: function" { 2 } else { 97 };
        let r = fe.start + r.start..fe.start + r.end;
        flip_sampled(&mut c, &format!("{label} flat format {name:?}"), r, stride);
    }
    for sid in [id::EVENT_FORMATS, id::KALLSYMS, id::PRINTK, id::CMDLINES] {
        if f.bodies.iter().any(|b| b.0 == sid) {
            let r = f.body(sid);
            let stride = (r.len() / 40).max(1);
            flip_sampled(&mut c, &format!("{label} flat section {sid}"), r, stride);
        }
    }
    // Absurd header_page layouts.
    let hbody = f.bytes[hi.clone()].to_vec();
    let hp_text = String::from_utf8_lossy(&f.bytes[hp.clone()]).into_owned();
    for field in ["timestamp", "commit", "data"] {
        for key in ["offset", "size"] {
            for v in ABSURD {
                let t = set_field(&hp_text, field, key, v);
                let mut b = hbody[..12].to_vec();
                b.extend_from_slice(&(t.len() as u64).to_le_bytes());
                b.extend_from_slice(t.as_bytes());
                b.extend_from_slice(&hbody[20 + hp.len()..]);
                c.whole(
                    format!("{label} header_page {field} {key}:{v}"),
                    f.with_section(id::HEADER_INFO, 0, b.len() as u64, &b),
                );
            }
        }
    }
    // Absurd event formats.
    for (event, fields) in [
        (
            "function",
            &[
                "common_type",
                "common_pid",
                "common_flags",
                "ip",
                "parent_ip",
            ][..],
        ),
        ("funcgraph_entry", &["func", "depth"][..]),
        ("func_repeats", &["ip", "count", "top_delta_ts"][..]),
    ] {
        for field in fields {
            for key in ["offset", "size"] {
                for v in ABSURD {
                    let b = rewrite_format(&fbody, event, |t| set_field(t, field, key, v));
                    c.whole(
                        format!("{label} format {event} {field} {key}:{v}"),
                        f.with_section(id::FTRACE_EVENTS, 0, b.len() as u64, &b),
                    );
                }
            }
        }
        for (from, to) in [
            ("ID: 1\n", "ID: 99999999999999999999\n"),
            ("ID: ", "ID: -"),
            ("format:", "formad:"),
            ("print fmt:", "print fmt: \"%s%s%s%s%*.*d\""),
        ] {
            let b = rewrite_format(&fbody, event, |t| t.replacen(from, to, 1));
            c.whole(
                format!("{label} format {event}: {from:?} -> {to:?}"),
                f.with_section(id::FTRACE_EVENTS, 0, b.len() as u64, &b),
            );
        }
    }
    // Sections that lie about their size or are compressed with huge claims.
    let small = &fbody[..fbody.len().min(64)];
    for size in [0u64, 1, len, 0xffff_ffff_ffff, u64::MAX] {
        c.whole(
            format!("{label} plain kallsyms section size {size:#x}"),
            f.with_section(id::KALLSYMS, 0, size, small),
        );
    }
    let z = zstd::bulk::compress(&fbody, 3).unwrap();
    for claim in [
        0u32,
        fbody.len() as u32 - 1,
        fbody.len() as u32 + 1,
        256 << 20,
        (256 << 20) + 1,
        u32::MAX,
    ] {
        let mut b = le32(z.len() as u32);
        b.extend(le32(claim));
        b.extend_from_slice(&z);
        c.whole(
            format!("{label} compressed formats claiming {claim} bytes"),
            f.with_section(id::FTRACE_EVENTS, 1, b.len() as u64, &b),
        );
    }
    // A zstd block that really expands to 64 MiB of zeros is refused or read,
    // but the output is bounded by the declared size.
    let bomb = zstd::bulk::compress(&vec![0u8; 64 << 20], 3).unwrap();
    let mut b = le32(bomb.len() as u32);
    b.extend(le32(1000));
    b.extend_from_slice(&bomb);
    c.whole(
        format!("{label} zstd block expanding past its declared 1000 bytes"),
        f.with_section(id::KALLSYMS, 1, b.len() as u64, &b),
    );
    // Section offsets in the options: past the end, overlapping, huge.
    let hdr_at = f.bodies[0].1.start as u64 - 16;
    for sid in [
        id::HEADER_INFO,
        id::FTRACE_EVENTS,
        id::KALLSYMS,
        id::CMDLINES,
    ] {
        for o in [0u64, 1, hdr_at, hdr_at + 1, len - 1, len, u64::MAX] {
            c.whole(
                format!("{label} section {sid} at offset {o:#x}"),
                f.with_recs(|r| {
                    for (i, p) in r.iter_mut() {
                        if *i == sid {
                            *p = le64(o);
                        }
                    }
                }),
            );
        }
    }
    // BUFFER option: CPU data offsets and sizes that lie.
    let buf_idx = recs.iter().position(|r| r.0 == 3).expect("BUFFER option");
    let buf = recs[buf_idx].1.clone();
    let name_end = 8 + buf[8..].iter().position(|&x| x == 0).unwrap() + 1;
    let clock_end = name_end + buf[name_end..].iter().position(|&x| x == 0).unwrap() + 1;
    let count_at = clock_end + 4;
    let ncpu = u32::from_le_bytes(buf[count_at..count_at + 4].try_into().unwrap()) as usize;
    let entry = |i: usize| count_at + 4 + 20 * i;
    let mut variants: Vec<(String, Vec<u8>)> = Vec::new();
    let set = |b: &[u8], at: usize, v: &[u8]| {
        let mut b = b.to_vec();
        b[at..at + v.len()].copy_from_slice(v);
        b
    };
    for i in 0..ncpu {
        let e = entry(i);
        let off = u64::from_le_bytes(buf[e + 4..e + 12].try_into().unwrap());
        let other = u64::from_le_bytes(
            buf[entry((i + 1) % ncpu) + 4..entry((i + 1) % ncpu) + 12]
                .try_into()
                .unwrap(),
        );
        for o in [0u64, 1, off + 4, other, hdr_at, len, u64::MAX - 4] {
            variants.push((format!("CPU {i} offset {o:#x}"), set(&buf, e + 4, &le64(o))));
        }
        for s in [0u64, 4, 7, len, 0xffff_ffff_ffff, u64::MAX] {
            variants.push((format!("CPU {i} size {s:#x}"), set(&buf, e + 12, &le64(s))));
        }
        for cpu in [i as u32 + 1, 65535, 65536, u32::MAX] {
            variants.push((format!("CPU {i} id {cpu}"), set(&buf, e, &le32(cpu))));
        }
    }
    for n in [0u32, ncpu as u32 + 1, u32::MAX] {
        variants.push((format!("CPU count {n}"), set(&buf, count_at, &le32(n))));
    }
    for ps in [0u32, 1, 63, 4095, 1 << 25, u32::MAX] {
        variants.push((format!("page size {ps}"), set(&buf, clock_end, &le32(ps))));
    }
    variants.push(("cut".into(), buf[..buf.len() - 3].to_vec()));
    for o in [0u64, 1, len, u64::MAX] {
        variants.push((format!("buffer offset {o:#x}"), set(&buf, 0, &le64(o))));
    }
    for (what, b) in variants {
        c.whole(
            format!("{label} BUFFER {what}"),
            f.with_recs(|r| r[buf_idx].1 = b),
        );
    }
    // Options: truncated DONE, loops, a huge CPUCOUNT.
    c.whole(
        format!("{label} options: CPUCOUNT u32::MAX"),
        f.with_recs(|r| r.push((8, le32(u32::MAX)))),
    );
    c.whole(
        format!("{label} options: BUFFER_TEXT for the top buffer"),
        f.with_recs(|r| r[buf_idx].0 = 22),
    );
    c.whole(
        format!("{label} options: option of size u32::MAX"),
        f.with_recs(|r| r.push((5, Vec::new()))).tap_size(u32::MAX),
    );
    c
}

/// Helpers to make the last option record of a file lie about its size.
trait TapSize {
    fn tap_size(self, size: u32) -> Vec<u8>;
}

impl TapSize for Vec<u8> {
    /// The file from [`with_options`] whose last record (just before DONE)
    /// is empty: set its size field to `size`.
    fn tap_size(mut self, size: u32) -> Vec<u8> {
        // DONE record: id 2 + size 4 + payload 8 bytes at the very end;
        // the empty record before it is 6 bytes.
        let at = self.len() - 14 - 4;
        self[at..at + 4].copy_from_slice(&size.to_le_bytes());
        self
    }
}

#[test]
fn v6_corpus_never_panics_or_hangs() {
    let d = fixture("steady-6.1.v6.dat.zst");
    assert_eq!(events(&d), 17_310);
    check("steady-6.1.v6.dat", v6_corpus(d), 1000);
}

#[test]
fn v7_steady_corpus_never_panics_or_hangs() {
    let d = fixture("steady-6.1.v7.dat");
    assert_eq!(events(&d), 17_310);
    let f = Flat::new(&d);
    assert_eq!(events(&f.bytes), 17_310, "flattened copy reads the same");
    check("steady-6.1.v7.dat", v7_corpus("steady v7", d), 1000);
}

#[test]
fn v7_kaslr_corpus_never_panics_or_hangs() {
    let d = fixture("fileio-kaslr-6.12.v7.dat");
    let n = events(&d);
    assert!(n > 0);
    let f = Flat::new(&d);
    assert_eq!(events(&f.bytes), n, "flattened copy reads the same");
    check("fileio-kaslr-6.12.v7.dat", v7_corpus("kaslr v7", d), 1000);
}

/// Regression: a `header_page` field offset near `usize::MAX` wrapped the
/// layout check (`offset + 8 <= data offset`) and then sliced the page out of
/// bounds in `ring::page_header` (fixed in `header::parse_header_page`).
#[test]
fn regression_header_page_offset_near_usize_max_is_an_error() {
    let f = Flat::new(&fixture("steady-6.1.v7.dat"));
    let body = f.bytes[f.body(id::HEADER_INFO)].to_vec();
    let size = u64::from_le_bytes(body[12..20].try_into().unwrap()) as usize;
    let text = String::from_utf8_lossy(&body[20..20 + size]).into_owned();
    for field in ["timestamp", "commit"] {
        for v in ["18446744073709551608", "18446744073709551615"] {
            let t = set_field(&text, field, "offset", v);
            let mut b = body[..12].to_vec();
            b.extend(le64(t.len() as u64));
            b.extend_from_slice(t.as_bytes());
            b.extend_from_slice(&body[20 + size..]);
            let file = f.with_section(id::HEADER_INFO, 0, b.len() as u64, &b);
            match run_case(&file, Path::new("r.dat")) {
                Outcome::Err(e) => {
                    assert!(e.starts_with("r.dat: offset 0x"), "{e}");
                    assert!(e.contains("header_page layout"), "{e}");
                }
                Outcome::Ok(n) => panic!("{field} offset {v}: read {n} events"),
                Outcome::Panic(m) => panic!("{field} offset {v}: panic: {m}"),
            }
        }
    }
}
