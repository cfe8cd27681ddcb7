//! Subsystems from the kernel's MAINTAINERS file, ranked the way
//! `scripts/get_maintainer.pl` ranks them.
//!
//! **Sections.** A section is a title line followed by `X:\tvalue` lines
//! (blank and `#` lines in between are ignored; any other line starts the
//! next title). Only `F:` (file patterns), `X:` (excluded patterns) and `N:`
//! (regular expressions on the path) matter here.
//!
//! **Patterns**, as get_maintainer.pl reads them: `*` matches any run of
//! characters (slashes included), `?` one character, `.` itself; the
//! pattern must match a *prefix* of the path. A pattern ending in `/`
//! matches everything below that directory. Any other pattern matches only
//! paths with the same number of `/` (so `drivers/net/*/` matches
//! `drivers/net/ethernet/intel/e1000/e1000_main.c`, but `arch/*/kvm` does
//! not match `arch/x86/kvm/x86.c`); get_maintainer.pl appends the `/` itself
//! when the pattern names an existing directory, which [`Maintainers::load`]
//! checks in the tree. [`Maintainers::parse`] has no tree, so a pattern
//! without wildcards or dots matches both ways (as a file and as a
//! directory).
//!
//! **Ranking.** A section whose `X:` pattern matches the file is out. Every
//! other section with a matching `F:` or `N:` line gets the weight of its
//! *last* matching line (get_maintainer.pl overwrites a hash entry per line):
//! for `F:` the number of `/` in the pattern, plus one when it does not end
//! in `/`, or -1 for patterns starting with `*` (THE REST's `*` and `*/`);
//! for `N:` 0. The highest weight wins: the most specific path. THE REST
//! (weight -1) thus wins only when nothing else matches. get_maintainer.pl
//! lists tied sections in Perl's hash order, which changes from run to run;
//! here a tie goes to the pattern with the longer literal part (`F:
//! fs/aio.c` before `F: fs/*` for `fs/aio.c`: AIO rather than FILESYSTEMS),
//! then to the section that comes first in MAINTAINERS.
//!
//! **Speed.** Patterns are indexed by their literal prefix (up to the first
//! wildcard), so a path is tested only against the patterns whose prefix it
//! starts with, plus one [`RegexSet`] for all `N:` lines; answers are cached
//! per path.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use regex::{Regex, RegexSet};

use super::error::SourceError;

/// How one `F:`/`X:` pattern matches.
#[derive(Debug)]
enum Matcher {
    /// No wildcard: a plain prefix test.
    Literal(String),
    /// With wildcards: `^` + the converted pattern.
    Regex(Regex),
}

/// One `F:` or `X:` line.
#[derive(Debug)]
struct Pattern {
    section: u32,
    /// Position of the line within its section.
    order: u32,
    exclude: bool,
    matcher: Matcher,
    /// Ends in `/`: everything below matches.
    dir: bool,
    /// May also be a directory (wildcard-free, no tree to ask).
    maybe_dir: bool,
    /// Number of `/` in the pattern.
    slashes: usize,
    /// get_maintainer.pl's rank of the pattern.
    weight: i32,
}

/// A parsed MAINTAINERS file.
#[derive(Debug)]
pub struct Maintainers {
    titles: Vec<String>,
    patterns: Vec<Pattern>,
    /// Literal prefix → indices into `patterns`.
    by_prefix: HashMap<String, Vec<u32>>,
    /// `N:` lines: (section, order) per regex of `names`.
    name_lines: Vec<(u32, u32)>,
    names: RegexSet,
    /// Answers so far: path → section index.
    memo: Mutex<HashMap<String, Option<u32>>>,
}

impl Maintainers {
    /// Parse MAINTAINERS text without a tree to look at (see the module
    /// docs for wildcard-free patterns). Never fails: lines that are not
    /// understood are ignored, invalid `N:` expressions dropped.
    pub fn parse(text: &str) -> Maintainers {
        Maintainers::build(text, None)
    }

