//! Which tasks are the workload: explicit pids and tgids, task names, the
//! children and threads they fork, and helper kernel threads named after them.
//!
//! The seed study's `set_ftrace_pid` lost forked children. Here a child is
//! followed (`--follow-forks`) from the trace itself:
//!
//! * `sched_process_fork` events (`… child_pid=N`) and `task_newtask` events
//!   (`pid=N …`, recorded in the parent's context) when the trace has them;
//! * otherwise, from the function calls of a fork: the parent calls
//!   `wake_up_new_task()`, and the child's first event is `schedule_tail()`
//!   (from `ret_from_fork`). Pending forks are matched to new children first
//!   in, first out;
//! * the TGID column, when the trace has it, puts every thread of a selected
//!   process in.
//!
//! Tracing tools (`trace-cmd`) are never the workload unless named by
//! `--comm` or `--pid`.

use std::collections::VecDeque;

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use ingest::Event;
use regex::Regex;

/// Task names excluded unless explicitly selected.
pub const TRACING_TOOLS: [&str; 1] = ["trace-cmd"];

/// Task selection criteria.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct TaskFilter {
    /// Thread ids (`--pid`).
    pub pids: Vec<i32>,
    /// Thread-group ids (`--tgid`).
    pub tgids: Vec<i32>,
    /// Task-name regexes (`--comm`).
    pub comms: Vec<Regex>,
    /// Follow children and threads of selected tasks (`--follow-forks`).
    pub follow_forks: bool,
    /// Helper threads named after a selected pid (`--include-threads`): a
    /// task whose name matches and whose first capture group (or first
    /// number) is a selected pid.
    pub include_threads: Vec<Regex>,
}

impl TaskFilter {
    /// True when no criterion narrows the selection: every task but the idle
    /// task and the tracing tools is the workload.
    pub fn is_everything(&self) -> bool {
        self.pids.is_empty() && self.tgids.is_empty() && self.comms.is_empty()
    }
}

/// Streaming task decisions; call [`Tasks::observe`] on every event in order.
#[derive(Debug)]
pub struct Tasks {
    filter: TaskFilter,
    /// Per pid: the comm the decision was made for, and the decision.
    decided: HashMap<i32, (Box<str>, bool)>,
    /// Pids selected through forks, tgids or threads (sticky).
    followed: HashSet<i32>,
    /// Forks whose child has not appeared yet: parent pids, oldest first.
    pending_forks: VecDeque<i32>,
    /// Pids seen so far.
    seen: HashSet<i32>,
    /// Selected pids, for `--include-threads`.
    selected: HashSet<i32>,
    /// The last event's pid and decision: consecutive events are mostly one task's.
    last: Option<(i32, Box<str>, bool)>,
}

impl Tasks {
    /// Start with `filter`.
    pub fn new(filter: TaskFilter) -> Tasks {
        Tasks {
            filter,
            decided: HashMap::default(),
            followed: HashSet::default(),
            pending_forks: VecDeque::new(),
            seen: HashSet::default(),
            selected: HashSet::default(),
            last: None,
        }
    }

    /// Pids selected so far (sorted).
    pub fn selected_pids(&self) -> Vec<i32> {
        let mut v: Vec<i32> = self.selected.iter().copied().collect();
        v.sort_unstable();
        v
    }

    /// Record what `e` says about forks, then decide whether its task is the workload.
    pub fn observe(&mut self, e: &Event<'_>) -> bool {
        // Fast path: the same task as the last event, and nothing fork-related.
        if let Some((pid, comm, d)) = &self.last {
            if *pid == e.pid && **comm == *e.comm && !self.filter.follow_forks && e.tgid.is_none() {
                return *d;
            }
        }
        let first_sight = self.seen.insert(e.pid);
        if self.filter.follow_forks {
            self.learn_forks(e, first_sight);
        }
        let selected = self.decide(e);
        if selected {
            self.selected.insert(e.pid);
        }
        match &mut self.last {
            Some((pid, comm, d)) if **comm == *e.comm => {
                *pid = e.pid;
                *d = selected;
            }
            last => *last = Some((e.pid, e.comm.into(), selected)),
        }
        selected
    }

    fn learn_forks(&mut self, e: &Event<'_>, first_sight: bool) {
        let parent_selected =
            |s: &Self, pid: i32| s.selected.contains(&pid) || s.followed.contains(&pid);
        // Only calls count: a function_graph exit also carries the function's name.
        let call = match e.event {
            "function" | "funcgraph_entry" => e.function,
            _ => None,
        };
        match (e.event, call) {
            ("sched_process_fork", _) => {
                if let (Some(parent), Some(child)) =
                    (field(e.info, "pid="), field(e.info, "child_pid="))
                {
                    if parent_selected(self, parent) || self.would_select(parent, e.comm) {
                        self.followed.insert(child);
                    }
                }
            }
            ("task_newtask", _) => {
                if let Some(child) = field(e.info, "pid=") {
                    if parent_selected(self, e.pid) || self.would_select(e.pid, e.comm) {
                        self.followed.insert(child);
                    }
                }
            }
            (_, Some("wake_up_new_task")) => self.pending_forks.push_back(e.pid),
            (_, Some("schedule_tail")) if first_sight => {
                if let Some(parent) = self.pending_forks.pop_front() {
                    if parent_selected(self, parent) {
                        self.followed.insert(e.pid);
                    }
                }
            }
            _ => {}
        }
        if let Some(tgid) = e.tgid {
            if tgid != e.pid && (self.followed.contains(&tgid) || self.selected.contains(&tgid)) {
                self.followed.insert(e.pid);
            }
        }
    }

