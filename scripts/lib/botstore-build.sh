# shellcheck shell=bash
# Sourced by scripts/serve.sh, scripts/install.sh and scripts/demo.sh (run from the
# repository root): build the release `botstore` with cargo's own progress on stderr, and
# put it on PATH as a symlink in ~/.cargo/bin.

# The target directory cargo really uses (CARGO_TARGET_DIR and .cargo/config included).
botstore_target_dir() {
    cargo metadata --format-version 1 --no-deps |
        sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p'
}

# Build the release CLI; sets BOTSTORE_RELEASE_BIN to the binary's path.
build_botstore_release() {
    echo "building botstore (release: cargo build --release -p botstore-cli); the first build" \
        "takes about 3 minutes on 2 cores, later ones seconds" >&2
    cargo build --release -p botstore-cli
    local dir
    dir=$(botstore_target_dir)
    if [[ -z "$dir" ]]; then
        echo "error: cargo metadata did not say where the target directory is" >&2
        return 1
    fi
    BOTSTORE_RELEASE_BIN="$dir/release/botstore"
}

# Make BIN_DIR/botstore (default ~/.cargo/bin, or $CARGO_HOME/bin; BOTSTORE_BIN_DIR
# overrides) a symlink to the binary given, and say so in one line on stderr. Only a
# symlink to a `target/release/botstore` (a build of this or another checkout) is replaced;
# anything else there (a `cargo install`ed copy, a file of the user's) is left as it is,
# with a warning. Never fails the caller: the binary works from its own path anyway.
link_botstore_on_path() {
    local bin="$1"
    local dir="${BOTSTORE_BIN_DIR:-${CARGO_HOME:-$HOME/.cargo}/bin}"
    local link="$dir/botstore" shown="$dir/botstore" old=""
    if [[ -n "${HOME:-}" && "$shown" == "$HOME"/* ]]; then
        shown="~${shown#"$HOME"}"
    fi
    if [[ -L "$link" ]]; then
        old=$(readlink "$link")
        if [[ "$old" != "$bin" && "$old" != */target/release/botstore ]]; then
            echo "warning: $shown is a symlink to $old, not to a botstore build; left as it is" \
                "(use $bin, or remove $shown and run this again)" >&2
            return 0
        fi
    elif [[ -e "$link" ]]; then
        echo "warning: $shown exists and is not a symlink (a 'cargo install' copy?); left as it" \
            "is, so 'botstore' may not be this build: use $bin, or remove $shown and run this" \
            "again" >&2
        return 0
    fi
    if ! mkdir -p "$dir" || ! ln -sfn "$bin" "$link"; then
        echo "warning: could not create $shown; use $bin" >&2
        return 0
    fi
    local was=""
    if [[ -n "$old" && "$old" != "$bin" ]]; then
        was=" (it pointed to $old)"
    fi
    local found
    found=$(command -v botstore || true)
    case ":$PATH:" in
        *":$dir:"*)
            if [[ -n "$found" && "$found" != "$link" ]]; then
                echo "botstore is at $shown -> $bin$was, but 'botstore' on PATH runs $found" \
                    "first (earlier in PATH)" >&2
            else
                echo "botstore is on PATH at $shown -> $bin$was" >&2
            fi
            ;;
        *)
            echo "botstore is at $shown -> $bin$was; $dir is not on PATH: add it with" \
                "export PATH=\"$dir:\$PATH\" (and to your shell's profile)" >&2
            ;;
    esac
}
