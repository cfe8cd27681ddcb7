//! Symbol and function tables as DataFrames, written as Parquet (zstd) or CSV.
//!
//! The same column names are used everywhere: `hap symbols` output, the
//! symbol cache, and the symbol columns of `functions.parquet`.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use ingest::atomic::AtomicFile;
use polars::prelude::*;

use crate::measure::Measurement;
use crate::symbols::{SourceFacts, Symbol, SymbolTable};
use crate::Error;

/// The source-tree facts of a symbol, if it was refined.
fn src(s: Option<&Symbol>) -> Option<&SourceFacts> {
    s.and_then(|s| s.source.as_deref())
}

/// Columns of a symbol table, in order (the last six are empty without `--source`).
pub const SYMBOL_COLUMNS: [&str; 14] = [
    "name",
    "address",
    "size",
    "file",
    "start_line",
    "end_line",
    "lines",
    "code_lines",
    "dwarf_end_line",
    "nloc",
    "span_source",
    "macro_kind",
    "subsystem",
    "area",
];

fn symbol_columns<'a>(
    syms: impl Iterator<Item = Option<&'a Symbol>> + Clone,
    prefix: &str,
) -> Vec<Column> {
    let name = |n: &str| PlSmallStr::from(format!("{prefix}{n}"));
    vec![
        Column::new(
            name("name"),
            syms.clone()
                .map(|s| s.map(|s| s.name.as_str()))
                .collect::<Vec<_>>(),
        ),
        Column::new(
            name("address"),
            syms.clone()
                .map(|s| s.map(|s| s.address))
                .collect::<Vec<_>>(),
        ),
        Column::new(
            name("size"),
            syms.clone().map(|s| s.map(|s| s.size)).collect::<Vec<_>>(),
        ),
        Column::new(
            name("file"),
            syms.clone()
                .map(|s| s.and_then(|s| s.file.as_deref()))
                .collect::<Vec<_>>(),
        ),
        Column::new(
            name("start_line"),
            syms.clone()
                .map(|s| s.and_then(|s| s.start_line))
                .collect::<Vec<_>>(),
        ),
        Column::new(
            name("end_line"),
            syms.clone()
                .map(|s| s.and_then(|s| s.end_line))
                .collect::<Vec<_>>(),
        ),
        Column::new(
            name("lines"),
            syms.clone()
                .map(|s| s.and_then(|s| s.lines))
                .collect::<Vec<_>>(),
        ),
        Column::new(
            name("code_lines"),
            syms.clone()
                .map(|s| s.and_then(|s| s.code_lines))
                .collect::<Vec<_>>(),
        ),
        Column::new(
            name("dwarf_end_line"),
            syms.clone()
                .map(|s| src(s).and_then(|f| f.dwarf_end_line))
                .collect::<Vec<_>>(),
        ),
        Column::new(
            name("nloc"),
            syms.clone()
                .map(|s| src(s).and_then(|f| f.nloc))
                .collect::<Vec<_>>(),
        ),
        Column::new(
            name("span_source"),
            syms.clone()
                .map(|s| src(s).and_then(|f| f.span_source))
                .collect::<Vec<_>>(),
        ),
        Column::new(
            name("macro_kind"),
            syms.clone()
                .map(|s| src(s).and_then(|f| f.macro_kind))
                .collect::<Vec<_>>(),
        ),
        Column::new(
            name("subsystem"),
            syms.clone()
                .map(|s| src(s).and_then(|f| f.subsystem.as_deref()))
                .collect::<Vec<_>>(),
        ),
        Column::new(
            name("area"),
            syms.map(|s| src(s).map(|f| f.area.as_str()))
                .collect::<Vec<_>>(),
        ),
    ]
}

/// The symbol table as a DataFrame with [`SYMBOL_COLUMNS`].
pub fn symbols_frame(table: &SymbolTable) -> PolarsResult<DataFrame> {
    DataFrame::new(
        table.symbols.len(),
        symbol_columns(table.symbols.iter().map(Some), ""),
    )
}

/// One row per traced function: `function`, `module`, `events`,
/// `first_ts_ns`, `first_event`, `candidates`, then the symbol columns
/// prefixed `symbol_` except `file`, `start_line`, `end_line`, `lines`,
/// `code_lines` which keep their names, then `in_baseline`, `counted`, `caller`, `syscall`.
pub fn functions_frame(m: &Measurement) -> PolarsResult<DataFrame> {
    let rows = &m.rows;
    let mut cols = vec![
        Column::new(
            "function".into(),
            rows.iter()
                .map(|r| r.traced.name.as_str())
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "module".into(),
            rows.iter()
                .map(|r| r.traced.module.as_deref())
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "events".into(),
            rows.iter().map(|r| r.traced.events).collect::<Vec<_>>(),
        ),
        Column::new(
            "first_ts_ns".into(),
            rows.iter()
                .map(|r| r.traced.first_ts_ns)
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "first_event".into(),
            rows.iter()
                .map(|r| r.traced.first_event)
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "candidates".into(),
            rows.iter().map(|r| r.candidates).collect::<Vec<_>>(),
        ),
    ];
    let mut sym = symbol_columns(rows.iter().map(|r| r.symbol.as_ref()), "");
    for c in sym.iter_mut().take(3) {
        let new = format!("symbol_{}", c.name());
        c.rename(new.into());
    }
    cols.extend(sym);
    cols.push(Column::new(
        "in_baseline".into(),
        rows.iter().map(|r| r.in_baseline).collect::<Vec<_>>(),
    ));
    cols.push(Column::new(
        "counted".into(),
        rows.iter().map(|r| r.counted).collect::<Vec<_>>(),
    ));
    cols.push(Column::new(
        "caller".into(),
        rows.iter()
            .map(|r| r.traced.caller.as_deref())
            .collect::<Vec<_>>(),
    ));
    cols.push(Column::new(
        "syscall".into(),
        rows.iter()
            .map(|r| r.traced.syscall.as_deref())
            .collect::<Vec<_>>(),
    ));
    DataFrame::new(rows.len(), cols)
}

