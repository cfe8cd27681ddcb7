//! Events as `trace-cmd report` prints them, one line each.
//!
//! ```text
//!               sh-213   [000]    55.147819: function:             mutex_unlock
//! ```
//!
//! The layout is trace-cmd's: `%16s-%-5d [%03d]`, the timestamp as
//! `%5llu.%06llu` (microseconds, rounded) or `%5llu.%09llu` (`report -t`),
//! the event name followed by `": "` and padded to 20 characters, then the
//! body. `function` bodies are indented like libtraceevent's function plugin
//! does it: per CPU it remembers the chain of callers and indents a function
//! by three spaces per level of its caller in that chain, so the output
//! depends on the events printed before; a [`Dumper`] keeps that state.
//!
//! A [`Dumper`] prints `funcgraph_entry` lines in the nested form
//! (`func() {`); the [`DumpSink`] looks one event ahead and, as trace-cmd's
//! function_graph plugin does, folds an entry immediately followed by its
//! exit into one leaf line (`func();`).

use std::io::{self, Write};

use ingest::Event;

/// Output settings, like `trace-cmd report` options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DumpOptions {
    /// Nanosecond timestamps (`report -t`) instead of rounded microseconds.
    pub ns: bool,
    /// Show the caller of functions (`-O parent=1`).
    pub parent: bool,
    /// Indent functions by call depth (`-O indent=1`, trace-cmd's default).
    pub indent: bool,
}

impl Default for DumpOptions {
    fn default() -> DumpOptions {
        DumpOptions {
            ns: false,
            parent: false,
            indent: true,
        }
    }
}

/// A `trace-cmd report` line writer with the function plugin's indentation state.
#[derive(Clone, Debug, Default)]
pub struct Dumper {
    /// Settings.
    pub options: DumpOptions,
    /// Per CPU: the remembered caller chain (libtraceevent's `fstack`).
    stacks: Vec<Vec<String>>,
}

impl Dumper {
    /// A writer with `options`.
    pub fn new(options: DumpOptions) -> Dumper {
        Dumper {
            options,
            stacks: Vec::new(),
        }
    }

    /// Forget the indentation state (start of a new trace).
    pub fn reset(&mut self) {
        self.stacks.clear();
    }

    /// The function plugin's `add_and_get_index`: find `parent` in the CPU's
    /// chain (stale deeper entries included), record `child` after it, and
    /// return the parent's position; unknown parents restart the chain.
    fn index(&mut self, cpu: u32, parent: &str, child: Option<&str>) -> usize {
        let cpu = cpu as usize;
        if self.stacks.len() <= cpu {
            self.stacks.resize_with(cpu + 1, Vec::new);
        }
        let stack = &mut self.stacks[cpu];
        let set = |stack: &mut Vec<String>, pos: usize, name: &str| {
            if pos < stack.len() {
                stack[pos].clear();
                stack[pos].push_str(name);
            } else {
                stack.push(name.to_string());
            }
        };
        if let Some(i) = stack.iter().position(|s| s == parent) {
            if let Some(c) = child {
                set(stack, i + 1, c);
            }
            return i;
        }
        set(stack, 0, parent);
        if let Some(c) = child {
            set(stack, 1, c);
        }
        0
    }

    /// Everything before the body: `COMM-PID [CPU] TIME: EVENT: ` padded.
    fn write_head(&self, w: &mut impl Write, e: &Event<'_>) -> io::Result<()> {
        write!(w, "{:>16}-{:<5} [{:03}] ", e.comm, e.pid, e.cpu)?;
        write_time(w, e.ts_ns, self.options.ns)?;
        write!(w, ": {}: ", e.event)?;
        let pad = 20usize.saturating_sub(e.event.chars().count());
        write!(w, "{:pad$}", "")
    }

