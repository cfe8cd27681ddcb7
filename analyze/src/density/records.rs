//! CVE JSON 5 records of the Linux kernel CNA, loaded from a directory tree
//! or straight from a `.tar.zst` (or plain `.tar`) snapshot of the `vulns`
//! repository.
//!
//! Only what the density needs is kept: the id, the publication date when
//! the record carries one (the 2026-08-21 snapshot's `cveMetadata` has only
//! `assignerOrgId`, `cveId` and `state`, so it is `None` there), every
//! `containers.cna.affected` product entry with its `defaultStatus`,
//! `versions[]` and `programFiles`, and the highest CVSS base score found in
//! `containers.cna.metrics` (and any `adp` container's metrics).
//!
//! **Which files are records.** Files named `CVE-*.json`, skipping any
//! path with a `rejected` component (the repository keeps rejected ids in
//! `cve/rejected/`) and records whose `cveMetadata.state` is not
//! `PUBLISHED`. Other files (`.sha256`, `.mbox`, `.vulnerable`, `.dyad`)
//! are ignored; the snapshot holds only the JSON files. Records are
//! returned sorted by id, so a load is deterministic whatever the order of
//! the archive or the directory.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde_json::Value;

use super::DensityError;

/// Status of a version or range, as CVE JSON 5 spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// `"affected"`.
    Affected,
    /// `"unaffected"`.
    Unaffected,
    /// `"unknown"`, or a status that is absent or not understood.
    Unknown,
}

impl Status {
    /// Parse a status string; anything but `affected`/`unaffected` is
    /// [`Status::Unknown`].
    pub fn parse(s: Option<&str>) -> Status {
        match s {
            Some("affected") => Status::Affected,
            Some("unaffected") => Status::Unaffected,
            _ => Status::Unknown,
        }
    }
}

/// One object of an `affected[].versions[]` array.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionEntry {
    /// `version`: the single version, or the lower bound of a range.
    pub version: String,
    /// `lessThan`: exclusive upper bound.
    pub less_than: Option<String>,
    /// `lessThanOrEqual`: inclusive upper bound.
    pub less_than_or_equal: Option<String>,
    /// `status`.
    pub status: Status,
    /// `versionType` (`git`, `semver`, `original_commit_for_fix`, ...).
    pub version_type: Option<String>,
}

impl VersionEntry {
    /// Whether the entry is a range (has `lessThan` or `lessThanOrEqual`).
    pub fn is_range(&self) -> bool {
        self.less_than.is_some() || self.less_than_or_equal.is_some()
    }

    /// Whether the entry names git commits (`versionType: "git"`), which
    /// need a repository to be ordered.
    pub fn is_git(&self) -> bool {
        self.version_type.as_deref() == Some("git")
    }
}

/// One product object of `containers.cna.affected`.
#[derive(Debug, Clone, PartialEq)]
pub struct Affected {
    /// `vendor` (`Linux` for every kernel record).
    pub vendor: String,
    /// `product` (`Linux`).
    pub product: String,
    /// `defaultStatus`: status of versions no entry matches
    /// ([`Status::Unknown`] when absent, as the schema says).
    pub default_status: Status,
    /// `versions[]` in record order.
    pub versions: Vec<VersionEntry>,
    /// `programFiles[]`: source files changed by the fix, relative to the
    /// tree root.
    pub program_files: Vec<String>,
}

/// A CVE record, reduced to what the density needs.
#[derive(Debug, Clone, PartialEq)]
pub struct CveRecord {
    /// `cveMetadata.cveId`, e.g. `CVE-2024-26581`.
    pub id: String,
    /// `cveMetadata.datePublished` when present.
    pub published: Option<String>,
    /// `containers.cna.affected[]`.
    pub affected: Vec<Affected>,
    /// Highest CVSS base score in the record's metrics (v4.0, v3.1, v3.0 or
    /// v2.0), `None` when it has none.
    pub cvss: Option<f64>,
}

impl CveRecord {
    /// The union of the product entries' `programFiles`, each once, in
    /// first-seen order.
    pub fn program_files(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for a in &self.affected {
            for f in &a.program_files {
                if !out.contains(&f.as_str()) {
                    out.push(f);
                }
            }
        }
        out
    }

