#!/usr/bin/env python3
"""The README test: README.md's command blocks, run in order as a reader runs them.

It reads the ```sh and ```python blocks from README.md itself (so the two cannot drift)
and runs them top to bottom in ONE bash shell, as a reader pasting them into one
terminal would: exports, `cd` and background jobs (`scripts/serve.sh &`, later `kill %1`)
carry from block to block. Each block has `set -e` semantics: its first failing command
ends it (and, without --keep-going, the run). `set -o pipefail` is on as well.

What the README marks, and what the test does with it:
- ```sh and ```python blocks run; ```sh norun / ```python norun do not (nor ```rust...).
- `CMD   #=> TEXT` (a trailing comment): CMD must exit 0 and print TEXT (stdout and stderr
  together, lines joined by spaces); ` ... ` in TEXT separates pieces that must appear in
  that order. `#=> exit N` or `#=> exit N: TEXT`: CMD must exit with N (and print TEXT).
  A checked line is one command or pipeline (a `\\` continuation is fine), not part of a
  loop and not a background job.
- A ```python block runs with python/.venv/bin/python; each `#=> TEXT` in it is expected,
  in order, in the block's output. Tracebacks name README.md's line numbers.

Where it runs: a scratch folder holding a copy of the repository's files (git ls-files,
mtimes kept, so cargo finds the build fresh) with `target` a link to this checkout's
target folder ($CARGO_TARGET_DIR, else ./target): scripts/serve.sh reuses the release
build and only builds when it is stale. HOME is a scratch home, and CARGO_INSTALL_ROOT
its ~/.cargo: its bin folder comes first on PATH and gets the `botstore` scripts/serve.sh
links (BOTSTORE_BIN_DIR) or `cargo install` puts there; a link it makes in the real $CARGO_HOME/bin instead
is undone and fails the test. CARGO_HOME stays cargo's own (under another path every
registry crate counts as changed: a full rebuild), as do RUSTUP_HOME and pip's cache. PATH
loses every folder holding a `botstore` (their other tools stay, through links), so a
README that uses `botstore` before installing it fails here too. BOTSTORE_* variables
are cleared. If 127.0.0.1:7700 is taken, the test rewrites the README's 7700 to a free
port (and passes it to `scripts/serve.sh --listen`). Every process the blocks start is
killed at the end, on failure too, and the scratch folder is deleted (--keep keeps it).
Anything the README leaves in the repository root that .gitignore does not ignore fails
the test.

BOTSTORE_README_VENV=DIR: a virtualenv that already has the botstore package (scripts/
test.sh passes the test suite's): python/.venv becomes a link to it and the README's
`scripts/python-env.sh ...` line is not run. Without it that line builds the Python module
in release in the scratch copy (its cargo artifacts land in the shared target folder):
several minutes cold, which is why the test suite passes its venv.

Cost: with target/release fresh and BOTSTORE_README_VENV given, about 10 s (2 cores); a
stale or missing release build adds cargo's release build of botstore-cli (3 minutes cold
on a quiet 2-core machine, over 10 under load).

    scripts/readme-test.py                 # exit 0: every block ok
    scripts/readme-test.py --keep-going    # run every block, report each failure
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parent.parent
README_PORT = 7700
MARKER = re.compile(r"(?:^|\s)#=>\s?(.*)$")
EXIT = re.compile(r"^exit (\d+)(?:\s*[:,]\s*(.*))?$")
FENCE = re.compile(r"^```(\w*)\s*(.*?)\s*$")


@dataclass
class Block:
    lang: str
    first_line: int  # README line number of the block's first code line
    lines: list[str] = field(default_factory=list)
    run: bool = True


def parse_blocks(text: str) -> list[Block]:
    """Every fenced block of README.md; `run` for the sh and python blocks not marked norun."""
    blocks: list[Block] = []
    current: Block | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if current is None:
            fence = FENCE.match(line)
            if fence:
                lang, info = fence.group(1), fence.group(2).split()
                current = Block(lang, number + 1, run=lang in ("sh", "python") and "norun" not in info)
        elif line.startswith("```"):
            blocks.append(current)
            current = None
        else:
            current.lines.append(line)
    if current is not None:
        raise SystemExit(f"README.md:{current.first_line - 1}: a code block is never closed")
    return blocks


def expectation(text: str) -> tuple[int, list[str]]:
    """`exit 3: precondition failed` -> (3, ["precondition failed"]); `a ... b` -> (0, [a, b])."""
    text = text.strip()
    code = 0
    found = EXIT.match(text)
    if found:
        code, text = int(found.group(1)), (found.group(2) or "")
    return code, [piece.strip() for piece in text.split(" ... ") if piece.strip()]


def expect_call(line: int, code: int, command: str, pieces: list[str]) -> str:
    words = ["__expect", str(line), str(code), shlex.quote(command)] + [shlex.quote(p) for p in pieces]
    return " ".join(words)


def sh_block(block: Block) -> str:
    """The block as bash, line for line (so $LINENO maps to README lines); checked lines
    become `__expect` calls spanning the same lines."""
    out: list[str] = []
    i = 0
    while i < len(block.lines):
        start = i
        while block.lines[i].endswith("\\") and i + 1 < len(block.lines):
            i += 1
        logical = block.lines[start : i + 1]
        marker = MARKER.search(logical[-1])
        if marker:
            code, pieces = expectation(marker.group(1))
            out.append(expect_call(block.first_line + start, code, "\n".join(logical), pieces))
        else:
            out.extend(logical)
        i += 1
    # The DEBUG trap shows each command; set here, as a sourced file does not inherit it.
    if out:
        out[0] = f"trap '__show \"$BASH_COMMAND\" $LINENO' DEBUG; {out[0]}"
    return "\n".join(out) + "\n"


def python_block(block: Block, run_dir: Path, number: int) -> str:
    """A python block: its code in a file padded so tracebacks give README line numbers;
    the bash line that runs it with the venv's python and checks its `#=>` comments."""
    script = run_dir / f"README.md-block{number}.py"
    script.write_text("\n" * (block.first_line - 1) + "\n".join(block.lines) + "\n")
    pieces: list[str] = []
    for line in block.lines:
        marker = MARKER.search(line)
        if marker:
            pieces += expectation(marker.group(1))[1]
    return expect_call(block.first_line, 0, f"python/.venv/bin/python {shlex.quote(str(script))}", pieces) + "\n"


