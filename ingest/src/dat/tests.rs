//! Whole-file tests on synthetic trace.dat files built byte by byte: v6 and
//! v7 (plain, zstd, zlib), both byte orders and kernel long sizes, merge
//! order, names, lost events, instances, damaged input.

use std::path::Path;

use super::{parse, Options};
use crate::event::{Event, TraceInfo};

/// One function record: (time delta, pid, ip, parent ip).
type Rec = (u32, i32, u64, u64);

#[derive(Clone, Copy)]
struct Spec {
    version: u32,
    big: bool,
    long: usize,
    compression: Option<&'static str>,
    /// function_graph records instead of function ones.
    graph: bool,
}

const PAGE: usize = 4096;

struct W {
    b: Vec<u8>,
    big: bool,
}

impl W {
    fn u16(&mut self, v: u16) {
        let a = if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.b.extend_from_slice(&a);
    }
    fn u32(&mut self, v: u32) {
        let a = if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.b.extend_from_slice(&a);
    }
    fn u64(&mut self, v: u64) {
        let a = if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.b.extend_from_slice(&a);
    }
    fn long(&mut self, v: u64, long: usize) {
        if long == 8 {
            self.u64(v)
        } else {
            self.u32(v as u32)
        }
    }
    fn raw(&mut self, s: &[u8]) {
        self.b.extend_from_slice(s);
    }
    fn set_u64(&mut self, at: usize, v: u64) {
        let a = if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.b[at..at + 8].copy_from_slice(&a);
    }
    fn pad_to(&mut self, align: usize) {
        while self.b.len() % align != 0 {
            self.b.push(0);
        }
    }
}

fn header_page(long: usize) -> String {
    format!(
        "\tfield: u64 timestamp;\toffset:0;\tsize:8;\tsigned:0;\n\
\tfield: local_t commit;\toffset:8;\tsize:{long};\tsigned:1;\n\
\tfield: int overwrite;\toffset:8;\tsize:1;\tsigned:1;\n\
\tfield: char data;\toffset:{};\tsize:{};\tsigned:1;\n",
        8 + long,
        PAGE - 8 - long
    )
}

const HEADER_EVENT: &str = "\ttype_len    :    5 bits\n\tpadding     : type == 29\n\
\ttime_extend : type == 30\n\ttime_stamp : type == 31\n\tdata max type_len  == 28\n";

fn function_format(long: usize) -> String {
    format!(
        "name: function\nID: 1\nformat:\n\
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;\n\
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;\n\
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\n\
\tfield:unsigned long ip;\toffset:8;\tsize:{long};\tsigned:0;\n\
\tfield:unsigned long parent_ip;\toffset:{};\tsize:{long};\tsigned:0;\n\n\
print fmt: \" %ps <-- %ps\", (void *)REC->ip, (void *)REC->parent_ip\n",
        8 + long
    )
}

/// kallsyms with addresses cut to the kernel's long size.
fn kallsyms(long: usize) -> String {
    let syms = [
        (0xffffffff81000000u64, "T start_kernel"),
        (0xffffffff81000100, "t do_work"),
        (0xffffffff81000200, "T helper"),
        (0xffffffffc0000000, "t mod_fn\t[mymod]"),
        (0xffffffffc0000100, "t mod_end\t[mymod]"),
    ];
    let mask = if long == 4 { 0xffff_ffff } else { u64::MAX };
    syms.iter()
        .map(|(a, rest)| format!("{:016x} {rest}\n", a & mask))
        .collect()
}
const CMDLINES: &str = "100 sh\n200 my task\n";

/// One page of function records; `lost` sets the missed-events flags with a stored count.
fn page(s: &Spec, ts: u64, recs: &[Rec], lost: Option<u64>) -> Vec<u8> {
    let mut w = W {
        b: Vec::new(),
        big: s.big,
    };
    let payload = 8 + 2 * s.long;
    w.u64(ts);
    let commit = (recs.len() * (4 + payload)) as u64;
    let flags = lost.map_or(0, |_| (1u64 << 31) | (1 << 30));
    w.long(commit | flags, s.long);
    for &(delta, pid, ip, parent) in recs {
        let type_len = (payload / 4) as u32;
        let word = if s.big {
            (type_len << 27) | delta
        } else {
            type_len | (delta << 5)
        };
        w.u32(word);
        w.u16(1); // common_type: function
        w.raw(&[1, 2]); // flags (irqs off), preempt count
        w.u32(pid as u32);
        w.long(ip, s.long);
        w.long(parent, s.long);
    }
    if let Some(n) = lost {
        w.long(n, s.long);
    }
    w.b.resize(PAGE, 0);
    w.b
}

