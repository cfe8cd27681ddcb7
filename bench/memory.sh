#!/usr/bin/env bash
# Flat memory: peak resident memory of ingest on a ~100 MB and a ~2 GB
# trace.dat, made from a real capture by repeating its ring-buffer pages
# (bench/bigtrace.py), with trace-cmd report on the same files beside it.
# Prints one row per (work, size): seconds, peak RSS (MB), and the ratio of
# the 2 GB peak to the 100 MB peak (target: within 1.10).
# Usage: bench/memory.sh [BIG_MB]        (default 2048; needs ../shared)
set -euo pipefail
cd "$(dirname "$0")/.."
big_mb=${1:-2048}
src=../shared/traces/linux-6.1/steady/trace-v6.dat.zst
[ -f "$src" ] || { echo "bench: $src missing" >&2; exit 1; }
cargo build --release --locked -q
hap=$PWD/target/release/hap
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

zstdcat "$src" > "$work/in.dat"
python3 bench/bigtrace.py "$work/in.dat" "$work/small.dat" 100 >&2
python3 bench/bigtrace.py "$work/in.dat" "$work/big.dat" "$big_mb" >&2
rm "$work/in.dat"

# seconds and peak RSS (MB) of a shell command
measure() {
  /usr/bin/time -o "$work/time" -f '%e %M' sh -c "$1" > /dev/null 2>&1
  read -r t m < <(tail -n 1 "$work/time")
  echo "$t $((m / 1024))"
}

printf '%-34s %10s %8s %9s %9s\n' work size seconds "peak MB" "vs small"
for w in ingest dump trace-cmd; do
  small_peak=
  for f in small big; do
    case $w in
      ingest) cmd="$hap -q ingest $work/$f.dat -o $work/out.parquet" ;;
      dump) cmd="$hap dump $work/$f.dat" ;;
      trace-cmd) cmd="trace-cmd report $work/$f.dat" ;;
    esac
    read -r t m < <(measure "$cmd")
    size=$(( $(stat -c %s "$work/$f.dat") >> 20 ))
    if [ -z "$small_peak" ]; then small_peak=$m; ratio=1.00; else
      ratio=$(awk -v a="$m" -v b="$small_peak" 'BEGIN { printf "%.2f", a / b }'); fi
    label=$w; [ "$w" = ingest ] && label="hap ingest (trace.dat -> Parquet)"
    [ "$w" = dump ] && label="hap dump (read only)"
    [ "$w" = trace-cmd ] && label="trace-cmd report > /dev/null"
    printf '%-34s %7s MB %8s %9s %9s\n' "$label" "$size" "$t" "$m" "$ratio"
  done
done
