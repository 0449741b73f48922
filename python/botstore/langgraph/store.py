"""``BotstoreStore``: LangGraph's long-term memory store (``BaseStore``) on botstore.

Each LangGraph item is one botstore item: namespace ``root + labels`` (each label
percent-escaped for ``%``, ``/`` and control characters), key the LangGraph key
(escaped for ``%`` and control characters), value the JSON document, so other botstore
clients (the CLI, the HTTP API) see plain JSON.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import Any

from langgraph.store.base import (
    BaseStore,
    GetOp,
    Item,
    ListNamespacesOp,
    MatchCondition,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
    TTLConfig,
    validate_op_namespace,
)

from botstore import Delete, Page, Put, StoreBase
from botstore import Item as StoredItem
from botstore.langgraph._drive import PAGE, Steps, arun, call, run
from botstore.langgraph._names import decode_key, encode_key, label_to_segment, segment_to_label

__all__ = ["BotstoreStore"]

_JSON = "application/json"


def _datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


class BotstoreStore(BaseStore):
    """LangGraph's ``BaseStore`` (long-term memory) on a botstore store.

    Args:
        store: a :class:`botstore.Store` or :class:`botstore.RemoteStore`; not closed
            by this object.
        namespace: root namespace under which LangGraph's namespaces live.
        ttl: LangGraph's ``TTLConfig``: ``default_ttl`` (minutes) for puts that give
            none, ``refresh_on_read`` (default ``True``). Expired items are never
            returned and botstore deletes them itself, so ``sweep_interval_minutes``
            and ``omit_expired`` need nothing.

    Semantics and limits:

    * A batch reads first, then applies its puts and deletes in one atomic write
      (the last op on a key wins), like ``InMemoryStore``.
    * ``search`` filters (exact values, nested dicts, ``$eq``, ``$ne``, ``$gt``,
      ``$gte``, ``$lt``, ``$lte``) over the namespace prefix, in namespace then key
      order, and pages with ``limit``/``offset``. There is no vector index: ``query``
      is ignored (as ``InMemoryStore`` does without ``index``), every ``score`` is
      ``None``, and ``index=`` on puts has no effect.
    * A TTL refresh on read rewrites the item with the same value (only if it did not
      change meanwhile), so it also moves ``updated_at``.
    * Labels must fit botstore's segments (at most 128 bytes escaped; the root plus
      the labels at most 16 segments); keys at most 1024 bytes escaped.
    """

    supports_ttl = True

    def __init__(
        self,
        store: StoreBase,
        *,
        namespace: str | Sequence[str] = ("langgraph-store",),
        ttl: TTLConfig | None = None,
    ) -> None:
        root = tuple(namespace.split("/")) if isinstance(namespace, str) else tuple(namespace)
        if not root:
            raise ValueError("BotstoreStore needs a root namespace of at least one segment")
        self.store = store
        self.root = root
        self.ttl_config = ttl

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Run LangGraph store operations; results in the order of ``ops``."""
        return run(self.store, self._batch_steps(ops))

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """Async :meth:`batch`, on the store's coroutines."""
        return await arun(self.store, self._batch_steps(ops))

    # ------------------------------------------------------------------ helpers

    def _ns(self, labels: tuple[str, ...]) -> tuple[str, ...]:
        return (*self.root, *map(label_to_segment, labels))

    def _labels(self, ns: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(map(segment_to_label, ns[len(self.root) :]))

    @staticmethod
    def _refresh(item: StoredItem, refresh: list[Put]) -> None:
        """Queue a TTL refresh: the same value, expiring its TTL from now."""
        if item.expires_at is not None and item.expires_at > item.updated_at:
            refresh.append(
                Put(
                    item.namespace,
                    item.key,
                    item.value,
                    content_type=item.content_type,
                    if_version=item.version,
                    ttl=(item.expires_at - item.updated_at) / 1000,
                )
            )

    # -------------------------------------------------------------------- batch

    def _batch_steps(self, ops: Iterable[Op]) -> Steps[list[Result]]:
        ops = list(ops)
        results: list[Result] = [None] * len(ops)
        gets: list[tuple[int, GetOp]] = []
        puts: dict[tuple[tuple[str, ...], str], PutOp] = {}
        for i, op in enumerate(ops):
            validate_op_namespace(op)
            if isinstance(op, GetOp):
                gets.append((i, op))
            elif isinstance(op, PutOp):
                puts[(op.namespace, op.key)] = op
            elif not isinstance(op, (SearchOp, ListNamespacesOp)):
                raise TypeError(f"unknown store operation: {type(op).__name__}")
        refresh: list[Put] = []
        if gets:
            found = yield call("get_many", [(self._ns(op.namespace), encode_key(op.key)) for _, op in gets])
            for (i, op), stored in zip(gets, found, strict=True):
                if stored is not None:
                    results[i] = self._item(Item, stored, stored.json(), op.namespace, op.key)
                    if op.refresh_ttl and (op.namespace, op.key) not in puts:
                        self._refresh(stored, refresh)
        for i, op in enumerate(ops):
            if isinstance(op, SearchOp):
                results[i] = yield from self._search_steps(op, puts, refresh)
            elif isinstance(op, ListNamespacesOp):
                results[i] = yield from self._list_namespaces_steps(op)
        if puts:
            yield call("batch", [self._write(op) for op in puts.values()])
        if refresh:
            # Best effort: an item that changed meanwhile keeps its new TTL.
            yield call("batch", refresh, atomic=False)
        return results

    @staticmethod
    def _item(kind: type[Item], stored: StoredItem, value: Any, labels: tuple[str, ...], key: str) -> Any:
        return kind(
            value=value,
            key=key,
            namespace=labels,
            created_at=_datetime(stored.created_at),
            updated_at=_datetime(stored.updated_at),
        )

    def _write(self, op: PutOp) -> Put | Delete:
        ns = self._ns(op.namespace)
        key = encode_key(op.key)
        if op.value is None:
            return Delete(ns, key)
        return Put(ns, key, dict(op.value), ttl=None if op.ttl is None else op.ttl * 60)

    # ------------------------------------------------------------------- search

    def _search_steps(
        self,
        op: SearchOp,
        puts: dict[tuple[tuple[str, ...], str], PutOp],
        refresh: list[Put],
    ) -> Steps[list[SearchItem]]:
        out: list[SearchItem] = []
        if op.limit <= 0:
            return out
        skip = max(op.offset, 0)
        cursor: str | None = None
        while True:
            page: Page = yield call(
                "scan", self._ns(op.namespace_prefix), recursive=True, cursor=cursor, limit=PAGE
            )
            for stored in page.items:
                if stored.content_type != _JSON:  # not written by this adapter
                    continue
                value = stored.json()
                if op.filter and not _matches(value, op.filter):
                    continue
                if skip:
                    skip -= 1
                    continue
                labels = self._labels(stored.namespace)
                key = decode_key(stored.key)
                out.append(self._item(SearchItem, stored, value, labels, key))
                if op.refresh_ttl and (labels, key) not in puts:
                    self._refresh(stored, refresh)
                if len(out) == op.limit:
                    return out
            cursor = page.cursor
            if cursor is None:
                return out

    # ---------------------------------------------------------- list_namespaces

    def _list_namespaces_steps(self, op: ListNamespacesOp) -> Steps[list[tuple[str, ...]]]:
        conditions = op.match_conditions or ()
        # The literal head of the first prefix condition narrows the listing.
        head: tuple[str, ...] = ()
        for cond in conditions:
            if cond.match_type == "prefix":
                for label in cond.path:
                    if label == "*":
                        break
                    head += (label,)
                break
        # botstore can cut to max_depth itself unless a condition looks deeper.
        depth = None
        if op.max_depth is not None and all(
            c.match_type == "prefix" and len(c.path) <= op.max_depth for c in conditions
        ):
            depth = len(self.root) + op.max_depth
        found: set[tuple[str, ...]] = set()
        cursor: str | None = None
        while True:
            names, cursor = yield call(
                "list_namespaces", self._ns(head), max_depth=depth, limit=PAGE, cursor=cursor
            )
            for ns in names:
                labels = self._labels(ns)
                if labels and all(_namespace_matches(c, labels) for c in conditions):
                    found.add(labels if op.max_depth is None else labels[: op.max_depth])
            if cursor is None:
                break
        return sorted(found)[op.offset : op.offset + op.limit]


def _namespace_matches(cond: MatchCondition, labels: tuple[str, ...]) -> bool:
    """LangGraph's match condition: path labels equal (``"*"``: any) at the start
    (``prefix``) or the end (``suffix``)."""
    path = tuple(cond.path)
    if len(labels) < len(path):
        return False
    if cond.match_type == "prefix":
        part = labels[: len(path)]
    elif cond.match_type == "suffix":
        part = labels[len(labels) - len(path) :]
    else:
        raise ValueError(f"unsupported match type: {cond.match_type!r}")
    return all(p == "*" or p == label for p, label in zip(path, part, strict=True))


def _matches(value: Any, filter: dict[str, Any]) -> bool:
    """Whether a stored document passes a search filter (top-level keys)."""
    return isinstance(value, dict) and all(_compare(value.get(k), v) for k, v in filter.items())


def _compare(actual: Any, expected: Any) -> bool:
    """JSONB-like comparison, as LangGraph's stores do it."""
    if isinstance(expected, dict):
        if any(k.startswith("$") for k in expected):
            return all(_operator(actual, k, v) for k, v in expected.items())
        return isinstance(actual, dict) and all(_compare(actual.get(k), v) for k, v in expected.items())
    if isinstance(expected, (list, tuple)):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(_compare(a, e) for a, e in zip(actual, expected, strict=True))
        )
    return bool(actual == expected)


def _operator(actual: Any, operator: str, arg: Any) -> bool:
    if operator == "$eq":
        return bool(actual == arg)
    if operator == "$ne":
        return bool(actual != arg)
    if operator not in ("$gt", "$gte", "$lt", "$lte"):
        raise ValueError(f"unsupported filter operator: {operator!r}")
    try:
        a, b = float(actual), float(arg)
    except (TypeError, ValueError):
        return False  # a missing or non-numeric field matches no comparison
    if operator == "$gt":
        return a > b
    if operator == "$gte":
        return a >= b
    if operator == "$lt":
        return a < b
    return a <= b
