//! Which events belong to the workload, and the set of unique functions they called.
//!
//! The seed study's scripts counted every function in the trace, including
//! interrupt handlers that merely happened to run on the workload's CPU.
//! [`Collector`] keeps only the selected tasks' process-context events and
//! says how many it excluded and why.

use rustc_hash::FxHashMap as HashMap;

use ingest::{Event, EventSink};

use crate::tasks::{TaskFilter, Tasks};

/// A bound of the analysis window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    /// A trace timestamp, ns (as the trace prints it, e.g. `68.800646` s).
    Time(i64),
    /// An index among all events of the trace (0-based).
    Event(u64),
}

/// Which events count as the workload's.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Selection {
    /// Which tasks (every task but idle and tracing tools by default).
    pub tasks: TaskFilter,
    /// Keep interrupt-context events (hardirq, softirq, NMI); default false.
    pub include_irq: bool,
    /// Ignore events before this bound.
    pub from: Option<Bound>,
    /// Ignore events after this bound.
    pub to: Option<Bound>,
    /// Ignore the workload's events before its first system call.
    pub from_first_syscall: bool,
}

impl Selection {
    /// A selection of `tasks`, with or without interrupt context.
    pub fn new(tasks: TaskFilter, include_irq: bool) -> Selection {
        Selection {
            tasks,
            include_irq,
            ..Selection::default()
        }
    }

    /// The same selection limited to a window.
    pub fn with_window(
        mut self,
        from: Option<Bound>,
        to: Option<Bound>,
        from_first_syscall: bool,
    ) -> Selection {
        self.from = from;
        self.to = to;
        self.from_first_syscall = from_first_syscall;
        self
    }
}

/// Functions that end a system call on the way back to user space.
const SYSCALL_EXITS: [&str; 2] = [
    "syscall_exit_to_user_mode_prepare",
    "syscall_exit_to_user_mode",
];

/// Is `name` a system call's entry function?
pub fn is_syscall_entry(name: &str) -> bool {
    const PREFIXES: [&str; 6] = [
        "__x64_sys_",
        "__ia32_sys_",
        "__arm64_sys_",
        "__riscv_sys_",
        "__se_sys_",
        "__do_sys_",
    ];
    name == "x64_sys_call" || PREFIXES.iter().any(|p| name.starts_with(p))
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
    /// Events of tasks not selected (`--pid`, `--tgid`, `--comm`, forks, tracing tools).
    pub excluded_task: u64,
    /// Events outside the window (`--from`, `--to`, `--from-first-syscall`).
    pub excluded_window: u64,
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
    /// Its caller at the first kept event (the trace's parent column, or the
    /// enclosing call of a function_graph trace).
    pub caller: Option<String>,
    /// The system call it first ran under (`__x64_sys_read`, …), if any.
    pub syscall: Option<String>,
    /// Its runtime address, when the trace records one (trace.dat).
    pub ip: Option<u64>,
}

impl FunctionUse {
    /// The identity of a traced function: its name, or `name [module]`.
    pub fn key(&self) -> String {
        match &self.module {
            Some(m) => format!("{} [{m}]", self.name),
            None => self.name.clone(),
        }
    }
}

/// An [`EventSink`] that gathers the workload's unique functions.
#[derive(Debug)]
pub struct Collector {
    selection: Selection,
    /// Per pid: the system call in progress (entry function name).
    in_syscall: HashMap<i32, Box<str>>,
    /// Per task: names of the open function_graph calls, by depth (the
    /// graph tracer's depth is per task, so context switches keep it).
    graph_stacks: HashMap<i32, Vec<String>>,
    tasks: Tasks,
    started: bool,
    index: HashMap<Box<str>, usize>,
    /// Functions by address, for traces that record one (trace.dat): two
    /// static functions sharing a name stay apart.
    by_ip: HashMap<u64, usize>,
    functions: Vec<FunctionUse>,
    stats: SelectStats,
}

impl Collector {
    /// An empty collector for `selection`.
    pub fn new(selection: Selection) -> Collector {
        Collector {
            tasks: Tasks::new(selection.tasks.clone()),
            in_syscall: HashMap::default(),
            graph_stacks: HashMap::default(),
            started: !selection.from_first_syscall,
            selection,
            index: HashMap::default(),
            by_ip: HashMap::default(),
            functions: Vec::new(),
            stats: SelectStats::default(),
        }
    }

    /// The unique functions in order of first appearance, and the counters.
    pub fn finish(self) -> (Vec<FunctionUse>, SelectStats) {
        (self.functions, self.stats)
    }

    /// Pids selected as the workload so far (sorted).
    pub fn selected_pids(&self) -> Vec<i32> {
        self.tasks.selected_pids()
    }

    /// Follow system calls per task and function_graph nesting per CPU.
    fn track_calls(&mut self, e: &Event<'_>, name: &str) {
        if is_syscall_entry(name) && name != "x64_sys_call" {
            // `__x64_sys_read`, or `__do_sys_getpid` for argument-less calls
            // (their `__x64_sys_` wrapper is not traced), whichever comes first.
            self.in_syscall.entry(e.pid).or_insert_with(|| name.into());
        } else if SYSCALL_EXITS.contains(&name) {
            self.in_syscall.remove(&e.pid);
        }
        if let (Some(depth), "funcgraph_entry") = (e.depth, e.event) {
            let stack = self.graph_stacks.entry(e.pid).or_default();
            let d = depth as usize;
            if stack.len() <= d {
                stack.resize(d + 1, String::new());
            }
            stack[d].clear();
            stack[d].push_str(name);
            stack.truncate(d + 1);
        }
    }

