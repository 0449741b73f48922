#!/usr/bin/env bash
# Fuzz the parsers and decoders that take outside bytes (fuzz/README.md): each cargo-fuzz
# target runs for FUZZ_SECONDS (default 15) from its seed corpus (fuzz/seeds/<target>) and
# its saved crash reproducers (fuzz/regressions/<target>). Fails if any target crashes; the
# crashing input is left in fuzz/artifacts/<target>/. Called by .ci/run.
#
#   scripts/fuzz.sh                               # every target, 15 s each
#   FUZZ_SECONDS=600 scripts/fuzz.sh records      # one target, longer
#   scripts/fuzz.sh damaged_store                 # on demand, not in the default list:
#                                                 # redb can abort on a damaged store.redb
#                                                 # (a panic in a destructor while it
#                                                 # unwinds from another), see fuzz/README.md
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
  targets=(journal_replay damaged_journal records names_and_cursors store_ops http_paths batch_body
    http_headers transfer_stream)
fi
export RUSTC_BOOTSTRAP=1
flags=(--sanitizer none --debug-assertions --codegen-units 16)

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz" >&2
  cargo install --locked cargo-fuzz
fi

start=$SECONDS
cargo fuzz build "${flags[@]}"
echo "fuzz: built the targets in $((SECONDS - start)) s" >&2

passed=0
failed=0
mkdir -p fuzz/artifacts
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t"
  corpora=("fuzz/corpus/$t" "fuzz/seeds/$t")
  if [ -d "fuzz/regressions/$t" ]; then corpora+=("fuzz/regressions/$t"); fi
  log="fuzz/artifacts/$t.log"
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