    /// Read and parse `MAINTAINERS` at the top of the tree at `tree_root`,
    /// asking the tree whether wildcard-free patterns are directories, as
    /// get_maintainer.pl does.
    pub fn load(tree_root: &Path) -> Result<Maintainers, SourceError> {
        let path = tree_root.join("MAINTAINERS");
        let bytes =
            std::fs::read(&path).map_err(|e| SourceError::io(&path, "MAINTAINERS file", &e))?;
        let text = String::from_utf8_lossy(&bytes);
        let is_dir = |p: &str| tree_root.join(p).is_dir();
        let m = Maintainers::build(&text, Some(&is_dir));
        if m.titles.is_empty() {
            return Err(SourceError::invalid(
                &path,
                "MAINTAINERS file",
                "no sections",
            ));
        }
        Ok(m)
    }

    /// Number of sections (with at least one field line).
    pub fn len(&self) -> usize {
        self.titles.len()
    }

    /// Whether no section was found.
    pub fn is_empty(&self) -> bool {
        self.titles.is_empty()
    }

    fn build(text: &str, is_dir: Option<&dyn Fn(&str) -> bool>) -> Maintainers {
        let mut titles: Vec<String> = Vec::new();
        let mut patterns = Vec::new();
        let mut name_lines = Vec::new();
        let mut name_res = Vec::new();
        let mut title: Option<&str> = None;
        let mut in_section = false;
        let mut order = 0u32;
        for raw in text.lines() {
            let line = raw.trim_end();
            let field = line.as_bytes();
            let is_field = field.len() >= 2 && field[0].is_ascii_uppercase() && field[1] == b':';
            if !is_field {
                if !(line.trim().is_empty() || line.trim_start().starts_with('#')) {
                    title = Some(line);
                    in_section = false;
                }
                continue;
            }
            if !in_section {
                let Some(t) = title.take() else { continue };
                titles.push(t.to_string());
                in_section = true;
                order = 0;
            }
            order += 1;
            let section = (titles.len() - 1) as u32;
            let value = line[2..].trim();
            match field[0] {
                b'F' | b'X' if !value.is_empty() => {
                    patterns.push(pattern(value, section, order, field[0] == b'X', is_dir));
                }
                b'N' if !value.is_empty() => {
                    let re = format!("(?x){value}");
                    if Regex::new(&re).is_ok() {
                        name_res.push(re);
                        name_lines.push((section, order));
                    }
                }
                _ => {}
            }
        }
        let mut by_prefix: HashMap<String, Vec<u32>> = HashMap::new();
        for (i, p) in patterns.iter().enumerate() {
            let key = match &p.matcher {
                Matcher::Literal(l) => l.clone(),
                Matcher::Regex(r) => literal_prefix(&r.as_str()[1..]),
            };
            by_prefix.entry(key).or_default().push(i as u32);
        }
        let names = RegexSet::new(&name_res).unwrap_or_else(|_| RegexSet::empty());
        Maintainers {
            titles,
            patterns,
            by_prefix,
            name_lines,
            names,
            memo: Mutex::new(HashMap::new()),
        }
    }

    /// Title of the best-ranked section for `file` (a path relative to the
    /// tree root, e.g. `fs/ext4/inode.c`), `None` when no section matches.
    pub fn subsystem_of(&self, file: &str) -> Option<&str> {
        let lock = || self.memo.lock().unwrap_or_else(|p| p.into_inner());
        let cached = lock().get(file).copied();
        let best = cached.unwrap_or_else(|| {
            let best = self.rank(file);
            lock().insert(file.to_string(), best);
            best
        });
        best.map(|s| self.titles[s as usize].as_str())
    }

