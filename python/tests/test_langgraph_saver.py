"""BotstoreSaver beyond the conformance suite: the blocking API, restarts, odd names,
paging, isolation, DeltaChannel-aware pruning, and real LangGraph graphs."""

from __future__ import annotations

import asyncio
import operator
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.channels.delta import DeltaChannel
from langgraph.checkpoint.base import Checkpoint, CheckpointMetadata, CheckpointTuple
from langgraph.checkpoint.conformance.test_utils import generate_checkpoint, generate_metadata
from langgraph.checkpoint.serde.types import ERROR, INTERRUPT
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt

import botstore
import botstore.langgraph._drive as drive
import botstore.langgraph.checkpoint as checkpoint_module
from botstore.langgraph import BotstoreSaver


@pytest.fixture
def saver(store: botstore.StoreBase, root: str) -> BotstoreSaver:
    return BotstoreSaver(store, namespace=(root, "lg"))


def generate_config(
    thread_id: str, *, checkpoint_ns: str = "", checkpoint_id: str | None = None
) -> RunnableConfig:
    """A config (the conformance kit's helper turns an empty thread id into a uuid)."""
    configurable: dict[str, Any] = {"thread_id": thread_id, "checkpoint_ns": checkpoint_ns}
    if checkpoint_id is not None:
        configurable["checkpoint_id"] = checkpoint_id
    return {"configurable": configurable}


def put_chain(
    saver: BotstoreSaver,
    thread_id: str,
    n: int,
    *,
    checkpoint_ns: str = "",
    metadata: list[CheckpointMetadata] | None = None,
) -> list[RunnableConfig]:
    """``n`` checkpoints, each the child of the previous; their configs, oldest first."""
    configs: list[RunnableConfig] = []
    for i in range(n):
        config = generate_config(thread_id, checkpoint_ns=checkpoint_ns)
        if configs:
            config["configurable"]["checkpoint_id"] = configs[-1]["configurable"]["checkpoint_id"]
        cp = generate_checkpoint(channel_values={"step": i}, channel_versions={"step": i + 1})
        md = metadata[i] if metadata else generate_metadata(step=i)
        configs.append(saver.put(config, cp, md, {"step": i + 1}))
    return configs


def ids(tuples: list[CheckpointTuple]) -> list[str]:
    return [t.config["configurable"]["checkpoint_id"] for t in tuples]


def cid(config: RunnableConfig) -> str:
    return str(config["configurable"]["checkpoint_id"])


def test_blocking_api(saver: BotstoreSaver) -> None:
    configs = put_chain(saver, "t", 4)
    latest = saver.get_tuple(generate_config("t"))
    assert latest is not None
    assert latest.checkpoint["channel_values"] == {"step": 3}
    assert latest.metadata["step"] == 3
    assert latest.parent_config is not None and cid(latest.parent_config) == cid(configs[2])
    assert latest.pending_writes == []

    saver.put_writes(configs[3], [("a", 1), ("b", {"x": [1, 2]})], "task-1", "p")
    saver.put_writes(configs[3], [("c", b"raw")], "task-0", "p")
    got = saver.get_tuple(configs[3])
    assert got is not None
    # writes_sort_key order: task path, task id, index
    assert got.pending_writes == [("task-0", "c", b"raw"), ("task-1", "a", 1), ("task-1", "b", {"x": [1, 2]})]

    assert ids(list(saver.list(generate_config("t")))) == [cid(c) for c in reversed(configs)]
    assert ids(list(saver.list(generate_config("t"), before=configs[2], limit=1))) == [cid(configs[1])]
    assert ids(list(saver.list(generate_config("t"), filter={"step": 2}))) == [cid(configs[2])]
    assert ids(list(saver.list(generate_config("t", checkpoint_id=cid(configs[1]))))) == [cid(configs[1])]
    assert list(saver.list(generate_config("t"), limit=0)) == []

    saver.copy_thread("t", "u")
    copied = saver.get_tuple(generate_config("u"))
    assert copied is not None and copied.config["configurable"]["thread_id"] == "u"
    assert copied.pending_writes == got.pending_writes
    assert copied.parent_config is not None and copied.parent_config["configurable"]["thread_id"] == "u"

    saver.prune(["t"], strategy="keep_latest")
    assert ids(list(saver.list(generate_config("t")))) == [cid(configs[3])]
    saver.delete_thread("t")
    assert saver.get_tuple(generate_config("t")) is None
    assert len(list(saver.list(generate_config("u")))) == 4
    with pytest.raises(ValueError, match="strategy"):
        saver.prune(["u"], strategy="sometimes")


