"""The native module in both modes (embedded and a real ``botstore serve``): every
operation, its errors, and the asyncio twins. Each test runs once per mode and checks
the two fail alike."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest

import botstore
from botstore import Delete, Put

from conftest import botstore_bin


def test_put_get_versions_and_preconditions(store: botstore.StoreBase, root: str) -> None:
    ns = (root, "users", "u42")
    v1 = store.put(ns, "profile", {"name": "Ada", "n": 1})
    item = store.get(f"{root}/users/u42", "profile")
    assert item is not None
    assert item.version == v1 and item.key == "profile" and item.namespace == ns
    assert item.content_type == "application/json"
    assert item.json() == {"name": "Ada", "n": 1}
    assert item.created_at == item.updated_at and item.expires_at is None

    v2 = store.put(ns, "profile", {"name": "Ada L."}, if_version=v1)
    assert v2 > v1
    with pytest.raises(botstore.PreconditionFailed) as e:
        store.put(ns, "profile", {"name": "stale"}, if_version=v1)
    assert e.value.current == v2
    assert isinstance(e.value, botstore.Conflict)
    with pytest.raises(botstore.PreconditionFailed) as e:
        store.put(ns, "profile", {}, if_absent=True)
    assert e.value.current == v2
    assert store.get(ns, "profile").json() == {"name": "Ada L."}  # nothing changed

    with pytest.raises(botstore.PreconditionFailed) as e:
        store.delete(ns, "profile", if_version=v1)
    assert e.value.current == v2
    assert store.delete(ns, "profile", if_version=v2) is True
    assert store.get(ns, "profile") is None
    assert store.delete(ns, "profile") is False
    with pytest.raises(botstore.PreconditionFailed) as e:
        store.put(ns, "profile", {}, if_version=v2)
    assert e.value.current is None
    assert store.put(ns, "profile", {"again": True}, if_absent=True) > v2


def test_values_bytes_text_and_json(store: botstore.StoreBase, root: str) -> None:
    store.put(root, "raw", b"\x00\xffbytes")
    store.put(root, "ba", bytearray(b"abc"), content_type="application/x-thing")
    store.put(root, "mv", memoryview(b"view"))
    store.put(root, "text", "plain words", content_type="text/plain")
    store.put(root, "str", "a JSON string")
    store.put(root, "uni", {"emoji": "🤖", "big": 12345678901234567890})
    raw = store.get(root, "raw")
    assert raw.value == b"\x00\xffbytes" and raw.content_type == "application/octet-stream"
    assert store.get(root, "ba").content_type == "application/x-thing"
    assert store.get(root, "mv").value == b"view"
    text = store.get(root, "text")
    assert text.value == b"plain words" and text.content_type == "text/plain"
    assert store.get(root, "str").json() == "a JSON string"
    assert store.get(root, "uni").json() == {"emoji": "🤖", "big": 12345678901234567890}
    with pytest.raises(botstore.InvalidInput) as e:
        raw.json()
    assert e.value.rule == "value.json"


def counters(store: botstore.StoreBase, root: str) -> dict[str, int]:
    """The counters of the test's own namespace (the store-wide LSN and bytes move with
    other tests' writes and the TTL sweep on the shared server)."""
    keys = ("namespaces", "items", "item_bytes", "streams", "stream_entries", "stream_bytes")
    stats = store.stats(root)
    return {k: stats[k] for k in keys}