/// CPU 0: two pages; CPU 1: one page with 7 lost events before it.
fn cpu_pages(s: &Spec) -> Vec<Vec<u8>> {
    if s.graph {
        return graph_pages(s);
    }
    let cpu0 = [
        page(
            s,
            1000,
            &[
                (0, 100, 0xffffffff81000000, 0xffffffff81000150),
                (10, 100, 0xffffffff81000200, 0xffffffff81000010),
            ],
            None,
        ),
        page(
            s,
            1020,
            &[(0, 5, 0xffffffffc0000000, 0xffffffff81000100)],
            None,
        ),
    ]
    .concat();
    let cpu1 = page(
        s,
        1000,
        &[
            (0, 200, 0xffffffff81000100, 0xffffffff81000000),
            (20, 0, 0x10, 0xffffffffc0000200),
        ],
        Some(7),
    );
    vec![cpu0, cpu1]
}

fn section(w: &mut W, id: u16, body: &[u8], s: &Spec) {
    w.u16(id);
    match s.compression {
        None => {
            w.u16(0);
            w.u32(0);
            w.u64(body.len() as u64);
            w.raw(body);
        }
        Some(alg) => {
            let z = compress(alg, body);
            w.u16(1);
            w.u32(0);
            w.u64(z.len() as u64 + 8);
            w.u32(z.len() as u32);
            w.u32(body.len() as u32);
            w.raw(&z);
        }
    }
}

