//! The comment header of ftrace text and trace-cmd report output.
//!
//! ```text
//! # tracer: function
//! #
//! # entries-in-buffer/entries-written: 836641/836641   #P:2
//! ```
//! and trace-cmd report's first line `cpus=2`.

use crate::event::TraceInfo;

/// Update `info` from one header or banner line; returns true if the line was one.
pub fn read_header_line(line: &str, info: &mut TraceInfo) -> bool {
    let trimmed = line.trim();
    if let Some(cpus) = trimmed.strip_prefix("cpus=") {
        if let Ok(n) = cpus.trim().parse() {
            info.cpus = Some(n);
            info.format = "trace-cmd-report".into();
            return true;
        }
        return false;
    }
    let Some(comment) = trimmed.strip_prefix('#') else {
        return false;
    };
    let comment = comment.trim();
    if let Some(tracer) = comment.strip_prefix("tracer:") {
        info.tracer = Some(tracer.trim().to_string());
        info.format = "ftrace-text".into();
    } else if let Some(rest) = comment.strip_prefix("entries-in-buffer/entries-written:") {
        // "836641/836641   #P:2"
        let mut parts = rest.split_whitespace();
        if let Some((inbuf, written)) = parts.next().and_then(|p| p.split_once('/')) {
            info.entries_in_buffer = inbuf.parse().ok();
            info.entries_written = written.parse().ok();
        }
        for p in parts {
            if let Some(n) = p.strip_prefix("#P:") {
                info.cpus = n.parse().ok();
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ftrace_header() {
        let mut info = TraceInfo::default();
        for l in [
            "# tracer: function",
            "#",
            "# entries-in-buffer/entries-written: 836641/836650   #P:2",
        ] {
            assert!(read_header_line(l, &mut info));
        }
        assert_eq!(info.tracer.as_deref(), Some("function"));
        assert_eq!(info.cpus, Some(2));
        assert_eq!(info.entries_lost(), Some(9));
        assert_eq!(info.format, "ftrace-text");
    }

    #[test]
    fn trace_cmd_header() {
        let mut info = TraceInfo::default();
        assert!(read_header_line("cpus=4", &mut info));
        assert_eq!(
            (info.cpus, info.format.as_str()),
            (Some(4), "trace-cmd-report")
        );
        assert!(!read_header_line(
            "  sh-1 [000] 1.0: function: f",
            &mut info
        ));
    }
}
