//! Whether a CVE record affects a kernel release, by the CVE JSON 5 version
//! status algorithm applied to the records' semver entries.
//!
//! **The rule** (worked examples from real records in `docs/method.md`,
//! "Bug density from CVE records"):
//!
//! 1. Every `affected[]` product object is evaluated on its own, as the
//!    CVE JSON 5 "Version Status Decisions" algorithm says: the first
//!    `versions[]` entry that matches the release gives its `status`;
//!    when none matches, the object's `defaultStatus` (absent: unknown).
//! 2. Entries with `versionType: "git"` are skipped (commit ranges need
//!    the repository's commit graph); every other entry is read as a
//!    kernel release number (`semver`, `original_commit_for_fix`, or no
//!    type for a single version).
//! 3. A range entry matches `version <= V < lessThan` or
//!    `version <= V <= lessThanOrEqual`; `"0"` is no lower bound and a `*`
//!    component is infinity, so `lessThanOrEqual: "6.1.*"` covers the whole
//!    6.1 stable series and `"*"` has no upper bound. An entry without a
//!    range matches exactly its `version`. Missing components are 0
//!    (`6.11` = `6.11.0`), comparison is numeric per component.
//! 4. The record affects V when **any** product object says `affected`.
//!    The kernel CNA splits one answer over two objects: the first
//!    (`defaultStatus: "unaffected"`) holds the git ranges and, for bugs
//!    that reached a stable series by backport, explicit affected semver
//!    ranges (`6.6.51` to `6.6.133`); the second (`defaultStatus:
//!    "affected"`) holds the mainline picture (introduced in `6.11`,
//!    unaffected before it, fixed in `6.6.133` for 6.6, in `6.13` for
//!    mainline). The second object's "unaffected before 6.11" is wrong for
//!    the backport window, which only the first states; taking the union
//!    of the two "affected" answers is what the record means.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use super::records::{Affected, CveRecord, Status, VersionEntry};

/// A kernel release number such as `6.1.192` or `6.12` (= `6.12.0`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KernelVersion {
    parts: Vec<u64>,
}

impl KernelVersion {
    /// The numeric components as written (`[6, 1, 192]`).
    pub fn parts(&self) -> &[u64] {
        &self.parts
    }

    /// The stable series, `major.minor` (`6.1`).
    pub fn series(&self) -> String {
        format!(
            "{}.{}",
            self.parts[0],
            self.parts.get(1).copied().unwrap_or(0)
        )
    }
}

impl FromStr for KernelVersion {
    type Err = String;

    /// Parse `X.Y[.Z[.W]]`, numbers only (no `-rc`, no local suffix).
    fn from_str(s: &str) -> Result<KernelVersion, String> {
        let parts = s
            .trim()
            .split('.')
            .map(|p| {
                p.parse::<u64>()
                    .map_err(|_| format!("not a kernel version: {s:?}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(KernelVersion { parts })
    }
}

impl fmt::Display for KernelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s: Vec<String> = self.parts.iter().map(u64::to_string).collect();
        f.write_str(&s.join("."))
    }
}

/// One component of a bound: a number or `*` (infinity).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Part {
    Num(u64),
    Inf,
}

/// A version as a bound: numeric components, possibly ending in `*`.
fn bound(s: &str) -> Option<Vec<Part>> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    s.split('.')
        .map(|p| match p {
            "*" => Some(Part::Inf),
            _ => p.parse::<u64>().ok().map(Part::Num),
        })
        .collect()
}

/// Compare a release with a bound, missing components being 0.
fn cmp(v: &KernelVersion, b: &[Part]) -> Ordering {
    let n = v.parts.len().max(b.len());
    for i in 0..n {
        let x = Part::Num(v.parts.get(i).copied().unwrap_or(0));
        let y = b.get(i).copied().unwrap_or(Part::Num(0));
        match x.cmp(&y) {
            Ordering::Equal => continue,
            o => return o,
        }
    }
    Ordering::Equal
}

/// Whether a non-git entry matches `v`: `None` when the entry cannot be
/// read (git, or a bound that is not a release number).
pub fn entry_matches(e: &VersionEntry, v: &KernelVersion) -> Option<bool> {
    if e.is_git() {
        return None;
    }
    let lo = bound(&e.version)?;
    if let Some(lt) = &e.less_than {
        let hi = bound(lt)?;
        Some(cmp(v, &lo) != Ordering::Less && cmp(v, &hi) == Ordering::Less)
    } else if let Some(le) = &e.less_than_or_equal {
        let hi = bound(le)?;
        Some(cmp(v, &lo) != Ordering::Less && cmp(v, &hi) != Ordering::Greater)
    } else {
        Some(cmp(v, &lo) == Ordering::Equal)
    }
}

/// Status of `v` in one product object: first matching non-git entry,
/// else `defaultStatus`. Also returns the index of the deciding entry.
pub fn product_status(a: &Affected, v: &KernelVersion) -> (Status, Option<usize>) {
    for (i, e) in a.versions.iter().enumerate() {
        if entry_matches(e, v) == Some(true) {
            return (e.status, Some(i));
        }
    }
    (a.default_status, None)
}

