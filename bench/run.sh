#!/usr/bin/env bash
# One benchmark for every stage, each beside its reference tool in the same run.
# Prints: work, hap's time, the reference's time, the ratio (reference / hap,
# higher is better for hap), hap's peak RSS. Times are medians of RUNS runs,
# hap and the reference taking turns.
# Usage: bench/run.sh [RUNS]     (needs ../shared/traces and scripts/setup.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
shared=../shared/traces
vm=/usr/lib/debug/boot/vmlinux-6.1.0-57-cloud-amd64
src=${HAP_KSRC:-/var/cache/hap/ksrc}/linux-source-6.1
[ -d "$shared" ] || { echo "bench: $shared missing" >&2; exit 1; }
[ -f "$vm" ] && [ -d "$src" ] || { echo "bench: run scripts/setup.sh first" >&2; exit 1; }
cargo build --release --locked -q
hap=$PWD/target/release/hap
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HAP_CACHE_DIR=$work/cache

# The largest function text trace and trace.dat (qemu-user runtime capture).
text_zst=$shared/linux-6.1/runtimes/qemu-user/trace.txt.zst
dat=$shared/linux-6.1/runtimes/qemu-user/trace.dat
zstdcat "$text_zst" > "$work/trace.txt"
cat "$dat" "$vm" > /dev/null

# wall seconds (from the monotonic clock: GNU time rounds to 10 ms) and
# peak RSS (KB) of one run of a shell command, less $overhead: what the
# measuring itself takes (`date`, GNU time and `sh` starting), timed on
# `true` before the first row
overhead=0
once() {
  local start end m
  start=$(date +%s%N)
  /usr/bin/time -o "$work/time" -f '%M' sh -c "$1" > /dev/null 2>&1
  end=$(date +%s%N)
  read -r m < <(tail -n 1 "$work/time")
  printf '%s %s\n' "$(awk -v a="$start" -v b="$end" -v o="$overhead" 'BEGIN { t = (b - a) / 1e9 - o; printf "%.4f", (t > 0 ? t : 0) }')" "$m"
}

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# The measuring's own time, from 9 runs of `true`.
calibrate() {
  local ts=() t m
  for _ in $(seq 9); do read -r t m < <(once true); ts+=("$t"); done
  overhead=$(median "${ts[@]}")
}

row() { # work hap_cmd ref_cmd
  # The two commands take turns, run after run, so that both see the same
  # minutes of a shared host (whose speed drifts by up to 1.5x).
  local hts=() rts=() hm=0 t m ht rt
  for _ in $(seq "$runs"); do
    read -r t m < <(once "$2"); hts+=("$t"); [ "$m" -gt "$hm" ] && hm=$m
    read -r t m < <(once "$3"); rts+=("$t")
  done
  ht=$(median "${hts[@]}") rt=$(median "${rts[@]}")
  last_ht=$ht last_rt=$rt
  printf '%-44s %9.3f %9.3f %9s %9s\n' "$1" "$ht" "$rt" "$(awk -v a="$rt" -v b="$ht" 'BEGIN { printf "%.1fx", a / (b > 0 ? b : 0.005) }')" "$((hm / 1024))"
}

calibrate
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); median of $runs runs; $(date -u +%F)"
echo "timing overhead subtracted from every run: $(awk -v o="$overhead" 'BEGIN { printf "%.1f ms", o * 1000 }') (date, GNU time and sh, timed on \`true\`)"
echo "inputs: $(basename "$(dirname "$text_zst")")/trace.txt ($(stat -c %s "$work/trace.txt") bytes), trace.dat ($(stat -c %s "$dat") bytes), vmlinux ($(stat -c %s "$vm") bytes)"
printf '%-44s %9s %9s %9s %9s\n' work "hap (s)" "ref (s)" "ratio" "hap MB"
"$hap" symbols --vmlinux "$vm" -o "$work/warm.parquet" 2> /dev/null   # warm the symbol cache
row "text -> unique functions (vs seed grep|sed|sort|uniq)" \
  "$hap analyze $work/trace.txt --vmlinux $vm --include-irq" \
  "grep -v '^#' $work/trace.txt | sed 's/.*: \([^ ]*\) <-.*/\1/' | sort | uniq"
row "trace.dat -> events Parquet (vs trace-cmd report)" \
  "$hap ingest $dat -o $work/e.parquet" \
  "trace-cmd report $dat"
events=$("$hap" ingest "$dat" -o "$work/e.parquet" --json | sed 's/.*"events":\([0-9]*\).*/\1/')
printf '%-44s %9s %9s\n' "  events per second (hap, trace-cmd report)" \
  "$(awk -v n="$events" -v t="$last_ht" 'BEGIN { printf "%.2fM", n / t / 1e6 }')" \
  "$(awk -v n="$events" -v t="$last_rt" 'BEGIN { printf "%.2fM", n / t / 1e6 }')"
row "trace.dat -> unique functions (vs trace-cmd report)" \
  "$hap analyze $dat --vmlinux $vm --include-irq" \
  "trace-cmd report $dat"
row "symbol table, cold (vs gdb -batch load+query)" \
  "$hap symbols --vmlinux $vm -o $work/s.parquet --no-cache" \
  "gdb -batch -nx -ex 'info line vfs_read' $vm"
row "symbol table, cached (vs gdb -batch load+query)" \
  "$hap symbols --vmlinux $vm -o $work/s.parquet" \
  "gdb -batch -nx -ex 'info line vfs_read' $vm"
row "symbol table + --source refinement, cold (vs gdb)" \
  "$hap symbols --vmlinux $vm --source $src -o $work/s.parquet --no-cache" \
  "gdb -batch -nx -ex 'info line vfs_read' $vm"
row "end to end, --source, no cache (vs report)" \
  "HAP_CACHE_DIR=$work/none $hap analyze $dat --vmlinux $vm --source $src --no-cache" \
  "trace-cmd report $dat"
row "end to end, --source, cache warm (vs report)" \
  "$hap analyze $dat --vmlinux $vm --source $src" \
  "trace-cmd report $dat"
"$hap" ingest "$dat" -o "$work/e.parquet" 2> /dev/null
printf '%-44s %9s %9s %9s\n' "size: events Parquet vs trace.dat (bytes)" "$(stat -c %s "$work/e.parquet")" "$(stat -c %s "$dat")" \
  "$(awk -v a="$(stat -c %s "$work/e.parquet")" -v b="$(stat -c %s "$dat")" 'BEGIN { printf "%.2fx", a / b }')"
