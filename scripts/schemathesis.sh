#!/usr/bin/env bash
# Schemathesis (PyPI) against a real `botstore serve`: every check on, generated from
# /openapi.json, with an admin token. Starts the server on a free port in a temporary
# folder, runs, stops it; fails on any failure. Its own virtual environment
# (target/schemathesis-venv), pinned in scripts/schemathesis-requirements.txt, so it
# does not mix with the Python package's test requirements.
#
#   scripts/schemathesis.sh [path/to/botstore]   (default target/debug/botstore)
set -euo pipefail
cd "$(dirname "$0")/.."

bin="${1:-${BOTSTORE_BIN:-$PWD/target/debug/botstore}}"
venv="${SCHEMATHESIS_VENV:-${CARGO_TARGET_DIR:-$PWD/target}/schemathesis-venv}"
if [[ ! -x "$venv/bin/schemathesis" ]]; then
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        -r scripts/schemathesis-requirements.txt
fi

tmp="$(mktemp -d)"
pid=""
cleanup() {
    if [[ -n "$pid" ]]; then
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

# Port 0: the server picks a free port and logs `listening on ADDR`. Long polls are
# cut to 1s, so a generated `wait=15m` costs a second, not a minute.
printf 'long_poll_max = "1s"\n' >"$tmp/serve.toml"
"$bin" serve --config "$tmp/serve.toml" --data "$tmp/data" --listen 127.0.0.1:0 \
    --maintenance-interval 1h \
    >"$tmp/serve.log" 2>&1 &
pid=$!
addr=""
for _ in $(seq 1 100); do
    addr="$(sed -n 's/.*listening on \([0-9.:]*\).*/\1/p' "$tmp/serve.log" | head -n1)"
    [[ -n "$addr" && -s "$tmp/data/admin.token" ]] && break
    kill -0 "$pid" 2>/dev/null || { cat "$tmp/serve.log"; exit 1; }
    sleep 0.1
done
[[ -n "$addr" ]] || { echo "the server did not start:"; cat "$tmp/serve.log"; exit 1; }
token="$(cat "$tmp/data/admin.token")"

# Every check: schemathesis 4 runs all of them unless told otherwise (`--checks all`
# would also override the per-operation settings of schemathesis.toml, which turn one
# check off where OpenAPI cannot state a rule; see there).
# Bounded: a fixed number of examples per operation and a time budget for the whole run,
# so the suite stays fast; a fixed seed unless SCHEMATHESIS_SEED says otherwise, so a
# failure reproduces.
# From the temporary folder: schemathesis keeps a cache of past failures in the working
# directory (.schemathesis/), which must neither land in the repository nor steer the
# next run.
root="$PWD"
cd "$tmp"
"$venv/bin/schemathesis" --config-file "$root/scripts/schemathesis.toml" \
    run "http://$addr/openapi.json" \
    --header "Authorization: Bearer $token" \
    --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-30}" \
    --max-time "${SCHEMATHESIS_MAX_TIME:-120}" \
    --seed "${SCHEMATHESIS_SEED:-1}" \
    --workers 1 \
    --request-timeout 30 \
    --no-shrink \
    --output-truncate false
