#!/usr/bin/env bash
# The Python package in a virtual environment, with the pinned test and benchmark
# requirements (python/requirements-test.txt):
#   scripts/python-env.sh release   python/.venv, the module built optimised (maturin
#                                   develop --release): yours, for anything but the tests
#   scripts/python-env.sh [debug]   python/.venv, the module in a debug build
#   scripts/python-env.sh test      python/.venv-test, what scripts/test.sh uses: the
#                                   package installed from a debug-profile wheel
#                                   (scripts/wheel.sh debug), not editable
# python/.venv is an editable install: its module is python/botstore/_native.abi3.so in
# the source tree, so the tests use a venv and a wheel of their own and leave it as built.
# cargo's progress shows; pip stays quiet. The release build reuses the crates
# scripts/serve.sh's build compiled (crates/botstore-workspace-hack).
set -euo pipefail
cd "$(dirname "$0")/.."

mode="${1:-debug}"
case "$mode" in
    release | debug) venv=python/.venv ;;
    test) venv=python/.venv-test ;;
    *)
        echo "usage: scripts/python-env.sh [release|debug|test]" >&2
        exit 2
        ;;
esac
if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv"
fi
echo "python-env: pip install -r python/requirements-test.txt into $venv (under a minute" \
    "the first time)" >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r python/requirements-test.txt

if [[ "$mode" == test ]]; then
    wheel=$(MATURIN="$venv/bin/maturin" scripts/wheel.sh debug)
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --force-reinstall \
        --no-deps "$wheel"
    echo "python-env: $venv has botstore from $wheel" >&2
    exit 0
fi

args=(develop --manifest-path python/Cargo.toml)
if [[ "$mode" == release ]]; then
    args+=(--release)
    echo "building the Python module (release) into $venv; the first build takes about" \
        "2 minutes on 2 cores, 20 seconds after scripts/serve.sh's build, later ones seconds" >&2
else
    echo "building the Python module (debug) into $venv" >&2
fi
VIRTUAL_ENV="$PWD/$venv" "$venv/bin/maturin" "${args[@]}"
