#!/usr/bin/env bash
# The README's first command: build botstore and serve the embedded default store
# (./botstore-data) on http://127.0.0.1:7700 until Ctrl-C (SIGINT) or SIGTERM, which
# drain in-flight requests, flush and exit 0. Extra arguments go to `botstore serve`
# (e.g. --listen 0.0.0.0:7700 --tls-cert cert.pem --tls-key key.pem, --config FILE).
#
# On the first start the server writes an admin token to ./botstore-data/admin.token;
# `export BOTSTORE_TOKEN=$(cat botstore-data/admin.token)` and use it with curl or
# `botstore --remote http://127.0.0.1:7700 ...`.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p botstore-cli
exec ./target/release/botstore serve "$@"
