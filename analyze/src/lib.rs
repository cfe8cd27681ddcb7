//! # analyze: traced functions to source lines and a HAP
//!
//! The second stage of `hap`. It selects the workload's events from a trace
//! ([`select`]), resolves each unique function against a vmlinux symbol
//! table built from ELF + DWARF ([`symbols`], cached by [`cache`]) and refined
//! from the kernel source tree ([`source`]), and sums
//! source lines into a Horizontal Attack Profile ([`measure`]), testing
//! whether the run reached steady state ([`steady`]). Tables are
//! written by [`table`]. [`density`] turns the kernel's CVE records into bug
//! densities per file, directory and subsystem.
#![deny(missing_docs, missing_debug_implementations)]

#[cfg(feature = "parquet")]
pub mod batch_table;
#[cfg(feature = "parquet")]
pub mod cache;
pub mod density;
mod error;
pub mod measure;
pub mod resolve;
pub mod runs;
pub mod select;
pub mod source;
pub mod steady;
pub mod symbols;
#[cfg(feature = "parquet")]
pub mod table;
pub mod tasks;

pub use error::Error;
pub use measure::{measure, Measurement, Options, DEFAULT_BUG_DENSITY};
pub use resolve::Ambiguous;
pub use select::{Bound, Selection};
pub use steady::SteadyOptions;
pub use tasks::TaskFilter;
