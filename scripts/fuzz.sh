#!/usr/bin/env bash
# Fuzz the parsers and decoders that take outside bytes (fuzz/README.md): each cargo-fuzz
# target runs for FUZZ_SECONDS (default 15) from its seed corpus (fuzz/seeds/<target>) and
# its saved crash reproducers (fuzz/regressions/<target>). Fails if any target crashes; the
# crashing input is left in fuzz/artifacts/<target>/. Called by .ci/run.
#
#   scripts/fuzz.sh                               # every target, 15 s each
#   FUZZ_SECONDS=600 scripts/fuzz.sh records      # one target, longer
#
# damaged_store runs in libFuzzer's fork mode: redb can abort the process on a damaged
# store.redb (a panic in a destructor while it unwinds from another, fuzz/README.md), which
# is loud, not a lie. Fork mode carries on past crashes; each crashing input is then run
# again and sorted by what it prints: redb's abort is counted and kept under
# fuzz/artifacts/damaged_store/redb-aborts/, anything else (a wrong read, an escaped panic)
# fails the run.
#
# cargo-fuzz needs nightly-only compiler flags; this machine has only stable Rust, which
# accepts them with RUSTC_BOOTSTRAP=1. Build choices (measured on the 2-core machine):
#   --sanitizer none     the crates are #![deny(unsafe_code)], so AddressSanitizer finds
#                        little here, and it cuts executions per second 15-20x;
#   --debug-assertions   overflow checks and debug_assert! on: an overflow is a crash;
#   --codegen-units 16   cargo-fuzz forces 1 in release mode; 16 builds about a third faster
#                        for a somewhat slower binary, the better trade for short runs.
# The working corpus, fuzz/corpus/<target>, is git-ignored and grows across runs on a machine.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-15}"
if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  targets=(journal_replay damaged_journal damaged_store records names_and_cursors store_ops http_paths
    batch_body http_headers transfer_stream)
fi
# Targets run in fork mode, whose crashes are sorted (see above).
forked=" damaged_store "
export RUSTC_BOOTSTRAP=1
flags=(--sanitizer none --debug-assertions --codegen-units 16)

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz" >&2
  cargo install --locked cargo-fuzz
fi

start=$SECONDS
cargo fuzz build "${flags[@]}"
echo "fuzz: built the targets in $((SECONDS - start)) s" >&2

# One target in fork mode: crashes do not stop the run; each crashing input is run again
# and must be redb's abort (see the top). Returns non-zero on anything else.
run_forked() {
  local t=$1 log=$2
  shift 2
  local dir="fuzz/artifacts/$t" bin
  bin=$(ls -d fuzz/target/*/release/"$t" | head -n1)
  mkdir -p "$dir/redb-aborts"
  rm -f "$dir"/crash-* "$dir"/timeout-* "$dir"/oom-*
  timeout $((seconds + 300)) cargo fuzz run "${flags[@]}" "$t" "$@" -- -fork=1 \
    -ignore_crashes=1 -ignore_timeouts=0 -max_total_time="$seconds" -timeout=10 \
    -print_final_stats=1 >"$log" 2>&1 || true
  local aborts=0 grew=0 bad=0 a out
  mkdir -p "$dir/grew-across-runs"
  for a in "$dir"/oom-*; do
    [ -f "$a" ] || continue
    # Memory that grew over many runs in one process, not this input's own: it passes
    # alone under the same limit. Reported (a leak worth finding), not failed.
    if timeout 60 "$bin" -rss_limit_mb=2048 "$a" >/dev/null 2>&1; then
      grew=$((grew + 1))
      mv "$a" "$dir/grew-across-runs/"
    fi
  done
  for a in "$dir"/crash-* "$dir"/timeout-* "$dir"/oom-*; do
    [ -f "$a" ] || continue
    out=$(timeout 60 "$bin" "$a" 2>&1 || true)
    if ! grep -q 'VIOLATION' <<<"$out" &&
      grep -q -e 'panic in a destructor during cleanup' -e 'non-unwinding panic' <<<"$out"; then
      aborts=$((aborts + 1))
      mv "$a" "$dir/redb-aborts/"
    else
      bad=$((bad + 1))
      echo "fuzz $t: $a is not redb's abort:" >&2
      grep -v -e '^#' -e 'NEW_FUNC' -e '^INFO' <<<"$out" | tail -n 20 >&2
    fi
  done
  local runs
  runs=$(grep -o 'exec/s: [0-9]*' "$log" | tail -n1)
  if [ "$bad" -eq 0 ] && grep -q -e 'fuzz: done' -e 'INFO: fuzzed for' -e 'Done' "$log"; then
    echo "fuzz $t: ok (fork mode), ${runs:-exec/s: ?}, $aborts redb aborts (loud; kept in $dir/redb-aborts)" >&2
    if [ "$grew" -gt 0 ]; then
      echo "fuzz $t: warning: $grew runs out of memory that pass alone (memory grew across runs; $dir/grew-across-runs)" >&2
    fi
    return 0
  fi
  echo "fuzz $t: FAILED ($bad crashes other than redb's abort; full log: $log)" >&2
  [ "$bad" -gt 0 ] || grep -v -e '^#' -e 'NEW_FUNC' "$log" | tail -n 40 >&2
  return 1
}

passed=0
failed=0
mkdir -p fuzz/artifacts
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t"
  corpora=("fuzz/corpus/$t" "fuzz/seeds/$t")
  if [ -d "fuzz/regressions/$t" ]; then corpora+=("fuzz/regressions/$t"); fi
  log="fuzz/artifacts/$t.log"
  if [[ "$forked" == *" $t "* ]]; then
    if run_forked "$t" "$log" "${corpora[@]}"; then
      passed=$((passed + 1))
    else
      failed=$((failed + 1))
    fi
    continue
  fi
  # libFuzzer adds new inputs to the first corpus folder only; -timeout makes a hang a crash.
  if timeout $((seconds + 300)) cargo fuzz run "${flags[@]}" "$t" "${corpora[@]}" -- \
    -max_total_time="$seconds" -timeout=10 -print_final_stats=1 >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n1)
    echo "fuzz $t: ok, ${runs:-?} runs in ${seconds} s, ${rate:-?} exec/s, ${cov:-cov: ?}" >&2
    passed=$((passed + 1))
  else
    echo "fuzz $t: FAILED (full log: $log; crashing input in fuzz/artifacts/$t/)" >&2
    grep -v -e '^#' -e 'NEW_FUNC' "$log" | tail -n 60 >&2
    failed=$((failed + 1))
  fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