/// The cumulative curve: `event`, `ts_ns`, `seconds` (from the first kept
/// event), `functions`, `lines`, one row per new function.
pub fn curve_frame(m: &Measurement) -> PolarsResult<DataFrame> {
    let c = &m.steady.curve;
    let t0 = m.selection.first_kept_ns;
    DataFrame::new(
        c.len(),
        vec![
            Column::new(
                "event".into(),
                c.iter().map(|p| p.event).collect::<Vec<_>>(),
            ),
            Column::new(
                "ts_ns".into(),
                c.iter().map(|p| p.ts_ns).collect::<Vec<_>>(),
            ),
            Column::new(
                "seconds".into(),
                c.iter()
                    .map(|p| (p.ts_ns - t0) as f64 / 1e9)
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                "functions".into(),
                c.iter().map(|p| p.functions).collect::<Vec<_>>(),
            ),
            Column::new(
                "lines".into(),
                c.iter().map(|p| p.lines).collect::<Vec<_>>(),
            ),
        ],
    )
}

/// Write `df` as zstd Parquet at `path`, atomically.
pub fn write_parquet(df: &mut DataFrame, path: &Path) -> Result<(), Error> {
    let mut out = AtomicFile::create(path).map_err(|e| Error::io(path, e))?;
    ParquetWriter::new(out.file())
        .with_compression(ParquetCompression::Zstd(None))
        .finish(df)
        .map_err(|e| Error::table(path, e))?;
    out.commit().map_err(|e| Error::io(path, e))
}

/// Write `df` as CSV (RFC 4180 quoting, empty field for null) at `path`, atomically.
pub fn write_csv(df: &DataFrame, path: &Path) -> Result<(), Error> {
    let mut out = AtomicFile::create(path).map_err(|e| Error::io(path, e))?;
    write_csv_to(df, &mut std::io::BufWriter::new(out.file())).map_err(|e| Error::io(path, e))?;
    out.commit().map_err(|e| Error::io(path, e))
}

/// Write `df` as CSV to any writer.
pub fn write_csv_to(df: &DataFrame, w: &mut impl Write) -> std::io::Result<()> {
    let cols = df.columns();
    let header: Vec<String> = cols.iter().map(|c| csv_field(c.name())).collect();
    writeln!(w, "{}", header.join(","))?;
    for i in 0..df.height() {
        for (j, c) in cols.iter().enumerate() {
            if j > 0 {
                w.write_all(b",")?;
            }
            match c.get(i).map_err(std::io::Error::other)? {
                AnyValue::Null => {}
                AnyValue::String(s) => w.write_all(csv_field(s).as_bytes())?,
                AnyValue::StringOwned(s) => w.write_all(csv_field(&s).as_bytes())?,
                v => write!(w, "{v}")?,
            }
        }
        w.write_all(b"\n")?;
    }
    w.flush()
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Write a symbol table to `path`: CSV if it ends in `.csv`, else Parquet.
pub fn write_symbols(table: &SymbolTable, path: &Path) -> Result<(), Error> {
    let mut df = symbols_frame(table).map_err(|e| Error::table(path, e))?;
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
    {
        write_csv(&df, path)
    } else {
        write_parquet(&mut df, path)
    }
}

/// Read a symbol table written by [`write_symbols`] as Parquet.
pub fn read_symbols(path: &Path, build_id: Option<Vec<u8>>) -> Result<SymbolTable, Error> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let df = ParquetReader::new(file)
        .finish()
        .map_err(|e| Error::table(path, e))?;
    let err = |e: PolarsError| Error::table(path, e);
    let name = df.column("name").map_err(err)?.str().map_err(err)?;
    let address = df.column("address").map_err(err)?.u64().map_err(err)?;
    let size = df.column("size").map_err(err)?.u64().map_err(err)?;
    let file_c = df.column("file").map_err(err)?.str().map_err(err)?;
    let u32col = |n: &str| -> Result<&UInt32Chunked, Error> {
        df.column(n).map_err(err)?.u32().map_err(err)
    };
    let (start, end, lines, code) = (
        u32col("start_line")?,
        u32col("end_line")?,
        u32col("lines")?,
        u32col("code_lines")?,
    );
    let mut symbols = Vec::with_capacity(df.height());
    for i in 0..df.height() {
        symbols.push(Symbol {
            name: name.get(i).unwrap_or("").to_string(),
            address: address.get(i).unwrap_or(0),
            size: size.get(i).unwrap_or(0),
            file: file_c.get(i).map(str::to_string),
            start_line: start.get(i),
            end_line: end.get(i),
            lines: lines.get(i),
            code_lines: code.get(i),
            source: None,
        });
    }
    Ok(SymbolTable { build_id, symbols })
}
