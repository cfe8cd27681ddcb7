//! The summary table of `hap batch`: one row per trace of a batch, written as
//! `summary.parquet` and `summary.csv` (and, optionally, Hive-partitioned by
//! kernel release), plus the per-run done marker that lets a re-run reuse a
//! trace's numbers instead of measuring it again.

use std::path::Path;

use polars::prelude::*;
use serde_json::{json, Value};

use crate::{table, Error};

/// Columns of the summary, in order.
pub const SUMMARY_COLUMNS: [&str; 15] = [
    "path",
    "sha256",
    "kernel",
    "vmlinux",
    "events",
    "functions",
    "resolved",
    "unresolved",
    "lines",
    "hap",
    "hap_weighted",
    "steady_reached",
    "reused",
    "run_dir",
    "error",
];

/// One trace of a batch: its numbers, or why it failed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BatchRow {
    /// The member's path inside the input directory or archive.
    pub path: String,
    /// SHA-256 of the member's bytes, hex (`None` if it could not be read).
    pub sha256: Option<String>,
    /// The kernel release the trace was measured against.
    pub kernel: Option<String>,
    /// The vmlinux used.
    pub vmlinux: Option<String>,
    /// Events in the trace.
    pub events: Option<u64>,
    /// Unique functions traced.
    pub functions: Option<u64>,
    /// Functions found in the symbol table.
    pub resolved: Option<u64>,
    /// Functions not found.
    pub unresolved: Option<u64>,
    /// Source lines of the counted functions.
    pub lines: Option<u64>,
    /// The HAP.
    pub hap: Option<f64>,
    /// The density-weighted HAP (not computed by `hap batch`: always null).
    pub hap_weighted: Option<f64>,
    /// Whether the run reached steady state.
    pub steady_reached: Option<bool>,
    /// The numbers come from an earlier run's done marker.
    pub reused: bool,
    /// The per-run result directory, relative to the batch output directory.
    pub run_dir: Option<String>,
    /// Why the member failed; `None` on success.
    pub error: Option<String>,
}

impl BatchRow {
    /// A failed member.
    pub fn failed(path: &str, sha256: Option<String>, error: impl Into<String>) -> BatchRow {
        BatchRow {
            path: path.to_string(),
            sha256,
            error: Some(error.into()),
            ..BatchRow::default()
        }
    }

    /// The row as a JSON object with [`SUMMARY_COLUMNS`] as keys.
    pub fn to_json(&self) -> Value {
        json!({
            "path": self.path,
            "sha256": self.sha256,
            "kernel": self.kernel,
            "vmlinux": self.vmlinux,
            "events": self.events,
            "functions": self.functions,
            "resolved": self.resolved,
            "unresolved": self.unresolved,
            "lines": self.lines,
            "hap": self.hap,
            "hap_weighted": self.hap_weighted,
            "steady_reached": self.steady_reached,
            "reused": self.reused,
            "run_dir": self.run_dir,
            "error": self.error,
        })
    }

    /// A row back from [`BatchRow::to_json`] (`None` if it is not one).
    pub fn from_json(v: &Value) -> Option<BatchRow> {
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let u = |k: &str| v.get(k).and_then(Value::as_u64);
        Some(BatchRow {
            path: s("path")?,
            sha256: s("sha256"),
            kernel: s("kernel"),
            vmlinux: s("vmlinux"),
            events: u("events"),
            functions: u("functions"),
            resolved: u("resolved"),
            unresolved: u("unresolved"),
            lines: u("lines"),
            hap: v.get("hap").and_then(Value::as_f64),
            hap_weighted: v.get("hap_weighted").and_then(Value::as_f64),
            steady_reached: v.get("steady_reached").and_then(Value::as_bool),
            reused: v.get("reused").and_then(Value::as_bool).unwrap_or(false),
            run_dir: s("run_dir"),
            error: s("error"),
        })
    }
}

/// The summary as a DataFrame with [`SUMMARY_COLUMNS`].
pub fn summary_frame(rows: &[BatchRow]) -> PolarsResult<DataFrame> {
    let s = |name: &str, f: fn(&BatchRow) -> Option<&str>| {
        Column::new(name.into(), rows.iter().map(f).collect::<Vec<_>>())
    };
    let u = |name: &str, f: fn(&BatchRow) -> Option<u64>| {
        Column::new(name.into(), rows.iter().map(f).collect::<Vec<_>>())
    };
    let x = |name: &str, f: fn(&BatchRow) -> Option<f64>| {
        Column::new(name.into(), rows.iter().map(f).collect::<Vec<_>>())
    };
    let cols = vec![
        Column::new(
            "path".into(),
            rows.iter().map(|r| r.path.as_str()).collect::<Vec<_>>(),
        ),
        s("sha256", |r| r.sha256.as_deref()),
        s("kernel", |r| r.kernel.as_deref()),
        s("vmlinux", |r| r.vmlinux.as_deref()),
        u("events", |r| r.events),
        u("functions", |r| r.functions),
        u("resolved", |r| r.resolved),
        u("unresolved", |r| r.unresolved),
        u("lines", |r| r.lines),
        x("hap", |r| r.hap),
        x("hap_weighted", |r| r.hap_weighted),
        Column::new(
            "steady_reached".into(),
            rows.iter().map(|r| r.steady_reached).collect::<Vec<_>>(),
        ),
        Column::new(
            "reused".into(),
            rows.iter().map(|r| r.reused).collect::<Vec<_>>(),
        ),
        s("run_dir", |r| r.run_dir.as_deref()),
        s("error", |r| r.error.as_deref()),
    ];
    DataFrame::new(rows.len(), cols)
}

