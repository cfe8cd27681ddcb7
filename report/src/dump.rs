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
                let duration = graph_duration(e);
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

/// `rettime - calltime` of a `funcgraph_exit` (0 when the trace lacks them).
fn graph_duration(e: &Event<'_>) -> u64 {
    match (e.calltime, e.rettime) {
        (Some(c), Some(r)) => r.wrapping_sub(c),
        _ => 0,
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

/// A `funcgraph_entry` waiting for the next event of its buffer, which
/// decides whether it prints as a leaf (`func();`, folded with its exit) or
/// nested (`func() {`).
#[derive(Debug)]
struct PendingEntry {
    /// Its place in the output queue.
    slot: u64,
    /// Buffer prefix and loss notice printed before the line.
    before: Vec<u8>,
    /// The nested line, complete.
    nested: Vec<u8>,
    /// The leaf line's head (up to the overhead mark) and tail (`func();`).
    head: Vec<u8>,
    tail: Vec<u8>,
    pid: i32,
    ip: Option<u64>,
    function: Option<String>,
}

/// An event sink that prints every event to `W` (the `hap dump` command),
/// starting with trace-cmd's `cpus=N` line.
///
/// Like trace-cmd's function_graph plugin, a `funcgraph_entry` immediately
/// followed (in its buffer's merged order) by the `funcgraph_exit` of the
/// same task and function prints as one leaf line with the exit's duration,
/// and the exit is not printed; otherwise the entry prints nested. Lines after
/// an undecided entry wait in a queue, so the output order is the input order.
///
/// With several ring buffers ([`ingest::EventSink::buffers`]), each record is
/// prefixed like trace-cmd does: `NAME: ` for an instance, as many spaces for
/// the top buffer, right-aligned to the longest name.
#[derive(Debug)]
pub struct DumpSink<W: Write> {
    dumper: Dumper,
    out: W,
    /// Lines not yet written: `None` is an entry still undecided.
    queue: std::collections::VecDeque<Option<Vec<u8>>>,
    /// Position of `queue[0]` in the output.
    base: u64,
    /// Undecided entry per buffer.
    pending: Vec<Option<PendingEntry>>,
    /// Buffer names (empty: a single buffer, no prefixes) and their width.
    buffers: Vec<String>,
    width: usize,
    /// Buffer of the next event.
    current: usize,
    /// A loss notice for the next event.
    notice: Option<(u32, Option<u64>)>,
}

impl<W: Write> DumpSink<W> {
    /// Print to `out` with `options`.
    pub fn new(out: W, options: DumpOptions) -> DumpSink<W> {
        DumpSink {
            dumper: Dumper::new(options),
            out,
            queue: std::collections::VecDeque::new(),
            base: 0,
            pending: vec![None],
            buffers: Vec::new(),
            width: 0,
            current: 0,
            notice: None,
        }
    }

    /// Flush and return the writer.
    pub fn finish(mut self) -> io::Result<W> {
        for b in 0..self.pending.len() {
            if let Some(p) = self.pending[b].take() {
                let mut line = p.before;
                line.extend_from_slice(&p.nested);
                self.fill(p.slot, line)?;
            }
        }
        self.out.flush()?;
        Ok(self.out)
    }

    /// Buffer prefix and loss notice of the record being printed.
    fn before(&mut self) -> io::Result<Vec<u8>> {
        let mut v = Vec::new();
        if !self.buffers.is_empty() {
            match self.buffers[self.current].as_str() {
                "" => write!(v, "{:w$}  ", "", w = self.width)?,
                name => write!(v, "{name:>w$}: ", w = self.width)?,
            }
        }
        if let Some((cpu, count)) = self.notice.take() {
            write_lost(&mut v, cpu, count)?;
        }
        Ok(v)
    }

    /// Put `line` at output position `slot` and write what is ready.
    fn fill(&mut self, slot: u64, line: Vec<u8>) -> io::Result<()> {
        self.queue[(slot - self.base) as usize] = Some(line);
        while let Some(Some(_)) = self.queue.front() {
            let line = self.queue.pop_front().flatten().expect("checked");
            self.out.write_all(&line)?;
            self.base += 1;
        }
        Ok(())
    }

    /// Append a complete line (straight to the output when nothing waits).
    fn push(&mut self, line: Vec<u8>) -> io::Result<()> {
        if self.queue.is_empty() {
            return self.out.write_all(&line);
        }
        self.queue.push_back(Some(line));
        Ok(())
    }

    fn hold_entry(&mut self, e: &Event<'_>, before: Vec<u8>) -> io::Result<()> {
        let mut nested = Vec::with_capacity(128);
        self.dumper.write(&mut nested, e)?;
        let mut head = Vec::with_capacity(80);
        self.dumper.write_head(&mut head, e)?;
        let mut tail = Vec::with_capacity(48);
        write_graph_func(&mut tail, e, "();")?;
        let slot = self.base + self.queue.len() as u64;
        self.queue.push_back(None);
        self.pending[self.current] = Some(PendingEntry {
            slot,
            before,
            nested,
            head,
            tail,
            pid: e.pid,
            ip: e.ip,
            function: e.function.map(str::to_string),
        });
        Ok(())
    }

    fn on_event(&mut self, e: &Event<'_>) -> io::Result<()> {
        if let Some(p) = self.pending[self.current].take() {
            let same_func = match (p.ip, e.ip) {
                (Some(a), Some(b)) => a == b,
                _ => p.function.as_deref() == e.function,
            };
            let mut line = p.before;
            if e.event == "funcgraph_exit" && e.depth.is_some() && e.pid == p.pid && same_func {
                // trace-cmd consumes the exit (and any loss notice it carried).
                self.notice = None;
                let duration = graph_duration(e);
                line.extend_from_slice(&p.head);
                write_overhead(&mut line, duration)?;
                write_duration(&mut line, duration)?;
                line.extend_from_slice(&p.tail);
                line.push(b'\n');
                return self.fill(p.slot, line);
            }
            line.extend_from_slice(&p.nested);
            self.fill(p.slot, line)?;
        }
        let mut line = self.before()?;
        if e.event == "funcgraph_entry" && e.depth.is_some() {
            return self.hold_entry(e, line);
        }
        if line.is_empty() && self.queue.is_empty() {
            return self.dumper.write(&mut self.out, e);
        }
        self.dumper.write(&mut line, e)?;
        self.push(line)
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
        self.notice.get_or_insert((cpu, count));
        Ok(())
    }

    fn buffers(&mut self, names: &[String]) -> Result<(), ingest::Error> {
        self.width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
        self.buffers = names.to_vec();
        self.pending = names.iter().map(|_| None).collect();
        Ok(())
    }

    fn buffer(&mut self, index: usize) -> Result<(), ingest::Error> {
        if index < self.buffers.len() {
            self.current = index;
        }
        Ok(())
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

    /// Two buffers: an entry of `inst` waits for `inst`'s next event (its
    /// exit: one leaf line), while the top buffer's record in between is
    /// printed after it, in input order, each with its prefix (trace-cmd
    /// peeks the next record of the same buffer).
    #[test]
    fn graph_entries_wait_for_their_own_buffer() {
        use ingest::EventSink;
        let ev = |ts: i64, event: &'static str, f: &'static str| Event {
            ts_ns: ts,
            pid: 7,
            comm: "t",
            event,
            function: Some(f),
            ip: Some(if f == "a" { 0x10 } else { 0x20 }),
            depth: Some(0),
            calltime: Some(1_000_000_000),
            rettime: Some(1_000_000_500),
            ..Event::default()
        };
        let mut sink = DumpSink::new(Vec::new(), DumpOptions::default());
        sink.buffers(&["".to_string(), "inst".to_string()]).unwrap();
        sink.buffer(1).unwrap();
        sink.event(&ev(1_000_000_000, "funcgraph_entry", "a"))
            .unwrap();
        sink.buffer(0).unwrap();
        sink.lost(0, Some(3)).unwrap();
        sink.event(&ev(1_000_000_100, "funcgraph_entry", "b"))
            .unwrap();
        sink.buffer(1).unwrap();
        sink.event(&ev(1_000_000_500, "funcgraph_exit", "a"))
            .unwrap();
        let out = String::from_utf8(sink.finish().unwrap()).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3, "{out}");
        assert!(lines[0].starts_with("inst:                t-7     [000]     1.000000: funcgraph_entry:        0.500 us   |  a();"), "{out}");
        assert_eq!(lines[1], "      CPU:0 [3 EVENTS DROPPED]");
        // The prefix goes before the notice; the line after it has none.
        assert_eq!(
            lines[2],
            "               t-7     [000]     1.000000: funcgraph_entry:                   |  b() {"
        );
    }
}
