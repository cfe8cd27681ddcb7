#!/usr/bin/env bash
# Fuzz hap's readers with cargo-fuzz (libFuzzer), each target for SECONDS.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]      (default: 1800 s; every target)
#
# Targets (fuzz/fuzz_targets/): trace_dat, text, event_format, symbols.
# Seeds come from the real fixtures (fixtures/): the synthetic trace.dat files
# of every layout, the first lines of each text trace, the 1,372 event formats
# of a real 6.1 trace.dat (`trace-cmd dump --events`), and small ELF files
# with DWARF 4 and 5 compiled here by gcc. Each run's libFuzzer log goes to
# fuzz/logs/TARGET.log, its last status line (executions, coverage) to
# stdout. A crash leaves its input under fuzz/artifacts/TARGET/ and fails the
# script; make it a regression test (docs/fuzzing.md) before fixing it.
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`). The machine's stable
# toolchain builds it with RUSTC_BOOTSTRAP=1 (libFuzzer needs -Z flags).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-1800}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(trace_dat text event_format symbols)
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

corpus=fuzz/corpus
mkdir -p fuzz/logs

seed_trace_dat() {
  local d=$corpus/trace_dat
  mkdir -p "$d"
  cp fixtures/dat/synthetic/*.dat "$d/"
}

seed_text() {
  local d=$corpus/text f
  mkdir -p "$d"
  for f in fixtures/text/*; do
    # The header and first events of each layout (function, function_graph,
    # trace_pipe, trace-cmd report with and without -l).
    zcat -f "$f" 2>/dev/null | head -n 60 > "$d/$(basename "${f%.*}")" || true
    zstdcat -f "$f" 2>/dev/null | head -n 60 > "$d/$(basename "${f%.*}").z" || true
  done
  find "$d" -empty -delete
}

seed_event_format() {
  local d=$corpus/event_format
  mkdir -p "$d"
  # One seed per format: its text, a NUL, then 64 bytes of record payload.
  trace-cmd dump --events fixtures/dat/steady-6.1.v7.dat 2>/dev/null | python3 -c '
import os, sys
text = sys.stdin.read()
out = sys.argv[1]
for i, block in enumerate(text.split("\nname: ")[1:]):
    payload = bytes((i * 7 + k * 13) & 0xff for k in range(64))
    with open(os.path.join(out, "fmt%04d" % i), "wb") as f:
        f.write(("name: " + block.strip() + "\n").encode() + b"\0" + payload)
' "$d"
}

seed_symbols() {
  local d=$corpus/symbols tmp
  mkdir -p "$d"
  tmp=$(mktemp -d)
  cat > "$tmp/a.c" <<'EOF'
static int counter;
static inline int twice(int x) { return 2 * x; }
static int __attribute__((noinline)) bump(int by)
{
	counter += twice(by);
	return counter;
}
int helper(int x)
{
	if (x > 3)
		return bump(x);
	return x;
}
int main(int argc, char **argv)
{
	(void)argv;
	return helper(argc) + bump(1);
}
EOF
  for v in 4 5; do
    for o in 0 2; do
      gcc -g -gdwarf-$v -O$o -o "$d/a-dwarf$v-O$o" "$tmp/a.c"
    done
  done
  gcc -O2 -s -o "$d/a-stripped" "$tmp/a.c"
  rm -rf "$tmp"
}

max_len() {
  case $1 in
    trace_dat) echo 65536 ;;
    text) echo 16384 ;;
    event_format) echo 8192 ;;
    symbols) echo 65536 ;;
  esac
}

(cd fuzz && cargo fuzz build -s none -a)
status=0
for t in "${targets[@]}"; do
  "seed_$t"
  log=fuzz/logs/$t.log
  echo "fuzz: $t for ${seconds}s (log $log)" >&2
  if (cd fuzz && cargo fuzz run -s none -a "$t" "corpus/$t" -- \
        -max_total_time="$seconds" -max_len="$(max_len "$t")" -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1) > "$log" 2>&1; then
    result=ok
  else
    result="FAILED (see $log and fuzz/artifacts/$t/)"
    status=1
  fi
  last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
  execs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}' || true)
  echo "$t: $result; executions ${execs:-?}; last: $last"
done
exit $status
