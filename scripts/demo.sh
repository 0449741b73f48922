#!/usr/bin/env bash
# A short botstore session on the embedded default store
# (./botstore-data). Builds the CLI, then writes and reads conversation state, a
# conditional update that loses a race, a transcript stream, the change feed and stats.
# (The README's first command is scripts/serve.sh; this one needs no server.)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/botstore-build.sh
source scripts/lib/botstore-build.sh
build_botstore_release
bs() { echo "\$ botstore $*" >&2; "$BOTSTORE_RELEASE_BIN" "$@"; }
export BOTSTORE_DATA="${BOTSTORE_DATA:-./botstore-data}"

v=$(bs --json put demo/users/u42 profile '{"name":"Ada","turns":0}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')
bs get demo/users/u42 profile
bs put demo/users/u42 profile --if-version "$v" '{"name":"Ada","turns":1}'
echo "# the same stale version again must fail with exit code 3:" >&2
set +e; bs put demo/users/u42 profile --if-version "$v" '{"name":"Ada","turns":9}'; code=$?; set -e
echo "# exit code: $code" >&2
bs put demo/sessions/s1 state --ttl 1h '{"dialog_stack":["greet"]}'
bs stream append demo/conversations/c1 transcript '{"type":"message","from":"user","text":"hi"}' '{"type":"message","from":"bot","text":"hello!"}'
bs stream read demo/conversations/c1 transcript --backward --limit 10
bs ls demo/users/u42
bs ns demo
bs changes --limit 5
bs stats
