//! The `function_graph` tracer's text, with or without the `funcgraph-abstime`
//! and `funcgraph-proc` columns.
//!
//! ```text
//!    10.262503 |   0)     sh-140     |               |  exit_to_user_mode_prepare() {
//!    10.262504 |   0)     sh-140     |   1.389 us    |    fpregs_assert_state_consistent();
//!    10.262507 |   0)     sh-140     |   4.673 us    |  }
//!    10.298637 |   0)     sh-140     | # 2372.429 us |  } /* x64_sys_call */
//!  0)     sh-140     =>   kworker-53          (context switch banner)
//! ```
//!
//! `name() {` and `name();` become `funcgraph_entry` events with their depth
//! (indentation / 2); `}` becomes `funcgraph_exit` with the function from the
//! per-CPU call stack (or the `/* name */` comment), its duration turned into
//! `calltime`/`rettime`.
//!
//! Interrupts have no flags column here: the kernel shows them inline, from
//! `irq_enter_rcu()`/`irq_enter()` to the end of `irq_exit_rcu()`/`irq_exit()`
//! at the same depth. Events in that window are marked `hardirq`, and those
//! under `irq_exit*` (softirq processing on irq exit) `softirq` as well, so the
//! interrupt subtree is excluded like flagged interrupt work.

use crate::event::{Event, IrqFlags};

use super::line::{parse_timestamp, split_module};

/// Per-CPU call stack and interrupt window.
#[derive(Debug, Default, Clone)]
struct CpuState {
    /// Open calls: (depth, function name).
    stack: Vec<(u32, String)>,
    /// Depth at which the current interrupt window began.
    irq_depth: Option<u32>,
    /// Inside `irq_exit*()`: softirq processing.
    in_irq_exit: bool,
}

/// State of a function_graph parse.
#[derive(Debug, Default)]
pub struct GraphParser {
    cpus: Vec<CpuState>,
    last_ts: i64,
    /// Name of the function the last `}` closed (events borrow it).
    exit_name: String,
}

/// CPU numbers at or above this are not CPUs (Linux allows at most 8192).
const MAX_CPUS: u32 = 1 << 16;

const IRQ_ENTER: [&str; 2] = ["irq_enter_rcu", "irq_enter"];
const IRQ_EXIT: [&str; 2] = ["irq_exit_rcu", "irq_exit"];