RUNNER_HEAD = r"""
# Generated by scripts/readme-test.py from README.md: README.md's blocks in one shell.
exec 2>&1 </dev/null
set -o pipefail
__expect() {  # README line, wanted exit code, command, pieces its output must hold in order
    local __line=$1 __want=$2 __cmd=$3 __out __got __flat __piece __missing=
    shift 3
    printf '$ %s\n' "$__cmd"
    __out=$__run/out.$__line
    eval "$__cmd" >"$__out" 2>&1
    __got=$?
    cat "$__out"
    [[ ! -s $__out || $(tail -c1 "$__out") == "" ]] || echo
    __flat=$(tr '\n' ' ' <"$__out")
    for __piece in "$@"; do
        if [[ $__flat == *"$__piece"* ]]; then
            __flat=${__flat#*"$__piece"}
        else
            __missing=$__piece
            break
        fi
    done
    if [[ $__got == "$__want" && -z $__missing ]]; then
        printf '#   ok README.md:%s: exit %s%s\n' "$__line" "$__got" "${*:+, printed: $*}"
        return 0
    fi
    printf '#   FAILED README.md:%s: exit %s (README says %s)%s\n' "$__line" "$__got" "$__want" \
        "${__missing:+; the output lacks: $__missing}"
    return $((__got != __want && __got != 0 ? __got : 1))
}
__show() {  # the DEBUG trap: print each command of a block once, as a terminal shows it
    [[ "$2:$1" != "$__shown" ]] || return 0
    __shown="$2:$1"
    case $1 in __* | trap\ * | source\ * | return\ *) ;; *) printf '$ %s\n' "$1" ;; esac
}
"""

RUNNER_BLOCK = r"""
printf '\n=== README.md:%s (%s block %s of %s)\n' {line} {lang} {number} {total}
__failed=
trap '__status=$? __at=$LINENO __failed=1; trap - ERR DEBUG; return $__status' ERR
source {file}
trap - ERR DEBUG
if [[ -n $__failed ]]; then
    echo "{number} fail $(({line} + __at - 1)) $__status" >>"$__run/results"
    printf '#   FAILED README.md:%s: exit %s; the block stops here\n' $(({line} + __at - 1)) "$__status"
    {on_failure}
else
    echo "{number} ok" >>"$__run/results"
fi
"""


def free_port() -> int:
    """7700 if free, else a port the system picks."""
    for port in (README_PORT, 0):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise SystemExit("no free port on 127.0.0.1")


