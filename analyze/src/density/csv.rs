//! The density table as CSV, written atomically and read back.
//!
//! ```text
//! # hap bug density: version=6.1.192 cves_total=14626 cves_affecting=… files_with_cves=… pseudo_kloc=5
//! level,key,lines,cves,rate,smoothed
//! global,,23456789,5678,0.242…,0.242…
//! subsystem,"ARM/Mediatek SoC support",…
//! dir,fs/ext4,…
//! file,fs/ext4/inode.c,…
//! missing,drivers/foo/gone.c,0,1,,
//! ```
//!
//! The first line is a comment with the table's counts (`key=value`
//! separated by spaces); CSV readers that skip `#` lines (polars'
//! `comment_prefix`) see a plain table. `rate` and `smoothed` are CVEs per
//! 1,000 lines, printed in Rust's shortest round-trip form, so
//! [`read_csv`] gives back exactly what [`write_csv`] wrote. Keys are
//! quoted (RFC 4180) when they contain a comma, a quote or a line break.
//! `missing` rows list files named by CVEs that the tree lacks.
//!
//! The file is written under a temporary name beside the destination and
//! renamed into place when complete; on error the temporary is removed.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::table::{DensityRow, DensityTable, Level, MissingFile};
use super::DensityError;

const HEADER: &str = "level,key,lines,cves,rate,smoothed";
const COMMENT: &str = "# hap bug density:";

fn quote(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) || s.trim() != s {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The table as CSV text.
pub fn to_csv(t: &DensityTable) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{COMMENT} version={} cves_total={} cves_affecting={} files_with_cves={} pseudo_kloc={}",
        t.version, t.cves_total, t.cves_affecting, t.files_with_cves, t.pseudo_kloc
    );
    out.push_str(HEADER);
    out.push('\n');
    let _ = writeln!(
        out,
        "global,,{},{},{},{}",
        t.global_lines, t.global_cves, t.global_rate, t.global_rate
    );
    for r in &t.rows {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{}",
            r.level.as_str(),
            quote(&r.key),
            r.lines,
            r.cves,
            r.rate,
            r.smoothed
        );
    }
    for m in &t.missing {
        let _ = writeln!(out, "missing,{},0,{},,", quote(&m.path), m.cves);
    }
    out
}

/// Write the table to `dest` atomically (temporary file + rename).
pub fn write_csv(t: &DensityTable, dest: &Path) -> Result<(), DensityError> {
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = dest
        .file_name()
        .ok_or_else(|| DensityError::new(dest, "output path has no file name"))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(to_csv(t).as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, dest)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        DensityError::io(dest, "writing density table", &e)
    })
}

/// Split one CSV line into fields (RFC 4180 quoting, no embedded line
/// breaks).
fn fields(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    cur.push('"');
                } else {
                    quoted = false;
                }
            } else {
                cur.push(c);
            }
        } else if c == '"' && at_start {
            quoted = true;
            at_start = false;
        } else if c == ',' {
            out.push(std::mem::take(&mut cur));
            at_start = true;
        } else {
            cur.push(c);
            at_start = false;
        }
    }
    if quoted {
        return Err("unterminated quote".into());
    }
    out.push(cur);
    Ok(out)
}