    /// Write one event as a line (with the trailing newline).
    pub fn write(&mut self, w: &mut impl Write, e: &Event<'_>) -> io::Result<()> {
        self.write_head(w, e)?;
        match e.event {
            "function" | "func_repeats" if e.ip.is_some() || e.function.is_some() => {
                self.function_body(w, e)?;
                if e.event == "func_repeats" {
                    write!(w, " (count: {}  last_ts: ", e.repeats.unwrap_or(0))?;
                    let last = e.calltime.map_or(e.ts_ns, |t| t as i64);
                    write_time(w, last, self.options.ns)?;
                    write!(w, ")")?;
                }
            }
            "funcgraph_entry" if e.depth.is_some() => {
                write!(w, "  ")?; // no overhead mark
                write!(w, "           |  ")?; // no duration
                write_graph_func(w, e, "() {")?;
            }
            "funcgraph_exit" if e.depth.is_some() => {
                let duration = match (e.calltime, e.rettime) {
                    (Some(c), Some(r)) => r.wrapping_sub(c),
                    _ => 0,
                };
                write_overhead(w, duration)?;
                write_duration(w, duration)?;
                write!(w, "{:1$}}}", "", e.depth.unwrap_or(0) as usize * 2)?;
            }
            _ => {
                if let Some(info) = e.info {
                    w.write_all(info.as_bytes())?;
                }
            }
        }
        writeln!(w)
    }

    fn function_body(&mut self, w: &mut impl Write, e: &Event<'_>) -> io::Result<()> {
        let mut index = 0;
        if let (Some(parent), true) = (e.parent, self.options.indent) {
            index = self.index(e.cpu, parent, e.function);
        }
        write!(w, "{:1$}", "", index * 3)?;
        write_sym(w, e.function, e.ip)?;
        if self.options.parent {
            write!(w, " <-- ")?;
            write_sym(w, e.parent, e.parent_ip)?;
        }
        Ok(())
    }
}

fn write_sym(w: &mut impl Write, name: Option<&str>, addr: Option<u64>) -> io::Result<()> {
    match name {
        Some(n) => w.write_all(n.as_bytes()),
        None => write!(w, "0x{:x}", addr.unwrap_or(0)),
    }
}

fn write_graph_func(w: &mut impl Write, e: &Event<'_>, tail: &str) -> io::Result<()> {
    write!(w, "{:1$}", "", e.depth.unwrap_or(0) as usize * 2)?;
    match e.function {
        Some(f) => write!(w, "{f}{tail}"),
        None => write!(w, "{:x}{tail}", e.ip.unwrap_or(0)),
    }
}

/// libtraceevent's `print_event_time` for `" %6.1000d"` (µs, rounded) or
/// `" %9.1d"` (ns).
fn write_time(w: &mut impl Write, ts_ns: i64, ns: bool) -> io::Result<()> {
    let ts = ts_ns as u64;
    let (time, prec, p10) = if ns {
        (ts, 9, 1_000_000_000u64)
    } else {
        (ts.wrapping_add(500) / 1000, 6, 1_000_000u64)
    };
    // libtraceevent 1.7 (Debian 12's trace-cmd) prints seconds and a
    // fraction for any nanosecond clock, also below one second.
    write!(w, "{:>5}.{:0prec$}", time / p10, time % p10, prec = prec)
}

/// trace-cmd's function-graph overhead mark.
fn write_overhead(w: &mut impl Write, duration: u64) -> io::Result<()> {
    let mark = if duration > 1_000_000_000 {
        "$ "
    } else if duration > 1_000_000 {
        "# "
    } else if duration > 100_000 {
        "! "
    } else if duration > 10_000 {
        "+ "
    } else {
        "  "
    };
    w.write_all(mark.as_bytes())
}

/// trace-cmd's function-graph duration column: `usecs.nsecs us ` padded, then `|  `.
fn write_duration(w: &mut impl Write, duration: u64) -> io::Result<()> {
    let usecs = (duration / 1000).to_string();
    let mut s = usecs.clone();
    if usecs.len() < 7 {
        s.push_str(&format!(".{:03}", duration % 1000));
    }
    let len = s.len();
    write!(w, "{s} us ")?;
    for _ in len..7 {
        w.write_all(b" ")?;
    }
    w.write_all(b"|  ")
}