    /// Every matching section with its weight, best first (the order of
    /// `get_maintainer.pl --subsystem`; ties broken as the module docs say).
    pub fn ranked(&self, file: &str) -> Vec<(&str, i32)> {
        let mut hits: Vec<(u32, Rank)> = self.matches(file).into_iter().collect();
        hits.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        hits.into_iter()
            .map(|(s, r)| (self.titles[s as usize].as_str(), r.weight))
            .collect()
    }

    fn rank(&self, file: &str) -> Option<u32> {
        let hits = self.matches(file);
        hits.into_iter()
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
            .map(|(s, _)| s)
    }

    /// Section → rank of its last matching line, excluded sections removed.
    fn matches(&self, file: &str) -> HashMap<u32, Rank> {
        let mut last: HashMap<u32, (u32, Rank)> = HashMap::new();
        let mut excluded: Vec<u32> = Vec::new();
        let mut note = |section: u32, order: u32, rank: Rank| {
            let e = last.entry(section).or_insert((order, rank));
            if order >= e.0 {
                *e = (order, rank);
            }
        };
        let slashes = file.bytes().filter(|&b| b == b'/').count();
        let ends: Vec<usize> = (0..=file.len())
            .filter(|&k| file.is_char_boundary(k))
            .collect();
        for k in ends {
            let Some(ids) = self.by_prefix.get(&file[..k]) else {
                continue;
            };
            for &id in ids {
                let p = &self.patterns[id as usize];
                if !p.matches(file, slashes) {
                    continue;
                }
                if p.exclude {
                    excluded.push(p.section);
                } else {
                    let rank = Rank {
                        weight: p.weight,
                        literal: k,
                    };
                    note(p.section, p.order, rank);
                }
            }
        }
        for n in self.names.matches(file).iter() {
            let (section, order) = self.name_lines[n];
            note(
                section,
                order,
                Rank {
                    weight: 0,
                    literal: 0,
                },
            );
        }
        last.into_iter()
            .filter(|(s, _)| !excluded.contains(s))
            .map(|(s, (_, r))| (s, r))
            .collect()
    }
}

/// How well a section matches a path: get_maintainer.pl's weight, then,
/// for ties, the length of the matching pattern's literal part.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Rank {
    weight: i32,
    literal: usize,
}

impl Pattern {
    fn matches(&self, file: &str, file_slashes: usize) -> bool {
        let (prefix_ok, matched_len) = match &self.matcher {
            Matcher::Literal(l) => (file.starts_with(l.as_str()), l.len()),
            Matcher::Regex(r) => match r.find(file) {
                Some(m) => (true, m.end()),
                None => (false, 0),
            },
        };
        if !prefix_ok {
            return false;
        }
        if self.dir || file_slashes == self.slashes {
            return true;
        }
        // A wildcard-free pattern that may name a directory.
        self.maybe_dir && file.as_bytes().get(matched_len) == Some(&b'/')
    }
}

/// One `F:`/`X:` value converted as get_maintainer.pl does.
fn pattern(
    value: &str,
    section: u32,
    order: u32,
    exclude: bool,
    is_dir: Option<&dyn Fn(&str) -> bool>,
) -> Pattern {
    let wild = value.contains([
        '*', '?', '[', ']', '(', ')', '{', '}', '|', '+', '^', '$', '\\',
    ]);
    let mut value = value.to_string();
    let mut maybe_dir = false;
    if !wild && !value.contains('.') && !value.ends_with('/') {
        match is_dir {
            Some(f) if f(&value) => value.push('/'),
            Some(_) => {}
            None => maybe_dir = true,
        }
    }
    let dir = value.ends_with('/');
    let slashes = value.bytes().filter(|&b| b == b'/').count();
    let weight = if value.starts_with('*') {
        -1
    } else {
        slashes as i32 + i32::from(!dir)
    };
    let matcher = if wild {
        let re = value
            .replace('.', "\\.")
            .replace('*', ".*")
            .replace('?', ".");
        match Regex::new(&format!("^{re}")) {
            Ok(r) => Matcher::Regex(r),
            Err(_) => Matcher::Literal(value.clone()),
        }
    } else {
        Matcher::Literal(value.clone())
    };
    Pattern {
        section,
        order,
        exclude,
        matcher,
        dir,
        maybe_dir,
        slashes,
        weight,
    }
}

