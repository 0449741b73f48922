"""LangGraph checkpointer benchmark (issue 5's targets), every saver in one process and
one run, each against its named anchor:

* sequential, immediate durability: BotstoreSaver (embedded) vs SqliteSaver, and the
  machine's fsync rate measured in the same run (one fsync per put is the ceiling);
* 64 conversations at once (asyncio), immediate: BotstoreSaver vs AsyncSqliteSaver;
* sequential, relaxed durability: BotstoreSaver vs InMemorySaver;
* ``list()`` over one thread of 1,000 checkpoints: BotstoreSaver vs SqliteSaver.

Workload: THREADS conversations x STEPS steps; a step is a ``put`` of a checkpoint whose
message list grew by one message (about 100 characters; a plain dict by default, or
langchain ``HumanMessage`` / ``AIMessage`` objects with ``--messages langchain``), then a
``get_tuple`` of the thread. ``ops/s`` counts both calls (two
per step) for every saver alike.

Run: ``scripts/bench-python.sh`` (builds the release module first), or
``python/.venv/bin/python python/bench/checkpoint_bench.py [--threads 200 --steps 20]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.base import BaseCheckpointSaver, Checkpoint, empty_checkpoint
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

import botstore
from botstore.langgraph import BotstoreSaver


#: How a message is represented: "dict" ({"role", "content", "id"}, what the issue's
#: anchor figures were measured with) or "langchain" (HumanMessage / AIMessage objects,
#: whose decoding through pydantic then dominates every saver alike).
MESSAGES = "dict"


def message(thread: int, step: int) -> Any:
    text = f"thread {thread} step {step}: " + "the quick brown fox jumps over the lazy dog " * 2
    role = "user" if step % 2 == 0 else "assistant"
    if MESSAGES == "dict":
        return {"role": role, "content": text, "id": f"m-{thread}-{step}"}
    cls = HumanMessage if role == "user" else AIMessage
    return cls(text, id=f"m-{thread}-{step}")


class Conversation:
    """One thread's state: the checkpoint it would write next."""

    def __init__(self, thread: int) -> None:
        self.thread = thread
        self.config: dict[str, Any] = {"configurable": {"thread_id": f"thread-{thread}", "checkpoint_ns": ""}}
        self.messages: list[Any] = []
        self.checkpoint: Checkpoint = empty_checkpoint()
        self.version = 0

    def next(self, saver: BaseCheckpointSaver) -> tuple[Checkpoint, dict[str, Any], dict[str, Any]]:
        step = len(self.messages)
        self.messages.append(message(self.thread, step))
        self.version = saver.get_next_version(self.version, None)
        cp = empty_checkpoint()
        cp["channel_values"] = {"messages": list(self.messages)}
        cp["channel_versions"] = {"messages": self.version}
        cp["versions_seen"] = {"agent": {"messages": self.version}}
        metadata = {"source": "loop", "step": step, "parents": {}}
        return cp, metadata, {"messages": self.version}


def run_sequential(saver: BaseCheckpointSaver, threads: int, steps: int) -> float:
    convs = [Conversation(t) for t in range(threads)]
    start = time.perf_counter()
    for _ in range(steps):
        for c in convs:
            cp, md, versions = c.next(saver)
            c.config = saver.put(c.config, cp, md, versions)
            got = saver.get_tuple(c.config)
            assert got is not None and got.checkpoint["id"] == cp["id"]
    return time.perf_counter() - start


async def run_concurrent(saver: BaseCheckpointSaver, threads: int, steps: int, at_once: int) -> float:
    convs = [Conversation(t) for t in range(threads)]
    queue: asyncio.Queue[Conversation] = asyncio.Queue()
    for c in convs:
        queue.put_nowait(c)

    async def worker() -> None:
        while True:
            try:
                c = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            for _ in range(steps):
                cp, md, versions = c.next(saver)
                c.config = await saver.aput(c.config, cp, md, versions)
                got = await saver.aget_tuple(c.config)
                assert got is not None and got.checkpoint["id"] == cp["id"]

    start = time.perf_counter()
    await asyncio.gather(*[worker() for _ in range(at_once)])
    return time.perf_counter() - start


def run_list(saver: BaseCheckpointSaver, checkpoints: int, repeat: int) -> float:
    c = Conversation(10_000)
    for _ in range(checkpoints):
        cp, md, versions = c.next(saver)
        c.config = saver.put(c.config, cp, md, versions)
    cfg = {"configurable": {"thread_id": c.config["configurable"]["thread_id"]}}
    assert len(list(saver.list(cfg))) == checkpoints
    start = time.perf_counter()
    for _ in range(repeat):
        n = sum(1 for _ in saver.list(cfg))
        assert n == checkpoints
    return (time.perf_counter() - start) / repeat


def fsync_rate(folder: str, seconds: float = 1.5) -> float:
    """fdatasync()s per second of a 4 KiB append, in the folder the stores use."""
    path = os.path.join(folder, "fsync-probe")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    block = b"x" * 4096
    n = 0
    start = time.perf_counter()
    try:
        while time.perf_counter() - start < seconds:
            os.write(fd, block)
            os.fdatasync(fd)
            n += 1
    finally:
        os.close(fd)
        os.unlink(path)
    return n / (time.perf_counter() - start)