def test_bad_input_is_refused_and_changes_nothing(store: botstore.StoreBase, root: str) -> None:
    before = counters(store, root)
    cases = [
        lambda: store.put(root, "..", b"x"),
        lambda: store.put(root, "", b"x"),
        lambda: store.put(root, "ctl\x01", b"x"),
        lambda: store.put((root, ""), "k", b"x"),
        lambda: store.put((root, "a/b"), "k", b"x"),
        lambda: store.put(root, "k" * 2000, b"x"),
        lambda: store.put(root, "k", {"nan": float("nan")}),
        lambda: store.put(root, "k", object()),
        lambda: store.put(root, "k", {"x": 1}, content_type="text/plain"),
        lambda: store.put(root, "k", b"x", if_version=1, if_absent=True),
        lambda: store.put(root, "k", b"x", ttl=-1),
        lambda: store.put(root, "k", b"x", ttl=float("inf")),
        lambda: store.scan(root, limit=10**9),
        lambda: store.scan(root, cursor="not-a-cursor!"),
        lambda: store.trim(root, "s"),
        lambda: store.batch([Put(root, "ok", b"x"), Put(root, "..", b"x")]),
    ]
    for i, call in enumerate(cases):
        with pytest.raises(botstore.InvalidInput, match=""):
            call()
            pytest.fail(f"case {i} was accepted")
        assert counters(store, root) == before, f"case {i} changed the store"
    with pytest.raises(TypeError):
        store.put(42, "k", b"x")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        store.batch(["not an op"])  # type: ignore[list-item]
    assert store.get(root, "ok") is None


def test_batch_atomic_and_not(store: botstore.StoreBase, root: str) -> None:
    v = store.put(root, "a", 1)
    assert store.batch([Put(root, "b", 2), Put(root, "a", 3, if_version=v), Delete(root, "zz")]) == [
        pytest.approx(v + 1, abs=10**9),
        pytest.approx(v + 1, abs=10**9),
        False,
    ]
    with pytest.raises(botstore.PreconditionFailed) as e:
        store.batch([Put(root, "c", 4), Put(root, "a", 5, if_version=v)])
    assert e.value.index == 1
    assert store.get(root, "c") is None  # all or nothing
    assert store.get(root, "a").json() == 3

    results = store.batch([Put(root, "c", 4), Put(root, "a", 5, if_version=v), Delete(root, "b")], atomic=False)
    assert isinstance(results[0], int)
    assert isinstance(results[1], botstore.PreconditionFailed)
    assert results[2] is True
    assert store.get(root, "c").json() == 4 and store.get(root, "b") is None

    # Arguments refused when the op is made (a bad TTL, a value that is not JSON, a
    # namespace the wire cannot carry) fail in their slot too, the same in both modes,
    # and fail an atomic batch with their index.
    bad = [Put(root, "t", 1, ttl=-1), Put(root, "j", object()), Put((root, ""), "n", 1)]
    for i, op in enumerate(bad):
        results = store.batch([Put(root, f"ok{i}", 1), op], atomic=False)
        assert isinstance(results[0], int) and isinstance(results[1], botstore.InvalidInput)
        assert store.get(root, f"ok{i}").json() == 1
        with pytest.raises(botstore.InvalidInput) as e:
            store.batch([Put(root, f"no{i}", 1), op])
        assert e.value.index == 1
        assert store.get(root, f"no{i}") is None


def test_get_many_scan_and_paging(store: botstore.StoreBase, root: str) -> None:
    for i in range(25):
        store.put((root, "s"), f"k{i:02}", {"i": i})
    store.put((root, "s", "deeper"), "x", 1)
    got = store.get_many([((root, "s"), "k03"), (f"{root}/s", "missing"), ((root, "s"), "k24")])
    assert [g.json()["i"] if g else None for g in got] == [3, None, 24]

    keys: list[str] = []
    cursor = None
    while True:
        page = store.scan((root, "s"), limit=10, cursor=cursor)
        keys += [i.key for i in page.items]
        cursor = page.cursor
        if cursor is None:
            break
    assert keys == [f"k{i:02}" for i in range(25)]
    assert [i.key for i in store.scan((root, "s"), prefix="k1").items] == [f"k1{i}" for i in range(10)]
    assert [i.key for i in store.scan((root, "s"), start="k20", end="k22").items] == ["k20", "k21"]
    everything = store.scan(root, recursive=True).items
    assert len(everything) == 26 and everything[-1].namespace == (root, "s", "deeper")
    names, cur = store.list_namespaces(root)
    assert names == [(root, "s"), (root, "s", "deeper")] and cur is None


