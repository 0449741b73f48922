"""``BotstoreSaver``: a LangGraph checkpointer on a botstore :class:`~botstore.Store` or
:class:`~botstore.RemoteStore`.

Layout (everything under the saver's root namespace, ``("langgraph",)`` by default):

* one namespace per thread: ``root + (thread,)``, the thread id escaped for a segment
  (hashed when it would be longer than 128 bytes);
* in it, a checkpoint and its pending writes share a key prefix, the *group*::

      <checkpoint_ns>#<checkpoint_id inverted>~

  ``<checkpoint_ns>`` is escaped so it holds no ``#``; the checkpoint id is inverted
  (each UTF-8 byte ``b`` as two hex digits of ``255 - b``, then ``~``, which sorts after
  every hex digit), so ascending key order is *descending* checkpoint id order, newest
  first, and no group is a prefix of another. The checkpoint itself is ``<group>x``,
  each pending write ``<group>w<task id>#<idx>``: a group's writes sort just before
  its checkpoint.

Hence: ``put`` is one store write; the latest checkpoint of a thread is a scan with
``limit=1`` (its writes, if any, come first and are read with one more scan of the
group); a given checkpoint with its writes is one prefix scan; ``list`` is one ordered
scan that decodes only what it returns; ``before`` is a scan ``start``.

Values are msgpack arrays. A checkpoint: ``[1, thread_id, checkpoint_ns, checkpoint_id,
parent_checkpoint_id, type, checkpoint, metadata type, metadata]`` (checkpoint and
metadata as the serializer's typed bytes, so the real ids need no reversible escaping
and the metadata decodes without the checkpoint). A write: ``[1, task_id, channel, type,
value, task_path, idx]``.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from typing import Any

import ormsgpack
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    PendingWrite,
    get_checkpoint_id,
    get_checkpoint_metadata,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

from botstore import Delete, Item, Page, PreconditionFailed, Put, StorageError, StoreBase
from botstore.langgraph._drive import PAGE, Steps, arun, call, run, scan_all
from botstore.langgraph._names import key_part, thread_segment

__all__ = ["BotstoreSaver"]

#: Version of the value layout (first element of every stored array).
_FORMAT = 1
_CONTENT_TYPE = "application/msgpack"
#: byte -> 255 - byte, for ``bytes.translate``.
_INVERT = bytes(range(255, -1, -1))
#: Key suffixes after a group: pending write, checkpoint, and one past both.
_WRITE = "w"
_CHECKPOINT = "x"
_PAST_GROUP = "y"
#: Largest sum of value bytes in one write batch (a server takes 20 MiB bodies).
_BATCH_BYTES = 8 << 20


def _group(ns_prefix: str, checkpoint_id: str) -> str:
    """Key prefix of a checkpoint and its writes; ``ns_prefix`` is
    ``key_part(checkpoint_ns) + "#"``."""
    return ns_prefix + checkpoint_id.encode().translate(_INVERT).hex() + "~"


def _group_of(key: str) -> str:
    """The group a stored key belongs to."""
    return key[: key.index("~", key.index("#")) + 1]


def _record(value: bytes) -> list[Any]:
    """A stored array, checked for a layout this code reads."""
    rec = ormsgpack.unpackb(value)
    if rec[0] != _FORMAT:
        raise StorageError(f"checkpoint value in layout {rec[0]!r}, this botstore reads {_FORMAT}")
    return rec  # type: ignore[no-any-return]


def _config(thread_id: Any, checkpoint_ns: str, checkpoint_id: str) -> RunnableConfig:
    return {
        "configurable": {
            "thread_id": thread_id,
            "checkpoint_ns": checkpoint_ns,
            "checkpoint_id": checkpoint_id,
        }
    }


def _batches(ops: list[Put | Delete], sizes: Iterable[int]) -> Steps[None]:
    """Write ``ops`` in atomic batches of at most :data:`PAGE` operations and
    :data:`_BATCH_BYTES` value bytes (``sizes`` per op)."""
    chunk: list[Put | Delete] = []
    total = 0
    for op, size in zip(ops, sizes, strict=True):
        if chunk and (len(chunk) == PAGE or total + size > _BATCH_BYTES):
            yield call("batch", chunk)
            chunk, total = [], 0
        chunk.append(op)
        total += size
    if chunk:
        yield call("batch", chunk)


def _delete(ns: tuple[str, ...], keys: list[str]) -> Steps[None]:
    return _batches([Delete(ns, k) for k in keys], [0] * len(keys))


class BotstoreSaver(BaseCheckpointSaver[str]):
    """A LangGraph checkpointer that keeps threads in botstore, embedded or remote.

    Args:
        store: a :class:`botstore.Store` or :class:`botstore.RemoteStore`. The saver
            does not close it.
        namespace: root namespace of everything the saver writes (``"a/b"`` or a tuple
            of segments). Savers with different roots are isolated; roots should not be
            nested in one another.
        serde: serializer of checkpoints, metadata and writes (LangGraph's
            ``JsonPlusSerializer`` by default; an ``EncryptedSerializer`` works too).

    Every method has a blocking and an ``a``-prefixed async form; the async ones await
    the store's coroutines (no threads), so concurrent conversations on an embedded
    store share its group commit. Besides the base checkpointer API it implements
    ``copy_thread``, ``delete_for_runs`` and ``prune`` (``keep_latest`` keeps, per
    checkpoint namespace, the newest checkpoint with its writes and, when the graph
    uses ``DeltaChannel``, the ancestors its delta channels replay from).

    Example::

        store = botstore.Store("data")
        graph = builder.compile(checkpointer=BotstoreSaver(store))
        graph.invoke(inputs, {"configurable": {"thread_id": "t1"}})
    """

    store: StoreBase
    root: tuple[str, ...]

    def __init__(
        self,
        store: StoreBase,
        *,
        namespace: str | Sequence[str] = ("langgraph",),
        serde: SerializerProtocol | None = None,
    ) -> None:
        super().__init__(serde=serde)
        root = tuple(namespace.split("/")) if isinstance(namespace, str) else tuple(namespace)
        if not root:
            raise ValueError("BotstoreSaver needs a root namespace of at least one segment")
        self.store = store
        self.root = root

    # ------------------------------------------------------------------ helpers

    def _thread_ns(self, thread_id: Any) -> tuple[str, ...]:
        return (*self.root, thread_segment(str(thread_id)))

    def _tuple(
        self, rec: list[Any], writes: Sequence[bytes], metadata: CheckpointMetadata | None = None
    ) -> CheckpointTuple:
        """The tuple of a stored checkpoint (its decoded record) and its writes' values."""
        _, thread_id, ns, checkpoint_id, parent_id, ctype, cbytes, mtype, mbytes = rec
        loads = self.serde.loads_typed
        return CheckpointTuple(
            _config(thread_id, ns, checkpoint_id),
            loads((ctype, cbytes)),
            loads((mtype, mbytes)) if metadata is None else metadata,
            _config(thread_id, ns, parent_id) if parent_id else None,
            self._pending(writes),
        )

    def _pending(self, writes: Sequence[bytes]) -> list[PendingWrite]:
        """Pending writes in ``writes_sort_key`` order (task path, task id, idx)."""
        recs = [_record(w) for w in writes]
        if len(recs) > 1:
            recs.sort(key=lambda r: (r[5], r[1], r[6]))
        loads = self.serde.loads_typed
        return [(r[1], r[2], loads((r[3], r[4]))) for r in recs]

    def _group_tuple(self, items: list[Item]) -> CheckpointTuple | None:
        """A group's items (writes, then the checkpoint) as a tuple; ``None`` when the
        group holds writes but no checkpoint."""
        if not items or not items[-1].key.endswith(_CHECKPOINT):
            return None
        return self._tuple(_record(items[-1].value), [i.value for i in items[:-1]])

    # ---------------------------------------------------------------------- put

    def _put_args(
        self, config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata
    ) -> tuple[tuple[str, ...], str, bytes, RunnableConfig]:
        c = config["configurable"]
        thread_id = c["thread_id"]
        ns = c.get("checkpoint_ns", "")
        checkpoint_id = checkpoint["id"]
        dumps = self.serde.dumps_typed
        ctype, cbytes = dumps(checkpoint)
        mtype, mbytes = dumps(get_checkpoint_metadata(config, metadata))
        value = ormsgpack.packb(
            (_FORMAT, str(thread_id), ns, checkpoint_id, c.get("checkpoint_id"), ctype, cbytes, mtype, mbytes)
        )
        key = _group(key_part(ns) + "#", checkpoint_id) + _CHECKPOINT
        return self._thread_ns(thread_id), key, value, _config(thread_id, ns, checkpoint_id)

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Store a checkpoint (one store write); returns the config that addresses it."""
        ns, key, value, saved = self._put_args(config, checkpoint, metadata)
        self.store.put(ns, key, value, content_type=_CONTENT_TYPE)
        return saved

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Async :meth:`put`."""
        ns, key, value, saved = self._put_args(config, checkpoint, metadata)
        await self.store.aput(ns, key, value, content_type=_CONTENT_TYPE)
        return saved

    # --------------------------------------------------------------- put_writes

    def _put_writes_steps(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str,
    ) -> Steps[None]:
        """One atomic batch. Regular writes are only added (a retried task keeps its
        first writes); special ones (errors, interrupts, ...) replace, like the
        built-in savers."""
        if not writes:
            return
        c = config["configurable"]
        ns = self._thread_ns(c["thread_id"])
        prefix = (
            _group(key_part(c.get("checkpoint_ns", "")) + "#", c["checkpoint_id"])
            + _WRITE
            + key_part(task_id)
            + "#"
        )
        dumps = self.serde.dumps_typed
        ops: list[Put | Delete] = []
        for idx, (channel, value) in enumerate(writes):
            widx = WRITES_IDX_MAP.get(channel, idx)
            vtype, vbytes = dumps(value)
            record = ormsgpack.packb((_FORMAT, task_id, channel, vtype, vbytes, task_path, widx))
            ops.append(Put(ns, prefix + str(widx), record, content_type=_CONTENT_TYPE, if_absent=widx >= 0))
        try:
            yield call("batch", ops)
        except PreconditionFailed:
            # Some were written before (a retry): write the others one by one.
            results = yield call("batch", ops, atomic=False)
            for r in results:
                if isinstance(r, Exception) and not isinstance(r, PreconditionFailed):
                    raise r from None

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Store a task's writes against the checkpoint ``config`` addresses."""
        run(self.store, self._put_writes_steps(config, writes, task_id, task_path))

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Async :meth:`put_writes`."""
        await arun(self.store, self._put_writes_steps(config, writes, task_id, task_path))

    # ---------------------------------------------------------------- get_tuple

    def _get_tuple_steps(self, config: RunnableConfig) -> Steps[CheckpointTuple | None]:
        c = config["configurable"]
        ns = self._thread_ns(c["thread_id"])
        ns_prefix = key_part(c.get("checkpoint_ns", "")) + "#"
        if checkpoint_id := c.get("checkpoint_id"):
            items = yield from scan_all(ns, prefix=_group(ns_prefix, checkpoint_id))
            return self._group_tuple(items)
        start: str | None = None
        while True:
            page: Page = yield call("scan", ns, prefix=ns_prefix, start=start, limit=1)
            if not page.items:
                return None
            first = page.items[0]
            if first.key.endswith(_CHECKPOINT):  # the newest checkpoint has no writes
                return self._tuple(_record(first.value), ())
            group = _group_of(first.key)
            found = self._group_tuple((yield from scan_all(ns, prefix=group)))
            if found is not None:
                return found
            start = group + _PAST_GROUP  # writes without their checkpoint: skip them

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """The checkpoint ``config`` names (its ``checkpoint_id``, else the newest of
        the thread and ``checkpoint_ns``) with its pending writes, or ``None``."""
        return run(self.store, self._get_tuple_steps(config))

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """Async :meth:`get_tuple`."""
        return await arun(self.store, self._get_tuple_steps(config))

    # --------------------------------------------------------------------- list

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        """Checkpoints newest first: of ``config``'s thread (and ``checkpoint_ns``, and
        ``checkpoint_id`` when it has them; every thread when ``config`` is ``None``,
        thread by thread), whose metadata has every ``filter`` entry, older than
        ``before``, at most ``limit``."""
        listing = _Listing(self, config, filter, before, limit)
        while (scan := listing.next_scan()) is not None:
            yield from listing.consume(self.store.scan(scan[0], **scan[1]))

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        """Async :meth:`list`."""
        listing = _Listing(self, config, filter, before, limit)
        while (scan := listing.next_scan()) is not None:
            for t in listing.consume(await self.store.ascan(scan[0], **scan[1])):
                yield t

    # ------------------------------------------------------------ delete_thread

    def _delete_thread_steps(self, thread_id: str) -> Steps[None]:
        ns = self._thread_ns(thread_id)
        while True:
            page: Page = yield call("scan", ns, limit=PAGE)
            yield from _delete(ns, [i.key for i in page.items])
            if page.cursor is None:
                return

    def delete_thread(self, thread_id: str) -> None:
        """Delete every checkpoint and write of a thread (all checkpoint namespaces)."""
        run(self.store, self._delete_thread_steps(thread_id))

    async def adelete_thread(self, thread_id: str) -> None:
        """Async :meth:`delete_thread`."""
        await arun(self.store, self._delete_thread_steps(thread_id))

    # -------------------------------------------------------------- copy_thread

    def _copy_thread_steps(self, source_thread_id: str, target_thread_id: str) -> Steps[None]:
        source = self._thread_ns(source_thread_id)
        target = self._thread_ns(target_thread_id)
        target_id = str(target_thread_id)
        cursor: str | None = None
        while True:
            page: Page = yield call("scan", source, cursor=cursor, limit=PAGE)
            ops: list[Put | Delete] = []
            sizes: list[int] = []
            for item in page.items:
                value = item.value
                if item.key.endswith(_CHECKPOINT):
                    rec = _record(value)
                    rec[1] = target_id
                    value = ormsgpack.packb(rec)
                ops.append(Put(target, item.key, value, content_type=_CONTENT_TYPE))
                sizes.append(len(value))
            yield from _batches(ops, sizes)
            cursor = page.cursor
            if cursor is None:
                return

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Copy every checkpoint and write of a thread (the whole parent chain, every
        checkpoint namespace) onto another thread; what the target had is kept unless
        overwritten by the same checkpoint."""
        run(self.store, self._copy_thread_steps(source_thread_id, target_thread_id))

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Async :meth:`copy_thread`."""
        await arun(self.store, self._copy_thread_steps(source_thread_id, target_thread_id))

    # ---------------------------------------------------------- delete_for_runs

    def _delete_for_runs_steps(self, run_ids: Sequence[str]) -> Steps[None]:
        runs = {str(r) for r in run_ids}
        if not runs:
            return
        depth = len(self.root) + 1
        loads = self.serde.loads_typed
        writes: list[tuple[tuple[str, ...], str]] = []
        writes_group: tuple[tuple[str, ...], str] | None = None
        cursor: str | None = None
        while True:
            page: Page = yield call("scan", self.root, recursive=True, cursor=cursor, limit=PAGE)
            doomed: list[Put | Delete] = []
            for item in page.items:
                ns = item.namespace
                if len(ns) != depth:  # not a thread of this saver
                    continue
                key = item.key
                group = (ns, _group_of(key))
                if not key.endswith(_CHECKPOINT):
                    if group != writes_group:
                        writes, writes_group = [], group
                    writes.append((ns, key))
                    continue
                own = writes if group == writes_group else []
                writes, writes_group = [], None
                rec = _record(item.value)
                run_id = loads((rec[7], rec[8])).get("run_id")
                if run_id is not None and str(run_id) in runs:
                    doomed.extend(Delete(n, k) for n, k in (*own, (ns, key)))
            yield from _batches(doomed, [0] * len(doomed))
            cursor = page.cursor
            if cursor is None:
                return

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Delete the checkpoints whose metadata ``run_id`` is one of ``run_ids``, with
        their writes, in every thread of this saver (a scan of all of them)."""
        run(self.store, self._delete_for_runs_steps(run_ids))

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Async :meth:`delete_for_runs`."""
        await arun(self.store, self._delete_for_runs_steps(run_ids))

    # -------------------------------------------------------------------- prune

    def _keep_latest_steps(self, thread_id: str) -> Steps[None]:
        """Per checkpoint namespace, keep the newest checkpoint with its writes and,
        when its metadata counts ``DeltaChannel`` updates since their last snapshot,
        the ancestors (with writes) back to the snapshot of each such channel, which
        ``get_delta_channel_history`` replays from. Delete the rest."""
        ns = self._thread_ns(thread_id)
        loads = self.serde.loads_typed
        block: str | None = None  # key part "<checkpoint_ns>#" being walked
        keep: set[str] = set()  # groups to keep in it
        need: set[str] = set()  # delta channels whose snapshot is not reached yet
        writes: list[str] = []
        writes_group: str | None = None
        cursor: str | None = None
        while True:
            page: Page = yield call("scan", ns, cursor=cursor, limit=PAGE)
            doomed: list[str] = []
            for item in page.items:
                key = item.key
                group = _group_of(key)
                if not key.endswith(_CHECKPOINT):
                    if group != writes_group:
                        doomed.extend(writes)  # writes of a group without checkpoint
                        writes, writes_group = [], group
                    writes.append(key)
                    continue
                own: list[str] = []
                if group == writes_group:
                    own = writes
                else:
                    doomed.extend(writes)
                writes, writes_group = [], None
                ns_part = key[: key.index("#") + 1]
                newest = ns_part != block
                if newest:
                    block = ns_part
                    keep, need = {group}, set()
                if group not in keep:
                    doomed.append(key)
                    doomed.extend(own)
                elif newest or need:
                    rec = _record(item.value)
                    counters = loads((rec[7], rec[8])).get("counters_since_delta_snapshot") or {}
                    need = set(counters) if newest else need & set(counters)
                    if need and rec[4]:
                        keep.add(_group(ns_part, rec[4]))
            yield from _delete(ns, doomed)
            cursor = page.cursor
            if cursor is None:
                yield from _delete(ns, writes)
                return

    def _prune_steps(self, thread_ids: Sequence[str], strategy: str) -> Steps[None]:
        if strategy == "keep_latest":
            for thread_id in thread_ids:
                yield from self._keep_latest_steps(thread_id)
        elif strategy == "delete":
            for thread_id in thread_ids:
                yield from self._delete_thread_steps(thread_id)
        else:
            raise ValueError(f"unknown prune strategy {strategy!r}: 'keep_latest' or 'delete'")

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """Prune threads: ``"keep_latest"`` keeps the newest checkpoint of each
        checkpoint namespace (and what its ``DeltaChannel`` state needs), ``"delete"``
        deletes the threads."""
        run(self.store, self._prune_steps(thread_ids, strategy))

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """Async :meth:`prune`."""
        await arun(self.store, self._prune_steps(thread_ids, strategy))

    # ------------------------------------------------------------------ versions

    def get_next_version(self, current: str | None, channel: None) -> str:
        """Next channel version: ``"<counter, 32 digits>.<random>"``, as the built-in
        savers make them (monotonic, and unique across forks)."""
        if current is None:
            current_v = 0
        elif isinstance(current, int):
            current_v = current
        else:
            current_v = int(current.split(".")[0])
        return f"{current_v + 1:032}.{random.random():016}"


class _Listing:
    """The scans of one ``list`` call and how their items become tuples.

    Items come group by group (a checkpoint's writes, then the checkpoint); writes are
    held until their checkpoint shows up. Only listed checkpoints are deserialized;
    with a ``filter``, only the metadata of the others.
    """

    def __init__(
        self,
        saver: BotstoreSaver,
        config: RunnableConfig | None,
        filter: dict[str, Any] | None,
        before: RunnableConfig | None,
        limit: int | None,
    ) -> None:
        self.saver = saver
        self.filter = filter or None
        self.remaining = limit
        self.done = limit is not None and limit <= 0
        self.cursor: str | None = None
        #: checks left to the decoded record (when the key range can't do them)
        self.only_id: str | None = None
        self.before_id = get_checkpoint_id(before) if before else None
        #: recursive listing of every thread: thread namespaces are at this depth
        self.depth: int | None = None
        self.kwargs: dict[str, Any] = {}
        #: the group whose writes are held, and their values
        self.group: Any = None
        self.writes: list[bytes] = []
        if config is None:
            self.ns = saver.root
            self.depth = len(saver.root) + 1
            self.kwargs["recursive"] = True
            return
        c = config["configurable"]
        self.ns = saver._thread_ns(c["thread_id"])
        checkpoint_ns = c.get("checkpoint_ns")
        checkpoint_id = c.get("checkpoint_id")
        if checkpoint_ns is None:  # every checkpoint namespace of the thread
            self.only_id = checkpoint_id
            return
        ns_prefix = key_part(checkpoint_ns) + "#"
        if checkpoint_id:
            self.kwargs["prefix"] = _group(ns_prefix, checkpoint_id)
            if self.before_id is not None and checkpoint_id >= self.before_id:
                self.done = True
            self.before_id = None
        else:
            self.kwargs["prefix"] = ns_prefix
            if self.before_id is not None:
                self.kwargs["start"] = _group(ns_prefix, self.before_id) + _PAST_GROUP
                self.before_id = None

    def next_scan(self) -> tuple[tuple[str, ...], dict[str, Any]] | None:
        """Namespace and arguments of the next scan, or ``None`` when done."""
        if self.done:
            return None
        limit = PAGE
        if self.remaining is not None and not self.filter:
            limit = min(PAGE, self.remaining + 8)  # a few more for writes
        return self.ns, {**self.kwargs, "cursor": self.cursor, "limit": limit}

    def consume(self, page: Page) -> Iterator[CheckpointTuple]:
        """The tuples of one page, decoded one at a time as they are consumed (writes
        held for the next page if cut off)."""
        saver = self.saver
        loads = saver.serde.loads_typed
        flt = self.filter
        for item in page.items:
            key = item.key
            if self.depth is not None:
                ns = item.namespace
                if len(ns) != self.depth:  # not a thread of this saver
                    continue
                group: Any = (ns, _group_of(key))
            else:
                group = _group_of(key)
            if not key.endswith(_CHECKPOINT):
                if group != self.group:
                    self.group, self.writes = group, []
                self.writes.append(item.value)
                continue
            writes = self.writes if group == self.group else []
            self.group, self.writes = None, []
            rec = _record(item.value)
            checkpoint_id = rec[3]
            if self.only_id is not None and checkpoint_id != self.only_id:
                continue
            if self.before_id is not None and checkpoint_id >= self.before_id:
                continue
            metadata = None
            if flt:
                metadata = loads((rec[7], rec[8]))
                if not all(metadata.get(k) == v for k, v in flt.items()):
                    continue
            yield saver._tuple(rec, writes, metadata)
            if self.remaining is not None:
                self.remaining -= 1
                if self.remaining == 0:
                    self.done = True
                    return
        self.cursor = page.cursor
        if self.cursor is None:
            self.done = True