    /// The caller of this call: the trace's parent, or the enclosing
    /// function_graph call (after [`Collector::track_calls`] saw the event).
    fn caller_of(&self, e: &Event<'_>) -> Option<String> {
        match (e.depth, e.event) {
            (Some(depth), "funcgraph_entry") => {
                let p = (depth as usize).checked_sub(1)?;
                let name = self.graph_stacks.get(&e.pid)?.get(p)?;
                (!name.is_empty()).then(|| name.clone())
            }
            _ => e.parent.map(str::to_string),
        }
    }

    fn in_window(&self, index: u64, ts_ns: i64) -> bool {
        let after = |b: Bound| match b {
            Bound::Time(t) => ts_ns >= t,
            Bound::Event(i) => index >= i,
        };
        let before = |b: Bound| match b {
            Bound::Time(t) => ts_ns <= t,
            Bound::Event(i) => index <= i,
        };
        self.selection.from.is_none_or(after) && self.selection.to.is_none_or(before)
    }
}

impl EventSink for Collector {
    fn event(&mut self, e: &Event<'_>) -> Result<(), ingest::Error> {
        let index = self.stats.events_total;
        self.stats.events_total += 1;
        let in_window = self.in_window(index, e.ts_ns);
        // Fork bookkeeping sees every event, even outside the window.
        let task_selected = e.pid != 0 && self.tasks.observe(e);
        // A call is a `function` event or a function_graph entry; graph exits
        // and every other event are not calls.
        let name = match (e.event, e.function) {
            ("function" | "funcgraph_entry", Some(name)) => name,
            _ => {
                self.stats.other_events += 1;
                return Ok(());
            }
        };
        if e.pid == 0 {
            self.stats.excluded_idle += 1;
            return Ok(());
        }
        if !task_selected {
            self.stats.excluded_task += 1;
            return Ok(());
        }
        self.track_calls(e, name);
        if !self.started && is_syscall_entry(name) {
            self.started = true;
        }
        if !in_window || !self.started {
            self.stats.excluded_window += 1;
            return Ok(());
        }
        match e.flags {
            Some(f) if f.in_interrupt() && !self.selection.include_irq => {
                self.stats.excluded_irq += 1;
                return Ok(());
            }
            Some(_) => {}
            None => self.stats.irq_unknown += 1,
        }
        let kept = self.stats.events_kept;
        if kept == 0 {
            self.stats.first_kept_ns = e.ts_ns;
        }
        self.stats.last_kept_ns = e.ts_ns;
        self.stats.events_kept += 1;
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
        let found = match e.ip {
            Some(ip) => self.by_ip.get(&ip),
            None => self.index.get(key),
        };
        match found {
            Some(&i) => self.functions[i].events += 1,
            None => {
                match e.ip {
                    Some(ip) => self.by_ip.insert(ip, self.functions.len()),
                    None => self.index.insert(key.into(), self.functions.len()),
                };
                self.functions.push(FunctionUse {
                    name: name.to_string(),
                    module: e.module.map(str::to_string),
                    events: 1,
                    first_ts_ns: e.ts_ns,
                    first_event: kept,
                    caller: self.caller_of(e),
                    syscall: self.in_syscall.get(&e.pid).map(|s| s.to_string()),
                    ip: e.ip,
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
        let tasks = TaskFilter {
            comms: vec![regex::Regex::new("^redis").unwrap()],
            ..TaskFilter::default()
        };
        let sel = Selection::new(tasks, false);
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
                excluded_window: 0,
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
        let tasks = TaskFilter {
            pids: vec![5],
            ..TaskFilter::default()
        };
        let mut c = Collector::new(Selection::new(tasks, true));
        c.event(&ev(5, "x", "irq_enter", true)).unwrap();
        c.event(&ev(6, "x", "other", false)).unwrap();
        let (funcs, stats) = c.finish();
        assert_eq!(funcs.len(), 1);
        assert_eq!((stats.excluded_irq, stats.excluded_task), (0, 1));
    }
}

#[cfg(test)]
mod window_tests {
    use super::*;

    fn call(i: i64, f: &str) -> Event<'_> {
        Event {
            pid: 7,
            comm: "w",
            event: "function",
            function: Some(f),
            ts_ns: i * 1000,
            ..Event::default()
        }
    }

    #[test]
    fn windows_and_first_syscall() {
        let names = [
            "exit_to_user_mode_prepare",
            "x64_sys_call",
            "__x64_sys_read",
            "vfs_read",
            "late",
        ];
        let run = |sel: Selection| {
            let mut c = Collector::new(sel);
            for (i, f) in names.iter().enumerate() {
                c.event(&call(i as i64, f)).unwrap();
            }
            let (funcs, stats) = c.finish();
            (
                funcs.into_iter().map(|f| f.name).collect::<Vec<_>>(),
                stats.excluded_window,
            )
        };
        let all = Selection::default();
        assert_eq!(
            run(all.clone().with_window(None, None, true)).0,
            ["x64_sys_call", "__x64_sys_read", "vfs_read", "late"]
        );
        assert_eq!(
            run(all
                .clone()
                .with_window(Some(Bound::Event(2)), Some(Bound::Event(3)), false)),
            (
                vec!["__x64_sys_read".to_string(), "vfs_read".to_string()],
                3
            )
        );
        assert_eq!(
            run(all.with_window(None, Some(Bound::Time(1000)), false)).0,
            ["exit_to_user_mode_prepare", "x64_sys_call"]
        );
    }
}
