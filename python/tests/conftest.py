"""Fixtures: an embedded store in a fresh folder, and a real ``botstore serve`` (the
binary from this checkout; ``BOTSTORE_BIN`` names it, scripts/test.sh sets it) for the
remote mode. Tests that take ``store`` run once per mode."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import botstore

REPO = Path(__file__).resolve().parents[2]


def botstore_bin() -> str:
    explicit = os.environ.get("BOTSTORE_BIN")
    if explicit:
        return explicit
    for profile in ("debug", "release"):
        p = REPO / "target" / profile / "botstore"
        if p.exists():
            return str(p)
    found = shutil.which("botstore")
    if found:
        return found
    raise RuntimeError("no botstore binary: build it (cargo build --bin botstore) or set BOTSTORE_BIN")


class Server:
    """A ``botstore serve`` on a free loopback port with an admin token."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="botstore-pytest-")
        self.data = os.path.join(self.dir, "data")
        exe = botstore_bin()
        self.token = subprocess.run(
            [exe, "--data", self.data, "token", "create", "--ns", "*", "--perm", "read,write,admin"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        self.proc = subprocess.Popen(
            [exe, "--data", self.data, "serve", "--listen", "127.0.0.1:0"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.log: list[str] = []
        found = threading.Event()
        self.url = ""

        def read() -> None:
            assert self.proc.stderr is not None
            for line in self.proc.stderr:
                self.log.append(line)
                m = re.search(r"listening on ([0-9.:\[\]a-z]+)", line)
                if m and not self.url:
                    self.url = "http://" + m.group(1)
                    found.set()

        threading.Thread(target=read, daemon=True).start()
        if not found.wait(30):
            self.proc.kill()
            raise RuntimeError("botstore serve did not start:\n" + "".join(self.log))

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.stop()


@pytest.fixture
def embedded_store(tmp_path: Path) -> Iterator[botstore.Store]:
    s = botstore.Store(tmp_path / "data")
    yield s
    s.close()


@pytest.fixture
def remote_store(server: Server) -> Iterator[botstore.RemoteStore]:
    s = botstore.RemoteStore(server.url, server.token)
    yield s
    s.close()


@pytest.fixture(params=["embedded", "remote"])
def store(request: pytest.FixtureRequest) -> botstore.StoreBase:
    """Each test that takes ``store`` runs on both. The remote server is shared by the
    whole session: put what a test writes under its own ``root`` namespace."""
    return request.getfixturevalue(f"{request.param}_store")


@pytest.fixture
def root() -> str:
    """A namespace segment of this test alone (the remote server is shared)."""
    return "t-" + uuid.uuid4().hex[:12]