/// The literal start of a converted pattern (up to its first metacharacter,
/// `\.` read as `.`).
fn literal_prefix(re: &str) -> String {
    let mut out = String::new();
    let mut chars = re.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'.') => {
                out.push('.');
                chars.next();
            }
            '.' | '*' | '?' | '[' | ']' | '(' | ')' | '{' | '}' | '|' | '+' | '^' | '$' | '\\' => {
                break
            }
            c => out.push(c),
        }
    }
    out
}

/// Coarse area of a source path: its top-level directory (`kernel`, `mm`,
/// `include`, `lib`, ...), or its first two components for the large
/// trees `drivers`, `fs`, `net`, `arch` and `sound` when the file lies
/// below a second-level directory (`drivers/net`, `fs/ext4`, `net/ipv4`,
/// `arch/x86`; but `fs/read_write.c` is `fs`). A file at the top of the
/// tree is its own area; absolute paths (outside the tree) are `other`.
pub fn area_of(file: &str) -> &str {
    let file = file.strip_prefix("./").unwrap_or(file);
    if file.starts_with('/') || file.is_empty() {
        return "other";
    }
    let mut parts = file.splitn(3, '/');
    let top = parts.next().unwrap_or(file);
    let second = parts.next();
    match (second, parts.next()) {
        (Some(second), Some(_)) if matches!(top, "drivers" | "fs" | "net" | "arch" | "sound") => {
            &file[..top.len() + 1 + second.len()]
        }
        _ => top,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
List of maintainers
-------------------

Descriptions of section entries:
\tF: *Files* and directories wildcard patterns.

EXT4 FILE SYSTEM
M:\tTheodore Ts'o <tytso@mit.edu>
S:\tMaintained
F:\tDocumentation/filesystems/ext4/
F:\tfs/ext4/

FILESYSTEMS (VFS and infrastructure)
M:\tAlexander Viro <viro@zeniv.linux.org.uk>
F:\tfs/
F:\tinclude/linux/fs.h
X:\tfs/ext4/super.c

ARM/ROCKCHIP SUPPORT
F:\tarch/arm64/boot/dts/rockchip/
N:\trockchip

# a comment between sections
NETWORKING DRIVERS
F:\tdrivers/net/
X:\tdrivers/net/wireless/

NET SUBDRIVERS
F:\tdrivers/net/*/

SINGLE FILE
F:\tdrivers/net/loopback.c
F:\tinclude/linux/mm

THE REST
M:\tLinus Torvalds <torvalds@linux-foundation.org>
F:\t*
F:\t*/
";

    #[test]
    fn most_specific_pattern_wins() {
        let m = Maintainers::parse(TEXT);
        assert_eq!(m.len(), 7);
        // F: fs/ext4/ (two slashes: weight 2) beats F: fs/ (weight 1).
        assert_eq!(m.subsystem_of("fs/ext4/inode.c"), Some("EXT4 FILE SYSTEM"));
        assert_eq!(
            m.ranked("fs/ext4/inode.c"),
            vec![
                ("EXT4 FILE SYSTEM", 2),
                ("FILESYSTEMS (VFS and infrastructure)", 1),
                ("THE REST", -1)
            ]
        );
        assert_eq!(
            m.subsystem_of("fs/read_write.c"),
            Some("FILESYSTEMS (VFS and infrastructure)")
        );
        assert_eq!(
            m.subsystem_of("include/linux/fs.h"),
            Some("FILESYSTEMS (VFS and infrastructure)")
        );
        assert_eq!(m.subsystem_of("kernel/fork.c"), Some("THE REST"));
        assert_eq!(m.subsystem_of("Makefile"), Some("THE REST"));
    }

    #[test]
    fn exclusions_remove_the_section() {
        let m = Maintainers::parse(TEXT);
        let ranked = m.ranked("fs/ext4/super.c");
        assert_eq!(ranked, vec![("EXT4 FILE SYSTEM", 2), ("THE REST", -1)]);
        // X: drivers/net/wireless/ removes NETWORKING DRIVERS, not the glob.
        assert_eq!(
            m.ranked("drivers/net/wireless/ath/ath9k/main.c"),
            vec![("NET SUBDRIVERS", 3), ("THE REST", -1)]
        );
    }

    #[test]
    fn name_regex_and_globs() {
        let m = Maintainers::parse(TEXT);
        // N: has weight 0: below any F: match, above THE REST.
        assert_eq!(
            m.ranked("drivers/clk/rockchip/clk.c"),
            vec![("ARM/ROCKCHIP SUPPORT", 0), ("THE REST", -1)]
        );
        // The last matching line of a section sets its weight (here N:
        // after F:), as in get_maintainer.pl.
        assert_eq!(
            m.ranked("arch/arm64/boot/dts/rockchip/rk3399.dtsi"),
            vec![("ARM/ROCKCHIP SUPPORT", 0), ("THE REST", -1)]
        );
        // drivers/net/*/ : "*" crosses directories, weight 3 beats drivers/net/ (2).
        assert_eq!(
            m.subsystem_of("drivers/net/ethernet/intel/e1000/e1000_main.c"),
            Some("NET SUBDRIVERS")
        );
        // A file directly in drivers/net/ has no directory for "*/".
        assert_eq!(m.ranked("drivers/net/tun.c")[0], ("NETWORKING DRIVERS", 2));
        assert_eq!(m.ranked("drivers/net/loopback.c")[0], ("SINGLE FILE", 3));
        // Wildcard-free, dot-free: file or directory without a tree.
        assert_eq!(m.subsystem_of("include/linux/mm/x.h"), Some("SINGLE FILE"));
        assert_eq!(
            m.subsystem_of("include/linux/mm_types.h"),
            Some("SINGLE FILE")
        );
        assert_eq!(m.subsystem_of("include/linux/m.h"), Some("THE REST"));
    }

    #[test]
    fn directories_from_the_tree_and_odd_input() {
        let dir = |p: &str| p == "include/linux/mm";
        let m = Maintainers::build(TEXT, Some(&dir));
        // As get_maintainer.pl: a directory pattern gets its "/".
        assert_eq!(m.subsystem_of("include/linux/mm/x.h"), Some("SINGLE FILE"));
        assert_eq!(m.subsystem_of("include/linux/mm_types.h"), Some("THE REST"));
        let odd = Maintainers::parse("F:\tno title\nT\nN:\t(unclosed\nF:\t[\nX:\n\u{0}\n");
        assert_eq!(odd.len(), 1);
        assert_eq!(odd.subsystem_of("anything"), None);
        assert!(Maintainers::parse("").is_empty());
        assert_eq!(Maintainers::parse("").subsystem_of("fs/x.c"), None);
    }

    #[test]
    fn areas() {
        assert_eq!(area_of("fs/ext4/inode.c"), "fs/ext4");
        assert_eq!(area_of("fs/read_write.c"), "fs");
        assert_eq!(
            area_of("drivers/net/ethernet/intel/e1000/e1000_main.c"),
            "drivers/net"
        );
        assert_eq!(area_of("net/ipv4/tcp.c"), "net/ipv4");
        assert_eq!(area_of("arch/x86/kernel/process.c"), "arch/x86");
        assert_eq!(area_of("kernel/sched/core.c"), "kernel");
        assert_eq!(area_of("include/linux/cpumask.h"), "include");
        assert_eq!(area_of("mm/memory.c"), "mm");
        assert_eq!(area_of("Makefile"), "Makefile");
        assert_eq!(area_of("/usr/include/stdio.h"), "other");
        assert_eq!(area_of(""), "other");
    }
}