def test_delete_for_runs_blocking(saver: BotstoreSaver) -> None:
    md = [generate_metadata(step=i, run_id=r) for i, r in enumerate(["r1", "r2", "r1"])]
    configs = put_chain(saver, "t", 3, metadata=md)
    saver.put_writes(configs[2], [("a", 1)], "task")
    saver.delete_for_runs(["r1"])
    assert ids(list(saver.list(generate_config("t")))) == [cid(configs[1])]
    assert saver.get_tuple(configs[2]) is None


def test_put_writes_keeps_first_regular_write_and_replaces_special_ones(saver: BotstoreSaver) -> None:
    (config,) = put_chain(saver, "t", 1)
    saver.put_writes(config, [("a", "first"), (ERROR, "boom")], "task")
    saver.put_writes(config, [("a", "second"), (ERROR, "boom again")], "task")
    saver.put_writes(config, [(INTERRUPT, "ask")], "task")
    got = saver.get_tuple(config)
    assert got is not None
    assert sorted(got.pending_writes or []) == [
        ("task", ERROR, "boom again"),
        ("task", INTERRUPT, "ask"),
        ("task", "a", "first"),
    ]
    saver.put_writes(config, [], "task")  # nothing to write is fine


@pytest.mark.parametrize(
    "thread_id",
    ["", ".", "..", "a/b", "%", "%2E", "%h", "tab\there", "\u0085", "naïve 🤖", "x" * 300, "y" * 127 + "/"],
)
def test_any_thread_id(saver: BotstoreSaver, thread_id: str) -> None:
    configs = put_chain(saver, thread_id, 2, checkpoint_ns="sub#graph:%1|x")
    put_chain(saver, thread_id + "-other", 1)
    config = generate_config(thread_id, checkpoint_ns="sub#graph:%1|x")
    got = saver.get_tuple(config)
    assert got is not None and cid(got.config) == cid(configs[1])
    assert got.config["configurable"] == {
        "thread_id": thread_id,
        "checkpoint_ns": "sub#graph:%1|x",
        "checkpoint_id": cid(configs[1]),
    }
    assert saver.get_tuple(generate_config(thread_id)) is None  # other checkpoint namespace
    everything = list(saver.list(None))
    assert {t.config["configurable"]["thread_id"] for t in everything} == {thread_id, thread_id + "-other"}
    saver.delete_thread(thread_id)
    assert list(saver.list({"configurable": {"thread_id": thread_id}})) == []
    assert len(list(saver.list(None))) == 1


def test_every_namespace_when_config_has_none(saver: BotstoreSaver) -> None:
    root = put_chain(saver, "t", 2)
    child = put_chain(saver, "t", 1, checkpoint_ns="child:1")
    listed = list(saver.list({"configurable": {"thread_id": "t"}}))
    assert sorted(ids(listed)) == sorted(cid(c) for c in root + child)
    before = list(saver.list({"configurable": {"thread_id": "t"}}, before=root[1]))
    assert cid(root[1]) not in ids(before) and cid(root[0]) in ids(before)