fn compress(alg: &str, data: &[u8]) -> Vec<u8> {
    match alg {
        "zstd" => zstd::bulk::compress(data, 3).unwrap(),
        _ => {
            use std::io::Write;
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
    }
}

fn sized(w: &mut W, text: &str, eight: bool) {
    if eight {
        w.u64(text.len() as u64);
    } else {
        w.u32(text.len() as u32);
    }
    w.raw(text.as_bytes());
}

fn meta_bytes(s: &Spec, part: u16) -> Vec<u8> {
    let mut w = W {
        b: Vec::new(),
        big: s.big,
    };
    match part {
        16 => {
            w.raw(b"header_page\0");
            sized(&mut w, &header_page(s.long), true);
            w.raw(b"header_event\0");
            sized(&mut w, HEADER_EVENT, true);
        }
        17 if s.graph => {
            w.u32(3);
            sized(&mut w, &function_format(s.long), true);
            for f in graph_formats(s.long) {
                sized(&mut w, &f, true);
            }
        }
        17 => {
            w.u32(1);
            sized(&mut w, &function_format(s.long), true);
        }
        18 => w.u32(0),
        19 => sized(&mut w, &kallsyms(s.long), false),
        20 => w.u32(0),
        _ => sized(&mut w, CMDLINES, true),
    }
    w.b
}

/// Build a file. `instance` adds a second buffer named "inst" holding only CPU 1's data.
fn build(s: &Spec, instance: bool) -> Vec<u8> {
    let mut w = W {
        b: Vec::new(),
        big: s.big,
    };
    w.raw(b"\x17\x08\x44tracing");
    w.raw(format!("{}\0", s.version).as_bytes());
    w.raw(&[u8::from(s.big), s.long as u8]);
    w.u32(PAGE as u32);
    let pages = cpu_pages(s);
    if s.version == 6 {
        for part in 16..=21 {
            w.raw(&meta_bytes(s, part));
        }
        w.u32(2);
        w.raw(b"options  \0");
        let inst_opt_at = if instance {
            w.u16(3); // BUFFER
            w.u32(8 + 5);
            let at = w.b.len();
            w.u64(0); // patched below
            w.raw(b"inst\0");
            Some(at)
        } else {
            None
        };
        w.u16(0);
        w.raw(b"flyrecord\0");
        let table = w.b.len();
        for _ in 0..4 {
            w.u64(0);
        }
        let inst_table = inst_opt_at.map(|opt_at| {
            let here = w.b.len() as u64;
            w.set_u64(opt_at, here);
            w.raw(b"flyrecord\0");
            let t = w.b.len();
            for _ in 0..4 {
                w.u64(0);
            }
            t
        });
        w.pad_to(PAGE);
        for (cpu, p) in pages.iter().enumerate() {
            let at = w.b.len() as u64;
            w.set_u64(table + cpu * 16, at);
            w.set_u64(table + cpu * 16 + 8, p.len() as u64);
            if let (Some(t), 1) = (inst_table, cpu) {
                w.set_u64(t + 16, at);
                w.set_u64(t + 24, p.len() as u64);
            }
            w.raw(p);
        }
        return w.b;
    }
    w.raw(format!("{}\0{}\0", s.compression.unwrap_or("none"), "1").as_bytes());
    let first_opt = w.b.len();
    w.u64(0);
    let mut offsets = Vec::new();
    for part in 16..=21 {
        offsets.push((part, w.b.len() as u64));
        section(&mut w, part, &meta_bytes(s, part), s);
    }
    // CPU data: plain pages, or one chunk table per CPU.
    let mut cpu_at = Vec::new();
    w.pad_to(PAGE);
    let buf_section = w.b.len() as u64;
    w.u16(3);
    w.u16(u16::from(s.compression.is_some()));
    w.u32(0);
    w.u64(0);
    w.pad_to(PAGE);
    for p in &pages {
        let at = w.b.len() as u64;
        match s.compression {
            None => w.raw(p),
            Some(alg) => {
                let chunks: Vec<&[u8]> = p.chunks(PAGE).collect();
                w.u32(chunks.len() as u32);
                for c in chunks {
                    let z = compress(alg, c);
                    w.u32(z.len() as u32);
                    w.u32(c.len() as u32);
                    w.raw(&z);
                }
            }
        }
        cpu_at.push((at, w.b.len() as u64 - at));
    }
    // Options: sections and CPU count, then a second section with the buffers.
    let mut o1 = W {
        b: Vec::new(),
        big: s.big,
    };
    for (id, off) in offsets {
        o1.u16(id);
        o1.u32(8);
        o1.u64(off);
    }
    o1.u16(8);
    o1.u32(4);
    o1.u32(2);
    let buffer = |name: &str, cpus: &[(u32, u64, u64)]| {
        let mut b = W {
            b: Vec::new(),
            big: s.big,
        };
        b.u64(buf_section);
        b.raw(format!("{name}\0local\0").as_bytes());
        b.u32(PAGE as u32);
        b.u32(cpus.len() as u32);
        for &(cpu, off, size) in cpus {
            b.u32(cpu);
            b.u64(off);
            b.u64(size);
        }
        b.b
    };
    let mut o2 = W {
        b: Vec::new(),
        big: s.big,
    };
    let top = buffer(
        "",
        &[(0, cpu_at[0].0, cpu_at[0].1), (1, cpu_at[1].0, cpu_at[1].1)],
    );
    o2.u16(3);
    o2.u32(top.len() as u32);
    o2.raw(&top);
    if instance {
        let inst = buffer("inst", &[(1, cpu_at[1].0, cpu_at[1].1)]);
        o2.u16(3);
        o2.u32(inst.len() as u32);
        o2.raw(&inst);
    }
    o2.u16(0);
    o2.u32(8);
    o2.u64(0);
    let opt1_at = w.b.len();
    w.set_u64(first_opt, opt1_at as u64);
    let opt2_at = opt1_at + 16 + o1.b.len() + 14;
    let mut body = o1.b;
    let mut done = W {
        b: Vec::new(),
        big: s.big,
    };
    done.u16(0);
    done.u32(8);
    done.u64(opt2_at as u64);
    body.extend(done.b);
    w.u16(0);
    w.u16(0);
    w.u32(0);
    w.u64(body.len() as u64);
    w.raw(&body);
    assert_eq!(w.b.len(), opt2_at);
    w.u16(0);
    w.u16(0);
    w.u32(0);
    w.u64(o2.b.len() as u64);
    w.raw(&o2.b);
    w.b
}

type Row = (
    i64,
    u32,
    i32,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn read(
    data: &[u8],
    opts: &Options,
) -> Result<(Vec<Row>, TraceInfo, super::DatStats), crate::Error> {
    let mut rows = Vec::new();
    let mut info = TraceInfo::default();
    let mut sink = |e: &Event<'_>| {
        rows.push((
            e.ts_ns,
            e.cpu,
            e.pid,
            e.comm.to_string(),
            e.function.map(str::to_string),
            e.parent.map(str::to_string),
            e.module.map(str::to_string),
        ));
        Ok(())
    };
    let st = parse(data, Path::new("t.dat"), opts, &mut info, &mut sink)?;
    Ok((rows, info, st))
}

fn expected() -> Vec<Row> {
    let s = |v: &str| Some(v.to_string());
    vec![
        // Equal timestamps: CPU 0 before CPU 1.
        (
            1000,
            0,
            100,
            "sh".into(),
            s("start_kernel"),
            s("do_work"),
            None,
        ),
        (
            1000,
            1,
            200,
            "my task".into(),
            s("do_work"),
            s("start_kernel"),
            None,
        ),
        (
            1010,
            0,
            100,
            "sh".into(),
            s("helper"),
            s("start_kernel"),
            None,
        ),
        (
            1020,
            0,
            5,
            "<...>".into(),
            s("mod_fn"),
            s("do_work"),
            s("mymod"),
        ),
        // pid 0, an address before the first symbol, a parent past the last one.
        (1020, 1, 0, "<idle>".into(), None, None, None),
    ]
}

const SPECS: [Spec; 5] = [
    Spec {
        version: 6,
        big: false,
        long: 8,
        compression: None,
        graph: false,
    },
    Spec {
        version: 6,
        big: true,
        long: 4,
        compression: None,
        graph: false,
    },
    Spec {
        version: 7,
        big: false,
        long: 8,
        compression: None,
        graph: false,
    },
    Spec {
        version: 7,
        big: false,
        long: 8,
        compression: Some("zstd"),
        graph: false,
    },
    Spec {
        version: 7,
        big: true,
        long: 4,
        compression: Some("zlib"),
        graph: false,
    },
];

#[test]
fn all_layouts_give_the_same_events() {
    for s in SPECS {
        let f = build(&s, false);
        for seq in [false, true] {
            let (rows, info, st) = read(&f, &Options::default().with_sequential(seq))
                .unwrap_or_else(|e| {
                    panic!("v{} big={} {:?}: {e}", s.version, s.big, s.compression)
                });
            assert_eq!(
                rows,
                expected(),
                "v{} big={} {:?}",
                s.version,
                s.big,
                s.compression
            );
            assert_eq!(st.lost_events_per_cpu, vec![0, 7]);
            assert_eq!((st.cpus, st.pages, st.version), (2, 3, s.version));
            assert_eq!(info.lost_events, 7);
            assert_eq!(info.format, "trace-cmd-dat");
            assert_eq!(info.tracer.as_deref(), Some("function"));
            let has = |k: &str, v: &str| info.extra.iter().any(|(a, b)| a == k && b == v);
            assert!(has("dat.lost_cpu1", "7"), "{:?}", info.extra);
            assert!(has("dat.long_size", &s.long.to_string()));
        }
    }
}

#[test]
fn instances_are_selected_by_name() {
    for s in [SPECS[0], SPECS[3]] {
        let f = build(&s, true);
        let (rows, _, st) = read(&f, &Options::default().with_instance("inst")).unwrap();
        assert_eq!(rows.len(), 2);
        assert!(rows.iter().all(|r| r.1 == 1));
        assert_eq!(st.instances, vec!["inst".to_string()]);
        let (rows, _, _) = read(&f, &Options::default()).unwrap();
        assert_eq!(rows.len(), 5);
        let e = read(&f, &Options::default().with_instance("nope")).unwrap_err();
        assert!(
            e.to_string()
                .contains("Missing trace.dat instance \"nope\" (instances: inst)"),
            "{e}"
        );
    }
}

#[test]
fn truncated_cpu_data_is_an_error_naming_the_offset() {
    let f = build(&SPECS[0], false);
    let cut = &f[..f.len() - 100];
    let e = read(cut, &Options::default()).unwrap_err().to_string();
    assert!(e.starts_with("t.dat: offset 0x"), "{e}");
    assert!(e.contains("Invalid trace.dat CPU 1 data"), "{e}");
    let e = read(&f[..40], &Options::default()).unwrap_err().to_string();
    assert!(e.contains("Invalid trace.dat"), "{e}");
}

#[test]
fn damaged_page_delivers_earlier_events_then_fails() {
    // v6 ends with the CPU pages: CPU 0's second page is the last but one.
    let mut f = build(&SPECS[0], false);
    let second = f.len() - 2 * PAGE;
    f[second + 8..second + 16].copy_from_slice(&100_000u64.to_le_bytes());
    let mut seen = 0;
    let mut info = TraceInfo::default();
    let mut sink = |_: &Event<'_>| {
        seen += 1;
        Ok(())
    };
    let e = parse(
        &f,
        Path::new("t.dat"),
        &Options::default(),
        &mut info,
        &mut sink,
    )
    .unwrap_err();
    assert!(e.to_string().contains("commit 100000"), "{e}");
    assert_eq!(e.location, Some(crate::Location::Offset(second as u64 + 8)));
    assert_eq!(seen, 3);
}

