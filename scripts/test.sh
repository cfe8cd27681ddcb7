#!/usr/bin/env bash
# The test command: set up what the tests need, then run every test of the
# workspace in release mode (the end-to-end tests read the real 590 MB vmlinux).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo fmt --all --check
cargo clippy --workspace --all-targets --release --locked -- -D warnings
cargo test --workspace --release --locked
