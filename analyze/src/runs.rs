//! Several runs of one workload: union, intersection, and the spread of the HAP.
//!
//! One trace is one sample. Repeated captures of the same workload tell how
//! much of the HAP is the workload and how much is chance: the coefficient of
//! variation (standard deviation / mean) of the per-run HAP is the figure to
//! quote next to a comparison.

use std::collections::{BTreeMap, BTreeSet};

use crate::measure::Measurement;

/// A set of functions with its totals.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FunctionSet {
    /// Unique functions.
    pub functions: u64,
    /// Sum of their lines.
    pub lines: u64,
    /// `lines × bug density / 1000`.
    pub hap: f64,
}

/// Statistics over several runs.
#[derive(Clone, Debug, PartialEq)]
pub struct Runs {
    /// Functions called in any run.
    pub union: FunctionSet,
    /// Functions called in every run.
    pub intersection: FunctionSet,
    /// Mean of the per-run HAP.
    pub hap_mean: f64,
    /// Sample standard deviation (n − 1) of the per-run HAP (0 for one run).
    pub hap_stddev: f64,
    /// Coefficient of variation: stddev / mean (0 when the mean is 0).
    pub hap_cv: f64,
}

/// Combine runs measured with the same options. Functions are identified by
/// their traced key (`name` or `name [module]`); each counts its lines once
/// (the largest reading across runs when an ambiguous name resolved differently).
pub fn combine(runs: &[Measurement]) -> Runs {
    let density = runs.first().map_or(0.0, |m| m.bug_density);
    let mut lines: BTreeMap<String, u64> = BTreeMap::new();
    let mut seen_in: BTreeMap<String, usize> = BTreeMap::new();
    for m in runs {
        let mut keys = BTreeSet::new();
        for r in &m.rows {
            if !r.counted {
                continue;
            }
            let key = r.traced.key();
            let l = r.symbol.as_ref().and_then(|s| s.lines).map_or(0, u64::from);
            // Several rows per key under `--ambiguous all`: their lines add up.
            let first_row_of_key = keys.insert(key.clone());
            let e = lines.entry(key.clone()).or_insert(0);
            if first_row_of_key {
                *e = (*e).max(l);
                *seen_in.entry(key).or_insert(0) += 1;
            } else {
                *e += l;
            }
        }
    }
    let set = |pred: &dyn Fn(usize) -> bool| {
        let (functions, lines) = lines
            .iter()
            .filter(|(k, _)| pred(seen_in[*k]))
            .fold((0u64, 0u64), |(f, l), (_, x)| (f + 1, l + x));
        FunctionSet {
            functions,
            lines,
            hap: lines as f64 * density / 1000.0,
        }
    };
    let haps: Vec<f64> = runs.iter().map(|m| m.hap).collect();
    let n = haps.len() as f64;
    let mean = if haps.is_empty() {
        0.0
    } else {
        haps.iter().sum::<f64>() / n
    };
    let stddev = if haps.len() < 2 {
        0.0
    } else {
        (haps.iter().map(|h| (h - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    };
    Runs {
        union: set(&|_| true),
        intersection: set(&|c| c == runs.len()),
        hap_mean: mean,
        hap_stddev: stddev,
        hap_cv: if mean > 0.0 { stddev / mean } else { 0.0 },
    }
}
