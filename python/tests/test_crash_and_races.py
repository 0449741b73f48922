"""A Python process SIGKILLed mid-write keeps every write it was told about (the
binding acknowledges a write only when the engine has), and writers racing on one item
with preconditions lose no update, embedded and remote."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import botstore

WRITER = textwrap.dedent(
    """
    import asyncio, sys, botstore
    from botstore.langgraph import BotstoreSaver
    from langgraph.checkpoint.base import empty_checkpoint

    data, mode = sys.argv[1], sys.argv[2]
    store = botstore.Store(data)            # immediate durability
    out = sys.stdout
    out.write("ready\\n"); out.flush()
    if mode == "sync":
        i = 0
        while True:
            v = store.put("crash/items", f"k{i}", {"i": i, "pad": "x" * (i % 2000)})
            out.write(f"item k{i} {v}\\n"); out.flush()
            store.append("crash/items", "log", [{"i": i}])
            out.write(f"entry {i}\\n"); out.flush()
            i += 1
    elif mode == "async":
        async def writer(w):
            i = 0
            while True:
                v = await store.aput("crash/async", f"w{w}-{i}", {"w": w, "i": i})
                out.write(f"item w{w}-{i} {v}\\n"); out.flush()
                i += 1
        async def main():
            await asyncio.gather(*[writer(w) for w in range(16)])
        asyncio.run(main())
    else:
        saver = BotstoreSaver(store)
        config = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
        step = 0
        while True:
            cp = empty_checkpoint()
            cp["channel_values"] = {"step": step}
            config = saver.put(config, cp, {"step": step}, {})
            out.write(f"checkpoint {cp['id']} {step}\\n"); out.flush()
            step += 1
    """
)


def run_and_kill(data: Path, mode: str, after: float) -> list[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(data), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Time the kill from when the writer is ready (imports can be slow on a busy machine).
    assert proc.stdout is not None
    ready = proc.stdout.readline()
    assert ready == "ready\n", ready + proc.stderr.read() if proc.stderr else ready
    time.sleep(after)
    proc.send_signal(signal.SIGKILL)
    out, err = proc.communicate()
    assert proc.returncode == -signal.SIGKILL, err
    lines = out.splitlines()
    # The last line may be cut by the kill: only whole lines were acknowledged.
    if out and not out.endswith("\n"):
        lines = lines[:-1]
    assert lines, f"the writer acknowledged nothing before the kill:\n{err}"
    return lines


@pytest.mark.parametrize("mode", ["sync", "async", "langgraph"])
def test_sigkill_keeps_every_acknowledged_write(tmp_path: Path, mode: str) -> None:
    rng = random.Random(int(os.environ.get("BOTSTORE_CRASH_SEED", "5")))
    data = tmp_path / "data"
    for round_ in range(3):
        acked = run_and_kill(data, mode, rng.uniform(0.3, 1.2))
        with botstore.Store(data) as s:
            for line in acked:
                kind, *rest = line.split()
                if kind == "item":
                    key, version = rest
                    ns = "crash/items" if mode == "sync" else "crash/async"
                    got = s.get(ns, key)
                    assert got is not None, f"round {round_}: acknowledged {key} lost"
                    assert got.version >= int(version)
                elif kind == "entry":
                    (i,) = rest
                    info = s.stream_info("crash/items", "log")
                    assert info is not None and info.last_seq >= int(i) + 1  # entry i is seq i + 1
                elif kind == "checkpoint":
                    from botstore.langgraph import BotstoreSaver

                    cp_id, step = rest
                    saver = BotstoreSaver(s)
                    cfg = {"configurable": {"thread_id": "t", "checkpoint_ns": "", "checkpoint_id": cp_id}}
                    got_cp = saver.get_tuple(cfg)
                    assert got_cp is not None, f"round {round_}: acknowledged checkpoint {step} lost"
                    assert got_cp.checkpoint["channel_values"] == {"step": int(step)}


def test_concurrent_compare_and_set_loses_no_update(store: botstore.StoreBase, root: str) -> None:
    """8 threads x 25 increments of one counter with if_version, retrying on conflict."""
    store.put(root, "counter", {"n": 0})
    conflicts = 0
    lock = threading.Lock()

    def worker() -> None:
        nonlocal conflicts
        for _ in range(25):
            while True:
                item = store.get(root, "counter")
                try:
                    store.put(root, "counter", {"n": item.json()["n"] + 1}, if_version=item.version)
                    break
                except botstore.PreconditionFailed as e:
                    assert e.current is not None and e.current > item.version
                    with lock:
                        conflicts += 1

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.get(root, "counter").json() == {"n": 200}


async def test_async_compare_and_set_loses_no_update(store: botstore.StoreBase, root: str) -> None:
    await store.aput(root, "counter", {"n": 0})

    async def worker() -> None:
        for _ in range(20):
            while True:
                item = await store.aget(root, "counter")
                try:
                    await store.aput(root, "counter", {"n": item.json()["n"] + 1}, if_version=item.version)
                    break
                except botstore.PreconditionFailed:
                    await asyncio.sleep(0)

    await asyncio.gather(*[worker() for _ in range(16)])
    assert (await store.aget(root, "counter")).json() == {"n": 320}


def test_appends_from_threads_are_gap_free(store: botstore.StoreBase, root: str) -> None:
    def worker(w: int) -> None:
        for i in range(50):
            store.append(root, "log", [json.dumps({"w": w, "i": i})], content_type="text/plain")

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    entries = store.read_stream(root, "log", limit=1000)
    assert [e.seq for e in entries] == list(range(1, 301))
    per_writer: dict[int, list[int]] = {}
    for e in entries:
        rec = json.loads(e.value)
        per_writer.setdefault(rec["w"], []).append(rec["i"])
    assert all(v == list(range(50)) for v in per_writer.values())