/// Parse CSV text written by [`to_csv`]; `path` names it in errors.
pub fn from_csv(text: &str, path: &Path) -> Result<DensityTable, DensityError> {
    let err = |n: usize, m: String| DensityError::new(path, format!("line {n}: {m}"));
    let mut meta: Vec<(String, String)> = Vec::new();
    let mut header = false;
    let mut global: Option<(u64, f64)> = None;
    let mut rows = Vec::new();
    let mut missing = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if let Some(rest) = line.strip_prefix(COMMENT) {
            for kv in rest.split_whitespace() {
                if let Some((k, v)) = kv.split_once('=') {
                    meta.push((k.to_string(), v.to_string()));
                }
            }
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if !header {
            if line.trim_end() != HEADER {
                return Err(err(n, format!("expected header {HEADER:?}")));
            }
            header = true;
            continue;
        }
        let f = fields(line).map_err(|m| err(n, m))?;
        if f.len() != 6 {
            return Err(err(n, format!("{} fields, expected 6", f.len())));
        }
        let lines: u64 = f[2]
            .parse()
            .map_err(|_| err(n, format!("bad lines {:?}", f[2])))?;
        let cves: f64 = f[3]
            .parse()
            .map_err(|_| err(n, format!("bad cves {:?}", f[3])))?;
        if f[0] == "missing" {
            missing.push(MissingFile {
                path: f[1].clone(),
                cves,
            });
            continue;
        }
        let level =
            Level::parse(&f[0]).ok_or_else(|| err(n, format!("unknown level {:?}", f[0])))?;
        let num = |s: &str| {
            s.parse::<f64>()
                .map_err(|_| err(n, format!("bad number {s:?}")))
        };
        let (rate, smoothed) = (num(&f[4])?, num(&f[5])?);
        if level == Level::Global {
            global = Some((lines, cves));
        } else {
            rows.push(DensityRow {
                level,
                key: f[1].clone(),
                lines,
                cves,
                rate,
                smoothed,
            });
        }
    }
    if !header {
        return Err(DensityError::new(path, "no header line"));
    }
    let (global_lines, global_cves) =
        global.ok_or_else(|| DensityError::new(path, "no global row"))?;
    let get = |k: &str| meta.iter().find(|(m, _)| m == k).map(|(_, v)| v.as_str());
    let num = |k: &str| -> Result<usize, DensityError> {
        match get(k) {
            Some(v) => v
                .parse()
                .map_err(|_| DensityError::new(path, format!("bad {k}={v}"))),
            None => Ok(0),
        }
    };
    Ok(DensityTable::new(
        get("version").unwrap_or("").to_string(),
        num("cves_total")?,
        num("cves_affecting")?,
        num("files_with_cves")?,
        global_lines,
        global_cves,
        get("pseudo_kloc")
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN),
        rows,
        missing,
    ))
}

/// Read a table written by [`write_csv`].
pub fn read_csv(path: &Path) -> Result<DensityTable, DensityError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| DensityError::io(path, "density table", &e))?;
    from_csv(&text, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> DensityTable {
        let row = |level, key: &str, lines, cves: f64, smoothed| DensityRow {
            level,
            key: key.into(),
            lines,
            cves,
            rate: cves / (lines as f64 / 1000.0),
            smoothed,
        };
        DensityTable::new(
            "6.1.192".into(),
            10,
            4,
            2,
            3000,
            3.0,
            5.0,
            vec![
                row(Level::Subsystem, "ARM/FOO, \"BAR\" SUPPORT", 1000, 1.0, 0.9),
                row(Level::Dir, "fs", 2000, 2.0, 1.0 / 3.0),
                row(Level::File, "fs/a.c", 1500, 2.0, 0.123456789012345),
            ],
            vec![MissingFile {
                path: "fs/gone.c".into(),
                cves: 1.0,
            }],
        )
    }

    #[test]
    fn round_trip_is_exact() {
        let t = table();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("density.csv");
        write_csv(&t, &p).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.starts_with("# hap bug density: version=6.1.192 cves_total=10"));
        assert!(
            text.contains("\nsubsystem,\"ARM/FOO, \"\"BAR\"\" SUPPORT\",1000,1,1,0.9\n"),
            "{text}"
        );
        assert!(text.contains("\nmissing,fs/gone.c,0,1,,\n"));
        let back = read_csv(&p).unwrap();
        assert_eq!(back.rows, t.rows);
        assert_eq!(back.missing, t.missing);
        assert_eq!(back.global_rate, t.global_rate);
        assert_eq!(
            (back.cves_total, back.cves_affecting, back.files_with_cves),
            (10, 4, 2)
        );
        assert_eq!(back.version, "6.1.192");
        assert_eq!(back.lookup("fs/b.c", None), (1.0 / 3.0, "dir"));
        // Only the final file is left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let p = Path::new("d.csv");
        let e = from_csv("level,key,lines,cves,rate,smoothed\nfile,a,x,1,1,1\n", p).unwrap_err();
        assert_eq!(e.to_string(), "d.csv: line 2: bad lines \"x\"");
        assert!(from_csv("", p)
            .unwrap_err()
            .to_string()
            .contains("no header"));
        let e = write_csv(&table(), Path::new("/nonexistent-dir/x.csv")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("/nonexistent-dir/x.csv: writing density table"),
            "{e}"
        );
    }
}
