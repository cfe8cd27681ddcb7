//! # report: HAP results for people and programs
//!
//! The last stage of `hap`: renders an [`analyze::Measurement`] as terminal
//! text ([`terminal`]), JSON ([`json`]) and result files ([`files`]), and
//! prints events as `trace-cmd report` does ([`dump`]). From `analyze -o`
//! result directories ([`results`]) it renders self-contained HTML with
//! charts ([`html`]) and Markdown ([`markdown`]) reports, and diffs two runs
//! ([`diff`]).
#![deny(missing_docs, missing_debug_implementations)]
// `json!` expands recursively; the result object has many keys.
#![recursion_limit = "256"]

pub mod diff;
pub mod dump;
pub mod error;
pub mod files;
pub mod html;
pub mod json;
pub mod jsonl;
pub mod markdown;
pub mod results;
pub mod terminal;
