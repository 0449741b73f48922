#!/usr/bin/env bash
# Checks that every dependency botstore-cli and the Python module (botstore-python) share
# is built with the same features in `cargo build -p botstore-cli` as in maturin's build of
# the module, so that either build reuses the other's compiled crates (what
# crates/botstore-workspace-hack is for). Run by .ci/run; needs only cargo (no build).
# On a difference it names the crate and both feature sets: add the missing features to
# crates/botstore-workspace-hack/Cargo.toml ([build-dependencies] for build scripts and
# proc macros' crates such as syn and cc).
set -euo pipefail
cd "$(dirname "$0")/.."

features() {
    cargo tree -p "$1" -e normal,build --prefix none --no-dedupe -f '{p}|{f}' |
        sed 's/ (proc-macro)//; s/ (\*)//' | sort -u
}
cli=$(features botstore-cli)
py=$(features botstore-python)
diff=$(join -t'|' <(echo "$cli") <(echo "$py") | awk -F'|' '$2 != $3 {
    printf "%s\n  botstore-cli:    %s\n  botstore-python: %s\n", $1, $2, $3 }')
if [[ -n "$diff" ]]; then
    echo "check-shared-features: these dependencies have other features in the CLI's build" \
        "than in the Python module's; the second build would compile them again:" >&2
    echo "$diff" >&2
    echo "Add the missing features to crates/botstore-workspace-hack/Cargo.toml." >&2
    exit 1
fi
shared=$(join -t'|' <(echo "$cli") <(echo "$py") | wc -l)
echo "check-shared-features: ok, $shared shared crates with the same features" >&2
