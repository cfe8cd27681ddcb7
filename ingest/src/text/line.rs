//! Parsing one event line of ftrace text into borrowed fields.
//!
//! Accepted layouts (real samples, from `/sys/kernel/tracing/trace`,
//! `trace_pipe` and `trace-cmd report`):
//!
//! ```text
//!               sh-277     [000] .....    68.800646: mutex_unlock <-rb_simple_write
//!               sh-277     [000]    68.800646: mutex_unlock <-rb_simple_write
//!            <...>-1234  (   1234) [000] d..1.  68.800646: do_sys_open <-do_syscall_64
//!               sh-213   [000]    55.147819: function:             mutex_unlock
//!               sh-213   [000]    55.148370: function:                mem_cgroup_from_task <-- handle_mm_fault
//!       sh-213     0d....    55.148370192: function:                mem_cgroup_from_task
//!      insmod-300   [001] .....   12.5: init_module [hello] <-do_one_initcall
//!      kworker/0:1-12 [000] d.s2.  3.1: sched_wakeup: comm=sh pid=5 prio=120 target_cpu=000
//! ```
//!
//! The task field (`COMM-PID`, where COMM may contain spaces and dashes) is
//! everything before the CPU field; the timestamp is the last token before the
//! first `": "` that follows the CPU field.

use crate::event::{Event, IrqFlags};

