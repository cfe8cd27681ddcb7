#!/usr/bin/env bash
# Install what hap's demo, tests and benchmarks need on a fresh Debian 12 machine:
# the reference kernel's debug vmlinux and source (6.1.192-3), the second kernel
# for version diffs (6.12.117-1~deb12u1), trace-cmd (the parsing oracle),
# llvm-dwarfdump and gdb (the DWARF oracles), zstd, gcc, and Debian's
# chromium (the HTML report is opened headless in a test), and DuckDB for
# the scale-out test.
# Idempotent: installs only what is missing. Unpacks the kernel sources under
# $HAP_KSRC (default /var/cache/hap/ksrc) for tests that read source files.
set -euo pipefail

packages=(
  linux-image-6.1.0-57-cloud-amd64-dbg=6.1.192-3
  linux-source-6.1=6.1.192-3
  linux-image-6.12.117+deb12-cloud-amd64-dbg=6.12.117-1~deb12u1
  linux-source-6.12=6.12.117-1~deb12u1
  trace-cmd llvm gdb zstd gcc binutils xz-utils chromium
)
missing=()
for p in "${packages[@]}"; do
  name=${p%%=*}
  want=""
  [ "$name" = "$p" ] || want=${p#*=}
  read -r status version < <(dpkg-query -W -f='${db:Status-Status} ${Version}\n' "$name" 2>/dev/null || echo "absent none")
  if [ "$status" != installed ] || { [ -n "$want" ] && [ "$version" != "$want" ]; }; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  echo "setup: installing ${missing[*]}" >&2
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}"
fi

ksrc=${HAP_KSRC:-/var/cache/hap/ksrc}
for v in 6.1 6.12; do
  if [ ! -f "$ksrc/linux-source-$v/MAINTAINERS" ]; then
    echo "setup: unpacking linux-source-$v into $ksrc" >&2
    mkdir -p "$ksrc"
    tar -C "$ksrc" -xf "/usr/src/linux-source-$v.tar.xz"
  fi
done

# DuckDB (Python package, pinned): the SQL engine the scale-out test runs
# docs/scale-out.md's query with, over `hap batch --hive` output.
if ! python3 -c 'import duckdb' 2>/dev/null; then
  echo "setup: installing duckdb==2.0.1 (pip)" >&2
  python3 -m pip install -q --disable-pip-version-check duckdb==2.0.1
fi