def test_streams(store: botstore.StoreBase, root: str) -> None:
    ns = (root, "conv")
    assert store.append(ns, "t", [{"n": 1}, {"n": 2}]) == (1, 2)
    assert store.append(ns, "t", [b"raw"], expected_last=2) == (3, 3)
    with pytest.raises(botstore.SequenceMismatch) as e:
        store.append(ns, "t", [{"n": 9}], expected_last=2)
    assert (e.value.expected, e.value.current) == (2, 3)
    entries = store.read_stream(ns, "t")
    assert [x.seq for x in entries] == [1, 2, 3]
    assert entries[0].json() == {"n": 1} and entries[2].value == b"raw"
    assert [x.seq for x in store.read_stream(ns, "t", start=3, reverse=True, limit=2)] == [3, 2]
    info = store.stream_info(ns, "t")
    assert (info.len, info.first_seq, info.last_seq) == (3, 1, 3)
    assert store.trim(ns, "t", keep_last=1) == 2
    assert [x.seq for x in store.read_stream(ns, "t")] == [3]
    assert store.list_streams(root) == ([(ns, "t")], None)
    assert store.delete_stream(ns, "t") is True
    assert store.stream_info(ns, "t") is None
    assert store.delete_stream(ns, "t") is False


def test_ttl_expires_items(store: botstore.StoreBase, root: str) -> None:
    store.put(root, "short", 1, ttl=0.2)
    item = store.get(root, "short")
    assert item.expires_at is not None and item.expires_at - item.updated_at == 200
    store.set_namespace_ttl((root, "t"), 0.2)
    store.put((root, "t"), "default", 1)
    assert store.get((root, "t"), "default").expires_at is not None
    import time

    time.sleep(0.5)
    assert store.get(root, "short") is None
    assert store.get((root, "t"), "default") is None
    store.put((root, "t"), "never", 1, ttl="never")  # despite the namespace default
    assert store.get((root, "t"), "never").expires_at is None
    with pytest.raises(botstore.InvalidInput):
        store.put((root, "t"), "k", 1, ttl="sometimes")
    store.set_namespace_ttl((root, "t"), None)
    store.put((root, "t"), "forever", 1)
    assert store.get((root, "t"), "forever").expires_at is None


def test_touch_renews_the_ttl_keeping_the_version(store: botstore.StoreBase, root: str) -> None:
    v = store.put(root, "session", {"turns": 1}, ttl=60)
    first = store.get(root, "session")
    assert store.touch(root, "session", ttl=3600) == v
    renewed = store.get(root, "session")
    assert renewed.version == v and renewed.json() == {"turns": 1}
    assert renewed.expires_at - first.expires_at >= 3_539_000  # counted from the touch
    # A writer that read before the touch still wins its if_version.
    assert store.put(root, "session", {"turns": 2}, if_version=v) > v
    store.touch(root, "session", ttl="never")
    assert store.get(root, "session").expires_at is None
    with pytest.raises(botstore.NotFound):
        store.touch(root, "missing", ttl=60)
    with pytest.raises(botstore.InvalidInput):
        store.touch(root, "session", ttl="sometimes")


async def test_async_twins(store: botstore.StoreBase, root: str) -> None:
    versions = await asyncio.gather(*[store.aput(root, f"k{i}", {"i": i}) for i in range(64)])
    assert len(set(versions)) == 64
    item = await store.aget(root, "k7")
    assert item.json() == {"i": 7}
    assert await store.aget(root, "missing") is None
    with pytest.raises(botstore.PreconditionFailed) as e:
        await store.aput(root, "k7", {}, if_version=1)
    assert e.value.current == item.version
    with pytest.raises(botstore.InvalidInput):
        await store.aput(root, "..", b"x")
    page = await store.ascan(root, limit=100)
    assert len(page.items) == 64
    assert [i.json()["i"] if i else None for i in await store.aget_many([(root, "k1"), (root, "nope")])] == [1, None]
    assert await store.abatch([Put(root, "b", 1), Delete(root, "k1")]) == [pytest.approx(0, abs=10**12), True]
    assert await store.adelete(root, "k2") is True
    assert await store.aappend(root, "s", [1, 2]) == (1, 2)
    assert [e.json() for e in await store.aread_stream(root, "s")] == [1, 2]
    assert (await store.astream_info(root, "s")).len == 2
    assert await store.atrim(root, "s", before=2) == 1
    assert (await store.alist_streams(root))[0] == [((root,), "s")]
    assert await store.adelete_stream(root, "s") is True
    assert (await store.alist_namespaces(root))[0] == [(root,)]
    assert await store.atouch(root, "k7", ttl=60) == item.version
    await store.aset_namespace_ttl(root, None)
    assert (await store.astats(root))["items"] == 63  # 64 + "b" - k1 - k2


