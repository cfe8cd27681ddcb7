//! Events as JSON Lines (`hap dump --json`): one object per event, its keys
//! the events Parquet columns (`docs/formats.md`), `null` where the trace
//! does not show a field. Addresses are numbers, as in the Parquet file.

use std::io::{self, Write};

use ingest::columns as col;
use ingest::Event;

/// An event sink that writes one JSON object per line to `W`.
#[derive(Debug)]
pub struct JsonLinesSink<W: Write> {
    out: W,
}

impl<W: Write> JsonLinesSink<W> {
    /// Write to `out`.
    pub fn new(out: W) -> JsonLinesSink<W> {
        JsonLinesSink { out }
    }

    /// Flush and return the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Write `e` as one JSON object (no newline).
pub fn write_event(w: &mut impl Write, e: &Event<'_>) -> io::Result<()> {
    let flags = e.flags;
    write!(
        w,
        "{{\"{}\":{},\"{}\":{},\"{}\":{}",
        col::TS_NS,
        e.ts_ns,
        col::CPU,
        e.cpu,
        col::PID,
        e.pid
    )?;
    field(w, col::TGID, e.tgid)?;
    string(w, col::COMM, Some(e.comm))?;
    string(w, col::EVENT, Some(e.event))?;
    string(w, col::FUNCTION, e.function)?;
    string(w, col::PARENT, e.parent)?;
    string(w, col::MODULE, e.module)?;
    field(w, col::IP, e.ip)?;
    field(w, col::PARENT_IP, e.parent_ip)?;
    field(w, col::IRQS_OFF, flags.map(|f| f.irqs_off))?;
    field(w, col::HARDIRQ, flags.map(|f| f.hardirq))?;
    field(w, col::SOFTIRQ, flags.map(|f| f.softirq))?;
    field(w, col::NMI, flags.map(|f| f.nmi))?;
    field(w, col::PREEMPT_DEPTH, e.preempt_depth)?;
    string(w, col::INFO, e.info)?;
    field(w, col::DEPTH, e.depth)?;
    field(w, col::CALLTIME, e.calltime)?;
    field(w, col::RETTIME, e.rettime)?;
    field(w, col::REPEATS, e.repeats)?;
    w.write_all(b"}")
}

fn field<T: std::fmt::Display>(w: &mut impl Write, key: &str, v: Option<T>) -> io::Result<()> {
    match v {
        Some(v) => write!(w, ",\"{key}\":{v}"),
        None => write!(w, ",\"{key}\":null"),
    }
}

fn string(w: &mut impl Write, key: &str, v: Option<&str>) -> io::Result<()> {
    write!(w, ",\"{key}\":")?;
    match v {
        Some(v) => serde_json::to_writer(&mut *w, v).map_err(io::Error::from),
        None => w.write_all(b"null"),
    }
}

impl<W: Write> ingest::EventSink for JsonLinesSink<W> {
    fn event(&mut self, e: &Event<'_>) -> Result<(), ingest::Error> {
        write_event(&mut self.out, e)
            .and_then(|()| self.out.write_all(b"\n"))
            .map_err(|e| ingest::Error::new(ingest::ErrorKind::Io(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_object_with_every_column_in_schema_order() {
        let e = Event {
            ts_ns: 55_147_819_000,
            cpu: 1,
            pid: 213,
            comm: "sh \"x\"",
            event: "function",
            function: Some("mutex_unlock"),
            ip: Some(18446744071579499840),
            flags: Some(ingest::IrqFlags {
                hardirq: true,
                ..Default::default()
            }),
            ..Event::default()
        };
        let mut out = Vec::new();
        write_event(&mut out, &e).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        let mut want = col::ALL.to_vec();
        want.sort_unstable();
        assert_eq!(keys, want);
        assert_eq!(v["comm"], "sh \"x\"");
        assert_eq!(v["ip"].as_u64(), Some(18446744071579499840));
        assert_eq!(v["hardirq"], true);
        assert_eq!(v["softirq"], false);
        assert_eq!(v["tgid"], serde_json::Value::Null);
    }
}