/// Byte offset of the first `": "` (faster than a substring search: `:` is rare).
fn find_colon_space(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut from = 0;
    while let Some(at) = find_byte(s, from, b':') {
        if b.get(at + 1) == Some(&b' ') {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// Byte offset of the first `byte` at or after `from`.
fn find_byte(s: &str, from: usize, byte: u8) -> Option<usize> {
    memchr::memchr(byte, &s.as_bytes()[from..]).map(|i| from + i)
}

/// Byte offset of the last ASCII space or tab.
fn rfind_space(s: &str) -> Option<usize> {
    memchr::memrchr2(b' ', b'\t', s.as_bytes())
}

/// Byte offset of the first ASCII space or tab.
fn find_space(s: &str) -> Option<usize> {
    memchr::memchr2(b' ', b'\t', s.as_bytes())
}

/// A parsed line.
// One is returned per input line and consumed at once; boxing the event
// would allocate once per line.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// An event.
    Event(Event<'a>),
    /// `CPU:N [LOST M EVENTS]`: the kernel or trace-cmd dropped M events.
    Lost(u64),
    /// A line that carries no event (comments, banners, blank lines).
    Skip,
}

/// Parse one line. `Err(())` means the line is not in any known layout.
pub fn parse_line(line: &str) -> Result<Line<'_>, ()> {
    let trimmed = line.trim_ascii_start();
    if trimmed.is_empty()
        || trimmed.starts_with('#')
        || trimmed.starts_with("cpus=")
        || (trimmed.starts_with("CPU ") && trimmed.ends_with(" is empty"))
    {
        return Ok(Line::Skip);
    }
    if let Some(n) = lost_events(trimmed) {
        return Ok(Line::Lost(n));
    }
    parse_event(line).map(Line::Event).ok_or(())
}

/// `CPU:0 [LOST 123 EVENTS]` → 123.
fn lost_events(line: &str) -> Option<u64> {
    let rest = line.strip_prefix("CPU:")?;
    let start = rest.find("[LOST ")? + "[LOST ".len();
    let rest = &rest[start..];
    let end = rest.find(" EVENTS]")?;
    rest[..end].trim().parse().ok()
}

/// Split a whole event line.
fn parse_event(line: &str) -> Option<Event<'_>> {
    let (task_end, cpu, flags_field, rest) = split_cpu(line)?;
    let (task, tgid) = split_tgid(&line[..task_end])?;
    let (comm, pid) = split_task(task)?;
    // `rest` is "[flags] timestamp: body"
    let colon = find_colon_space(rest)?;
    let before = rest[..colon].trim_ascii_end();
    let (flags_in_rest, ts_text) = match rfind_space(before) {
        Some(i) => (Some(before[..i].trim_ascii()), &before[i + 1..]),
        None => (None, before.trim_ascii_start()),
    };
    let ts_ns = parse_timestamp(ts_text)?;
    let flags_text = match (flags_field, flags_in_rest) {
        (Some(f), None) | (Some(f), Some("")) => Some(f),
        (None, Some(f)) if !f.is_empty() => Some(f),
        (None, _) => None,
        (Some(_), Some(_)) => return None,
    };
    let (flags, preempt_depth) = match flags_text {
        Some(f) => {
            let (fl, pd) = parse_flags(f)?;
            (Some(fl), pd)
        }
        None => (None, None),
    };
    let body = &rest[colon + 2..];
    let mut event = Event {
        ts_ns,
        cpu,
        pid,
        tgid,
        comm,
        flags,
        preempt_depth,
        ..Event::default()
    };
    fill_body(&mut event, body);
    Some(event)
}

/// Find the CPU field. Returns (end of the task field, cpu, latency flags
/// glued to the CPU if any, rest of line after the CPU field).
fn split_cpu(line: &str) -> Option<(usize, u32, Option<&str>, &str)> {
    let bytes = line.as_bytes();
    // Bracketed form: the first " [digits]" preceded by whitespace.
    let mut search = 0;
    while let Some(open) = find_byte(line, search, b'[') {
        let close = match find_byte(line, open, b']') {
            Some(c) => c,
            None => break,
        };
        let digits = &line[open + 1..close];
        if open > 0
            && bytes[open - 1].is_ascii_whitespace()
            && !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
        {
            let cpu = digits.parse().ok()?;
            return Some((open, cpu, None, &line[close + 1..]));
        }
        search = open + 1;
    }
    // Latency form (`trace-cmd report -l`): "COMM-PID  0d....  ts: ...": the
    // token after the task is CPU digits immediately followed by flags.
    let colon = find_colon_space(line)?;
    let head = line[..colon].trim_end();
    let ts_start = rfind_space(head)? + 1;
    let head = head[..ts_start].trim_end();
    let tok_start = rfind_space(head)? + 1;
    let tok = &head[tok_start..];
    let ndig = tok.bytes().take_while(|b| b.is_ascii_digit()).count();
    if ndig == 0 || ndig == tok.len() {
        return None;
    }
    let cpu = tok[..ndig].parse().ok()?;
    Some((tok_start, cpu, Some(&tok[ndig..]), &line[ts_start..]))
}

/// Strip an optional TGID column `(  1234)` or `(-------)` from the task field.
fn split_tgid(field: &str) -> Option<(&str, Option<i32>)> {
    let field = field.trim_ascii_end();
    if let Some(inner) = field.strip_suffix(')') {
        let open = inner.rfind('(')?;
        let tgid = inner[open + 1..].trim_ascii();
        let task = inner[..open].trim_ascii_end();
        let tgid = if tgid.bytes().all(|b| b == b'-') {
            None
        } else {
            Some(tgid.parse().ok()?)
        };
        return Some((task, tgid));
    }
    Some((field, None))
}

/// `  comm with-dash-123` → ("comm with-dash", 123).
fn split_task(task: &str) -> Option<(&str, i32)> {
    let task = task.trim_ascii_start();
    let dash = memchr::memrchr(b'-', task.as_bytes())?;
    let pid = task[dash + 1..].parse().ok()?;
    Some((&task[..dash], pid))
}

/// `68.800646` → 68_800_646_000 ns; `55.148370192` → 55_148_370_192 ns.
/// A timestamp without a fraction (counter clocks) is kept as the raw count.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let dot = b.iter().position(|&c| c == b'.');
    let (secs, frac) = match dot {
        Some(i) => (&b[..i], &b[i + 1..]),
        None => (b, &b[..0]),
    };
    if secs.is_empty() || frac.len() > 9 {
        return None;
    }
    let number = |digits: &[u8]| {
        digits.iter().try_fold(0i64, |n, &c| {
            let d = c.checked_sub(b'0').filter(|d| *d < 10)?;
            n.checked_mul(10)?.checked_add(i64::from(d))
        })
    };
    let secs = number(secs)?;
    if dot.is_none() {
        return Some(secs);
    }
    let mut ns = number(frac)?;
    for _ in frac.len()..9 {
        ns *= 10;
    }
    secs.checked_mul(1_000_000_000)?.checked_add(ns)
}

