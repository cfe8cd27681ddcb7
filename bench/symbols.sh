#!/usr/bin/env bash
# Benchmark: `hap symbols` on the full reference vmlinux, cold (no cache) and
# from its cache, beside `gdb -batch` loading the same file, in one run.
# Prints wall time (median of N runs), ratio to gdb, and peak RSS.
# Usage: bench/symbols.sh [VMLINUX] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
vmlinux=${1:-/usr/lib/debug/boot/vmlinux-6.1.0-57-cloud-amd64}
runs=${2:-5}
[ -f "$vmlinux" ] || { echo "bench: $vmlinux missing; run scripts/setup.sh" >&2; exit 1; }
cargo build --release --locked -q
hap=target/release/hap
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HAP_CACHE_DIR=$work/cache

# median wall seconds and max peak RSS (KiB) of a command over $runs runs
measure() {
  local times=() peak=0 line t m
  for _ in $(seq "$runs"); do
    /usr/bin/time -o "$work/time" -f '%e %M' "$@" >/dev/null 2>&1
    line=$(tail -n 1 "$work/time")
    t=${line% *}; m=${line#* }
    times+=("$t"); [ "$m" -gt "$peak" ] && peak=$m
  done
  printf '%s %s\n' "$(printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')" "$peak"
}

cat "$vmlinux" > /dev/null  # page cache warm for everyone
# gdb reads its DWARF index lazily: ask one line query so the load really happens.
read -r gdb_t gdb_m < <(measure gdb -batch -nx -ex 'info line vfs_read' "$vmlinux")
# ... and gdb doing comparable work: every compile unit's functions and lines.
read -r gdbx_t gdbx_m < <(measure gdb -batch -nx -ex 'maint expand-symtabs' "$vmlinux")
read -r cold_t cold_m < <(measure "$hap" symbols --vmlinux "$vmlinux" -o "$work/s.parquet" --no-cache)
"$hap" symbols --vmlinux "$vmlinux" -o "$work/s.parquet" 2>/dev/null  # fill the cache
read -r warm_t warm_m < <(measure "$hap" symbols --vmlinux "$vmlinux" -o "$work/s.parquet")

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "vmlinux: $vmlinux ($(stat -c %s "$vmlinux") bytes), median of $runs runs"
printf '%-30s %10s %12s %14s\n' work "time (s)" "vs gdb" "peak RSS (MB)"
row() { printf '%-30s %10s %12s %14s\n' "$1" "$2" "$(awk -v a="$2" -v b="$gdb_t" 'BEGIN { printf "%.3fx", a / b }')" "$(( $3 / 1024 ))"; }
row "gdb -batch (load + 1 query)" "$gdb_t" "$gdb_m"
row "gdb -batch (expand-symtabs)" "$gdbx_t" "$gdbx_m"
row "hap symbols (cold)" "$cold_t" "$cold_m"
row "hap symbols (cached)" "$warm_t" "$warm_m"
