//! Steady state: has the workload stopped reaching new kernel code?
//!
//! The HAP is meaningful only once the run has exercised every kernel path it
//! ever will. The cumulative curve of unique functions (and their lines)
//! against time and kept events shows it. The plateau test looks at the
//! test window, the last `window_seconds` of the run together with the last
//! `window_fraction` of its kept events, and asks that at most
//! `tolerance × functions` (rounded down) new functions appeared there; with
//! `tolerance = 0` that is "no new function at all". Real kernels keep
//! producing a trickle of rare paths (memory reclaim, a delayed ACK), so the
//! default tolerates 0.5 %.
//!
//! Steady state is *at* the first point of the curve from which at most that
//! many new functions followed: the count was already within tolerance of
//! its final value.

use crate::resolve::FunctionRow;
use crate::select::SelectStats;

/// Plateau test parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct SteadyOptions {
    /// Test window: the last this-many seconds of the run (default 0.25).
    pub window_seconds: f64,
    /// Test window: the last this fraction of kept events (default 0.10).
    pub window_fraction: f64,
    /// New functions tolerated in the window, as a fraction of all (default 0.005).
    pub tolerance: f64,
}

impl Default for SteadyOptions {
    fn default() -> SteadyOptions {
        SteadyOptions {
            window_seconds: 0.25,
            window_fraction: 0.10,
            tolerance: 0.005,
        }
    }
}

impl SteadyOptions {
    /// Options from their parts.
    pub fn new(window_seconds: f64, window_fraction: f64, tolerance: f64) -> SteadyOptions {
        SteadyOptions {
            window_seconds,
            window_fraction,
            tolerance,
        }
    }
}

/// One step of the cumulative curve: the state right after a new function appeared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CurvePoint {
    /// Index of the kept event that called the new function.
    pub event: u64,
    /// Its timestamp, ns.
    pub ts_ns: i64,
    /// Unique functions so far.
    pub functions: u64,
    /// Lines of the counted functions so far.
    pub lines: u64,
}

/// The verdict.
#[derive(Clone, Debug, PartialEq)]
pub struct Steady {
    /// Whether the plateau test passed.
    pub reached: bool,
    /// Seconds from the first kept event to the plateau's start (the curve
    /// point after which at most `allowed` new functions followed).
    pub at_seconds: Option<f64>,
    /// Kept-event index of that point.
    pub at_event: Option<u64>,
    /// Unique functions at that point.
    pub at_functions: Option<u64>,
    /// Lines of the counted functions at that point (the HAP's numerator then).
    pub at_lines: Option<u64>,
    /// New functions inside the test window.
    pub new_in_last_window: u64,
    /// New functions the test tolerates in the window.
    pub allowed: u64,
    /// The cumulative curve, one point per new function.
    pub curve: Vec<CurvePoint>,
    /// The parameters used.
    pub options: SteadyOptions,
}