/// The irq-info column: `irqs-off, need-resched, hardirq/softirq,
/// preempt-depth[, migrate-disable]`, as printed by the kernel's
/// `trace_print_lat_fmt()`.
pub fn parse_flags(text: &str) -> Option<(IrqFlags, Option<u8>)> {
    let b = text.as_bytes();
    if !(4..=6).contains(&b.len()) {
        return None;
    }
    let irqs_off = match b[0] {
        b'd' | b'D' => true,
        b'.' | b'b' | b'X' => false,
        _ => return None,
    };
    let (hardirq, softirq, nmi) = match b[2] {
        b'Z' => (true, false, true),
        b'z' => (false, false, true),
        b'H' => (true, true, false),
        b'h' => (true, false, false),
        b's' => (false, true, false),
        b'.' => (false, false, false),
        _ => return None,
    };
    let preempt = match b[3] {
        b'.' => Some(0),
        c @ b'0'..=b'9' => Some(c - b'0'),
        c @ b'a'..=b'f' => Some(c - b'a' + 10),
        _ => return None,
    };
    Some((
        IrqFlags {
            irqs_off,
            hardirq,
            softirq,
            nmi,
        },
        preempt,
    ))
}

/// Fill event name, function, parent and module from the text after `ts: `.
fn fill_body<'a>(event: &mut Event<'a>, body: &'a str) {
    let body = body.trim_ascii();
    // trace-cmd report names the event ("function: name"); ftrace's function
    // tracer does not ("name <-parent").
    let first_end = find_space(body).unwrap_or(body.len());
    let (name, rest) = match body[..first_end].strip_suffix(':') {
        Some(name) => (name, body[first_end..].trim_ascii_start()),
        None => ("function", body),
    };
    event.event = name;
    if name != "function" {
        event.info = Some(rest);
        return;
    }
    // `options/func-repeats` appends "(repeats: N, last_ts: T)" to the line.
    let rest = match rest
        .ends_with(')')
        .then(|| rest.rfind(" (repeats:"))
        .flatten()
    {
        Some(i) => rest[..i].trim_ascii_end(),
        None => rest,
    };
    // " <-parent" (ftrace) or " <-- parent" (trace-cmd): `<` is rare, so
    // look for it and check its neighbours.
    let rb = rest.as_bytes();
    let mut arrow = None;
    let mut from = 0;
    while let Some(at) = find_byte(rest, from, b'<') {
        if at > 0 && rb[at - 1] == b' ' && rb.get(at + 1) == Some(&b'-') {
            arrow = Some(at - 1);
            break;
        }
        from = at + 1;
    }
    let (func, parent) = match arrow {
        Some(i) => (
            rest[..i].trim_ascii_end(),
            Some(rest[i + 3..].trim_start_matches('-').trim_ascii()),
        ),
        None => (rest, None),
    };
    let (func, module) = split_module(func);
    event.function = Some(func);
    event.module = module;
    event.parent = parent.map(|p| split_module(p).0);
}