def test_paging(saver: BotstoreSaver, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tiny pages: writes cut off from their checkpoint by a page end stay with it."""
    monkeypatch.setattr(drive, "PAGE", 2)
    monkeypatch.setattr(checkpoint_module, "PAGE", 2)
    configs = put_chain(saver, "t", 7)
    for i, config in enumerate(configs):
        saver.put_writes(config, [(f"ch{j}", j) for j in range(i % 4)], f"task{i}")
    listed = list(saver.list(generate_config("t")))
    assert ids(listed) == [cid(c) for c in reversed(configs)]
    assert [len(t.pending_writes or []) for t in listed] == [i % 4 for i in reversed(range(7))]
    assert ids(list(saver.list(None, filter={"step": 5}))) == [cid(configs[5])]
    got = saver.get_tuple(generate_config("t"))
    assert got is not None and len(got.pending_writes or []) == 6 % 4
    saver.copy_thread("t", "u")
    assert [len(t.pending_writes or []) for t in saver.list(generate_config("u"))] == [
        i % 4 for i in reversed(range(7))
    ]
    saver.prune(["t"])
    assert ids(list(saver.list(generate_config("t")))) == [cid(configs[6])]
    saver.delete_thread("u")
    assert list(saver.list(generate_config("u"))) == []


def test_latest_skips_writes_without_their_checkpoint(saver: BotstoreSaver) -> None:
    configs = put_chain(saver, "t", 2)
    orphan = generate_checkpoint()  # newer than both, never stored
    saver.put_writes(generate_config("t", checkpoint_id=orphan["id"]), [("a", 1)], "task")
    got = saver.get_tuple(generate_config("t"))
    assert got is not None and cid(got.config) == cid(configs[1])
    assert ids(list(saver.list(generate_config("t")))) == [cid(c) for c in reversed(configs)]


def test_roots_are_isolated(store: botstore.StoreBase, root: str) -> None:
    a = BotstoreSaver(store, namespace=f"{root}/a")
    b = BotstoreSaver(store, namespace=(root, "b"))
    put_chain(a, "t", 2)
    assert b.get_tuple(generate_config("t")) is None
    assert list(b.list(None)) == []
    b.delete_thread("t")
    b.delete_for_runs(["x"])
    assert len(list(a.list(None))) == 2


def test_prune_keeps_what_delta_channels_replay(saver: BotstoreSaver) -> None:
    """keep_latest keeps ancestors back to each delta channel's last snapshot (the
    metadata counts updates since it; a channel absent from the counters snapshotted)."""
    counters = [None, {"m": (1, 1)}, None, {"m": (1, 1), "n": (3, 3)}, {"m": (2, 2), "n": (4, 4)}]
    md = [generate_metadata(step=i) for i in range(5)]
    for m, c in zip(md, counters, strict=True):
        if c:
            m["counters_since_delta_snapshot"] = c
    configs = put_chain(saver, "t", 5, metadata=md)
    put_chain(saver, "t", 3, checkpoint_ns="child:1")
    saver.prune(["t"])
    # m snapshotted at #2 (no counters there), n before #2: keep #4, #3, #2 and walk on
    # for n until a checkpoint without it: #2 has no counters at all, so stop there.
    assert ids(list(saver.list(generate_config("t")))) == [cid(configs[i]) for i in (4, 3, 2)]
    assert len(list(saver.list(generate_config("t", checkpoint_ns="child:1")))) == 1


def test_survives_restart(tmp_path: Path) -> None:
    path = tmp_path / "data"
    with botstore.Store(path) as db:
        saver = BotstoreSaver(db)
        configs = put_chain(saver, "t", 3)
        saver.put_writes(configs[2], [("a", "pending")], "task")
    with botstore.Store(path) as db:
        got = BotstoreSaver(db).get_tuple(generate_config("t"))
    assert got is not None
    assert cid(got.config) == cid(configs[2])
    assert got.checkpoint["channel_values"] == {"step": 2}
    assert got.pending_writes == [("task", "a", "pending")]


def test_next_version_grows(saver: BotstoreSaver) -> None:
    v1 = saver.get_next_version(None, None)
    v2 = saver.get_next_version(v1, None)
    assert v1 < v2 and v2.startswith("0" * 31 + "2.")
    assert saver.get_next_version(7, None).startswith("0" * 30 + "08.")  # type: ignore[arg-type]


def test_needs_a_root(store: botstore.StoreBase) -> None:
    with pytest.raises(ValueError):
        BotstoreSaver(store, namespace=())


# ---------------------------------------------------------------- real graphs


class Chat(TypedDict):
    messages: Annotated[list[str], operator.add]


def reply(state: Chat) -> dict[str, list[str]]:
    return {"messages": [f"bot: heard {len(state['messages'])}"]}


def chat_graph(saver: BotstoreSaver) -> Any:
    builder = StateGraph(Chat)
    builder.add_node("reply", reply)
    builder.add_edge(START, "reply")
    builder.add_edge("reply", END)
    return builder.compile(checkpointer=saver)


def test_graph_keeps_a_conversation(saver: BotstoreSaver) -> None:
    graph = chat_graph(saver)
    config: RunnableConfig = {"configurable": {"thread_id": "conv"}}
    graph.invoke({"messages": ["user: hi"]}, config)
    out = graph.invoke({"messages": ["user: again"]}, config)
    assert out["messages"] == ["user: hi", "bot: heard 1", "user: again", "bot: heard 3"]
    history = list(graph.get_state_history(config))
    assert len(history) == 6  # 3 a turn: input, its application, the reply
    assert history[0].values == out
    # time travel: replay from the state after the first turn
    first_turn = next(s for s in history if s.values.get("messages") == ["user: hi", "bot: heard 1"])
    forked = graph.invoke({"messages": ["user: other"]}, first_turn.config)
    assert forked["messages"] == ["user: hi", "bot: heard 1", "user: other", "bot: heard 3"]


async def test_graph_async_concurrent_conversations(saver: BotstoreSaver) -> None:
    graph = chat_graph(saver)

    async def converse(n: int) -> list[str]:
        config: RunnableConfig = {"configurable": {"thread_id": f"conv-{n}"}}
        out: dict[str, list[str]] = {}
        for turn in range(3):
            out = await graph.ainvoke({"messages": [f"user {n}: {turn}"]}, config)
        return out["messages"]

    results = await asyncio.gather(*(converse(n) for n in range(16)))
    for n, messages in enumerate(results):
        assert messages == [m for t in range(3) for m in (f"user {n}: {t}", f"bot: heard {2 * t + 1}")]
    assert len([t async for t in saver.alist(None)]) == 16 * 9  # 3 checkpoints a turn


class Approval(TypedDict):
    request: str
    decision: str


def ask_human(state: Approval) -> dict[str, str]:
    return {"decision": interrupt({"question": f"approve {state['request']}?"})}


def test_graph_interrupt_and_resume(saver: BotstoreSaver) -> None:
    builder = StateGraph(Approval)
    builder.add_node("ask", ask_human)
    builder.add_edge(START, "ask")
    builder.add_edge("ask", END)
    graph = builder.compile(checkpointer=saver)
    config: RunnableConfig = {"configurable": {"thread_id": "hitl"}}
    first = graph.invoke({"request": "refund", "decision": ""}, config)
    assert first["__interrupt__"][0].value == {"question": "approve refund?"}
    state = graph.get_state(config)
    assert state.next == ("ask",)
    done = graph.invoke(Command(resume="yes"), config)
    assert done == {"request": "refund", "decision": "yes"}


def test_checkpoint_type_is_what_langgraph_stored(saver: BotstoreSaver) -> None:
    graph = chat_graph(saver)
    config: RunnableConfig = {"configurable": {"thread_id": "conv"}}
    graph.invoke({"messages": ["user: hi"]}, config)
    got = saver.get_tuple(config)
    assert got is not None
    checkpoint: Checkpoint = got.checkpoint
    assert checkpoint["channel_values"]["messages"] == ["user: hi", "bot: heard 1"]
    assert got.metadata["source"] == "loop"


def extend(state: list[str] | None, writes: list[list[str]]) -> list[str]:
    return [*(state or []), *(x for w in writes for x in w)]


class DeltaLog(TypedDict):
    log: Annotated[list[str], DeltaChannel(extend, snapshot_frequency=4)]


def test_prune_keeps_delta_channel_state(saver: BotstoreSaver) -> None:
    """A DeltaChannel stores a snapshot every few updates and replays writes from the
    ancestors in between: keep_latest must keep those, and the state must not change."""
    builder = StateGraph(DeltaLog)
    builder.add_node("bot", lambda s: {"log": [f"bot {len(s['log'])}"]})
    builder.add_edge(START, "bot")
    builder.add_edge("bot", END)
    graph = builder.compile(checkpointer=saver)
    config: RunnableConfig = {"configurable": {"thread_id": "delta"}}
    for i in range(5):
        graph.invoke({"log": [f"user {i}"]}, config)
    before = graph.get_state(config).values
    assert len(before["log"]) == 10
    saver.prune(["delta"])
    kept = list(saver.list(config))
    assert 1 < len(kept) < 15  # the chain back to the last snapshot, not everything
    assert graph.get_state(config).values == before
    graph.invoke({"log": ["user 5"]}, config)
    assert graph.get_state(config).values["log"] == [*before["log"], "user 5", "bot 11"]
