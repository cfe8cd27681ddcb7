//! Column names of the events schema (`docs/formats.md`), shared by the
//! Parquet writer and reader and by consumers that ask for columns by name.

/// Timestamp, integer nanoseconds (Int64).
pub const TS_NS: &str = "ts_ns";
/// CPU (UInt32).
pub const CPU: &str = "cpu";
/// Thread id (Int32).
pub const PID: &str = "pid";
/// Thread-group id (Int32, nullable).
pub const TGID: &str = "tgid";
/// Task name (String).
pub const COMM: &str = "comm";
/// Event name (String).
pub const EVENT: &str = "event";
/// Traced function (String, nullable).
pub const FUNCTION: &str = "function";
/// Caller (String, nullable).
pub const PARENT: &str = "parent";
/// Module of the traced function (String, nullable).
pub const MODULE: &str = "module";
/// Function address (UInt64, nullable).
pub const IP: &str = "ip";
/// Caller address (UInt64, nullable).
pub const PARENT_IP: &str = "parent_ip";
/// Interrupts disabled (Boolean, nullable).
pub const IRQS_OFF: &str = "irqs_off";
/// Hard interrupt context (Boolean, nullable).
pub const HARDIRQ: &str = "hardirq";
/// Softirq context (Boolean, nullable).
pub const SOFTIRQ: &str = "softirq";
/// NMI context (Boolean, nullable).
pub const NMI: &str = "nmi";
/// Preemption depth (UInt32, nullable).
pub const PREEMPT_DEPTH: &str = "preempt_depth";
/// Body of non-function events (String, nullable).
pub const INFO: &str = "info";
/// Call depth of function_graph events (UInt32, nullable).
pub const DEPTH: &str = "depth";
/// Entry time of a function_graph call, ns (UInt64, nullable).
pub const CALLTIME: &str = "calltime";
/// Return time of a function_graph call, ns (UInt64, nullable).
pub const RETTIME: &str = "rettime";
/// Repeat count of `func_repeats` (UInt32, nullable).
pub const REPEATS: &str = "repeats";
/// Every column, in schema order.
pub const ALL: [&str; 21] = [
    TS_NS,
    CPU,
    PID,
    TGID,
    COMM,
    EVENT,
    FUNCTION,
    PARENT,
    MODULE,
    IP,
    PARENT_IP,
    IRQS_OFF,
    HARDIRQ,
    SOFTIRQ,
    NMI,
    PREEMPT_DEPTH,
    INFO,
    DEPTH,
    CALLTIME,
    RETTIME,
    REPEATS,
];
