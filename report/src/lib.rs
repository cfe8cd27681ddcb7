//! # report: HAP results for people and programs
//!
//! The last stage of `hap`: renders an [`analyze::Measurement`] as terminal
//! text ([`terminal`]), JSON ([`json`]) and result files ([`files`]), and
//! prints events as `trace-cmd report` does ([`dump`]).
#![deny(missing_docs, missing_debug_implementations)]
// `json!` expands recursively; the result object has many keys.
#![recursion_limit = "256"]

pub mod dump;
pub mod files;
pub mod json;
pub mod terminal;