impl GraphParser {
    /// Parse one line: `Ok(None)` for banners and comments, `Err(())` if it is
    /// not in the function_graph layout.
    /// Names in the returned event borrow from `line` or from the parser's stack.
    pub fn parse_line<'a>(&'a mut self, line: &'a str) -> Result<Option<Event<'a>>, ()> {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') || t.starts_with("---") || t.contains(" => ") {
            return Ok(None);
        }
        let bar = line.rfind('|').ok_or(())?;
        let body = &line[bar + 1..];
        let mut fields: Vec<&str> = line[..bar].split('|').collect();
        // Leading TIME column (funcgraph-abstime), if it parses as a timestamp.
        let ts_ns = match fields.first().and_then(|f| parse_timestamp(f.trim())) {
            Some(ts) if fields.len() >= 2 => {
                fields.remove(0);
                self.last_ts = ts;
                ts
            }
            _ => self.last_ts,
        };
        // "  0)     sh-140     " [| duration] : CPU, then optional TASK-PID.
        let head = fields.first().ok_or(())?;
        let (cpu_text, rest) = head.trim_start().split_once(')').ok_or(())?;
        let cpu: u32 = cpu_text.trim().parse().map_err(|_| ())?;
        // The CPU number sizes the per-CPU table: refuse what no kernel has.
        if cpu >= MAX_CPUS {
            return Err(());
        }
        let (comm, pid) = match rest.trim() {
            "" => ("", -1),
            task => {
                let dash = task.rfind('-').ok_or(())?;
                (&task[..dash], task[dash + 1..].parse().map_err(|_| ())?)
            }
        };
        let duration_ns = fields.get(1).and_then(|d| parse_duration(d));
        // Function column: two spaces, then two per depth level.
        let indent = body.len() - body.trim_start().len();
        let depth = (indent.saturating_sub(2) / 2) as u32;
        let text = body.trim();
        if text.starts_with("/*") {
            return Ok(None); // trace_marker comment
        }
        if self.cpus.len() <= cpu as usize {
            self.cpus.resize(cpu as usize + 1, CpuState::default());
        }
        let st = &mut self.cpus[cpu as usize];
        let mut event = Event {
            ts_ns,
            cpu,
            pid,
            comm,
            depth: Some(depth),
            ..Event::default()
        };
        if let Some(rest) = text.strip_prefix('}') {
            let comment = rest
                .trim()
                .strip_prefix("/*")
                .and_then(|r| r.strip_suffix("*/"))
                .map(str::trim);
            while st.stack.last().is_some_and(|(d, _)| *d > depth) {
                st.stack.pop();
            }
            let popped = match st.stack.last() {
                Some((d, _)) if *d == depth => st.stack.pop().map(|(_, n)| n),
                _ => None,
            };
            event.flags = Some(irq_flags(st, depth));
            if let Some(irq_depth) = st.irq_depth {
                if depth == irq_depth && popped.as_deref().is_some_and(|n| IRQ_EXIT.contains(&n)) {
                    st.irq_depth = None;
                    st.in_irq_exit = false;
                }
            }
            event.event = "funcgraph_exit";
            if let Some(d) = duration_ns {
                event.rettime = Some(ts_ns as u64);
                event.calltime = Some((ts_ns as u64).saturating_sub(d));
            }
            // The name: the `/* name */` comment if printed, else the stack's.
            self.exit_name = popped.unwrap_or_default();
            event.function = match comment {
                Some(c) => Some(c),
                None if !self.exit_name.is_empty() => Some(self.exit_name.as_str()),
                None => None,
            };
            return Ok(Some(event));
        }
        let (name, leaf) = if let Some(n) = text.strip_suffix("() {") {
            (n, false)
        } else if let Some(n) = text.strip_suffix("();") {
            (n, true)
        } else {
            return Err(());
        };
        if st.irq_depth.is_none() && IRQ_ENTER.contains(&name) {
            st.irq_depth = Some(depth);
        }
        if st.irq_depth == Some(depth) && IRQ_EXIT.contains(&name) {
            st.in_irq_exit = true;
        }
        event.flags = Some(irq_flags(st, depth));
        if !leaf {
            st.stack.push((depth, split_module(name).0.to_string()));
        } else if let Some(d) = duration_ns {
            event.calltime = Some(ts_ns as u64);
            event.rettime = Some((ts_ns as u64).saturating_add(d));
        }
        event.event = "funcgraph_entry";
        // Module functions print as `name [module]()`.
        let (name, module) = split_module(name);
        event.function = Some(name);
        event.module = module;
        Ok(Some(event))
    }
}

fn irq_flags(st: &CpuState, depth: u32) -> IrqFlags {
    let inside = st.irq_depth.is_some_and(|d| depth >= d);
    IrqFlags {
        irqs_off: false,
        hardirq: inside,
        softirq: inside && st.in_irq_exit,
        nmi: false,
    }
}

