#!/usr/bin/env bash
# Build the Python package's wheel (maturin build): `scripts/wheel.sh` (release, into
# target/wheels/) or `scripts/wheel.sh debug` (the dev profile, into target/wheels/debug/:
# what the tests install, built from the crates scripts/python-env.sh compiled). Prints
# the wheel's path on stdout; cargo's progress goes to stderr. One abi3 wheel serves
# CPython 3.10 and newer on this platform. maturin: $MATURIN, else on PATH, else
# python/.venv's or python/.venv-test's (scripts/python-env.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/botstore-build.sh
source scripts/lib/botstore-build.sh

profile="${1:-release}"
args=(build --manifest-path python/Cargo.toml)
out="$(botstore_target_dir)/wheels"
case "$profile" in
    release) args+=(--release) ;;
    debug) out="$out/debug" ;;
    *)
        echo "usage: scripts/wheel.sh [release|debug]" >&2
        exit 2
        ;;
esac
maturin="${MATURIN:-}"
if [[ -z "$maturin" ]]; then
    for m in "$(command -v maturin || true)" python/.venv/bin/maturin python/.venv-test/bin/maturin; do
        if [[ -n "$m" && -x "$m" ]]; then
            maturin="$m"
            break
        fi
    done
fi
if [[ -z "$maturin" ]]; then
    echo "wheel.sh: no maturin: run scripts/python-env.sh, or pip install maturin" >&2
    exit 1
fi
# The wheel's name is the same for both profiles: clear the folder so the one printed
# is the one just built.
rm -f "$out"/botstore-*.whl
"$maturin" "${args[@]}" --out "$out" >&2
wheels=("$out"/botstore-*.whl)
if [[ ${#wheels[@]} -ne 1 || ! -f "${wheels[0]}" ]]; then
    echo "wheel.sh: expected one wheel in $out, found: ${wheels[*]}" >&2
    exit 1
fi
echo "${wheels[0]}"