/// A `funcgraph_entry` waiting for the next event, which decides whether it
/// prints as a leaf (`func();`, folded with its exit) or nested (`func() {`).
#[derive(Debug)]
struct PendingEntry {
    /// The nested line, complete.
    nested: Vec<u8>,
    /// The leaf line's head (up to the overhead mark) and tail (`func();`).
    head: Vec<u8>,
    tail: Vec<u8>,
    pid: i32,
    ip: Option<u64>,
    function: Option<String>,
    /// A loss notice for the next event, printed only if it is not folded.
    lost: Option<(u32, Option<u64>)>,
}

/// An event sink that prints every event to `W` (the `hap dump` command),
/// starting with trace-cmd's `cpus=N` line.
///
/// Like trace-cmd's function_graph plugin, a `funcgraph_entry` immediately
/// followed (in the merged order) by the `funcgraph_exit` of the same task
/// and function prints as one leaf line with the exit's duration, and the
/// exit is not printed; otherwise the entry prints nested.
#[derive(Debug)]
pub struct DumpSink<W: Write> {
    dumper: Dumper,
    out: W,
    pending: Option<PendingEntry>,
}

impl<W: Write> DumpSink<W> {
    /// Print to `out` with `options`.
    pub fn new(out: W, options: DumpOptions) -> DumpSink<W> {
        DumpSink {
            dumper: Dumper::new(options),
            out,
            pending: None,
        }
    }

    /// Flush and return the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.flush_pending()?;
        self.out.flush()?;
        Ok(self.out)
    }

    fn flush_pending(&mut self) -> io::Result<()> {
        if let Some(p) = self.pending.take() {
            self.out.write_all(&p.nested)?;
            if let Some((cpu, count)) = p.lost {
                write_lost(&mut self.out, cpu, count)?;
            }
        }
        Ok(())
    }

    fn hold_entry(&mut self, e: &Event<'_>) -> io::Result<()> {
        let mut nested = Vec::with_capacity(128);
        self.dumper.write(&mut nested, e)?;
        let mut head = Vec::with_capacity(80);
        self.dumper.write_head(&mut head, e)?;
        let mut tail = Vec::with_capacity(48);
        write_graph_func(&mut tail, e, "();")?;
        self.pending = Some(PendingEntry {
            nested,
            head,
            tail,
            pid: e.pid,
            ip: e.ip,
            function: e.function.map(str::to_string),
            lost: None,
        });
        Ok(())
    }

    fn on_event(&mut self, e: &Event<'_>) -> io::Result<()> {
        if let Some(p) = &self.pending {
            let same_func = match (p.ip, e.ip) {
                (Some(a), Some(b)) => a == b,
                _ => p.function.as_deref() == e.function,
            };
            if e.event == "funcgraph_exit" && e.depth.is_some() && e.pid == p.pid && same_func {
                let p = self.pending.take().expect("checked");
                let duration = match (e.calltime, e.rettime) {
                    (Some(c), Some(r)) => r.wrapping_sub(c),
                    _ => 0,
                };
                self.out.write_all(&p.head)?;
                write_overhead(&mut self.out, duration)?;
                write_duration(&mut self.out, duration)?;
                self.out.write_all(&p.tail)?;
                return writeln!(self.out);
            }
            self.flush_pending()?;
        }
        if e.event == "funcgraph_entry" && e.depth.is_some() {
            return self.hold_entry(e);
        }
        self.dumper.write(&mut self.out, e)
    }
}

fn write_lost(w: &mut impl Write, cpu: u32, count: Option<u64>) -> io::Result<()> {
    match count {
        Some(n) => writeln!(w, "CPU:{cpu} [{n} EVENTS DROPPED]"),
        None => writeln!(w, "CPU:{cpu} [EVENTS DROPPED]"),
    }
}

fn sink_err(e: io::Error) -> ingest::Error {
    ingest::Error::new(ingest::ErrorKind::Io(e))
}