/// Whether the record affects release `v`: some product object's status
/// for `v` is `affected` (rule in the module docs).
pub fn affects(r: &CveRecord, v: &KernelVersion) -> bool {
    r.affected
        .iter()
        .any(|a| product_status(a, v).0 == Status::Affected)
}

/// Whether the record affects any release of `v`'s stable series up to
/// `v` (`6.1.0` … `6.1.192` for `6.1.192`): the bug was in this series'
/// code at some point, fixed by `v` or not. A mainline-only `v`
/// (`6.12`) is the series' first release, so this equals [`affects`].
pub fn affects_series(r: &CveRecord, v: &KernelVersion) -> bool {
    let (major, minor) = (v.parts[0], v.parts.get(1).copied().unwrap_or(0));
    let last = v.parts.get(2).copied().unwrap_or(0);
    (0..=last).any(|z| {
        let mut parts = vec![major, minor, z];
        parts.extend(v.parts.iter().skip(3).copied().filter(|_| z == last));
        affects(r, &KernelVersion { parts })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(s: &str) -> KernelVersion {
        s.parse().unwrap()
    }

    fn entry(
        v: &str,
        lt: Option<&str>,
        le: Option<&str>,
        st: Status,
        ty: Option<&str>,
    ) -> VersionEntry {
        VersionEntry {
            version: v.into(),
            less_than: lt.map(Into::into),
            less_than_or_equal: le.map(Into::into),
            status: st,
            version_type: ty.map(Into::into),
        }
    }

    #[test]
    fn parses_and_prints() {
        assert_eq!(kv("6.1.192").parts(), &[6, 1, 192]);
        assert_eq!(kv("6.12.117").series(), "6.12");
        assert_eq!(kv("2.6.32.1").to_string(), "2.6.32.1");
        assert!("6.1-rc1".parse::<KernelVersion>().is_err());
        assert!("".parse::<KernelVersion>().is_err());
    }

    #[test]
    fn ranges_and_wildcards() {
        let u = Status::Unaffected;
        let series = entry("6.1.50", None, Some("6.1.*"), u, Some("semver"));
        assert_eq!(entry_matches(&series, &kv("6.1.192")), Some(true));
        assert_eq!(entry_matches(&series, &kv("6.1.49")), Some(false));
        assert_eq!(entry_matches(&series, &kv("6.2")), Some(false));
        let open = entry("6.13", None, Some("*"), u, Some("original_commit_for_fix"));
        assert_eq!(entry_matches(&open, &kv("6.12.117")), Some(false));
        assert_eq!(entry_matches(&open, &kv("6.13")), Some(true));
        assert_eq!(entry_matches(&open, &kv("7.0.1")), Some(true));
        let below = entry("0", Some("6.11"), None, u, Some("semver"));
        assert_eq!(entry_matches(&below, &kv("6.1.192")), Some(true));
        assert_eq!(entry_matches(&below, &kv("6.11")), Some(false));
        let single = entry("6.11", None, None, Status::Affected, None);
        assert_eq!(entry_matches(&single, &kv("6.11.0")), Some(true));
        assert_eq!(entry_matches(&single, &kv("6.11.1")), Some(false));
        let git = entry("abc", Some("def"), None, Status::Affected, Some("git"));
        assert_eq!(entry_matches(&git, &kv("6.1")), None);
    }

    #[test]
    fn first_match_then_default_then_union() {
        let a = Affected {
            vendor: "Linux".into(),
            product: "Linux".into(),
            default_status: Status::Affected,
            versions: vec![
                entry("6.11", None, None, Status::Affected, None),
                entry("0", Some("6.11"), None, Status::Unaffected, Some("semver")),
                entry(
                    "6.6.133",
                    None,
                    Some("6.6.*"),
                    Status::Unaffected,
                    Some("semver"),
                ),
                entry(
                    "6.13",
                    None,
                    Some("*"),
                    Status::Unaffected,
                    Some("original_commit_for_fix"),
                ),
            ],
            program_files: vec![],
        };
        assert_eq!(
            product_status(&a, &kv("6.6.60")),
            (Status::Unaffected, Some(1))
        );
        assert_eq!(
            product_status(&a, &kv("6.12.117")),
            (Status::Affected, None)
        );
        let b = Affected {
            default_status: Status::Unaffected,
            versions: vec![entry(
                "6.6.51",
                Some("6.6.133"),
                None,
                Status::Affected,
                Some("semver"),
            )],
            ..a.clone()
        };
        let r = CveRecord {
            id: "X".into(),
            published: None,
            affected: vec![b, a],
            cvss: None,
        };
        assert!(affects(&r, &kv("6.6.60")));
        assert!(!affects(&r, &kv("6.6.133")));
        assert!(affects(&r, &kv("6.12.117")));
        assert!(!affects(&r, &kv("6.1.192")));
        assert!(!affects(&r, &kv("6.13.2")));
    }
}
