#!/usr/bin/env bash
# Tests of how scripts/install.sh and scripts/serve.sh put `botstore` on PATH
# (link_botstore_on_path in scripts/lib/botstore-build.sh), on scratch folders and a
# stand-in binary: no build. Run by scripts/test.sh; exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/botstore-build.sh
source scripts/lib/botstore-build.sh

scratch=$(mktemp -d "${TMPDIR:-/tmp}/botstore-install-test.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/checkout/target/release" "$scratch/other/target/release"
bin="$scratch/checkout/target/release/botstore"
printf '#!/bin/sh\necho stand-in\n' >"$bin"
chmod +x "$bin"
cp "$bin" "$scratch/other/target/release/botstore"

fail() {
    echo "install-test: FAIL: $*" >&2
    exit 1
}
# link DIR: run link_botstore_on_path into DIR, with DIR on PATH unless NOPATH=1;
# its stderr goes to $scratch/out.
link() {
    local dir="$1" path="$PATH"
    [[ "${NOPATH:-0}" == 1 ]] || path="$dir:$PATH"
    PATH="$path" BOTSTORE_BIN_DIR="$dir" link_botstore_on_path "$bin" 2>"$scratch/out" ||
        fail "link_botstore_on_path exited $?"
    [[ $(wc -l <"$scratch/out") -eq 1 ]] || fail "expected one line, got: $(cat "$scratch/out")"
}
expect_out() {
    grep -qF -- "$1" "$scratch/out" || fail "expected '$1' in: $(cat "$scratch/out")"
}

# A new folder on PATH: created, the symlink made, one line saying so; `botstore` runs it.
d="$scratch/bin1"
link "$d"
[[ -L "$d/botstore" && $(readlink "$d/botstore") == "$bin" ]] || fail "no symlink to $bin"
expect_out "botstore is on PATH at $d/botstore -> $bin"
[[ $(PATH="$d:$PATH" botstore) == stand-in ]] || fail "'botstore' on PATH does not run the build"

# Again: the same line, the same symlink.
link "$d"
expect_out "botstore is on PATH at $d/botstore -> $bin"
[[ $(readlink "$d/botstore") == "$bin" ]] || fail "second run changed the symlink"

# A symlink to another checkout's build is ours: replaced, and the line says what it was.
d="$scratch/bin2"
mkdir -p "$d"
ln -s "$scratch/other/target/release/botstore" "$d/botstore"
link "$d"
[[ $(readlink "$d/botstore") == "$bin" ]] || fail "the old build's symlink was not replaced"
expect_out "(it pointed to $scratch/other/target/release/botstore)"

# A regular file (a `cargo install`ed copy): left byte for byte, with a warning.
d="$scratch/bin3"
mkdir -p "$d"
printf 'not ours\n' >"$d/botstore"
link "$d"
[[ ! -L "$d/botstore" && $(cat "$d/botstore") == "not ours" ]] || fail "a regular file was overwritten"
expect_out "warning: $d/botstore exists and is not a symlink"

# A symlink to something that is not a botstore build: left, with a warning.
d="$scratch/bin4"
mkdir -p "$d"
ln -s /bin/true "$d/botstore"
link "$d"
[[ $(readlink "$d/botstore") == /bin/true ]] || fail "a foreign symlink was replaced"
expect_out "warning: $d/botstore is a symlink to /bin/true"

# A folder that is not on PATH: the symlink is made and the line says what to add.
d="$scratch/bin5"
NOPATH=1 link "$d"
[[ $(readlink "$d/botstore") == "$bin" ]] || fail "no symlink in a folder off PATH"
expect_out "$d is not on PATH: add it with export PATH=\"$d:\$PATH\""

# Under HOME, the line shows ~ (what a user reads: ~/.cargo/bin/botstore -> ...).
HOME="$scratch/home" link "$scratch/home/.cargo/bin"
expect_out "botstore is on PATH at ~/.cargo/bin/botstore -> $bin"

echo "install-test: ok (7 cases)" >&2
