//! Reading back the result directories that `hap analyze -o DIR` writes.
//!
//! A directory holds `result.json` (the headline numbers and the per-subsystem
//! and per-syscall breakdowns), `functions.csv` (one row per unique traced
//! function) and `curve.csv` (the cumulative unique functions and lines after
//! each newly reached function). [`load`] reads all three into a
//! [`RunResult`], which the HTML and Markdown renderers and [`crate::diff`]
//! work from.
//!
//! The CSV files are RFC 4180 (quoted fields, doubled quotes, embedded
//! separators and newlines; an empty field is null). The small reader in
//! [`parse_csv`] is enough for that and keeps the crate free of a CSV
//! dependency. Columns are looked up by header name, so added or reordered
//! columns do not break old readers.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::ReportError;

/// One row of `functions.csv`: a unique traced function and its source span.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FunctionRow {
    /// Function name as traced.
    pub function: String,
    /// Kernel module, `None` for vmlinux.
    pub module: Option<String>,
    /// How many kept events called it.
    pub events: Option<u64>,
    /// Index of the first kept event that reached it.
    pub first_event: Option<u64>,
    /// Symbol candidates for the name (more than one: ambiguous).
    pub candidates: Option<u64>,
    /// Source file, relative to the kernel tree.
    pub file: Option<String>,
    /// First source line of the definition.
    pub start_line: Option<u64>,
    /// Last source line of the definition.
    pub end_line: Option<u64>,
    /// Source lines counted for the function (null: unresolved).
    pub lines: Option<u64>,
    /// Non-blank, non-comment lines.
    pub nloc: Option<u64>,
    /// MAINTAINERS subsystem.
    pub subsystem: Option<String>,
    /// Top-level source area (`mm`, `fs`, `net/ipv4`, ...).
    pub area: Option<String>,
    /// Also reached by the baseline trace.
    pub in_baseline: bool,
    /// Whether its lines count towards the run's totals: not a subtracted
    /// baseline function, not a second copy of one source function (same file
    /// and start line). From the `counted` column; files without it count
    /// every row except subtracted baseline ones.
    pub counted: bool,
    /// The syscall under which it was first reached.
    pub syscall: Option<String>,
}

impl FunctionRow {
    /// Lines, null counted as 0.
    pub fn line_count(&self) -> u64 {
        self.lines.unwrap_or(0)
    }

    /// Lines as they count towards the run's total: 0 when not counted.
    pub fn counted_lines(&self) -> u64 {
        if self.counted {
            self.line_count()
        } else {
            0
        }
    }

    /// The identity used to match functions across runs: module and name.
    pub fn key(&self) -> (String, String) {
        (
            self.module.clone().unwrap_or_default(),
            self.function.clone(),
        )
    }

    /// `file:start-end`, `file`, or `–` without source.
    pub fn source(&self) -> String {
        match (&self.file, self.start_line, self.end_line) {
            (Some(file), Some(s), Some(e)) => format!("{file}:{s}-{e}"),
            (Some(file), _, _) => file.clone(),
            _ => "–".to_string(),
        }
    }

    /// `name` or `name [module]`.
    pub fn display_name(&self) -> String {
        match &self.module {
            Some(m) => format!("{} [{m}]", self.function),
            None => self.function.clone(),
        }
    }
}

/// One row of `curve.csv`: totals after a newly reached function.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CurvePoint {
    /// Seconds since the first kept event.
    pub seconds: f64,
    /// Unique functions so far.
    pub functions: u64,
    /// Lines of those functions.
    pub lines: u64,
}

/// A named group (subsystem, area, syscall) from `result.json`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Group {
    /// Group name (`(no syscall)` for a null syscall).
    pub name: String,
    /// Unique functions in the group.
    pub functions: u64,
    /// Their lines.
    pub lines: u64,
    /// Their HAP.
    pub hap: f64,
}

/// One loaded result directory.
#[derive(Clone, Debug)]
pub struct RunResult {
    /// Name shown in reports (the `--label`, else the directory name).
    pub label: String,
    /// The directory it came from.
    pub dir: PathBuf,
    /// `result.json` as written.
    pub json: Value,
    /// `functions.csv`, in file order (order of first reach).
    pub functions: Vec<FunctionRow>,
    /// `curve.csv`.
    pub curve: Vec<CurvePoint>,
}

impl RunResult {
    /// A number from `result.json` (top level), if present and numeric.
    pub fn num(&self, key: &str) -> Option<f64> {
        self.json.get(key).and_then(Value::as_f64)
    }