def sqlite_saver(folder: str) -> SqliteSaver:
    conn = sqlite3.connect(os.path.join(folder, "checkpoints.sqlite"), check_same_thread=False)
    saver = SqliteSaver(conn)
    saver.setup()
    return saver


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=200)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--list-checkpoints", type=int, default=1000)
    ap.add_argument("--list-repeat", type=int, default=20)
    ap.add_argument("--dir", default=None, help="where the stores live (default: a temp dir)")
    ap.add_argument("--messages", choices=["dict", "langchain"], default="dict", help="message representation (default: dict)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = ap.parse_args()
    global MESSAGES
    MESSAGES = args.messages
    base = args.dir or tempfile.mkdtemp(prefix="botstore-bench-")
    ops = 2 * args.threads * args.steps
    rows: list[dict[str, Any]] = []

    def folder(name: str) -> str:
        p = os.path.join(base, name)
        os.makedirs(p, exist_ok=True)
        return p

    def row(name: str, anchor: str, ours: float, theirs: float, target: float, unit: str = "ops/s", note: str = "") -> None:
        rows.append(
            {
                "workload": name,
                "anchor": anchor,
                "botstore": round(ours, 1),
                "anchor_value": round(theirs, 1),
                "ratio": round(ours / theirs, 2),
                "target": target,
                "met": ours / theirs >= target,
                "unit": unit,
                "note": note,
            }
        )
        print(f"  {name}: botstore {ours:,.0f} {unit} vs {anchor} {theirs:,.0f} -> {ours / theirs:.2f}x (target {target}x) {note}", flush=True)

    print(
        f"workload: {args.threads} threads x {args.steps} steps, put + get_tuple per step ({ops} ops), "
        f"{args.messages} messages; stores in {base}",
        flush=True,
    )

    # 1. Sequential, immediate durability, and the fsync ceiling.
    fsyncs = fsync_rate(folder("probe"))
    t_sqlite = run_sequential(sqlite_saver(folder("sqlite")), args.threads, args.steps)
    with botstore.Store(folder("immediate"), durability="immediate") as store:
        t_ours = run_sequential(BotstoreSaver(store), args.threads, args.steps)
    fsyncs_after = fsync_rate(folder("probe"))
    fsync = (fsyncs + fsyncs_after) / 2
    ceiling = 2 * fsync  # one fsync per put, two ops per step
    row(
        "sequential, immediate",
        "SqliteSaver",
        ops / t_ours,
        ops / t_sqlite,
        2.0,
        note=f"(fsync {fsyncs:,.0f}/s before, {fsyncs_after:,.0f}/s after: ceiling {ceiling:,.0f} ops/s, reached {ops / t_ours / ceiling:.0%})",
    )

    # 2. 64 conversations at once through asyncio, immediate durability.
    async def concurrent_pair() -> tuple[float, float]:
        async with AsyncSqliteSaver.from_conn_string(os.path.join(folder("asqlite"), "c.sqlite")) as saver:
            t_theirs = await run_concurrent(saver, args.threads, args.steps, args.concurrency)
        with botstore.Store(folder("async"), durability="immediate") as store:
            t_ours = await run_concurrent(BotstoreSaver(store), args.threads, args.steps, args.concurrency)
        return t_ours, t_theirs

    t_ours, t_theirs = asyncio.run(concurrent_pair())
    row(f"{args.concurrency} at once (asyncio), immediate", "AsyncSqliteSaver", ops / t_ours, ops / t_theirs, 10.0)

    # 3. Relaxed durability vs the in-memory saver.
    t_mem = run_sequential(InMemorySaver(), args.threads, args.steps)
    with botstore.Store(folder("relaxed"), durability="relaxed") as store:
        t_ours = run_sequential(BotstoreSaver(store), args.threads, args.steps)
    row("sequential, relaxed", "InMemorySaver", ops / t_ours, ops / t_mem, 1.0)

    # 4. list() over a thread of 1,000 checkpoints.
    t_sqlite = run_list(sqlite_saver(folder("sqlite-list")), args.list_checkpoints, args.list_repeat)
    with botstore.Store(folder("list"), durability="relaxed") as store:
        t_ours = run_list(BotstoreSaver(store), args.list_checkpoints, args.list_repeat)
    row(f"list() of {args.list_checkpoints} checkpoints", "SqliteSaver", 1 / t_ours, 1 / t_sqlite, 3.0, unit="lists/s")

    print()
    print("| workload | botstore | anchor | anchor's | ratio | target | met |")
    print("|---|---:|---|---:|---:|---:|---|")
    for r in rows:
        print(
            f"| {r['workload']} | {r['botstore']:,.0f} {r['unit']} | {r['anchor']} | {r['anchor_value']:,.0f} | "
            f"{r['ratio']:.2f}x | {r['target']}x | {'yes' if r['met'] else 'no'} |"
        )
    if args.json:
        print(json.dumps({"fsync_per_s": round(fsync, 1), "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