def test_closed_store_refuses(store: botstore.StoreBase, root: str) -> None:
    store.put(root, "k", 1)
    store.close()
    store.close()  # idempotent
    with pytest.raises(botstore.StorageError):
        store.get(root, "k")


def test_environment_defaults_as_the_cli(tmp_path: Path, server, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("BOTSTORE_DATA", str(tmp_path / "from-env"))
    with botstore.Store() as s:
        assert s.path == str(tmp_path / "from-env")
    monkeypatch.setenv("BOTSTORE_TOKEN", server.token)
    with botstore.RemoteStore(server.url) as r:
        assert r.put("env-test", "k", 1) > 0


def test_embedded_survives_reopen_and_is_the_cli_folder(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with botstore.Store(data) as s:
        v = s.put("tenant/users/u1", "profile", {"name": "Ada"})
        s.append("tenant/conv/c1", "transcript", [{"text": "hi"}])
    with botstore.Store(str(data), durability="relaxed") as s:
        assert s.get("tenant/users/u1", "profile").version == v
    # The CLI reads the same folder.
    out = subprocess.run(
        [botstore_bin(), "--data", str(data), "get", "tenant/users/u1", "profile"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert '"Ada"' in out
    with pytest.raises(botstore.InvalidInput):
        botstore.Store(data, durability="sometimes")


def test_one_folder_one_process_at_a_time(tmp_path: Path) -> None:
    with botstore.Store(tmp_path / "d"):
        with pytest.raises(botstore.StorageError, match="in use"):
            botstore.Store(tmp_path / "d")


def test_remote_refusals(server, root: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(botstore.RemoteError) as e:
        botstore.RemoteStore(server.url, "bst_wrong").get(root, "k")
    assert e.value.status == 401
    with pytest.raises(botstore.TransportError):
        botstore.RemoteStore("http://127.0.0.1:1", "bst_x", timeout=2).get(root, "k")
    with pytest.raises(botstore.InvalidInput):
        botstore.RemoteStore("ftp://nowhere")
    narrow = subprocess.run(
        [botstore_bin(), "--remote", server.url, "--token", server.token, "token", "create", "--ns", "only-this/*", "--perm", "read"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    with pytest.raises(botstore.RemoteError) as e:
        botstore.RemoteStore(server.url, narrow).put(root, "k", 1)
    assert e.value.status == 403


def test_async_across_loops_and_cancellation(tmp_path: Path) -> None:
    """Each event loop gets its own completion queue; a cancelled await does not lose
    or corrupt anything, and the next loop still gets its results."""
    with botstore.Store(tmp_path / "d") as s:

        async def burst(tag: str) -> list[int]:
            return await asyncio.gather(*[s.aput("ns", f"{tag}{i}", i) for i in range(200)])

        first = asyncio.run(burst("a"))
        second = asyncio.run(burst("b"))
        assert len(set(first + second)) == 400

        async def cancel_one() -> None:
            task = asyncio.ensure_future(s.aput("ns", "cancelled", 1))
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert await s.aput("ns", "after", 2) > 0

        asyncio.run(cancel_one())
        assert s.get("ns", "after").json() == 2
        # The cancelled write was already on its way: it is there or not, never torn.
        got = s.get("ns", "cancelled")
        assert got is None or got.json() == 1


def test_large_values_behave_alike(store: botstore.StoreBase, root: str) -> None:
    """A value just under the store's 16 MiB limit is written and read back whole in
    both modes (remote puts send the raw bytes, not base64 in a batch body); one just
    over it is InvalidInput in both."""
    big = bytes(range(256)) * (62 * 1024)  # 15.5 MiB
    v = store.put(root, "big", big)
    got = store.get(root, "big")
    assert got.version == v and got.value == big
    with pytest.raises(botstore.InvalidInput) as e:
        store.put(root, "too-big", b"x" * (17 << 20))
    assert e.value.rule == "value.size"
    assert store.get(root, "too-big") is None


def test_leases_fence_writes(store: botstore.StoreBase, root: str) -> None:
    ns = (root, "conv", "c1")
    lease = store.acquire_lease(ns, "turn", "worker-a", 30)
    assert (lease.namespace, lease.name, lease.holder) == (ns, "turn", "worker-a")
    assert lease.token > 0 and lease.expires_at > 0
    with pytest.raises(botstore.LeaseHeld) as e:
        store.acquire_lease(ns, "turn", "worker-b", 30)
    assert e.value.holder == "worker-a"
    assert store.get_lease(ns, "turn").token == lease.token
    assert store.put(ns, "state", {"step": 1}, fence=lease) > 0
    renewed = store.renew_lease(lease, 60)
    assert renewed.token == lease.token and renewed.expires_at >= lease.expires_at
    store.release_lease(lease)
    assert store.get_lease(ns, "turn") is None
    taken = store.acquire_lease(ns, "turn", "worker-b", 30)
    assert taken.token > lease.token
    # worker-a's fence is stale now: its writes change nothing.
    with pytest.raises(botstore.StaleFence) as e:
        store.put(ns, "state", {"step": 2}, fence=lease)
    assert e.value.presented == lease.token and e.value.current == taken.token
    with pytest.raises(botstore.StaleFence):
        store.delete(ns, "state", fence=lease)
    with pytest.raises(botstore.StaleFence):
        store.batch([Put(ns, "x", 1), Delete(ns, "state", fence=lease)])
    assert store.get(ns, "state").json() == {"step": 1} and store.get(ns, "x") is None
    with pytest.raises(botstore.StaleFence):
        store.renew_lease(lease, 30)
    assert store.put(ns, "state", {"step": 2}, fence=taken) > 0


def test_patches(store: botstore.StoreBase, root: str) -> None:
    v = store.patch(root, "profile", merge={"name": "Ada", "tags": ["a"]})
    assert store.get(root, "profile").json() == {"name": "Ada", "tags": ["a"]}
    v2 = store.patch(root, "profile", merge={"tags": None, "lang": "en"}, if_version=v)
    assert store.get(root, "profile").json() == {"name": "Ada", "lang": "en"}
    with pytest.raises(botstore.PreconditionFailed) as e:
        store.patch(root, "profile", merge={"x": 1}, if_version=v)
    assert e.value.current == v2
    store.patch(root, "profile", ops=[{"op": "test", "path": "/lang", "value": "en"}, {"op": "replace", "path": "/lang", "value": "fr"}])
    assert store.get(root, "profile").json()["lang"] == "fr"
    with pytest.raises(botstore.PatchFailed):
        store.patch(root, "profile", ops=[{"op": "test", "path": "/lang", "value": "en"}, {"op": "remove", "path": "/name"}])
    assert store.get(root, "profile").json() == {"name": "Ada", "lang": "fr"}
    with pytest.raises(botstore.NotFound):
        store.patch(root, "missing", ops=[{"op": "add", "path": "/a", "value": 1}])
    with pytest.raises(botstore.InvalidInput):
        store.patch(root, "profile", ops=[{"op": "frobnicate"}])
    with pytest.raises(botstore.InvalidInput):
        store.patch(root, "profile")


async def test_async_leases_and_patches(store: botstore.StoreBase, root: str) -> None:
    lease = await store.aacquire_lease(root, "l", "me", 10)
    assert (await store.aget_lease(root, "l")).holder == "me"
    assert (await store.arenew_lease(lease, 20)).token == lease.token
    await store.apatch(root, "doc", merge={"a": 1}, fence=lease)
    await store.arelease_lease(lease)
    assert await store.aget_lease(root, "l") is None
    assert (await store.aget(root, "doc")).json() == {"a": 1}