#[test]
fn damaged_files_never_panic() {
    for s in [SPECS[1], SPECS[3]] {
        let f = build(&s, true);
        let opts = Options::default().with_sequential(true);
        for len in (0..f.len()).step_by(53) {
            let _ = read(&f[..len], &opts);
        }
        for i in (0..f.len()).step_by(7) {
            let mut g = f.clone();
            g[i] ^= 0xa5;
            let _ = read(&g, &opts);
            let _ = read(&g, &Options::default().with_instance("inst"));
        }
    }
}

/// File name of a synthetic layout: `v7-be-32-zlib.dat`.
fn synthetic_name(s: &Spec, instance: bool) -> String {
    format!(
        "v{}-{}-{}-{}{}{}.dat",
        s.version,
        if s.big { "be" } else { "le" },
        s.long * 8,
        s.compression.unwrap_or("plain"),
        if s.graph { "-graph" } else { "" },
        if instance { "-instance" } else { "" }
    )
}

/// Write every synthetic layout into `$HAP_SYNTHETIC_DIR`, for `trace-cmd
/// report` (the oracle, see `synthetic_files_match_trace_cmd`) and as fuzzing
/// seeds (scripts/fuzz.sh):
/// `HAP_SYNTHETIC_DIR=DIR cargo test -p hap-ingest write_synthetic_files -- --ignored`.
#[test]
#[ignore = "writes files; run by scripts/fuzz.sh"]
fn write_synthetic_files() {
    let dir = std::env::var_os("HAP_SYNTHETIC_DIR").expect("HAP_SYNTHETIC_DIR");
    let dir = Path::new(&dir);
    std::fs::create_dir_all(dir).unwrap();
    for s in synthetic_specs() {
        for instance in [false, true] {
            std::fs::write(dir.join(synthetic_name(&s, instance)), build(&s, instance)).unwrap();
        }
    }
    for s in GRAPH_SPECS {
        std::fs::write(dir.join(synthetic_name(&s, false)), build(&s, false)).unwrap();
    }
}

