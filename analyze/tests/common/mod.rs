//! Inputs shared by the analyze crate's real-kernel tests: the reference
//! vmlinux and source tree, installed by `scripts/setup.sh`. A missing input
//! fails the test (never a skip). `HAP_VMLINUX` and `HAP_KSRC` override the
//! default paths.
#![allow(dead_code)] // each test binary uses its own subset

use std::path::PathBuf;

/// Debian's debug vmlinux of the reference kernel.
pub const DEFAULT_VMLINUX: &str = "/usr/lib/debug/boot/vmlinux-6.1.0-57-cloud-amd64";
/// Where `scripts/setup.sh` unpacks the kernel sources.
pub const DEFAULT_KSRC: &str = "/var/cache/hap/ksrc";

/// The reference vmlinux.
pub fn vmlinux() -> PathBuf {
    let path =
        PathBuf::from(std::env::var("HAP_VMLINUX").unwrap_or_else(|_| DEFAULT_VMLINUX.into()));
    assert!(
        path.is_file(),
        "{} is missing: run scripts/setup.sh (it installs the Debian package \
         linux-image-6.1.0-57-cloud-amd64-dbg)",
        path.display()
    );
    path
}

/// The reference kernel's source tree (linux-source-6.1).
pub fn ksrc() -> PathBuf {
    let path = PathBuf::from(std::env::var("HAP_KSRC").unwrap_or_else(|_| DEFAULT_KSRC.into()))
        .join("linux-source-6.1");
    assert!(
        [
            "Makefile",
            "MAINTAINERS",
            "fs/read_write.c",
            "drivers/block/virtio_blk.c"
        ]
        .iter()
        .all(|f| path.join(f).is_file()),
        "kernel source tree {} is missing: run scripts/setup.sh (it unpacks the Debian \
         package linux-source-6.1)",
        path.display()
    );
    path
}

/// Run a tool and return its stdout; a failure fails the test.
pub fn run(program: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e} (run scripts/setup.sh)"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
