#!/usr/bin/env bash
# The Python package's wheel, alone: build it (scripts/wheel.sh; `debug` for the
# dev-profile wheel the tests build anyway, which takes seconds after
# scripts/python-env.sh test), install it into a fresh venv (no test requirements, not
# the source tree) and use it: import botstore, put, get, a failed precondition.
# Run by scripts/test.sh (release, after the README test built the CLI in release).
set -euo pipefail
cd "$(dirname "$0")/.."

profile="${1:-release}"
wheel=$(scripts/wheel.sh "$profile")
scratch=$(mktemp -d "${TMPDIR:-/tmp}/botstore-wheel-test.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
python3 -m venv "$scratch/venv"
"$scratch/venv/bin/python" -m pip install --quiet --disable-pip-version-check "$wheel"
cd "$scratch"
"$scratch/venv/bin/python" - "$scratch/data" <<'PY'
import sys

import botstore

where = botstore.__file__
assert "/venv/lib/" in where, f"botstore imported from {where}, not the fresh venv"
store = botstore.Store(sys.argv[1])
v = store.put("tenant-a/users/u42", "profile", {"name": "Ada"})
item = store.get("tenant-a/users/u42", "profile")
assert item.json() == {"name": "Ada"} and item.version == v, (item.value, v)
try:
    store.put("tenant-a/users/u42", "profile", {"name": "x"}, if_version=v + 1)
    raise AssertionError("a stale if_version was accepted")
except botstore.PreconditionFailed:
    pass
assert store.get("tenant-a/users/u42", "profile").json() == {"name": "Ada"}
store.close()
print(f"wheel-test: ok: put/get version {v} from {where}")
PY
echo "wheel-test: $wheel installs into a fresh venv and works" >&2