/// `| ! 583.127 us  |` → 583_127 ns. Overhead marks (`+ ! # * @ $`) are ignored.
fn parse_duration(field: &str) -> Option<u64> {
    let t = field
        .trim()
        .trim_start_matches(['+', '!', '#', '*', '@', '$'])
        .trim();
    let num = t.strip_suffix("us")?.trim();
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    let int: u64 = int.parse().ok()?;
    let mut f: u64 = if frac.is_empty() {
        0
    } else {
        frac.parse().ok()?
    };
    for _ in frac.len()..3 {
        f *= 10;
    }
    int.checked_mul(1000)?.checked_add(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "   10.265172 |   0)     sh-140     |               |          security_bprm_check() {
   10.265176 |   0)     sh-140     |               |              __srcu_read_lock() {
   10.265208 |   0)     sh-140     |   2.265 us    |                irq_enter_rcu();
   10.265212 |   0)     sh-140     |               |                __sysvec_apic_timer_interrupt() {
   10.265235 |   0)     sh-140     |   1.268 us    |                  _raw_spin_lock_irqsave();
   10.265469 |   0)     sh-140     | ! 259.199 us  |                }
   10.265471 |   0)     sh-140     |               |                irq_exit_rcu() {
   10.265473 |   0)     sh-140     |               |                  handle_softirqs() {
   10.265479 |   0)     sh-140     |   1.317 us    |                    _raw_spin_lock_irq();
   10.265480 |   0)     sh-140     |   7.000 us    |                  }
   10.265481 |   0)     sh-140     |   9.000 us    |                }
   10.265482 |   0)     sh-140     |   1.000 us    |                rcu_read_unlock_strict();
   10.265490 |   0)     sh-140     | + 14.000 us   |              } /* __srcu_read_lock */
 ------------------------------------------
 0)     sh-140     =>   kworker-53  
   10.265500 |   0)     sh-140     | + 30.000 us   |          }
";

    #[test]
    fn entries_exits_depth_and_interrupt_window() {
        let mut p = GraphParser::default();
        let mut got = Vec::new();
        for l in SAMPLE.lines() {
            if let Some(e) = p.parse_line(l).unwrap() {
                let f = e.flags.unwrap();
                got.push((
                    e.event.to_string(),
                    e.function.unwrap_or("?").to_string(),
                    e.depth.unwrap(),
                    f.hardirq,
                    f.softirq,
                ));
            }
        }
        let want: Vec<(&str, &str, u32, bool, bool)> = vec![
            ("funcgraph_entry", "security_bprm_check", 4, false, false),
            ("funcgraph_entry", "__srcu_read_lock", 6, false, false),
            ("funcgraph_entry", "irq_enter_rcu", 7, true, false),
            (
                "funcgraph_entry",
                "__sysvec_apic_timer_interrupt",
                7,
                true,
                false,
            ),
            ("funcgraph_entry", "_raw_spin_lock_irqsave", 8, true, false),
            (
                "funcgraph_exit",
                "__sysvec_apic_timer_interrupt",
                7,
                true,
                false,
            ),
            ("funcgraph_entry", "irq_exit_rcu", 7, true, true),
            ("funcgraph_entry", "handle_softirqs", 8, true, true),
            ("funcgraph_entry", "_raw_spin_lock_irq", 9, true, true),
            ("funcgraph_exit", "handle_softirqs", 8, true, true),
            ("funcgraph_exit", "irq_exit_rcu", 7, true, true),
            ("funcgraph_entry", "rcu_read_unlock_strict", 7, false, false),
            ("funcgraph_exit", "__srcu_read_lock", 6, false, false),
            ("funcgraph_exit", "security_bprm_check", 4, false, false),
        ];
        let got: Vec<_> = got
            .iter()
            .map(|(a, b, c, d, e)| (a.as_str(), b.as_str(), *c, *d, *e))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn durations_and_timestamps() {
        let mut p = GraphParser::default();
        let l = "   10.298637 |   0)     sh-140     | # 2372.429 us |  } /* x64_sys_call */";
        match p.parse_line(l).unwrap() {
            Some(e) => {
                assert_eq!(
                    (e.ts_ns, e.pid, e.comm, e.function),
                    (10_298_637_000, 140, "sh", Some("x64_sys_call"))
                );
                assert_eq!(
                    (e.calltime, e.rettime),
                    (Some(10_298_637_000 - 2_372_429), Some(10_298_637_000))
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(parse_duration(" * 23431.01 us "), Some(23_431_010));
        assert!(p.parse_line("garbage").is_err());
        let l =
            "   10.3 |   1)   mkdir-141    |   2.000 us    |      virtblk_add_req [virtio_blk]();";
        match p.parse_line(l).unwrap() {
            Some(e) => assert_eq!(
                (e.function, e.module, e.depth),
                (Some("virtblk_add_req"), Some("virtio_blk"), Some(2))
            ),
            other => panic!("{other:?}"),
        }
    }
}
