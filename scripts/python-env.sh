#!/usr/bin/env bash
# The Python package in a virtual environment of its own (python/.venv): creates it if
# missing, installs the pinned test and benchmark requirements, and builds the native
# module into it with maturin. `scripts/python-env.sh release` builds it optimised (for
# benchmarks); the tests use the debug build, which shares cargo test's artifacts.
set -euo pipefail
cd "$(dirname "$0")/.."

profile="${1:-debug}"
venv=python/.venv
if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r python/requirements-test.txt
args=(develop --quiet --manifest-path python/Cargo.toml)
if [[ "$profile" == release ]]; then
    args+=(--release)
fi
VIRTUAL_ENV="$PWD/$venv" "$venv/bin/maturin" "${args[@]}"
