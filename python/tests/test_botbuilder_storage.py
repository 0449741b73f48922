"""BotstoreStorage: the Bot Framework's own storage conformance checks, and the e_tag
rules, in both modes (embedded and remote)."""

from __future__ import annotations

import inspect

import pytest
from botbuilder.core import ConversationState, StoreItem, TurnContext
from botbuilder.core.adapters import TestAdapter
from botbuilder.testing import StorageBaseTests

import botstore
from botstore.botbuilder import BotstoreStorage

#: Every check StorageBaseTests has (each returns True when its assertions pass), found
#: by looking, so that one added in a new botbuilder-testing is not silently skipped.
BASE_TESTS = sorted(name for name, fn in inspect.getmembers(StorageBaseTests, inspect.iscoroutinefunction))


def test_the_base_tests_are_all_found() -> None:
    assert {
        "create_object",
        "update_object",
        "delete_object",
        "handle_crazy_keys",
        "proceeds_through_waterfall",
    } <= set(BASE_TESTS)
    assert len(BASE_TESTS) >= 11


@pytest.fixture
def storage(store: botstore.StoreBase, root: str) -> BotstoreStorage:
    return BotstoreStorage(store, namespace=(root, "state"))


@pytest.mark.parametrize("check", BASE_TESTS)
async def test_storage_base_tests(storage: BotstoreStorage, check: str) -> None:
    assert await getattr(StorageBaseTests, check)(storage) is True


async def test_write_sets_the_version_as_e_tag(storage: BotstoreStorage, store: botstore.StoreBase, root: str) -> None:
    poco = {"n": 1}
    item = StoreItem(n=2)
    await storage.write({"poco": poco, "item": item})
    stored = await store.aget_many([((root, "state"), "poco"), ((root, "state"), "item")])
    assert [i.version for i in stored if i is not None] == [int(poco["e_tag"]), int(item.e_tag)]
    # The e_tag is metadata, not part of the stored document.
    assert stored[0] is not None and stored[0].json() == {"n": 1}

    read = await storage.read(["poco", "item"])
    assert read["poco"] == {"n": 1, "e_tag": poco["e_tag"]}
    assert isinstance(read["item"], StoreItem)
    assert (read["item"].n, read["item"].e_tag) == (2, item.e_tag)


async def test_writing_the_same_object_again_passes_the_check(storage: BotstoreStorage) -> None:
    state = {"count": 0, "e_tag": "*"}
    for count in range(1, 4):
        state["count"] = count
        await storage.write({"state": state})
    assert (await storage.read(["state"]))["state"]["count"] == 3


@pytest.mark.parametrize("e_tag", ["*", None, "missing"])
async def test_unconditional_writes_overwrite_any_version(storage: BotstoreStorage, e_tag: str | None) -> None:
    await storage.write({"k": {"v": 1}})
    await storage.write({"k": {"v": 2}})  # the stored version is newer than any we hold
    change = {"v": 3} if e_tag == "missing" else {"v": 3, "e_tag": e_tag}
    await storage.write({"k": change})
    assert (await storage.read(["k"]))["k"]["v"] == 3


async def test_a_stale_e_tag_raises_and_changes_nothing(storage: BotstoreStorage) -> None:
    await storage.write({"a": {"v": 1}, "b": {"v": 1}})
    first = await storage.read(["a", "b"])
    stale = dict(first["a"])
    await storage.write({"a": {"v": 2, "e_tag": first["a"]["e_tag"]}})
    before = await storage.read(["a", "b"])

    fresh_b = dict(before["b"], v=99)
    stale["v"] = 99
    with pytest.raises(botstore.PreconditionFailed, match="e_tag conflict: 'b' or 'a' changed since") as err:
        await storage.write({"b": fresh_b, "a": stale})
    assert err.value.current == int(before["a"]["e_tag"])
    # One batch: the valid change to "b" was not written either, and neither change
    # object got a new e_tag.
    assert await storage.read(["a", "b"]) == before
    assert fresh_b["e_tag"] == before["b"]["e_tag"]
    assert stale["e_tag"] == first["a"]["e_tag"]