    /// Whether baseline functions were subtracted from the counts.
    pub fn baseline_subtracted(&self) -> bool {
        self.json
            .pointer("/baseline/subtracted")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    /// The rows whose lines count towards the totals (see [`FunctionRow::counted`]).
    pub fn counted(&self) -> impl Iterator<Item = &FunctionRow> {
        self.functions.iter().filter(|r| r.counted)
    }

    /// Unique functions: `result.json`'s `functions`, else the rows.
    pub fn function_count(&self) -> u64 {
        self.num("functions")
            .map(|v| v as u64)
            .unwrap_or(self.functions.len() as u64)
    }

    /// Lines: `result.json`'s `lines`, else the sum over counted rows.
    pub fn lines(&self) -> u64 {
        self.num("lines")
            .map(|v| v as u64)
            .unwrap_or_else(|| self.functions.iter().map(FunctionRow::counted_lines).sum())
    }

    /// The HAP figure.
    pub fn hap(&self) -> Option<f64> {
        self.num("hap")
    }

    /// The weighted HAP, when the analysis produced one.
    pub fn hap_weighted(&self) -> Option<f64> {
        self.num("hap_weighted")
    }

    /// Names of the functions no symbol was found for.
    pub fn unresolved_functions(&self) -> Vec<String> {
        match self.json.get("unresolved_functions") {
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The `n` counted functions with the most lines (ties by name).
    pub fn largest_functions(&self, n: usize) -> Vec<&FunctionRow> {
        let mut rows: Vec<&FunctionRow> = self.counted().collect();
        rows.sort_by(|a, b| {
            b.line_count()
                .cmp(&a.line_count())
                .then_with(|| a.function.cmp(&b.function))
        });
        rows.truncate(n);
        rows
    }

    /// Functions whose name matched more than one symbol.
    pub fn ambiguous_functions(&self) -> Vec<&FunctionRow> {
        self.functions
            .iter()
            .filter(|r| r.candidates.unwrap_or(1) > 1)
            .collect()
    }

    /// A group list (`subsystems`, `areas`, `syscalls`) from `result.json`.
    pub fn groups(&self, key: &str) -> Vec<Group> {
        let Some(Value::Array(items)) = self.json.get(key) else {
            return Vec::new();
        };
        items
            .iter()
            .map(|g| {
                let name = g
                    .get("name")
                    .or_else(|| g.get("syscall"))
                    .and_then(Value::as_str)
                    .unwrap_or("(no syscall)")
                    .to_string();
                let n = |k: &str| g.get(k).and_then(Value::as_f64).unwrap_or(0.0);
                Group {
                    name,
                    functions: n("functions") as u64,
                    lines: n("lines") as u64,
                    hap: n("hap"),
                }
            })
            .collect()
    }

    /// One-line steady-state verdict, e.g. `reached at 6.307 s of 7.299 s`.
    pub fn steady_state_verdict(&self) -> String {
        let Some(s) = self.json.get("steady_state").filter(|s| s.is_object()) else {
            return "unknown (no steady_state in result.json)".to_string();
        };
        let f = |k: &str| s.get(k).and_then(Value::as_f64);
        let span = self.num("span_seconds").unwrap_or(0.0);
        let window = match (f("new_in_last_window"), f("allowed_in_window")) {
            (Some(n), Some(a)) => format!("; {n} new functions in the last window, {a} tolerated"),
            _ => String::new(),
        };
        if s.get("reached").and_then(Value::as_bool) == Some(true) {
            format!(
                "reached at {:.3} s of {span:.3} s ({} of {} functions){window}",
                f("at_seconds").unwrap_or(0.0),
                f("at_functions").unwrap_or(0.0),
                self.function_count()
            )
        } else {
            format!("NOT reached (run spans {span:.3} s){window}")
        }
    }
}

/// Parse RFC 4180 CSV text into records of fields. Quoted fields may hold
/// commas, doubled quotes and line breaks; `\r\n` and `\n` both end a record;
/// a final line break does not start an empty record.
pub fn parse_csv(text: &str) -> Result<Vec<Vec<String>>, String> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut line = 1usize;
    let mut in_record = false;
    while let Some(c) = chars.next() {
        in_record = true;
        match c {
            '"' if field.is_empty() => {
                let start = line;
                loop {
                    match chars.next() {
                        Some('"') if chars.peek() == Some(&'"') => {
                            chars.next();
                            field.push('"');
                        }
                        Some('"') => break,
                        Some(ch) => {
                            if ch == '\n' {
                                line += 1;
                            }
                            field.push(ch);
                        }
                        None => return Err(format!("line {start}: unterminated quoted field")),
                    }
                }
                match chars.peek() {
                    None | Some(',') | Some('\n') | Some('\r') => {}
                    Some(ch) => {
                        return Err(format!("line {line}: {ch:?} after a closing quote"));
                    }
                }
            }
            ',' => record.push(std::mem::take(&mut field)),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
                line += 1;
                in_record = false;
            }
            ch => field.push(ch),
        }
    }
    if in_record {
        record.push(field);
        records.push(record);
    }
    Ok(records)
}

/// A CSV file parsed with its header, fields looked up by column name.
struct Table {
    path: PathBuf,
    columns: HashMap<String, usize>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn read(path: &Path) -> Result<Table, ReportError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| ReportError::new(path, e.to_string()))?;
        let mut records = parse_csv(&text).map_err(|m| ReportError::new(path, m))?;
        if records.is_empty() {
            return Err(ReportError::new(path, "empty file (no header)"));
        }
        let header = records.remove(0);
        let columns = header
            .into_iter()
            .enumerate()
            .map(|(i, h)| (h, i))
            .collect();
        Ok(Table {
            path: path.to_path_buf(),
            columns,
            rows: records,
        })
    }

    fn require(&self, column: &str) -> Result<usize, ReportError> {
        self.columns
            .get(column)
            .copied()
            .ok_or_else(|| ReportError::new(&self.path, format!("no `{column}` column")))
    }

    /// The field, `None` when the column is missing or the field empty.
    fn str(&self, row: usize, column: &str) -> Option<&str> {
        let i = *self.columns.get(column)?;
        self.rows[row]
            .get(i)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    fn string(&self, row: usize, column: &str) -> Option<String> {
        self.str(row, column).map(str::to_string)
    }

    fn f64(&self, row: usize, column: &str) -> Result<Option<f64>, ReportError> {
        match self.str(row, column) {
            None => Ok(None),
            Some(s) => s.parse::<f64>().map(Some).map_err(|_| {
                // Row 0 is the second line of the file.
                ReportError::new(
                    &self.path,
                    format!("row {}: `{column}` is not a number: {s:?}", row + 2),
                )
            }),
        }
    }

    fn u64(&self, row: usize, column: &str) -> Result<Option<u64>, ReportError> {
        let Some(s) = self.str(row, column) else {
            return Ok(None);
        };
        if let Ok(v) = s.parse::<u64>() {
            return Ok(Some(v));
        }
        match self.f64(row, column)? {
            Some(v) if v >= 0.0 && v.fract() == 0.0 => Ok(Some(v as u64)),
            _ => Err(ReportError::new(
                &self.path,
                format!("row {}: `{column}` is not a count: {s:?}", row + 2),
            )),
        }
    }
}

