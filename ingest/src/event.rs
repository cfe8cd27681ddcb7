//! The event model shared by every input format and every consumer.
//!
//! Parsers never build owned rows: they hand each event to an [`EventSink`] as
//! borrowed pieces of the input line or page, so a consumer that only needs
//! the set of unique functions (analysis) pays nothing for columns it ignores,
//! and the Parquet writer copies each field exactly once.

/// Interrupt-context flags of one event, as recorded by the kernel in the
/// common `flags` byte (`TRACE_FLAG_*`) and shown in the text "irq-info"
/// column.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IrqFlags {
    /// Interrupts were disabled (`d` or `D`).
    pub irqs_off: bool,
    /// Running in hard interrupt context (`h`, `H` or `Z`).
    pub hardirq: bool,
    /// Running in softirq context (`s` or `H`).
    pub softirq: bool,
    /// Running in NMI context (`z` or `Z`).
    pub nmi: bool,
}

impl IrqFlags {
    /// True when the event ran in any interrupt context (hardirq, softirq or NMI).
    pub fn in_interrupt(&self) -> bool {
        self.hardirq || self.softirq || self.nmi
    }
}

/// One trace event, borrowing its strings from the parser's buffer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Event<'a> {
    /// Timestamp in nanoseconds of the trace clock (integer, never parsed as a float).
    pub ts_ns: i64,
    /// CPU the event was recorded on.
    pub cpu: u32,
    /// Thread id (kernel "pid") of the task that was running.
    pub pid: i32,
    /// Thread-group id, when the trace shows it (`options/record-tgid`).
    pub tgid: Option<i32>,
    /// Task name as the trace shows it (may be `<...>` when unknown).
    pub comm: &'a str,
    /// Event name: `function` for the function tracer, else the trace event's name.
    pub event: &'a str,
    /// Traced kernel function (for `function` events), without its module suffix.
    pub function: Option<&'a str>,
    /// Caller of the traced function, when the trace shows it.
    pub parent: Option<&'a str>,
    /// Module of the traced function (`name [module]` in text traces).
    pub module: Option<&'a str>,
    /// Instruction pointer of the traced function, when the trace has addresses.
    pub ip: Option<u64>,
    /// Instruction pointer of the caller, when the trace has addresses.
    pub parent_ip: Option<u64>,
    /// Interrupt-context flags, when the trace shows them.
    pub flags: Option<IrqFlags>,
    /// Preemption depth, when the trace shows it.
    pub preempt_depth: Option<u8>,
    /// The printed body of events other than `function`, kept verbatim.
    pub info: Option<&'a str>,
    /// Call depth (`funcgraph_entry`/`funcgraph_exit`).
    pub depth: Option<u32>,
    /// Entry time of the call, ns (`funcgraph_exit`).
    pub calltime: Option<u64>,
    /// Return time of the call, ns (`funcgraph_exit`).
    pub rettime: Option<u64>,
    /// Repeat count (`func_repeats`, or a `funcgraph_exit` overrun count).
    pub repeats: Option<u32>,
    /// The reader's ids of the names above, for consumers that memoize per name.
    pub ids: NameIds,
}

/// "No id": the reader has none for this name.
pub const NO_ID: u32 = u32::MAX;

/// Small integers a reader gives the names of an event, so that a consumer
/// can remember what it made of a name by index instead of hashing the
/// string: within one read, the same id always comes with the same name
/// (a trace.dat reader uses its kallsyms, cmdlines and format tables'
/// indexes). [`NO_ID`] where the reader has none (text traces).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NameIds {
    /// Id of `comm`.
    pub comm: u32,
    /// Id of `event`.
    pub event: u32,
    /// Id of the symbol `function` and `ip` come from.
    pub function: u32,
    /// Id of the symbol `parent` and `parent_ip` come from.
    pub parent: u32,
    /// Id of `module` (a trace.dat reader gives the symbol's, as for `function`).
    pub module: u32,
}

impl Default for NameIds {
    fn default() -> NameIds {
        NameIds {
            comm: NO_ID,
            event: NO_ID,
            function: NO_ID,
            parent: NO_ID,
            module: NO_ID,
        }
    }
}

/// Facts about a whole trace file, stored as Parquet key-value metadata.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TraceInfo {
    /// Input format: `ftrace-text`, `trace-cmd-report` or `trace-pipe`.
    pub format: String,
    /// Tracer named in the header (`# tracer: function`), if any.
    pub tracer: Option<String>,
    /// Number of CPUs (`#P:N` or `cpus=N`), if stated.
    pub cpus: Option<u32>,
    /// Entries the kernel wrote, from `entries-in-buffer/entries-written`.
    pub entries_written: Option<u64>,
    /// Entries still in the buffer, from `entries-in-buffer/entries-written`.
    pub entries_in_buffer: Option<u64>,
    /// Events reported lost by `CPU:N [LOST M EVENTS]` lines.
    pub lost_events: u64,
    /// File name of the source trace (no directory).
    pub source_name: String,
    /// SHA-256 of the source file's bytes as stored (before decompression), hex.
    pub source_sha256: String,
    /// Compression of the source file: `none`, `gzip` or `zstd`.
    pub source_compression: String,
    /// Format-specific facts (e.g. trace.dat options), stored as `hap.<key>`.
    pub extra: Vec<(String, String)>,
}

impl TraceInfo {
    /// Entries the kernel dropped because the ring buffer was full
    /// (`entries-written - entries-in-buffer`), if the header said.
    pub fn entries_lost(&self) -> Option<u64> {
        Some(
            self.entries_written?
                .saturating_sub(self.entries_in_buffer?),
        )
    }

