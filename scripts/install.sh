#!/usr/bin/env bash
# Build the release `botstore` (cargo's progress shows) and put it on PATH: a symlink
# ~/.cargo/bin/botstore -> <this checkout>/target/release/botstore, said in one line
# (a later build updates what it runs; nothing is copied). scripts/serve.sh runs this
# first. For a copy that does not depend on this checkout, use
# `cargo install --path crates/botstore-cli` instead (it replaces the symlink only if you
# remove it first). BOTSTORE_BIN_DIR puts the symlink elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/botstore-build.sh
source scripts/lib/botstore-build.sh
build_botstore_release
link_botstore_on_path "$BOTSTORE_RELEASE_BIN"