/// The layouts exported as files: every tested one, and big-endian 32-bit
/// v7 with zstd, which Debian's trace-cmd (built without zlib) can read.
fn synthetic_specs() -> Vec<Spec> {
    let mut specs = SPECS.to_vec();
    specs.push(Spec {
        version: 7,
        big: true,
        long: 4,
        compression: Some("zstd"),
        graph: false,
    });
    specs
}

/// The function_graph layout, exported as `v7-le-64-zstd-graph.dat` and
/// `v6-be-32-plain-graph.dat`.
const GRAPH_SPECS: [Spec; 2] = [
    Spec {
        version: 7,
        big: false,
        long: 8,
        compression: Some("zstd"),
        graph: true,
    },
    Spec {
        version: 6,
        big: true,
        long: 4,
        compression: None,
        graph: true,
    },
];

/// The function_graph formats of the 6.1 kernel (funcgraph_exit ID 10,
/// funcgraph_entry ID 11), with `unsigned long` cut to the kernel's size.
fn graph_formats(long: usize) -> [String; 2] {
    let common = "\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;\n\
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;\n\
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\n";
    let d = 8 + long;
    [
        format!(
            "name: funcgraph_exit\nID: 10\nformat:\n{common}\
\tfield:unsigned long func;\toffset:8;\tsize:{long};\tsigned:0;\n\
\tfield:int depth;\toffset:{d};\tsize:4;\tsigned:1;\n\
\tfield:unsigned int overrun;\toffset:{};\tsize:4;\tsigned:0;\n\
\tfield:unsigned long long calltime;\toffset:{};\tsize:8;\tsigned:0;\n\
\tfield:unsigned long long rettime;\toffset:{};\tsize:8;\tsigned:0;\n\n\
print fmt: \"<-- %ps (%d) (start: %llx  end: %llx) over: %d\", (void *)REC->func, REC->depth, REC->calltime, REC->rettime, REC->depth\n",
            d + 4,
            d + 8,
            d + 16
        ),
        format!(
            "name: funcgraph_entry\nID: 11\nformat:\n{common}\
\tfield:unsigned long func;\toffset:8;\tsize:{long};\tsigned:0;\n\
\tfield:int depth;\toffset:{d};\tsize:4;\tsigned:1;\n\n\
print fmt: \"--> %ps (%d)\", (void *)REC->func, REC->depth\n"
        ),
    ]
}