def rewrite(blocks: list[Block], port: int, venv: str | None) -> list[str]:
    """Rewrite the runnable blocks for this run; returns what was rewritten, to print."""
    notes = []
    rules: list[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]] = []
    if port != README_PORT:
        notes.append(f"127.0.0.1:{README_PORT} is taken: using 127.0.0.1:{port}")
        rules.append((re.compile(rf"\b(127\.0\.0\.1|localhost):{README_PORT}\b"), rf"\g<1>:{port}"))
        rules.append((re.compile(r"^(\s*)scripts/serve\.sh(?=\s|$)"), rf"\g<1>scripts/serve.sh --listen 127.0.0.1:{port}"))
    if venv:
        notes.append(f"BOTSTORE_README_VENV: python/.venv -> {venv}; scripts/python-env.sh is not run")
        rules.append((
            re.compile(r"^(\s*)(scripts/python-env\.sh.*)$"),
            lambda m: m.group(1) + "echo " + shlex.quote(f"README test: not run: {m.group(2)}"),
        ))
    for block in blocks:
        if block.run:
            for pattern, replacement in rules:
                block.lines = [pattern.sub(replacement, line) for line in block.lines]
    return notes


def copy_repository(dest: Path) -> set[str]:
    """The repository's files (tracked and untracked, not ignored) with their mtimes."""
    listing = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        check=True,
        capture_output=True,
    ).stdout.decode()
    names = {name for name in listing.split("\0") if name}
    for name in sorted(names):
        source = REPO / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the work tree
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)
    return names


def real_cargo_home() -> Path:
    return Path(os.environ.get("CARGO_HOME") or Path.home() / ".cargo")


def scratch_home(home: Path, tools: Path) -> dict[str, str]:
    """The environment of the run: a new HOME, cargo's own CARGO_HOME (a CARGO_HOME of
    another path makes every registry crate "dirty": a full rebuild), installs into the
    new HOME's ~/.cargo (CARGO_INSTALL_ROOT), and a PATH on which no `botstore` is yet."""
    real_home = Path.home()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOTSTORE_")}
    for name in ("VIRTUAL_ENV", "CARGO_TARGET_DIR", "PYTHONHOME"):
        env.pop(name, None)
    install_root = home / ".cargo"
    (install_root / "bin").mkdir(parents=True)
    env.update(
        HOME=str(home),
        CARGO_HOME=str(real_cargo_home()),
        CARGO_INSTALL_ROOT=str(install_root),
        BOTSTORE_BIN_DIR=str(install_root / "bin"),  # where scripts/serve.sh links botstore
    )
    for var, default in (("RUSTUP_HOME", ".rustup"), ("PYENV_ROOT", ".pyenv"), ("PIP_CACHE_DIR", ".cache/pip")):
        value = os.environ.get(var) or str(real_home / default)
        if Path(value).exists():
            env[var] = value
    # Folders that hold a `botstore` leave PATH; their other tools (cargo, rustc, rustup
    # when it is ~/.cargo/bin) stay reachable through links in `tools`.
    tools.mkdir()
    kept = [str(install_root / "bin"), str(tools)]
    for entry in os.environ.get("PATH", "").split(os.pathsep):
        folder = Path(entry)
        if not entry or not folder.is_dir():
            continue
        if not (folder / "botstore").exists():
            kept.append(entry)
            continue
        for tool in folder.iterdir():
            if not tool.name.startswith("botstore") and not (tools / tool.name).exists() and os.access(tool, os.X_OK):
                (tools / tool.name).symlink_to(tool)
    env["PATH"] = os.pathsep.join(kept)
    return env


def link_state(path: Path) -> str | None:
    """What `path` is: None (nothing), "link:TARGET", or "file"."""
    if path.is_symlink():
        return "link:" + os.readlink(path)
    return "file" if path.exists() else None


def restore_link(path: Path, before: str | None, scratch: Path) -> str | None:
    """Undo a link into the scratch folder that the run made in the real cargo bin folder."""
    now = link_state(path)
    if now == before or now is None or not now.startswith("link:" + str(scratch)):
        return None
    path.unlink()
    if before and before.startswith("link:"):
        path.symlink_to(before[len("link:") :])
    return f"the run linked {path} into the scratch folder (undone): install into $CARGO_INSTALL_ROOT or ~/.cargo/bin"