    /// Parse one record's JSON text. `origin` names it in errors. Returns
    /// `Ok(None)` for a record whose state is not `PUBLISHED`.
    pub fn parse(bytes: &[u8], origin: &Path) -> Result<Option<CveRecord>, DensityError> {
        let v: Value = serde_json::from_slice(bytes)
            .map_err(|e| DensityError::new(origin, format!("invalid JSON: {e}")))?;
        let meta = &v["cveMetadata"];
        let id = meta["cveId"]
            .as_str()
            .ok_or_else(|| DensityError::new(origin, "no cveMetadata.cveId"))?
            .to_string();
        if meta["state"].as_str().is_some_and(|s| s != "PUBLISHED") {
            return Ok(None);
        }
        let cna = &v["containers"]["cna"];
        let affected = match &cna["affected"] {
            Value::Array(items) => items
                .iter()
                .map(parse_affected)
                .collect::<Result<Vec<_>, String>>()
                .map_err(|m| DensityError::new(origin, format!("{id}: {m}")))?,
            Value::Null => Vec::new(),
            _ => {
                return Err(DensityError::new(
                    origin,
                    format!("{id}: affected is not an array"),
                ))
            }
        };
        let mut cvss: Option<f64> = None;
        let mut containers = vec![cna];
        if let Value::Array(adp) = &v["containers"]["adp"] {
            containers.extend(adp.iter());
        }
        for c in containers {
            if let Value::Array(metrics) = &c["metrics"] {
                for m in metrics {
                    for key in ["cvssV4_0", "cvssV3_1", "cvssV3_0", "cvssV2_0"] {
                        if let Some(s) = m[key]["baseScore"].as_f64() {
                            cvss = Some(cvss.map_or(s, |c: f64| c.max(s)));
                        }
                    }
                }
            }
        }
        Ok(Some(CveRecord {
            id,
            published: meta["datePublished"].as_str().map(str::to_string),
            affected,
            cvss,
        }))
    }
}

