//! docs/scale-out.md: the HAP as one SQL query over `hap batch --hive` output,
//! run by a real engine (DuckDB), equals hap's own numbers.

use std::path::Path;
use std::process::Command;

use crate::util::{hap_ok, shared_traces, vmlinux, VMLINUX_612};

/// The first ```sql block of docs/scale-out.md, with OUTDIR replaced.
fn documented_query(outdir: &Path) -> String {
    let doc = std::fs::read_to_string(crate::util::root().join("docs/scale-out.md")).unwrap();
    let start = doc.find("```sql\n").expect("an sql block") + "```sql\n".len();
    let len = doc[start..].find("```").unwrap();
    doc[start..start + len].replace("OUTDIR", outdir.to_str().unwrap())
}

/// Run `sql` with DuckDB (Python package installed by scripts/setup.sh);
/// rows as JSON arrays.
fn duckdb(sql: &str) -> Vec<serde_json::Value> {
    let script = "import duckdb, json, sys\n\
                  for row in duckdb.sql(sys.stdin.read()).fetchall():\n    \
                  print(json.dumps(row))\n";
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(sql.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "duckdb failed (run scripts/setup.sh to install it):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn duckdb_query_gives_hap_numbers() {
    let traces = shared_traces();
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let members = [
        "linux-6.1/fileio/trace.dat",
        "linux-6.1/steady/trace.dat",
        "linux-6.12/fileio/trace.dat",
        "linux-6.12/steady/trace.dat",
    ];
    for m in members {
        let dest = input.join(m);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(traces.join(m), &dest).unwrap();
    }
    let out = tmp.path().join("out");
    let (vm61, vm612) = (vmlinux(), Path::new(VMLINUX_612));
    let stdout = hap_ok(&[
        "batch",
        input.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--vmlinux",
        vm61.to_str().unwrap(),
        "--vmlinux",
        vm612.to_str().unwrap(),
        "--hive",
        "--json",
    ]);
    let summary: Vec<serde_json::Value> = serde_json::from_str(&stdout).unwrap();
    assert_eq!(summary.len(), members.len());
    for k in ["6.1.0-57-cloud-amd64", "6.12.117+deb12-cloud-amd64"] {
        assert!(out
            .join(format!("functions/kernel={k}/part-0.parquet"))
            .is_file());
    }

    let rows = duckdb(&documented_query(&out));
    assert_eq!(rows.len(), members.len(), "{rows:?}");
    for row in &rows {
        let (kernel, path) = (row[0].as_str().unwrap(), row[1].as_str().unwrap());
        let s = summary
            .iter()
            .find(|s| s["path"] == path)
            .unwrap_or_else(|| panic!("{path} not in the summary"));
        assert_eq!(s["kernel"], kernel, "{path}");
        assert_eq!(row[2], s["functions"], "{path}: functions");
        assert_eq!(row[3], s["resolved"], "{path}: resolved");
        assert_eq!(row[4], s["lines"], "{path}: lines");
        let (sql_hap, hap) = (row[5].as_f64().unwrap(), s["hap"].as_f64().unwrap());
        assert!(
            (sql_hap - hap).abs() < 1e-12,
            "{path}: hap {sql_hap} vs {hap}"
        );
        assert!(
            s["functions"].as_u64().unwrap() > 1000,
            "{path}: a real trace"
        );
    }
}