/// `name [module]` → ("name", Some("module")).
pub(super) fn split_module(text: &str) -> (&str, Option<&str>) {
    if let Some(inner) = text.strip_suffix(']') {
        if let Some(open) = inner.rfind(" [") {
            return (inner[..open].trim_ascii_end(), Some(&inner[open + 2..]));
        }
    }
    (text, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(line: &str) -> Event<'_> {
        match parse_line(line) {
            Ok(Line::Event(e)) => e,
            other => panic!("not an event: {line:?} -> {other:?}"),
        }
    }

    #[test]
    fn ftrace_function_with_flags_and_parent() {
        let e =
            ev("              sh-277     [000] .....    68.800646: mutex_unlock <-rb_simple_write");
        assert_eq!(e.comm, "sh");
        assert_eq!(e.pid, 277);
        assert_eq!(e.cpu, 0);
        assert_eq!(e.ts_ns, 68_800_646_000);
        assert_eq!(e.event, "function");
        assert_eq!(e.function, Some("mutex_unlock"));
        assert_eq!(e.parent, Some("rb_simple_write"));
        assert_eq!(e.flags, Some(IrqFlags::default()));
        assert_eq!(e.preempt_depth, Some(0));
        assert_eq!(e.tgid, None);
    }

    #[test]
    fn ftrace_without_flags_or_parent() {
        let e = ev("              sh-277     [001]    68.800646: mutex_unlock");
        assert_eq!(
            (e.cpu, e.flags, e.parent, e.function),
            (1, None, None, Some("mutex_unlock"))
        );
    }

    #[test]
    fn tgid_column_and_comm_with_spaces_and_dashes() {
        let e = ev(
            "   Web Content-a-1234  (   1200) [003] d.h2.  68.800646: irq_enter <-common_interrupt",
        );
        assert_eq!(
            (e.comm, e.pid, e.tgid, e.cpu),
            ("Web Content-a", 1234, Some(1200), 3)
        );
        let f = e.flags.unwrap();
        assert!(f.irqs_off && f.hardirq && !f.softirq && !f.nmi);
        assert_eq!(e.preempt_depth, Some(2));
        let e = ev("           <...>-1234  (-------) [000] .....  1.000000001: f <-g");
        assert_eq!((e.comm, e.tgid, e.ts_ns), ("<...>", None, 1_000_000_001));
    }

    #[test]
    fn trace_cmd_report_layouts() {
        let e = ev("              sh-213   [000]    55.148370: function:                mem_cgroup_from_task <-- handle_mm_fault");
        assert_eq!(e.function, Some("mem_cgroup_from_task"));
        assert_eq!(e.parent, Some("handle_mm_fault"));
        assert_eq!(e.flags, None);
        let e = ev("      sh-213     0d....    55.148370192: function:                mem_cgroup_from_task");
        assert_eq!(
            (e.cpu, e.ts_ns, e.flags.unwrap().irqs_off),
            (0, 55_148_370_192, true)
        );
        let e = ev("      sh-213    12.Ns1.    55.148370192: function:   f");
        assert_eq!(
            (e.cpu, e.flags.unwrap().softirq, e.preempt_depth),
            (12, true, Some(1))
        );
    }

    #[test]
    fn modules_and_other_events() {
        let e = ev("      insmod-300   [001] .....   12.5: init_module [hello] <-do_one_initcall");
        assert_eq!(
            (e.function, e.module, e.ts_ns),
            (Some("init_module"), Some("hello"), 12_500_000_000)
        );
        let e = ev("  kworker/0:1-12 [000] d.s2.  3.100000: sched_wakeup: comm=sh pid=5 prio=120");
        assert_eq!(
            (e.comm, e.event, e.function),
            ("kworker/0:1", "sched_wakeup", None)
        );
        assert_eq!(e.info, Some("comm=sh pid=5 prio=120"));
        assert!(e.flags.unwrap().softirq);
    }

    #[test]
    fn func_repeats_suffix() {
        let e = ev("  sh-1 [000] ..... 1.000000: f <-g (repeats: 3, last_ts: 1.000002)");
        assert_eq!((e.function, e.parent), (Some("f"), Some("g")));
    }

    #[test]
    fn nmi_flags() {
        assert_eq!(
            parse_flags("dNZf.").unwrap().0,
            IrqFlags {
                irqs_off: true,
                hardirq: true,
                softirq: false,
                nmi: true
            }
        );
        assert_eq!(parse_flags("..z.").unwrap().1, Some(0));
        assert!(parse_flags("..q.").is_none());
    }

    #[test]
    fn banners_and_lost_events() {
        assert_eq!(parse_line("# tracer: function"), Ok(Line::Skip));
        assert_eq!(parse_line("cpus=2"), Ok(Line::Skip));
        assert_eq!(parse_line("CPU 1 is empty"), Ok(Line::Skip));
        assert_eq!(parse_line("CPU:1 [LOST 42 EVENTS]"), Ok(Line::Lost(42)));
        assert_eq!(parse_line(""), Ok(Line::Skip));
        assert_eq!(parse_line("garbage line"), Err(()));
        assert_eq!(parse_line("  sh-1 [000] ..... notatime: f <-g"), Err(()));
        assert_eq!(parse_line("  sh-x [000] ..... 1.0: f <-g"), Err(()));
    }

    #[test]
    fn timestamps_are_integer_exact() {
        assert_eq!(parse_timestamp("0.000001"), Some(1_000));
        assert_eq!(
            parse_timestamp("123456.999999999"),
            Some(123_456_999_999_999)
        );
        assert_eq!(parse_timestamp("42"), Some(42));
        assert_eq!(parse_timestamp("1.1234567890"), None);
        assert_eq!(parse_timestamp("-1.0"), None);
    }
}