fn string_list(v: &Value) -> Vec<String> {
    match v {
        Value::Array(items) => items
            .iter()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

fn parse_affected(a: &Value) -> Result<Affected, String> {
    let versions = match &a["versions"] {
        Value::Array(items) => items
            .iter()
            .map(|e| {
                let version = match &e["version"] {
                    Value::String(s) => s.clone(),
                    _ => return Err("a versions[] entry has no version".to_string()),
                };
                Ok(VersionEntry {
                    version,
                    less_than: e["lessThan"].as_str().map(str::to_string),
                    less_than_or_equal: e["lessThanOrEqual"].as_str().map(str::to_string),
                    status: Status::parse(e["status"].as_str()),
                    version_type: e["versionType"].as_str().map(str::to_string),
                })
            })
            .collect::<Result<Vec<_>, String>>()?,
        _ => Vec::new(),
    };
    Ok(Affected {
        vendor: a["vendor"].as_str().unwrap_or_default().to_string(),
        product: a["product"].as_str().unwrap_or_default().to_string(),
        default_status: Status::parse(a["defaultStatus"].as_str()),
        versions,
        program_files: string_list(&a["programFiles"]),
    })
}

/// Whether `path` (a file path or archive member name) names a record
/// file: a `CVE-*.json` with no `rejected` component.
pub fn is_record_path(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.starts_with("CVE-")
        && name.ends_with(".json")
        && !path.components().any(|c| c.as_os_str() == "rejected")
}

/// Load every published record under `path`: a directory (walked
/// recursively, hidden entries skipped), a `.tar.zst`/`.tzst` archive, a
/// `.tar`, or a single record file. Records are sorted by id.
pub fn load(path: &Path) -> Result<Vec<CveRecord>, DensityError> {
    let meta = std::fs::metadata(path).map_err(|e| DensityError::io(path, "CVE records", &e))?;
    let mut raw: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    if meta.is_dir() {
        let mut files = Vec::new();
        walk(path, &mut files)?;
        raw = files
            .into_par_iter()
            .map(|f| {
                std::fs::read(&f)
                    .map(|b| (f.clone(), b))
                    .map_err(|e| DensityError::io(&f, "CVE record", &e))
            })
            .collect::<Result<_, _>>()?;
    } else {
        let name = path.to_string_lossy();
        if name.ends_with(".tar.zst") || name.ends_with(".tzst") {
            let file = File::open(path).map_err(|e| DensityError::io(path, "archive", &e))?;
            let dec = zstd::stream::read::Decoder::new(file)
                .map_err(|e| DensityError::io(path, "zstd stream", &e))?;
            read_tar(path, dec, &mut raw)?;
        } else if name.ends_with(".tar") {
            let file = File::open(path).map_err(|e| DensityError::io(path, "archive", &e))?;
            read_tar(path, file, &mut raw)?;
        } else {
            let bytes =
                std::fs::read(path).map_err(|e| DensityError::io(path, "CVE record", &e))?;
            raw.push((path.to_path_buf(), bytes));
        }
    }
    let parsed: Vec<Option<CveRecord>> = raw
        .par_iter()
        .map(|(p, b)| CveRecord::parse(b, p))
        .collect::<Result<_, _>>()?;
    let mut records: Vec<CveRecord> = parsed.into_iter().flatten().collect();
    records.sort_by(|a, b| a.id.cmp(&b.id));
    if let Some(w) = records.windows(2).find(|w| w[0].id == w[1].id) {
        return Err(DensityError::new(
            path,
            format!("{} appears twice", w[0].id),
        ));
    }
    Ok(records)
}

fn read_tar<R: Read>(
    path: &Path,
    reader: R,
    out: &mut Vec<(PathBuf, Vec<u8>)>,
) -> Result<(), DensityError> {
    let mut archive = tar::Archive::new(reader);
    let entries = archive
        .entries()
        .map_err(|e| DensityError::io(path, "tar archive", &e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| DensityError::io(path, "tar entry", &e))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let member = entry
            .path()
            .map_err(|e| DensityError::io(path, "tar member name", &e))?
            .into_owned();
        if !is_record_path(&member) {
            continue;
        }
        let mut bytes = Vec::with_capacity(entry.size() as usize);
        let origin = PathBuf::from(format!("{}:{}", path.display(), member.display()));
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| DensityError::io(&origin, "tar member", &e))?;
        out.push((origin, bytes));
    }
    Ok(())
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), DensityError> {
    let rd = std::fs::read_dir(dir).map_err(|e| DensityError::io(dir, "directory", &e))?;
    for ent in rd {
        let ent = ent.map_err(|e| DensityError::io(dir, "directory entry", &e))?;
        let name = ent.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let p = ent.path();
        let ft = ent
            .file_type()
            .map_err(|e| DensityError::io(&p, "file type", &e))?;
        if ft.is_dir() {
            if name != "rejected" {
                walk(&p, out)?;
            }
        } else if is_record_path(&p) {
            out.push(p);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const REC: &str = r#"{"cveMetadata":{"cveId":"CVE-2099-0001","state":"PUBLISHED"},
      "containers":{"cna":{"affected":[
        {"product":"Linux","vendor":"Linux","defaultStatus":"unaffected",
         "programFiles":["fs/a.c","fs/b.c"],
         "versions":[{"version":"abc","lessThan":"def","status":"affected","versionType":"git"}]},
        {"product":"Linux","vendor":"Linux","defaultStatus":"affected",
         "programFiles":["fs/a.c"],
         "versions":[{"version":"6.1","status":"affected"},
                     {"version":"6.1.50","lessThanOrEqual":"6.1.*","status":"unaffected","versionType":"semver"}]}],
       "metrics":[{"cvssV3_1":{"baseScore":5.5}},{"cvssV3_1":{"baseScore":7.8}}]}}}"#;

    #[test]
    fn parses_the_fields() {
        let r = CveRecord::parse(REC.as_bytes(), Path::new("x"))
            .unwrap()
            .unwrap();
        assert_eq!(r.id, "CVE-2099-0001");
        assert_eq!(r.published, None);
        assert_eq!(r.affected.len(), 2);
        assert_eq!(r.affected[0].default_status, Status::Unaffected);
        assert!(r.affected[0].versions[0].is_git());
        let e = &r.affected[1].versions[1];
        assert_eq!(e.less_than_or_equal.as_deref(), Some("6.1.*"));
        assert_eq!(e.status, Status::Unaffected);
        assert!(!r.affected[1].versions[0].is_range());
        assert_eq!(r.program_files(), vec!["fs/a.c", "fs/b.c"]);
        assert_eq!(r.cvss, Some(7.8));
    }

    #[test]
    fn rejected_and_broken_records() {
        let rej = REC.replace("PUBLISHED", "REJECTED");
        assert_eq!(
            CveRecord::parse(rej.as_bytes(), Path::new("x")).unwrap(),
            None
        );
        let err = CveRecord::parse(b"{", Path::new("dir/CVE-1.json")).unwrap_err();
        assert!(
            err.to_string().starts_with("dir/CVE-1.json: invalid JSON"),
            "{err}"
        );
        assert!(is_record_path(Path::new(
            "cve/published/2024/CVE-2024-1.json"
        )));
        assert!(!is_record_path(Path::new(
            "cve/rejected/2024/CVE-2024-1.json"
        )));
        assert!(!is_record_path(Path::new(
            "cve/published/2024/CVE-2024-1.sha256"
        )));
    }

    #[test]
    fn loads_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("cve/published/2099");
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(sub.join("CVE-2099-0001.json"), REC).unwrap();
        std::fs::write(sub.join("CVE-2099-0001.sha256"), "x").unwrap();
        let recs = load(dir.path()).unwrap();
        assert_eq!(recs.len(), 1);
        let missing = load(&dir.path().join("nope")).unwrap_err();
        assert!(
            missing.to_string().contains("nope: CVE records"),
            "{missing}"
        );
    }
}
