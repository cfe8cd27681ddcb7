//! Link the `hap` binary as a position-dependent executable (`-no-pie`).
//!
//! A PIE binary of this size carries some 70,000 relative relocations that
//! the dynamic loader applies at every start, each write to a page of
//! `.data.rel.ro` a copy-on-write fault: `hap --version` took 4.0 ms (3.2 ms
//! of CPU, 628 page faults) as a PIE and takes 2.2 ms (1.2 ms, 222 faults)
//! without, a start-up cost paid by every run of every subcommand
//! (docs/performance.md). The code is compiled position-independent as
//! before; only the final link fixes the load address, so the binary's own
//! code and data are not address-randomized (libraries, heap and stacks
//! still are).
fn main() {
    println!("cargo:rustc-link-arg-bins=-no-pie");
}