/// Build the curve from resolved rows and test for a plateau.
pub fn steady_state(rows: &[FunctionRow], stats: &SelectStats, options: SteadyOptions) -> Steady {
    // Rows of one traced function share its first_event; sum their lines.
    let mut firsts: Vec<(u64, i64, u64)> = Vec::new();
    for r in rows {
        // Only counted rows add lines (a second symbol of one source function does not).
        let lines = match (&r.symbol, r.counted) {
            (Some(s), true) => u64::from(s.lines.unwrap_or(0)),
            _ => 0,
        };
        match firsts.last_mut() {
            Some(last) if last.0 == r.traced.first_event && last.1 == r.traced.first_ts_ns => {
                last.2 += lines
            }
            _ => firsts.push((r.traced.first_event, r.traced.first_ts_ns, lines)),
        }
    }
    firsts.sort_by_key(|f| f.0);
    let mut curve = Vec::with_capacity(firsts.len());
    let mut lines = 0;
    for (i, (event, ts_ns, l)) in firsts.iter().enumerate() {
        lines += l;
        curve.push(CurvePoint {
            event: *event,
            ts_ns: *ts_ns,
            functions: i as u64 + 1,
            lines,
        });
    }
    let total = stats.events_kept;
    let event_window_start = total as f64 * (1.0 - options.window_fraction);
    let time_window_start = stats.last_kept_ns as f64 - options.window_seconds * 1e9;
    let new_in_last_window = curve
        .iter()
        .filter(|p| p.event as f64 >= event_window_start || p.ts_ns as f64 > time_window_start)
        .count() as u64;
    let allowed = (curve.len() as f64 * options.tolerance).floor() as u64;
    // The plateau starts at the point followed by at most `allowed` new functions.
    let at = curve
        .len()
        .checked_sub(1 + allowed as usize)
        .map(|i| curve[i]);
    Steady {
        reached: !curve.is_empty() && new_in_last_window <= allowed,
        at_seconds: at.map(|p| (p.ts_ns - stats.first_kept_ns) as f64 / 1e9),
        at_event: at.map(|p| p.event),
        at_functions: at.map(|p| p.functions),
        at_lines: at.map(|p| p.lines),
        new_in_last_window,
        allowed,
        curve,
        options,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::select::FunctionUse;

    fn row(first_event: u64, ts_s: f64) -> FunctionRow {
        FunctionRow {
            traced: FunctionUse {
                name: format!("f{first_event}"),
                module: None,
                events: 1,
                first_ts_ns: (ts_s * 1e9) as i64,
                first_event,
                caller: None,
                syscall: None,
                ip: None,
            },
            candidates: 0,
            symbol: None,
            in_baseline: false,
            counted: true,
        }
    }

    fn stats(kept: u64, first_s: f64, last_s: f64) -> SelectStats {
        SelectStats {
            events_kept: kept,
            first_kept_ns: (first_s * 1e9) as i64,
            last_kept_ns: (last_s * 1e9) as i64,
            ..SelectStats::default()
        }
    }

    #[test]
    fn plateau_needs_both_windows_quiet() {
        let rows = [row(0, 10.0), row(5, 10.5), row(40, 11.0)];
        // 100 events over 10 s; last new function at event 40, t = 11 s.
        let strict = SteadyOptions::new(1.0, 0.1, 0.0);
        let s = steady_state(&rows, &stats(100, 10.0, 20.0), strict);
        assert!(s.reached);
        assert_eq!(
            (s.at_event, s.at_seconds, s.new_in_last_window),
            (Some(40), Some(1.0), 0)
        );
        assert_eq!(
            s.curve.iter().map(|p| p.functions).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        // Quiet in events (last 10 %), but not in time: the last 10 s (after
        // t = 10 s) saw the functions first called at 10.5 s and 11 s.
        let s = steady_state(
            &rows,
            &stats(100, 10.0, 20.0),
            SteadyOptions::new(10.0, 0.1, 0.0),
        );
        assert!(!s.reached);
        assert_eq!(s.new_in_last_window, 2);
        // A new function in the last 10 % of events.
        let rows = [row(0, 10.0), row(95, 19.9)];
        let s = steady_state(&rows, &stats(100, 10.0, 20.0), strict);
        assert_eq!((s.reached, s.new_in_last_window), (false, 1));
    }

    #[test]
    fn tolerance_allows_a_trickle_and_moves_the_plateau_start() {
        // 200 functions by event 500 (t = 10.5 s), then 1 more at event 990.
        let mut rows: Vec<FunctionRow> = (0..200)
            .map(|i| row(i * 2 + 100, 10.0 + i as f64 * 0.0025))
            .collect();
        rows.push(row(990, 19.9));
        let s = steady_state(
            &rows,
            &stats(1000, 10.0, 20.0),
            SteadyOptions::new(1.0, 0.1, 0.005),
        );
        assert_eq!((s.allowed, s.new_in_last_window, s.reached), (1, 1, true));
        // The plateau began at the 200th function (event 498).
        assert_eq!((s.at_event, s.at_functions), (Some(498), Some(200)));
        let s = steady_state(
            &rows,
            &stats(1000, 10.0, 20.0),
            SteadyOptions::new(1.0, 0.1, 0.0),
        );
        assert!(!s.reached);
    }

    #[test]
    fn empty_run_is_not_steady() {
        let s = steady_state(&[], &stats(0, 0.0, 0.0), SteadyOptions::default());
        assert!(!s.reached && s.curve.is_empty() && s.at_event.is_none());
    }
}