async def test_an_e_tag_for_a_deleted_item_raises(storage: BotstoreStorage) -> None:
    await storage.write({"k": {"v": 1}})
    read = await storage.read(["k"])
    await storage.delete(["k"])
    with pytest.raises(botstore.PreconditionFailed):
        await storage.write({"k": read["k"]})
    assert await storage.read(["k"]) == {}


@pytest.mark.parametrize("e_tag", ["", "W/\"abc\"", " 1", "1.0"])
async def test_an_e_tag_this_storage_did_not_issue_raises(storage: BotstoreStorage, e_tag: str) -> None:
    await storage.write({"k": {"v": 1}})
    before = await storage.read(["k", "other"])
    with pytest.raises(ValueError):
        await storage.write({"other": {"v": 2}, "k": {"v": 2, "e_tag": e_tag}})
    assert await storage.read(["k", "other"]) == before


async def test_a_store_item_e_tag_is_checked_too(storage: BotstoreStorage) -> None:
    await storage.write({"k": StoreItem(v=1)})
    mine = (await storage.read(["k"]))["k"]
    theirs = (await storage.read(["k"]))["k"]
    theirs.v = 2
    await storage.write({"k": theirs})
    mine.v = 3
    with pytest.raises(botstore.PreconditionFailed):
        await storage.write({"k": mine})
    assert (await storage.read(["k"]))["k"].v == 2


async def test_any_key_works(storage: BotstoreStorage) -> None:
    keys = ["", ".", "..", "%", "%25", "a/b", "/", "tab\t", "\x00", "日本", "k" * 3000, "k" * 3000 + "!"]
    await storage.write({key: {"key": key} for key in keys})
    read = await storage.read(keys + ["absent"])
    assert sorted(read) == sorted(keys)
    assert all(read[key]["key"] == key for key in keys)
    await storage.delete(keys)
    assert await storage.read(keys) == {}


async def test_read_and_delete_take_any_iterable_of_keys(storage: BotstoreStorage) -> None:
    await storage.write({"x": {"v": 1}, "y": {"v": 2}})
    assert set(await storage.read(k for k in ["x", "x", "y"])) == {"x", "y"}
    await storage.delete({"x", "y", "never-written"})
    assert await storage.read(["x", "y"]) == {}
    await storage.delete([])
    with pytest.raises(Exception, match="Keys are required when deleting"):
        await storage.delete(None)  # type: ignore[arg-type]


async def test_namespaces_keep_storages_apart(store: botstore.StoreBase, root: str) -> None:
    one = BotstoreStorage(store, namespace=(root, "one"))
    two = BotstoreStorage(store, namespace=f"{root}/two")
    await one.write({"k": {"who": "one"}})
    assert await two.read(["k"]) == {}
    await two.write({"k": {"who": "two"}})
    assert (await one.read(["k"]))["k"]["who"] == "one"


async def test_two_bot_instances_on_one_conversation(storage: BotstoreStorage) -> None:
    """Two turns of one conversation at once (two bot instances): the second to save
    its conversation state fails instead of losing the first one's change."""
    adapter = TestAdapter()

    async def load() -> tuple[ConversationState, TurnContext]:
        state = ConversationState(storage)
        ctx = TurnContext(adapter, adapter.template)
        await state.load(ctx)
        return state, ctx

    seed, seed_ctx = await load()
    await seed.create_property("count").set(seed_ctx, 0)
    await seed.save_changes(seed_ctx)

    (first, first_ctx), (second, second_ctx) = await load(), await load()
    await first.create_property("count").set(first_ctx, 1)
    await first.save_changes(first_ctx)
    await first.create_property("count").set(first_ctx, 2)
    await first.save_changes(first_ctx)  # its e_tag was updated by its first save
    await second.create_property("count").set(second_ctx, 10)
    with pytest.raises(botstore.PreconditionFailed):
        await second.save_changes(second_ctx)

    fresh, fresh_ctx = await load()
    assert await fresh.create_property("count").get(fresh_ctx) == 2
