//! Integration tests of the `hap` binary: one test binary, one module per area.

mod analyze_real;
mod batch;
mod cli_output;
mod dat;
mod density;
mod ingest_text;
mod report;
mod scale_out;
mod selection;
mod shared_traces;
mod util;
