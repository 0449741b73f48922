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
# conformance suites, in embedded mode and against a real `botstore serve`. In a venv of
# the tests' own (python/.venv-test), installed from a debug-profile wheel: a user's
# python/.venv (scripts/python-env.sh release) stays as it was built.
scripts/python-env.sh test
# The same dependency features as the module's build: this reuses its crates.
cargo build --bin botstore
# shellcheck source=scripts/lib/botstore-build.sh
source scripts/lib/botstore-build.sh
BOTSTORE_BIN="$(botstore_target_dir)/debug/botstore"
export BOTSTORE_BIN
python/.venv-test/bin/python -m pytest python/tests -q

# The README top to bottom, in a scratch copy, checked (scripts/readme-test.py); the test
# suite's venv stands in for the README's `scripts/python-env.sh release` build. The
# README's first block starts scripts/serve.sh, whose first run builds the release CLI
# while the README's `curl --retry 900` waits: built here first, so that wait is for the
# server, not for a cold compile on a busy machine (the scratch copy then reuses every
# compiled dependency from the shared target folder).
cargo build --release -p botstore-cli
BOTSTORE_README_VENV="$PWD/python/.venv-test" scripts/readme-test.py

# The release wheel (maturin build --release, into target/wheels), alone in a fresh venv:
# import, put, get. After the README's release build of the CLI, whose compiled crates it
# shares, it takes seconds.
scripts/wheel-test.sh

# Schemathesis, every check, against a real `botstore serve` (the debug build above):
# the OpenAPI document must describe what the server really takes and answers.
scripts/schemathesis.sh "$BOTSTORE_BIN"
