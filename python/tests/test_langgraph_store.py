"""BotstoreStore (LangGraph's BaseStore), embedded and remote: get/put/delete, odd
names, search with filters and paging, list_namespaces, TTLs, batches, and a graph that
uses it."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any, TypedDict

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.store.base import (
    BaseStore,
    GetOp,
    InvalidNamespaceError,
    ListNamespacesOp,
    PutOp,
    SearchItem,
    SearchOp,
)

import botstore
from botstore.langgraph import BotstoreSaver, BotstoreStore


@pytest.fixture
def lg(store: botstore.StoreBase, root: str) -> BotstoreStore:
    return BotstoreStore(store, namespace=(root, "mem"))


def test_put_get_delete(lg: BotstoreStore) -> None:
    before = datetime.now(timezone.utc).replace(microsecond=0)
    lg.put(("users", "u1"), "prefs", {"theme": "dark", "n": [1, 2]})
    item = lg.get(("users", "u1"), "prefs")
    assert item is not None
    assert item.value == {"theme": "dark", "n": [1, 2]}
    assert item.namespace == ("users", "u1") and item.key == "prefs"
    assert item.created_at >= before and item.updated_at >= item.created_at
    assert item.created_at.tzinfo is not None
    lg.put(("users", "u1"), "prefs", {"theme": "light"})
    updated = lg.get(("users", "u1"), "prefs")
    assert updated is not None and updated.value == {"theme": "light"}
    assert updated.created_at == item.created_at
    assert lg.get(("users", "u2"), "prefs") is None
    lg.delete(("users", "u1"), "prefs")
    assert lg.get(("users", "u1"), "prefs") is None
    lg.delete(("users", "u1"), "prefs")  # deleting nothing is fine


async def test_async(lg: BotstoreStore) -> None:
    await lg.aput(("a",), "k", {"v": 1})
    got = await lg.aget(("a",), "k")
    assert got is not None and got.value == {"v": 1}
    assert [i.key for i in await lg.asearch(("a",))] == ["k"]
    assert await lg.alist_namespaces() == [("a",)]
    await lg.adelete(("a",), "k")
    assert await lg.aget(("a",), "k") is None


@pytest.mark.parametrize(
    ("namespace", "key"),
    [
        (("a/b", "100%"), "x/y"),
        (("tab\there", "naïve 🤖"), ""),
        (("ns",), "."),
        (("ns",), ".."),
        (("ns",), "%2E"),
        (("\u0085",), "line\nbreak"),
    ],
)
def test_any_label_and_key(lg: BotstoreStore, namespace: tuple[str, ...], key: str) -> None:
    lg.put(namespace, key, {"k": key})
    got = lg.get(namespace, key)
    assert got is not None and got.value == {"k": key} and got.key == key
    (found,) = lg.search(namespace)
    assert found.namespace == namespace and found.key == key
    assert lg.list_namespaces() == [namespace]


def test_langgraph_namespace_rules(lg: BotstoreStore) -> None:
    with pytest.raises(InvalidNamespaceError):
        lg.put(("a.b",), "k", {})
    with pytest.raises(InvalidNamespaceError):
        lg.batch([GetOp(("",), "k")])
    with pytest.raises(botstore.InvalidInput):
        lg.put(("x" * 200,), "k", {})  # longer than a botstore segment


def test_search_filter_and_paging(lg: BotstoreStore) -> None:
    for i in range(12):
        ns = ("docs", "even" if i % 2 == 0 else "odd")
        lg.put(
            ns, f"d{i:02}", {"i": i, "kind": "even" if i % 2 == 0 else "odd", "meta": {"tag": i % 3, "x": 1}}
        )
    lg.put(("other",), "d", {"i": 0})

    def keys(items: list[SearchItem]) -> list[str]:
        return [it.key for it in items]

    assert keys(lg.search(("docs",), limit=100)) == [f"d{i:02}" for i in range(0, 12, 2)] + [
        f"d{i:02}" for i in range(1, 12, 2)
    ]
    assert keys(lg.search(("docs", "odd"), limit=2, offset=1)) == ["d03", "d05"]
    assert keys(lg.search(("docs",), filter={"kind": "odd", "i": {"$gte": 7}})) == ["d07", "d09", "d11"]
    assert keys(lg.search(("docs",), filter={"i": {"$gt": 2, "$lt": 6}})) == ["d04", "d03", "d05"]
    assert keys(lg.search(("docs",), filter={"i": {"$ne": 0}, "kind": {"$eq": "even"}})) == [
        f"d{i:02}" for i in range(2, 12, 2)
    ]
    assert keys(lg.search(("docs",), filter={"meta": {"tag": 0}})) == ["d00", "d06", "d03", "d09"]
    assert keys(lg.search(("docs",), filter={"missing": {"$lt": 3}})) == []
    assert keys(lg.search((), filter={"i": 0})) == ["d00", "d"]
    assert lg.search(("docs",), limit=0) == []
    assert keys(lg.search(("docs",), query="ignored without an index", limit=1)) == ["d00"]
    hit = lg.search(("docs", "odd"), limit=1)[0]
    assert hit.score is None and hit.value["i"] == 1
    with pytest.raises(ValueError, match="operator"):
        lg.search(("docs",), filter={"i": {"$in": [1]}})


def test_list_namespaces(lg: BotstoreStore) -> None:
    for ns in [("a", "b", "c"), ("a", "b", "d"), ("a", "e"), ("f", "b", "c"), ("g",)]:
        lg.put(ns, "k", {})
    everything = [("a", "b", "c"), ("a", "b", "d"), ("a", "e"), ("f", "b", "c"), ("g",)]
    assert lg.list_namespaces() == everything
    assert lg.list_namespaces(prefix=("a",)) == everything[:3]
    assert lg.list_namespaces(prefix=("a", "b")) == everything[:2]
    assert lg.list_namespaces(prefix=("*", "b")) == [("a", "b", "c"), ("a", "b", "d"), ("f", "b", "c")]
    assert lg.list_namespaces(suffix=("c",)) == [("a", "b", "c"), ("f", "b", "c")]
    assert lg.list_namespaces(suffix=("b", "*")) == [("a", "b", "c"), ("a", "b", "d"), ("f", "b", "c")]
    assert lg.list_namespaces(prefix=("a",), suffix=("d",)) == [("a", "b", "d")]
    assert lg.list_namespaces(max_depth=1) == [("a",), ("f",), ("g",)]
    assert lg.list_namespaces(max_depth=2) == [("a", "b"), ("a", "e"), ("f", "b"), ("g",)]
    assert lg.list_namespaces(prefix=("a", "b", "c"), max_depth=2) == [("a", "b")]
    assert lg.list_namespaces(suffix=("c",), max_depth=1) == [("a",), ("f",)]
    assert lg.list_namespaces(limit=2, offset=1) == everything[1:3]
    lg.delete(("g",), "k")
    assert ("g",) not in lg.list_namespaces()


def test_batch_reads_before_writes(lg: BotstoreStore) -> None:
    lg.put(("n",), "a", {"v": 0})
    results = lg.batch(
        [
            PutOp(("n",), "a", {"v": 1}),
            GetOp(("n",), "a"),
            PutOp(("n",), "b", {"v": 2}),
            PutOp(("n",), "b", {"v": 3}),
            SearchOp(("n",)),
            ListNamespacesOp(),
            PutOp(("n",), "a", None),
        ]
    )
    assert results[0] is None and results[2] is None
    assert results[1] is not None and results[1].value == {"v": 0}  # type: ignore[union-attr]
    assert [i.key for i in results[4]] == ["a"]  # type: ignore[union-attr]
    assert results[5] == [("n",)]
    assert lg.get(("n",), "a") is None
    got = lg.get(("n",), "b")
    assert got is not None and got.value == {"v": 3}


def test_atomic_writes(lg: BotstoreStore) -> None:
    with pytest.raises(botstore.InvalidInput):
        lg.batch([PutOp(("n",), "ok", {"v": 1}), PutOp(("n",), "bad", {"v": float("nan")})])
    assert lg.get(("n",), "ok") is None


def test_ttl_expires(store: botstore.StoreBase, lg: BotstoreStore) -> None:
    lg.put(("t",), "short", {"v": 1}, ttl=0.5 / 60)
    lg.put(("t",), "forever", {"v": 2}, ttl=None)
    raw = store.get((*lg.root, "t"), "short")
    assert raw is not None and raw.expires_at is not None
    assert raw.expires_at - raw.updated_at == 500
    time.sleep(0.8)
    assert lg.get(("t",), "short") is None
    assert [i.key for i in lg.search(("t",))] == ["forever"]


def test_ttl_refresh_on_read(store: botstore.StoreBase, root: str) -> None:
    lg = BotstoreStore(store, namespace=(root, "mem"), ttl={"default_ttl": 1.0})
    lg.put(("t",), "k", {"v": 1})
    ns = (*lg.root, "t")
    first = store.get(ns, "k")
    assert first is not None and first.expires_at is not None
    assert first.expires_at - first.updated_at == 60_000
    time.sleep(0.02)
    lg.get(("t",), "k", refresh_ttl=False)
    same = store.get(ns, "k")
    assert same is not None and same.expires_at == first.expires_at
    lg.get(("t",), "k")
    refreshed = store.get(ns, "k")
    assert refreshed is not None and refreshed.expires_at is not None
    assert refreshed.expires_at > first.expires_at
    assert refreshed.expires_at - refreshed.updated_at == 60_000
    time.sleep(0.02)
    lg.search(("t",))
    again = store.get(ns, "k")
    assert again is not None and again.expires_at is not None and again.expires_at > refreshed.expires_at
    item = lg.get(("t",), "k")
    assert item is not None and item.value == {"v": 1}

    no_refresh = BotstoreStore(store, namespace=(root, "mem"), ttl={"refresh_on_read": False})
    before = store.get(ns, "k")
    time.sleep(0.02)
    no_refresh.get(("t",), "k")
    no_refresh.search(("t",))
    after = store.get(ns, "k")
    assert before is not None and after is not None and after.expires_at == before.expires_at


class Turn(TypedDict):
    user: str
    answer: str


def test_graph_uses_the_store(lg: BotstoreStore, store: botstore.StoreBase, root: str) -> None:
    def remember(state: Turn, *, store: BaseStore) -> dict[str, Any]:
        ns = ("memories", state["user"])
        count = len(store.search(ns))
        store.put(ns, f"m{count}", {"turn": count})
        return {"answer": f"{state['user']} visited {count + 1} times"}

    builder = StateGraph(Turn)
    builder.add_node("remember", remember)
    builder.add_edge(START, "remember")
    builder.add_edge("remember", END)
    graph = builder.compile(checkpointer=BotstoreSaver(store, namespace=(root, "cp")), store=lg)
    for thread in ("t1", "t2"):
        config: RunnableConfig = {"configurable": {"thread_id": thread}}
        out = graph.invoke({"user": "ada", "answer": ""}, config)
    assert out["answer"] == "ada visited 2 times"
    assert lg.list_namespaces(prefix=("memories",)) == [("memories", "ada")]