/// Read `functions.csv`; `subtracted`: the baseline was subtracted (for
/// files without a `counted` column).
fn read_functions(path: &Path, subtracted: bool) -> Result<Vec<FunctionRow>, ReportError> {
    let t = Table::read(path)?;
    t.require("function")?;
    (0..t.rows.len())
        .map(|i| {
            let in_baseline = matches!(t.str(i, "in_baseline"), Some("true") | Some("1"));
            Ok(FunctionRow {
                function: t.string(i, "function").ok_or_else(|| {
                    ReportError::new(path, format!("row {}: empty `function`", i + 2))
                })?,
                module: t.string(i, "module"),
                events: t.u64(i, "events")?,
                first_event: t.u64(i, "first_event")?,
                candidates: t.u64(i, "candidates")?,
                file: t.string(i, "file"),
                start_line: t.u64(i, "start_line")?,
                end_line: t.u64(i, "end_line")?,
                lines: t.u64(i, "lines")?,
                nloc: t.u64(i, "nloc")?,
                subsystem: t.string(i, "subsystem"),
                area: t.string(i, "area"),
                in_baseline,
                counted: match t.str(i, "counted") {
                    Some(v) => v == "true" || v == "1",
                    None => !(subtracted && in_baseline),
                },
                syscall: t.string(i, "syscall"),
            })
        })
        .collect()
}

fn read_curve(path: &Path) -> Result<Vec<CurvePoint>, ReportError> {
    let t = Table::read(path)?;
    for c in ["seconds", "functions", "lines"] {
        t.require(c)?;
    }
    (0..t.rows.len())
        .map(|i| {
            Ok(CurvePoint {
                seconds: t.f64(i, "seconds")?.unwrap_or(0.0),
                functions: t.u64(i, "functions")?.unwrap_or(0),
                lines: t.u64(i, "lines")?.unwrap_or(0),
            })
        })
        .collect()
}

