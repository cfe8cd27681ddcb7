//! Saved command lines (`saved_cmdlines`): the task names for pids, as
//! libtraceevent resolves them for `trace-cmd report`.
//!
//! Each line is `PID COMM` (the name may contain spaces); a malformed line
//! ends the parse. pid 0 is always `<idle>` and an unknown pid is `<...>`.
//! Duplicated pids resolve the way libtraceevent's prepend list, glibc's
//! stable sort and glibc's binary search make them resolve.

/// Comm index for pid 0.
pub(crate) const COMM_IDLE: u32 = u32::MAX;
/// Comm index for a pid without a saved name.
pub(crate) const COMM_UNKNOWN: u32 = u32::MAX - 1;

/// A pid → name table.
#[derive(Clone, Debug, Default)]
pub(crate) struct Cmdlines {
    pids: Vec<i32>,
    names: Vec<String>,
    /// Set if a malformed line stopped the parse (1-based line number).
    pub stopped_at_line: Option<usize>,
}

impl Cmdlines {
    /// Parse saved_cmdlines text.
    pub fn parse(text: &[u8]) -> Cmdlines {
        let text = String::from_utf8_lossy(text);
        let mut out = Cmdlines::default();
        let mut entries: Vec<(i32, String)> = Vec::new();
        for (i, line) in text.split('\n').filter(|l| !l.is_empty()).enumerate() {
            match parse_line(line) {
                Some(e) => entries.push(e),
                None => {
                    out.stopped_at_line = Some(i + 1);
                    break;
                }
            }
        }
        entries.reverse();
        entries.sort_by_key(|e| e.0); // stable, like glibc's merge sort
        for (pid, name) in entries {
            out.pids.push(pid);
            out.names.push(name);
        }
        out
    }

    /// Number of saved names.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.pids.len()
    }

    /// The comm index for `pid`: an index into the table, [`COMM_IDLE`] or [`COMM_UNKNOWN`].
    pub fn lookup(&self, pid: i32) -> u32 {
        if pid == 0 {
            return COMM_IDLE;
        }
        let (mut l, mut u) = (0usize, self.pids.len());
        while l < u {
            let idx = (l + u) / 2;
            let p = self.pids[idx];
            if pid < p {
                u = idx;
            } else if pid > p {
                l = idx + 1;
            } else {
                return idx as u32;
            }
        }
        COMM_UNKNOWN
    }

    /// A dense id for a comm index (the specials after the table's names),
    /// for [`crate::event::NameIds`].
    pub fn id(&self, i: u32) -> u32 {
        let n = self.pids.len() as u32;
        match i {
            COMM_IDLE => n,
            COMM_UNKNOWN => n + 1,
            _ => i.min(n + 1),
        }
    }

    /// The name for a dense id ([`Cmdlines::id`]).
    pub fn name_of_id(&self, id: u32) -> &str {
        let n = self.pids.len() as u32;
        match id {
            _ if id < n => &self.names[id as usize],
            _ if id == n => "<idle>",
            _ => "<...>",
        }
    }
}

/// `sscanf(line, "%d %m[^\n]s")`: a decimal pid, white space, then the rest of the line.
fn parse_line(line: &str) -> Option<(i32, String)> {
    let t = line.trim_start();
    let digits = t
        .char_indices()
        .take_while(|&(i, c)| c.is_ascii_digit() || (i == 0 && (c == '-' || c == '+')))
        .count();
    let pid: i32 = t[..digits].parse().ok()?;
    let rest = t[digits..].trim_start();
    if rest.is_empty() {
        return None;
    }
    Some((pid, rest.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_and_specials() {
        let c = Cmdlines::parse(b"213 sh\n1 init\n77 kworker/0:1 H\n");
        assert_eq!(c.len(), 3);
        assert_eq!(c.name_of_id(c.id(c.lookup(213))), "sh");
        assert_eq!(c.name_of_id(c.id(c.lookup(77))), "kworker/0:1 H");
        assert_eq!(c.name_of_id(c.id(c.lookup(0))), "<idle>");
        assert_eq!(c.name_of_id(c.id(c.lookup(5))), "<...>");
    }

    #[test]
    fn malformed_line_stops() {
        let c = Cmdlines::parse(b"1 a\nbad\n2 b\n");
        assert_eq!((c.len(), c.stopped_at_line), (1, Some(2)));
        let c = Cmdlines::parse(b"1 \n");
        assert_eq!(c.len(), 0);
    }
}
