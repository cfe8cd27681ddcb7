//! Which events belong to the workload, and the set of unique functions they called.
//!
//! The seed study's scripts counted every function in the trace, including
//! interrupt handlers that merely happened to run on the workload's CPU.
//! [`Collector`] keeps only the selected tasks' process-context events and
//! says how many it excluded and why.

use std::collections::HashMap;

use ingest::{Event, EventSink};
use regex::Regex;

/// Which events count as the workload's.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Selection {
    /// Keep only these thread ids (empty: every task except the idle task).
    pub pids: Vec<i32>,
    /// Keep only tasks whose name matches one of these (empty: no name filter).
    pub comms: Vec<Regex>,
    /// Keep interrupt-context events (hardirq, softirq, NMI); default false.
    pub include_irq: bool,
}

impl Selection {
    /// A selection with the given filters.
    pub fn new(pids: Vec<i32>, comms: Vec<Regex>, include_irq: bool) -> Selection {
        Selection {
            pids,
            comms,
            include_irq,
        }
    }

    fn task_selected(&self, pid: i32, comm: &str) -> bool {
        let pid_ok = self.pids.is_empty() || self.pids.contains(&pid);
        let comm_ok = self.comms.is_empty() || self.comms.iter().any(|r| r.is_match(comm));
        pid_ok && comm_ok
    }
}

/// What the selection did to the events.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SelectStats {
    /// Every event read.
    pub events_total: u64,
    /// Function events kept as the workload's.
    pub events_kept: u64,
    /// Events of the idle task (pid 0).
    pub excluded_idle: u64,
    /// Events of tasks not selected by `--pid`/`--comm`.
    pub excluded_task: u64,
    /// Events in interrupt context (hardirq, softirq or NMI).
    pub excluded_irq: u64,
    /// Kept events whose trace shows no irq-context flags (could not be checked).
    pub irq_unknown: u64,
    /// Events other than `function` (not counted as functions).
    pub other_events: u64,
    /// Timestamp of the first kept event (0 if none).
    pub first_kept_ns: i64,
    /// Timestamp of the last kept event (0 if none).
    pub last_kept_ns: i64,
}

/// First and total occurrences of one traced function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionUse {
    /// Function name as traced (kallsyms name, e.g. `foo.isra.0`).
    pub name: String,
    /// Module, for `name [module]` functions.
    pub module: Option<String>,
    /// Kept events that called it.
    pub events: u64,
    /// Timestamp of its first kept event.
    pub first_ts_ns: i64,
    /// Index (0-based, among kept events) of its first kept event.
    pub first_event: u64,
}

/// An [`EventSink`] that gathers the workload's unique functions.
#[derive(Debug)]
pub struct Collector {
    selection: Selection,
    index: HashMap<Box<str>, usize>,
    functions: Vec<FunctionUse>,
    stats: SelectStats,
}

impl Collector {
    /// An empty collector for `selection`.
    pub fn new(selection: Selection) -> Collector {
        Collector {
            selection,
            index: HashMap::new(),
            functions: Vec::new(),
            stats: SelectStats::default(),
        }
    }

    /// The unique functions in order of first appearance, and the counters.
    pub fn finish(self) -> (Vec<FunctionUse>, SelectStats) {
        (self.functions, self.stats)
    }
}

impl EventSink for Collector {
    fn event(&mut self, e: &Event<'_>) -> Result<(), ingest::Error> {
        let s = &mut self.stats;
        s.events_total += 1;
        // A call is a `function` event or a function_graph entry; graph exits
        // and every other event are not calls.
        let name = match (e.event, e.function) {
            ("function" | "funcgraph_entry", Some(name)) => name,
            _ => {
                s.other_events += 1;
                return Ok(());
            }
        };
        if e.pid == 0 {
            s.excluded_idle += 1;
            return Ok(());
        }
        if !self.selection.task_selected(e.pid, e.comm) {
            s.excluded_task += 1;
            return Ok(());
        }
        match e.flags {
            Some(f) if f.in_interrupt() && !self.selection.include_irq => {
                s.excluded_irq += 1;
                return Ok(());
            }
            Some(_) => {}
            None => s.irq_unknown += 1,
        }
        let kept = s.events_kept;
        if kept == 0 {
            s.first_kept_ns = e.ts_ns;
        }
        s.last_kept_ns = e.ts_ns;
        s.events_kept += 1;
        // Key: the name, or `name [module]` for module functions. Look up by
        // borrowed key; allocate only for a function not seen before.
        let module_key;
        let key: &str = match e.module {
            None => name,
            Some(m) => {
                module_key = format!("{name} [{m}]");
                &module_key
            }
        };
        match self.index.get(key) {
            Some(&i) => self.functions[i].events += 1,
            None => {
                self.index.insert(key.into(), self.functions.len());
                self.functions.push(FunctionUse {
                    name: name.to_string(),
                    module: e.module.map(str::to_string),
                    events: 1,
                    first_ts_ns: e.ts_ns,
                    first_event: kept,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingest::IrqFlags;

    fn ev<'a>(pid: i32, comm: &'a str, f: &'a str, irq: bool) -> Event<'a> {
        Event {
            pid,
            comm,
            event: "function",
            function: Some(f),
            flags: Some(IrqFlags {
                hardirq: irq,
                ..IrqFlags::default()
            }),
            ..Event::default()
        }
    }

    #[test]
    fn excludes_idle_irq_and_unselected_tasks() {
        let sel = Selection::new(vec![], vec![Regex::new("^redis").unwrap()], false);
        let mut c = Collector::new(sel);
        for e in [
            ev(0, "<idle>", "do_idle", false),
            ev(5, "redis-server", "vfs_read", false),
            ev(5, "redis-server", "vfs_read", false),
            ev(5, "redis-server", "irq_enter", true),
            ev(6, "sh", "vfs_write", false),
            ev(7, "redis-cli", "vfs_write", false),
        ] {
            c.event(&e).unwrap();
        }
        let (funcs, stats) = c.finish();
        let names: Vec<_> = funcs
            .iter()
            .map(|f| (f.name.as_str(), f.events, f.first_event))
            .collect();
        assert_eq!(names, vec![("vfs_read", 2, 0), ("vfs_write", 1, 2)]);
        assert_eq!(
            stats,
            SelectStats {
                events_total: 6,
                events_kept: 3,
                excluded_idle: 1,
                excluded_task: 1,
                excluded_irq: 1,
                irq_unknown: 0,
                other_events: 0,
                first_kept_ns: 0,
                last_kept_ns: 0,
            }
        );
    }

    #[test]
    fn include_irq_keeps_interrupt_work() {
        let mut c = Collector::new(Selection::new(vec![5], vec![], true));
        c.event(&ev(5, "x", "irq_enter", true)).unwrap();
        c.event(&ev(6, "x", "other", false)).unwrap();
        let (funcs, stats) = c.finish();
        assert_eq!(funcs.len(), 1);
        assert_eq!((stats.excluded_irq, stats.excluded_task), (0, 1));
    }
}