    /// The facts as key-value pairs, keys prefixed `hap.`.
    pub fn to_key_values(&self) -> Vec<(String, String)> {
        let mut kv = vec![
            ("hap.format".to_string(), self.format.clone()),
            ("hap.source_name".to_string(), self.source_name.clone()),
            ("hap.source_sha256".to_string(), self.source_sha256.clone()),
            (
                "hap.source_compression".to_string(),
                self.source_compression.clone(),
            ),
            ("hap.lost_events".to_string(), self.lost_events.to_string()),
        ];
        let mut opt = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                kv.push((format!("hap.{k}"), v));
            }
        };
        opt("tracer", self.tracer.clone());
        opt("cpus", self.cpus.map(|v| v.to_string()));
        opt(
            "entries_written",
            self.entries_written.map(|v| v.to_string()),
        );
        opt(
            "entries_in_buffer",
            self.entries_in_buffer.map(|v| v.to_string()),
        );
        opt("entries_lost", self.entries_lost().map(|v| v.to_string()));
        kv.extend(
            self.extra
                .iter()
                .map(|(k, v)| (format!("hap.{k}"), v.clone())),
        );
        kv
    }

    /// Rebuild the facts from key-value pairs written by [`TraceInfo::to_key_values`].
    pub fn from_key_values<'a>(kv: impl IntoIterator<Item = (&'a str, &'a str)>) -> TraceInfo {
        let mut info = TraceInfo::default();
        for (k, v) in kv {
            match k {
                "hap.format" => info.format = v.to_string(),
                "hap.source_name" => info.source_name = v.to_string(),
                "hap.source_sha256" => info.source_sha256 = v.to_string(),
                "hap.source_compression" => info.source_compression = v.to_string(),
                "hap.lost_events" => info.lost_events = v.parse().unwrap_or(0),
                "hap.tracer" => info.tracer = Some(v.to_string()),
                "hap.cpus" => info.cpus = v.parse().ok(),
                "hap.entries_written" => info.entries_written = v.parse().ok(),
                "hap.entries_in_buffer" => info.entries_in_buffer = v.parse().ok(),
                "hap.entries_lost" => {}
                _ => {
                    if let Some(key) = k.strip_prefix("hap.") {
                        info.extra.push((key.to_string(), v.to_string()));
                    }
                }
            }
        }
        info
    }
}

/// Receives events one at a time, in file order.
pub trait EventSink {
    /// Called once before the first event, with the file-level facts known
    /// by then (format, CPU count). The default does nothing.
    fn begin(&mut self, info: &TraceInfo) -> Result<(), crate::Error> {
        let _ = info;
        Ok(())
    }

    /// Take one event. An error stops the parse and is returned to the caller.
    fn event(&mut self, event: &Event<'_>) -> Result<(), crate::Error>;

    /// The kernel lost events on `cpu` just before the next event of that
    /// CPU: `count` of them, or an unknown number (`None`). Called by the
    /// trace.dat reader where a ring-buffer page header says so (the totals
    /// are in the trace's metadata either way). The default does nothing.
    fn lost(&mut self, cpu: u32, count: Option<u64>) -> Result<(), crate::Error> {
        let _ = (cpu, count);
        Ok(())
    }

    /// A trace.dat read with all its ring buffers: their names (`""` first,
    /// the top buffer), called once after [`EventSink::begin`]. Each event
    /// (and loss notice) is then preceded by [`EventSink::buffer`] naming its
    /// buffer's index. The defaults do nothing.
    fn buffers(&mut self, names: &[String]) -> Result<(), crate::Error> {
        let _ = names;
        Ok(())
    }

    /// The next event or loss notice belongs to buffer `index` of [`EventSink::buffers`].
    fn buffer(&mut self, index: usize) -> Result<(), crate::Error> {
        let _ = index;
        Ok(())
    }

    /// True if this sink would rather take events in blocks
    /// ([`EventSink::block`]). A reader that can (the trace.dat reader) then
    /// hands over every event that way, and calls neither
    /// [`EventSink::event`], [`EventSink::lost`] nor [`EventSink::buffer`]
    /// (loss totals stay in the trace's metadata). The default is false.
    fn takes_blocks(&self) -> bool {
        false
    }

    /// Take a block of events, in file order, and give back a block for the
    /// reader to fill next (emptied, with the same names). The default
    /// takes its events one by one.
    fn block(
        &mut self,
        mut block: crate::block::EventBlock,
    ) -> Result<crate::block::EventBlock, crate::Error> {
        for i in 0..block.rows.len() {
            self.event(&block.event(i))?;
        }
        block.clear();
        Ok(block)
    }

    /// Take rows straight from the reader's own buffer, in file order after
    /// every block handed over so far, instead of copied into a block:
    /// true if taken, false (the default) if they must come in a block.
    fn run(&mut self, rows: crate::block::Rows<'_>) -> Result<bool, crate::Error> {
        let _ = rows;
        Ok(false)
    }

    /// No more events come (the reader may still have work before it
    /// returns, such as waiting for the input's digest): a sink that
    /// buffers may start on what it holds. The default does nothing.
    fn end_of_events(&mut self) -> Result<(), crate::Error> {
        Ok(())
    }
}

impl<F: FnMut(&Event<'_>) -> Result<(), crate::Error>> EventSink for F {
    fn event(&mut self, event: &Event<'_>) -> Result<(), crate::Error> {
        self(event)
    }
}