/// Load the result directory `dir`; `label` names it in reports (default:
/// the directory's name).
pub fn load(dir: &Path, label: Option<&str>) -> Result<RunResult, ReportError> {
    if !dir.is_dir() {
        return Err(ReportError::new(
            dir,
            "not a result directory (run `hap analyze -o DIR`)",
        ));
    }
    let json_path = dir.join("result.json");
    let text = std::fs::read_to_string(&json_path)
        .map_err(|e| ReportError::new(&json_path, e.to_string()))?;
    let json: Value =
        serde_json::from_str(&text).map_err(|e| ReportError::new(&json_path, e.to_string()))?;
    if !json.is_object() {
        return Err(ReportError::new(&json_path, "not a JSON object"));
    }
    let subtracted = json
        .pointer("/baseline/subtracted")
        .and_then(Value::as_bool)
        == Some(true);
    let functions = read_functions(&dir.join("functions.csv"), subtracted)?;
    let curve = read_curve(&dir.join("curve.csv"))?;
    let label = match label {
        Some(l) => l.to_string(),
        None => dir
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| dir.display().to_string()),
    };
    Ok(RunResult {
        label,
        dir: dir.to_path_buf(),
        json,
        functions,
        curve,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn csv_quotes_commas_newlines() {
        let text = "a,b,c\r\n1,\"x, y\",\"say \"\"hi\"\"\"\n2,,\"two\nlines\"\n";
        let r = parse_csv(text).unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!(r[0], vec!["a", "b", "c"]);
        assert_eq!(r[1], vec!["1", "x, y", "say \"hi\""]);
        assert_eq!(r[2], vec!["2", "", "two\nlines"]);
    }

    #[test]
    fn csv_without_final_newline_and_empty_last_field() {
        assert_eq!(
            parse_csv("a,b\n1,").unwrap(),
            vec![vec!["a", "b"], vec!["1", ""]]
        );
        assert_eq!(parse_csv("").unwrap(), Vec::<Vec<String>>::new());
        assert_eq!(parse_csv("\"\"").unwrap(), vec![vec![""]]);
    }

    #[test]
    fn csv_errors() {
        assert!(parse_csv("a,\"open\n")
            .unwrap_err()
            .contains("unterminated"));
        assert!(parse_csv("\"a\"b\n")
            .unwrap_err()
            .contains("after a closing quote"));
    }

    /// Write a tiny result directory and return it.
    pub(crate) fn write_dir(dir: &Path, json: &str, functions: &str, curve: &str) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("result.json"), json).unwrap();
        std::fs::write(dir.join("functions.csv"), functions).unwrap();
        std::fs::write(dir.join("curve.csv"), curve).unwrap();
    }

    #[test]
    fn load_and_errors_name_the_file() {
        let base = std::env::temp_dir().join(format!("hap-results-test-{}", std::process::id()));
        let dir = base.join("run1");
        write_dir(
            &dir,
            r#"{"functions":2,"lines":30,"hap":0.5,"unresolved_functions":["x"],
               "baseline":{"subtracted":false},"steady_state":{"reached":true,"at_seconds":1.5,"at_functions":2},
               "span_seconds":2.0,"subsystems":[{"name":"MM","functions":2,"lines":30,"hap":0.5}]}"#,
            "function,module,candidates,lines,subsystem,in_baseline,counted\nf,,1,10,MM,false,true\n\"g, h\",mod,2,20,\"A, B\",false,true\nf_copy,,1,10,MM,false,false\n",
            "event,ts_ns,seconds,functions,lines\n0,5,0.0,1,10\n3,9,1.5,2,30\n",
        );
        let r = load(&dir, None).unwrap();
        assert_eq!(r.label, "run1");
        assert_eq!(r.functions.len(), 3);
        assert_eq!(r.counted().count(), 2);
        assert_eq!(r.functions[2].counted_lines(), 0);
        assert_eq!(r.functions[1].function, "g, h");
        assert_eq!(r.functions[1].module.as_deref(), Some("mod"));
        assert_eq!(r.functions[1].subsystem.as_deref(), Some("A, B"));
        assert_eq!(r.ambiguous_functions().len(), 1);
        assert_eq!(r.unresolved_functions(), vec!["x"]);
        assert_eq!(
            r.curve[1],
            CurvePoint {
                seconds: 1.5,
                functions: 2,
                lines: 30
            }
        );
        assert!(r.steady_state_verdict().starts_with("reached at 1.500 s"));
        assert_eq!(r.groups("subsystems")[0].lines, 30);

        std::fs::write(
            dir.join("curve.csv"),
            "event,seconds,functions,lines\n0,zero,1,1\n",
        )
        .unwrap();
        let e = load(&dir, Some("x")).unwrap_err().to_string();
        assert!(e.contains("curve.csv: row 2: `seconds`"), "{e}");
        std::fs::remove_file(dir.join("functions.csv")).unwrap();
        let e = load(&dir, Some("x")).unwrap_err().to_string();
        assert!(e.contains("functions.csv: "), "{e}");
        let e = load(&base.join("nope"), None).unwrap_err().to_string();
        assert!(e.contains("nope: not a result directory"), "{e}");
        std::fs::remove_dir_all(&base).ok();
    }
}