/// Write `summary.parquet` and `summary.csv` into `dir`, atomically. With
/// `hive`, also `summary/kernel=RELEASE/part-0.parquet` per kernel release
/// (`kernel=__HIVE_DEFAULT_PARTITION__` for rows without one, as Hive and
/// polars name the null partition); the partition files omit the `kernel`
/// column. With `hive`, the traced functions of every measured trace also go
/// to `functions/kernel=RELEASE/part-0.parquet` (see [`write_functions_partition`]).
pub fn write_summary(rows: &[BatchRow], dir: &Path, hive: bool) -> Result<(), Error> {
    let parquet = dir.join("summary.parquet");
    let mut df = summary_frame(rows).map_err(|e| Error::table(&parquet, e))?;
    table::write_parquet(&mut df, &parquet)?;
    table::write_csv(&df, &dir.join("summary.csv"))?;
    if hive {
        let mut kernels: Vec<Option<&str>> = rows.iter().map(|r| r.kernel.as_deref()).collect();
        kernels.sort();
        kernels.dedup();
        for k in kernels {
            let part: Vec<BatchRow> = rows
                .iter()
                .filter(|r| r.kernel.as_deref() == k)
                .cloned()
                .collect();
            let name = k.map_or("__HIVE_DEFAULT_PARTITION__".to_string(), hive_escape);
            let pdir = dir.join("summary").join(format!("kernel={name}"));
            std::fs::create_dir_all(&pdir).map_err(|e| Error::io(&pdir, e))?;
            let path = pdir.join("part-0.parquet");
            let mut df = summary_frame(&part)
                .and_then(|df| df.drop("kernel"))
                .map_err(|e| Error::table(&path, e))?;
            table::write_parquet(&mut df, &path)?;
            write_functions_partition(&part, dir, &name)?;
        }
    }
    Ok(())
}

/// `functions/kernel=NAME/part-0.parquet`: the `functions.parquet` rows of
/// every measured trace in `rows`, with the trace's `path` as a first column,
/// so one SQL query over `functions/` gives each trace's (or each kernel's)
/// figures (`docs/scale-out.md`). Nothing is written for a kernel without a
/// measured trace.
fn write_functions_partition(rows: &[BatchRow], dir: &Path, name: &str) -> Result<(), Error> {
    let path = dir
        .join("functions")
        .join(format!("kernel={name}"))
        .join("part-0.parquet");
    let mut all: Option<DataFrame> = None;
    for r in rows.iter().filter(|r| r.error.is_none()) {
        let Some(run) = &r.run_dir else { continue };
        let src = dir.join(run).join("functions.parquet");
        let file = std::fs::File::open(&src).map_err(|e| Error::io(&src, e))?;
        let mut df = ParquetReader::new(file)
            .finish()
            .map_err(|e| Error::table(&src, e))?;
        let n = df.height();
        df.insert_column(0, Column::new("path".into(), vec![r.path.as_str(); n]))
            .map_err(|e| Error::table(&src, e))?;
        match &mut all {
            None => all = Some(df),
            Some(acc) => {
                acc.vstack_mut(&df).map_err(|e| Error::table(&src, e))?;
            }
        }
    }
    if let Some(mut df) = all {
        let pdir = path.parent().expect("has a parent");
        std::fs::create_dir_all(pdir).map_err(|e| Error::io(pdir, e))?;
        table::write_parquet(&mut df, &path)?;
    }
    Ok(())
}

/// A partition value with the characters Hive escapes percent-encoded.
fn hive_escape(v: &str) -> String {
    v.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-+~".contains(c) {
                c.to_string()
            } else {
                format!("%{:02X}", c as u32)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_has_one_row_per_trace_and_round_trips_json() {
        let ok = BatchRow {
            path: "a/trace.dat".into(),
            sha256: Some("ab".into()),
            kernel: Some("6.1.0".into()),
            functions: Some(3),
            lines: Some(10),
            hap: Some(0.0061),
            steady_reached: Some(true),
            ..BatchRow::default()
        };
        let bad = BatchRow::failed("x.dat", None, "bad magic");
        let df = summary_frame(&[ok.clone(), bad.clone()]).unwrap();
        assert_eq!(df.height(), 2);
        let names: Vec<_> = df
            .get_column_names()
            .iter()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(names, SUMMARY_COLUMNS);
        assert_eq!(BatchRow::from_json(&ok.to_json()), Some(ok));
        assert_eq!(BatchRow::from_json(&bad.to_json()), Some(bad));
        assert_eq!(hive_escape("6.12.117+deb12/x"), "6.12.117+deb12%2Fx");
    }
}
