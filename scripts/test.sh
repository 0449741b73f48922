#!/usr/bin/env bash
# The whole test suite: the README's second command, and what `.ci/run` runs.
# Works on a fresh machine of this kind: it starts the services the tests need and
# exports their URLs for the tests (BOTSTORE_TEST_*), then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/services.sh
source scripts/services.sh
ensure_services

# Crash tests: at least 20 SIGKILL points per run (tests/crash.rs reads this).
export BOTSTORE_CRASH_ROUNDS="${BOTSTORE_CRASH_ROUNDS:-24}"

cargo test --workspace --all-features --no-fail-fast