/// One function_graph record: (time delta, pid, entry?, func, depth,
/// calltime, rettime).
type GraphRec = (u32, i32, bool, u64, u32, u64, u64);

/// A page of function_graph records.
fn graph_page(s: &Spec, ts: u64, recs: &[GraphRec]) -> Vec<u8> {
    let mut w = W {
        b: Vec::new(),
        big: s.big,
    };
    w.u64(ts);
    let sizes: Vec<usize> = recs
        .iter()
        .map(|r| {
            let payload = if r.2 {
                8 + s.long + 4
            } else {
                8 + s.long + 8 + 16
            };
            payload.div_ceil(4) * 4
        })
        .collect();
    w.long(sizes.iter().map(|n| 4 + n).sum::<usize>() as u64, s.long);
    for (&(delta, pid, entry, func, depth, call, ret), &size) in recs.iter().zip(&sizes) {
        let type_len = (size / 4) as u32;
        w.u32(if s.big {
            (type_len << 27) | delta
        } else {
            type_len | (delta << 5)
        });
        w.u16(if entry { 11 } else { 10 });
        w.raw(&[0, 0]);
        w.u32(pid as u32);
        w.long(func, s.long);
        w.u32(depth);
        if !entry {
            w.u32(0); // overrun
            w.u64(call);
            w.u64(ret);
        }
        w.b.resize(
            w.b.len()
                + (size
                    - if entry {
                        8 + s.long + 4
                    } else {
                        8 + s.long + 24
                    }),
            0,
        );
    }
    w.b.resize(PAGE, 0);
    w.b
}

/// CPU 0: start_kernel() { helper(); do_work() { ... } } with a CPU 1 event
/// between do_work's entry and exit in time order; CPU 1: a leaf mod_fn().
fn graph_pages(s: &Spec) -> Vec<Vec<u8>> {
    let (sk, dw, hp, mf) = (
        0xffffffff81000000u64,
        0xffffffff81000100u64,
        0xffffffff81000200u64,
        0xffffffffc0000000u64,
    );
    let cpu0 = graph_page(
        s,
        2_000,
        &[
            (0, 100, true, sk, 0, 0, 0),
            (100, 100, true, hp, 1, 0, 0),
            (1_500, 100, false, hp, 1, 2_100, 3_600),
            (50, 100, true, dw, 1, 0, 0),
            (20_000, 100, false, dw, 1, 3_650, 23_650),
            (10, 100, false, sk, 0, 2_000, 23_660),
        ],
    );
    let cpu1 = graph_page(
        s,
        5_000,
        &[
            (0, 200, true, mf, 0, 0, 0),
            (200, 200, false, mf, 0, 5_000, 5_200),
        ],
    );
    vec![cpu0, cpu1]
}

/// The files under fixtures/dat/synthetic/ are what the writer makes today.
#[test]
fn committed_synthetic_files_are_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/dat/synthetic");
    let graph = GRAPH_SPECS.iter().map(|s| (*s, false));
    for (s, instance) in synthetic_specs()
        .into_iter()
        .flat_map(|s| [(s, false), (s, true)])
        .chain(graph)
    {
        {
            let name = synthetic_name(&s, instance);
            let committed = std::fs::read(dir.join(&name))
                .unwrap_or_else(|e| panic!("fixtures/dat/synthetic/{name}: {e}"));
            assert!(
                committed == build(&s, instance),
                "fixtures/dat/synthetic/{name} is stale: regenerate it (fixtures/README.md)"
            );
        }
    }
}