impl<W: Write> ingest::EventSink for DumpSink<W> {
    fn begin(&mut self, info: &ingest::TraceInfo) -> Result<(), ingest::Error> {
        if let Some(cpus) = info.cpus {
            writeln!(self.out, "cpus={cpus}").map_err(sink_err)?;
        }
        Ok(())
    }

    fn event(&mut self, e: &Event<'_>) -> Result<(), ingest::Error> {
        self.on_event(e).map_err(sink_err)
    }

    /// trace-cmd's notice before the first event after a loss.
    fn lost(&mut self, cpu: u32, count: Option<u64>) -> Result<(), ingest::Error> {
        match &mut self.pending {
            Some(p) => {
                p.lost.get_or_insert((cpu, count));
                Ok(())
            }
            None => write_lost(&mut self.out, cpu, count).map_err(sink_err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn func<'a>(ts: i64, cpu: u32, f: &'a str, p: &'a str) -> Event<'a> {
        Event {
            ts_ns: ts,
            cpu,
            pid: 213,
            comm: "sh",
            event: "function",
            function: Some(f),
            parent: Some(p),
            ip: Some(1),
            parent_ip: Some(2),
            ..Event::default()
        }
    }

    fn line(d: &mut Dumper, e: &Event<'_>) -> String {
        let mut v = Vec::new();
        d.write(&mut v, e).unwrap();
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn layout_and_indent() {
        let mut d = Dumper::default();
        assert_eq!(
            line(&mut d, &func(55_147_819_262, 0, "mutex_unlock", "x")),
            "              sh-213   [000]    55.147819: function:             mutex_unlock\n"
        );
        // Child of the previous function: one level deeper.
        let l = line(&mut d, &func(55_147_955_326, 0, "f2", "mutex_unlock"));
        assert!(l.ends_with("function:                f2\n"), "{l:?}");
        // Back to the root caller.
        let l = line(&mut d, &func(55_147_960_000, 0, "f3", "x"));
        assert!(l.ends_with("function:             f3\n"), "{l:?}");
        d.options = DumpOptions {
            ns: true,
            parent: true,
            indent: false,
        };
        assert_eq!(
            line(&mut d, &func(55_148_370_192, 1, "a", "b")),
            "              sh-213   [001]    55.148370192: function:             a <-- b\n"
        );
    }

    #[test]
    fn other_events_and_small_times() {
        let e = Event {
            ts_ns: 66_860_931_000,
            cpu: 1,
            pid: 211,
            comm: "sh",
            event: "print",
            info: Some("tracing_mark_write: LAB-PHASE 1 start"),
            ..Event::default()
        };
        assert_eq!(
            line(&mut Dumper::default(), &e),
            "              sh-211   [001]    66.860931: print:                tracing_mark_write: LAB-PHASE 1 start\n"
        );
        // Below one second trace-cmd 3.1.6 still prints seconds and a
        // fraction (fixtures/dat/synthetic: 1000 ns is `0.000001`).
        let mut v = Vec::new();
        write_time(&mut v, 999_499, false).unwrap();
        write_time(&mut v, 1000, true).unwrap();
        assert_eq!(String::from_utf8(v).unwrap(), "    0.000999    0.000001000");
    }

    #[test]
    fn graph_lines() {
        let mut e = Event {
            ts_ns: 1_000_000_000_000,
            pid: 1,
            comm: "init",
            event: "funcgraph_exit",
            function: Some("f"),
            depth: Some(2),
            calltime: Some(100),
            rettime: Some(12_345 + 100),
            ..Event::default()
        };
        let l = line(&mut Dumper::default(), &e);
        assert!(
            l.ends_with("funcgraph_exit:       + 12.345 us  |      }\n"),
            "{l:?}"
        );
        e.event = "funcgraph_entry";
        let l = line(&mut Dumper::default(), &e);
        assert!(
            l.ends_with("funcgraph_entry:                   |      f() {\n"),
            "{l:?}"
        );
    }
}
