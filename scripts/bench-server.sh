#!/usr/bin/env bash
# The server benchmark of issue 3 (docs/BENCHMARKS.md, "Server over HTTP"): starts a release
# `botstore serve` on a fresh data folder, then runs `botstore bench --remote` against it
# with Redis anchors in the same run:
#   get, put  closed loop (50 connections, 1 KiB), then open loop at half the peak, next to
#             redis-benchmark GET (Redis at 127.0.0.1:6379) and SET on a throwaway
#             redis-server with appendfsync always (port 6390, killed afterwards), and
#             random GETs with wrk (a C load generator) when it is installed;
#   state, transcript  the bot workloads, closed loop and at half the peak.
# Extra arguments go to both bench runs (e.g. -d 10s, -c 100, --client-threads 2).
# Environment: BIN (a botstore binary to use instead of building target/release/botstore;
# `botstore bench` needs botstore-bench next to it or on PATH),
# PORT (default 7720), DURATION (default 5s), WORKLOADS (default: both runs), PROFILE=1
# records a cpu-clock profile of the server (perf) over the whole run and prints its top
# entries per thread and per symbol (it builds the `profiling` profile, the release build
# with debug info, into target/profiling/: the release profile has none).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${BIN:-}" ]; then
    # `botstore bench` runs the botstore-bench binary next to `botstore`.
    if [ "${PROFILE:-0}" = 1 ]; then
        cargo build --profile profiling -p botstore-cli -p botstore-bench
        BIN=target/profiling/botstore
    else
        cargo build --release -p botstore-cli -p botstore-bench
        BIN=target/release/botstore
    fi
fi
PORT=${PORT:-7720}
DURATION=${DURATION:-5s}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/botstore-bench-server.XXXXXX")
SERVER=
PERF=
cleanup() {
    [ -n "$PERF" ] && kill -INT "$PERF" 2>/dev/null && wait "$PERF" 2>/dev/null || true
    [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

"$BIN" serve --data "$WORK/data" --listen "127.0.0.1:$PORT" --insecure-dev 2>"$WORK/serve.log" &
SERVER=$!
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.1
done
echo "server pid $SERVER on 127.0.0.1:$PORT, data in $WORK/data" >&2

if [ "${PROFILE:-0}" = 1 ]; then
    perf record -e cpu-clock -g -p "$SERVER" -o "$WORK/perf.data" 2>"$WORK/perf.log" &
    PERF=$!
fi

URL="http://127.0.0.1:$PORT"
if [ -n "${WORKLOADS:-}" ]; then
    "$BIN" --remote "$URL" bench -w "$WORKLOADS" --baseline redis --wrk --rate half \
        -d "$DURATION" --bench-dir "$WORK" "$@"
else
    "$BIN" --remote "$URL" bench -w get,put --baseline redis --wrk --rate half \
        -d "$DURATION" --bench-dir "$WORK" "$@"
    "$BIN" --remote "$URL" bench -w state,transcript --rate half -d "$DURATION" "$@"
fi

if [ -n "$PERF" ]; then
    kill -INT "$PERF"
    wait "$PERF" || true
    PERF=
    for sort in comm symbol; do
        perf report -i "$WORK/perf.data" --stdio --no-children --sort "$sort" -g none 2>/dev/null \
            | grep -E '^ +[0-9]' | sed 's/ *$//' | cut -c1-160 | head -30
    done
fi
