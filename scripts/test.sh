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

# How scripts/serve.sh and scripts/install.sh put botstore on PATH (no build).
scripts/install-test.sh

# The Python package (python/): its own tests, the LangGraph and Bot Framework
# conformance suites, in embedded mode and against a real `botstore serve`.
scripts/python-env.sh
cargo build --bin botstore
export BOTSTORE_BIN="$PWD/target/debug/botstore"
python/.venv/bin/python -m pytest python/tests -q

# Schemathesis, every check, against a real `botstore serve` (the debug build above):
# the OpenAPI document must describe what the server really takes and answers.
scripts/schemathesis.sh "$BOTSTORE_BIN"
