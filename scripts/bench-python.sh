#!/usr/bin/env bash
# The Python package's benchmark (issue 5's targets): builds the native module
# optimised into python/.venv, then runs every checkpointer and its anchor in one
# process. Arguments go to python/bench/checkpoint_bench.py (--threads, --steps, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/python-env.sh release
exec python/.venv/bin/python python/bench/checkpoint_bench.py "$@"