def leftovers(copy: Path, copied: set[str]) -> list[str]:
    """What the README left in the repository copy that .gitignore does not ignore."""
    known_dirs = {parent.as_posix() for name in copied for parent in Path(name).parents}
    new: list[str] = []
    for root, dirs, files in os.walk(copy):
        here = Path(root).relative_to(copy)
        for name in list(dirs):
            if (here / name).as_posix() not in known_dirs:
                new.append((here / name).as_posix() + "/")
                dirs.remove(name)
        new += [(here / name).as_posix() for name in files if (here / name).as_posix() not in copied]
    if not new:
        return []
    ignored = subprocess.run(
        ["git", "-C", str(REPO), "check-ignore", "--no-index", "--stdin"],
        input="\n".join(new) + "\n",
        capture_output=True,
        text=True,
    ).stdout.split("\n")
    return [path for path in new if path not in ignored]


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to every process the blocks started (the run's process group), then SIGKILL."""
    for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            try:
                os.killpg(process.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readme", type=Path, default=REPO / "README.md")
    parser.add_argument("--keep-going", action="store_true", help="run every block, even after a failure")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds for the whole run")
    args = parser.parse_args()

    blocks = parse_blocks(args.readme.read_text())
    runnable = [b for b in blocks if b.run]
    if not runnable:
        print("README test: README.md has no sh or python block to run", file=sys.stderr)
        return 1
    venv = os.environ.get("BOTSTORE_README_VENV")
    port = free_port()
    notes = rewrite(blocks, port, venv)

    scratch = Path(tempfile.mkdtemp(prefix="botstore-readme-"))
    copy, run_dir = scratch / "repo", scratch / "run"
    run_dir.mkdir()
    process = None
    real_link, link_before = None, None
    started = time.monotonic()

    def interrupted(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupted)
    try:
        copied = copy_repository(copy)
        target = Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target")
        target.mkdir(parents=True, exist_ok=True)
        (copy / "target").symlink_to(target.resolve())
        if venv:
            (copy / "python" / ".venv").symlink_to(Path(venv).resolve())
        env = scratch_home(scratch / "home", scratch / "tools")
        real_link = real_cargo_home() / "bin" / "botstore"
        link_before = link_state(real_link)

        runner = [f"__run={shlex.quote(str(run_dir))}", f"cd {shlex.quote(str(copy))}", RUNNER_HEAD]
        on_failure = ":" if args.keep_going else "exit 1"
        for number, block in enumerate(runnable, start=1):
            path = run_dir / f"block{number}.sh"
            if block.lang == "sh":
                path.write_text(sh_block(block))
            else:
                path.write_text(python_block(block, run_dir, number))
            runner.append(RUNNER_BLOCK.format(
                line=block.first_line, lang=block.lang, number=number, total=len(runnable),
                file=shlex.quote(str(path)), on_failure=on_failure))
        (run_dir / "runner.sh").write_text("\n".join(runner))

        print(f"README test: {args.readme}, blocks to run: {len(runnable)}, in {copy}", flush=True)
        for note in notes:
            print(f"README test: {note}", flush=True)
        process = subprocess.Popen(["bash", str(run_dir / "runner.sh")], env=env, start_new_session=True)
        timed_out = False
        try:
            process.wait(timeout=args.timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
        stop_group(process)
        process.wait()

        lines = args.readme.read_text().splitlines()
        results = (run_dir / "results").read_text().split("\n") if (run_dir / "results").exists() else []
        failures = []
        for result in filter(None, results):
            number, status, *where = result.split()
            if status == "fail":
                line, code = int(where[0]), where[1]
                text = lines[line - 1].strip() if 0 < line <= len(lines) else "?"
                failures.append(f"README.md:{line} (block {number}): exit {code}: {text}")
        if timed_out:
            failures.append(f"still running after {args.timeout:.0f} s (--timeout), stopped")
        left = leftovers(copy, copied)
        undone = restore_link(real_link, link_before, scratch)
        if undone:
            failures.append(undone)
        if left:
            failures.append(f"left in the repository root, not in .gitignore: {' '.join(left)}")
        done = len([r for r in results if r])
        elapsed = time.monotonic() - started
        if done < len(runnable) and not failures:
            failures.append(f"only {done} of {len(runnable)} blocks ran")
        if failures:
            print(f"\nREADME test: FAILED after {elapsed:.0f} s ({done} of {len(runnable)} blocks ran):")
            for failure in failures:
                print(f"  {failure}")
            return 1
        print(f"\nREADME test: ok, every block ran clean ({len(runnable)} of them, {elapsed:.0f} s)")
        return 0
    except KeyboardInterrupt as stop:
        print(f"README test: interrupted ({stop})", file=sys.stderr)
        return 1
    finally:
        if process is not None:
            stop_group(process)
        if real_link is not None:
            restore_link(real_link, link_before, scratch)
        if args.keep:
            print(f"README test: kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