    /// The explicit criteria only (no forks).
    fn would_select(&self, pid: i32, comm: &str) -> bool {
        let f = &self.filter;
        if f.is_everything() {
            return !TRACING_TOOLS.contains(&comm);
        }
        f.pids.contains(&pid) || f.comms.iter().any(|r| r.is_match(comm))
    }

    fn decide(&mut self, e: &Event<'_>) -> bool {
        if self.followed.contains(&e.pid) {
            return true;
        }
        if let Some((comm, d)) = self.decided.get(&e.pid) {
            if **comm == *e.comm {
                return *d;
            }
        }
        let f = &self.filter;
        let mut d =
            self.would_select(e.pid, e.comm) || e.tgid.is_some_and(|t| f.tgids.contains(&t));
        if !d && !f.include_threads.is_empty() {
            d = f.include_threads.iter().any(|r| {
                r.captures(e.comm).is_some_and(|c| {
                    let n = c
                        .get(1)
                        .or_else(|| c.get(0))
                        .map(|m| m.as_str())
                        .unwrap_or("");
                    let digits: String = n.chars().filter(char::is_ascii_digit).collect();
                    digits
                        .parse()
                        .is_ok_and(|p: i32| self.selected.contains(&p))
                })
            });
        }
        self.decided.insert(e.pid, (e.comm.into(), d));
        d
    }
}

/// `key=123` inside an event body.
fn field(info: Option<&str>, key: &str) -> Option<i32> {
    let info = info?;
    let mut start = 0;
    while let Some(i) = info[start..].find(key) {
        let at = start + i;
        // Whole-word match: `pid=` must not match inside `child_pid=`.
        if at == 0 || info.as_bytes()[at - 1] == b' ' {
            let rest = &info[at + key.len()..];
            let end = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            return rest[..end].parse().ok();
        }
        start = at + key.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call<'a>(pid: i32, comm: &'a str, f: &'a str) -> Event<'a> {
        Event {
            pid,
            comm,
            event: "function",
            function: Some(f),
            ..Event::default()
        }
    }

    fn comm_filter(re: &str, follow: bool) -> TaskFilter {
        TaskFilter {
            comms: vec![Regex::new(re).unwrap()],
            follow_forks: follow,
            ..TaskFilter::default()
        }
    }

    #[test]
    fn forks_are_followed_from_function_calls() {
        let mut t = Tasks::new(comm_filter("^redis-server$", true));
        assert!(t.observe(&call(214, "redis-server", "kernel_clone")));
        assert!(t.observe(&call(214, "redis-server", "wake_up_new_task")));
        assert!(!t.observe(&call(213, "sh", "wake_up_new_task")));
        // First child to appear belongs to the first pending fork (214's).
        assert!(t.observe(&call(217, "bio_close_file", "schedule_tail")));
        assert!(t.observe(&call(217, "bio_close_file", "vfs_write")));
        assert!(!t.observe(&call(218, "sh", "schedule_tail")));
        assert_eq!(t.selected_pids(), vec![214, 217]);
        // A function_graph exit of wake_up_new_task is not a second fork.
        let mut t = Tasks::new(comm_filter("^sh$", true));
        let entry = Event {
            event: "funcgraph_entry",
            ..call(1, "sh", "wake_up_new_task")
        };
        let exit = Event {
            event: "funcgraph_exit",
            ..call(1, "sh", "wake_up_new_task")
        };
        t.observe(&entry);
        t.observe(&exit);
        assert!(t.observe(&call(2, "sh", "schedule_tail")));
        assert!(!t.observe(&call(3, "x", "schedule_tail")));
        // Without --follow-forks the thread is not the workload.
        let mut t = Tasks::new(comm_filter("^redis-server$", false));
        t.observe(&call(214, "redis-server", "wake_up_new_task"));
        assert!(!t.observe(&call(217, "bio_close_file", "schedule_tail")));
    }

    #[test]
    fn fork_events_and_tgid() {
        let mut t = Tasks::new(TaskFilter {
            pids: vec![10],
            follow_forks: true,
            ..TaskFilter::default()
        });
        assert!(t.observe(&call(10, "a", "f")));
        let fork = Event {
            pid: 10,
            comm: "a",
            event: "sched_process_fork",
            info: Some("comm=a pid=10 child_comm=a child_pid=11"),
            ..Event::default()
        };
        t.observe(&fork);
        assert!(t.observe(&call(11, "a", "g")));
        let thread = Event {
            tgid: Some(10),
            ..call(12, "worker", "h")
        };
        assert!(t.observe(&thread));
        assert!(!t.observe(&call(13, "other", "h")));
        assert_eq!(
            field(Some("comm=a pid=10 child_comm=a child_pid=11"), "pid="),
            Some(10)
        );
    }

    #[test]
    fn tracing_tools_and_helper_threads() {
        let mut t = Tasks::new(TaskFilter::default());
        assert!(!t.observe(&call(5, "trace-cmd", "f")));
        assert!(t.observe(&call(6, "sh", "f")));
        let f = TaskFilter {
            pids: vec![300],
            include_threads: vec![Regex::new(r"^vhost-(\d+)$").unwrap()],
            ..TaskFilter::default()
        };
        let mut t = Tasks::new(f);
        assert!(t.observe(&call(300, "qemu", "f")));
        assert!(t.observe(&call(301, "vhost-300", "f")));
        assert!(!t.observe(&call(302, "vhost-999", "f")));
    }
}
