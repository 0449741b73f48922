#!/usr/bin/env bash
# The README's first command: build botstore (cargo's progress shows; the first build takes
# a few minutes), put it on PATH (~/.cargo/bin/botstore, a symlink to the build: see
# scripts/install.sh) and serve the embedded default store (./botstore-data) on
# http://127.0.0.1:7700 until Ctrl-C (SIGINT) or SIGTERM, which drain in-flight requests,
# flush and exit 0. Extra arguments go to `botstore serve` (e.g. --listen 0.0.0.0:7700
# --tls-cert cert.pem --tls-key key.pem, --config FILE).
#
# On the first start the server writes an admin token to ./botstore-data/admin.token;
# `export BOTSTORE_TOKEN=$(cat botstore-data/admin.token)` and use it with curl or
# `botstore --remote http://127.0.0.1:7700 ...`.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/botstore-build.sh
source scripts/lib/botstore-build.sh
build_botstore_release
link_botstore_on_path "$BOTSTORE_RELEASE_BIN"
exec "$BOTSTORE_RELEASE_BIN" serve "$@"
