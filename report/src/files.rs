//! The files `hap analyze -o DIR` writes: `functions.parquet`,
//! `functions.csv`, `curve.parquet`, `curve.csv` and `result.json`, each
//! written atomically.

use std::path::Path;

use analyze::{table, Error, Measurement};

/// Write every per-run file into `dir` (created if missing).
pub fn write_result_dir(m: &Measurement, dir: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let parquet = dir.join("functions.parquet");
    let mut df = table::functions_frame(m).map_err(|e| Error::table(&parquet, e))?;
    table::write_parquet(&mut df, &parquet)?;
    table::write_csv(&df, &dir.join("functions.csv"))?;
    let curve = dir.join("curve.parquet");
    let mut df = table::curve_frame(m).map_err(|e| Error::table(&curve, e))?;
    table::write_parquet(&mut df, &curve)?;
    table::write_csv(&df, &dir.join("curve.csv"))?;
    let json = dir.join("result.json");
    let text = serde_json::to_string_pretty(&crate::json::measurement(m))
        .map_err(|e| Error::table(&json, e))?;
    ingest::atomic::write_all(&json, text.as_bytes()).map_err(|e| Error::io(&json, e))
}

/// Write each run into `dir/run-N/` and the combined figures into `dir/runs.json`.
pub fn write_runs_dir(
    runs: &[Measurement],
    combined: &analyze::runs::Runs,
    dir: &Path,
) -> Result<(), Error> {
    for (i, m) in runs.iter().enumerate() {
        write_result_dir(m, &dir.join(format!("run-{}", i + 1)))?;
    }
    let json = dir.join("runs.json");
    let text = serde_json::to_string_pretty(&crate::json::runs(runs, combined))
        .map_err(|e| Error::table(&json, e))?;
    ingest::atomic::write_all(&json, text.as_bytes()).map_err(|e| Error::io(&json, e))
}
