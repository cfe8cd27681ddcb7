#!/usr/bin/env bash
# The main job on a bundled real trace: install the reference kernel's debug
# vmlinux if missing, build hap, and measure the HAP of the `fileio` capture
# (fixtures/text, a real function-tracer trace from Debian 6.1.0-57-cloud-amd64).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --locked
vmlinux=/usr/lib/debug/boot/vmlinux-6.1.0-57-cloud-amd64
trace=fixtures/text/fileio-6.1.function.txt.zst
target/release/hap analyze "$trace" --vmlinux "$vmlinux" -o target/demo/fileio "$@"
echo "per-function table: target/demo/fileio/functions.csv" >&2
