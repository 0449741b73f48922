"""Type stubs for the native module (Rust, PyO3). Import from ``botstore``, not from here."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Sequence
from typing import Any, Literal

#: A namespace: ``"tenant-a/users/u42"`` or ``("tenant-a", "users", "u42")``. Segments are
#: non-empty, without ``/`` or control characters, and not ``.`` or ``..``.
NamespaceLike = str | Sequence[str]

#: A value to write. ``bytes`` are stored as they are (``content_type`` defaults to
#: ``application/octet-stream``); anything else is stored as JSON (``json.dumps``) with
#: the content type ``application/json``.
ValueLike = bytes | bytearray | memoryview | Any

class Item:
    """An item as read: its value with metadata. ``version`` is the ETag: it grows with
    every write to the store and is unique across it."""

    @property
    def namespace(self) -> tuple[str, ...]: ...
    @property
    def key(self) -> str: ...
    @property
    def value(self) -> bytes: ...
    @property
    def content_type(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def created_at(self) -> int:
        """Milliseconds since the Unix epoch."""
    @property
    def updated_at(self) -> int: ...
    @property
    def expires_at(self) -> int | None: ...
    def json(self) -> Any:
        """The value parsed as JSON; :class:`InvalidInput` when it is not JSON."""

class Page:
    """A page of a scan; pass ``cursor`` to the next call (``None``: nothing more)."""

    @property
    def items(self) -> list[Item]: ...
    @property
    def cursor(self) -> str | None: ...

class StreamEntry:
    @property
    def seq(self) -> int:
        """Sequence number, from 1, gap-free, never reused."""
    @property
    def at(self) -> int:
        """Append time, milliseconds since the Unix epoch."""
    @property
    def value(self) -> bytes: ...
    @property
    def content_type(self) -> str: ...
    def json(self) -> Any: ...

class StreamInfo:
    @property
    def len(self) -> int: ...
    @property
    def first_seq(self) -> int: ...
    @property
    def last_seq(self) -> int: ...
    @property
    def bytes(self) -> int: ...

class Lease:
    """``holder`` has the lease ``(namespace, name)`` until ``expires_at`` (ms since the
    epoch). ``token`` grows with every acquire: pass the lease as ``fence=`` to a write
    and the write fails with :class:`StaleFence` once someone else has acquired it."""

    @property
    def namespace(self) -> tuple[str, ...]: ...
    @property
    def name(self) -> str: ...
    @property
    def holder(self) -> str: ...
    @property
    def token(self) -> int: ...
    @property
    def expires_at(self) -> int: ...

class Put:
    """A put in a :meth:`StoreBase.batch`."""

    def __init__(
        self,
        ns: NamespaceLike,
        key: str,
        value: ValueLike,
        *,
        content_type: str | None = None,
        if_version: int | None = None,
        if_absent: bool = False,
        ttl: float | Literal["never"] | None = None,
        fence: Lease | None = None,
    ) -> None: ...

class Delete:
    """A delete in a :meth:`StoreBase.batch`."""

    def __init__(
        self, ns: NamespaceLike, key: str, *, if_version: int | None = None, fence: Lease | None = None
    ) -> None: ...

class StoreBase:
    """The operations both stores have. Every method has an ``a``-prefixed asyncio twin
    (``get`` / ``aget``) that returns an awaitable (an ``asyncio.Future`` of the running
    loop, or an already finished one; wrap it in ``asyncio.ensure_future`` to make a
    task). The operation starts when the method is called. The blocking methods
    release the GIL while they wait.

    Writes are durable when they return (with ``durability="immediate"``, the default of
    an embedded store); a failed write changed nothing.
    """

    def get(self, ns: NamespaceLike, key: str) -> Item | None: ...
    def get_many(self, keys: Sequence[tuple[NamespaceLike, str]]) -> list[Item | None]: ...
    def put(
        self,
        ns: NamespaceLike,
        key: str,
        value: ValueLike,
        *,
        content_type: str | None = None,
        if_version: int | None = None,
        if_absent: bool = False,
        ttl: float | Literal["never"] | None = None,
        fence: Lease | None = None,
    ) -> int:
        """Write an item; returns its new version. ``if_version``: only if the item has
        exactly that version; ``if_absent``: only if there is no item (else
        :class:`PreconditionFailed`, carrying the current version). ``ttl``: seconds
        until it expires, ``"never"`` (whatever the namespace's default), or ``None``
        (the namespace's default TTL, if any)."""
    def delete(
        self, ns: NamespaceLike, key: str, *, if_version: int | None = None, fence: Lease | None = None
    ) -> bool:
        """Delete an item; ``False`` when there was none."""
    def touch(
        self,
        ns: NamespaceLike,
        key: str,
        *,
        ttl: float | Literal["never"] | None = None,
        fence: Lease | None = None,
    ) -> int:
        """Renew an item's TTL (seconds from now; ``"never"``; ``None``: the namespace
        default) without sending its value again. The version stays the same, so keeping an
        item alive never breaks a writer's ``if_version``. Returns the version;
        :class:`NotFound` when the item does not exist or has expired."""
    def patch(
        self,
        ns: NamespaceLike,
        key: str,
        *,
        merge: Any = None,
        ops: list[dict[str, Any]] | None = None,
        if_version: int | None = None,
        fence: Lease | None = None,
    ) -> int:
        """Change a JSON item inside the store, atomically: ``merge`` is an RFC 7396 merge
        patch (a missing item starts as ``{}``), ``ops`` an RFC 6902 JSON Patch (``test``
        included; a missing item is :class:`NotFound`). Returns the new version;
        :class:`PatchFailed` when an op does not apply (nothing written)."""
    def acquire_lease(self, ns: NamespaceLike, name: str, holder: str, ttl: float) -> Lease:
        """Take the lease ``(ns, name)`` for ``ttl`` seconds, or renew it if ``holder``
        has it; :class:`LeaseHeld` while another holder has it."""
    def renew_lease(self, lease: Lease, ttl: float) -> Lease:
        """Extend a lease you hold; :class:`StaleFence` if it was taken since."""
    def release_lease(self, lease: Lease) -> None: ...
    def get_lease(self, ns: NamespaceLike, name: str) -> Lease | None:
        """The current (unexpired) lease, if any."""
    def scan(
        self,
        ns: NamespaceLike,
        *,
        prefix: str | None = None,
        start: str | None = None,
        end: str | None = None,
        recursive: bool = False,
        cursor: str | None = None,
        limit: int = 1000,
    ) -> Page:
        """Items of ``ns`` in key order (byte order of the UTF-8 key): keys starting with
        ``prefix``, ``>= start``, ``< end``; ``recursive`` scans every namespace under
        ``ns`` too (key filters not allowed then)."""
    def list_namespaces(
        self,
        prefix: NamespaceLike = (),
        *,
        max_depth: int | None = None,
        limit: int = 1000,
        cursor: str | None = None,
    ) -> tuple[list[tuple[str, ...]], str | None]: ...
    def batch(self, ops: Sequence[Put | Delete], *, atomic: bool = True) -> list[int | bool | Exception]:
        """Several writes. ``atomic``: all or none in one commit; the first failure is
        raised. Otherwise each applies on its own and a failure is returned in its
        place. Results: a put's new version, a delete's ``existed``."""
    def append(
        self,
        ns: NamespaceLike,
        stream: str,
        values: Sequence[ValueLike],
        *,
        content_type: str | None = None,
        expected_last: int | None = None,
    ) -> tuple[int, int]:
        """Append to a stream; returns the first and last new sequence numbers."""
    def read_stream(
        self,
        ns: NamespaceLike,
        stream: str,
        *,
        start: int | None = None,
        reverse: bool = False,
        limit: int = 1000,
    ) -> list[StreamEntry]:
        """Entries from sequence ``start`` (inclusive), oldest first, or newest first
        with ``reverse``."""
    def stream_info(self, ns: NamespaceLike, stream: str) -> StreamInfo | None: ...
    def trim(
        self,
        ns: NamespaceLike,
        stream: str,
        *,
        keep_last: int | None = None,
        before: int | None = None,
    ) -> int:
        """Remove old entries (keep the last N, or remove every one below sequence
        ``before``); returns how many went."""
    def delete_stream(self, ns: NamespaceLike, stream: str) -> bool: ...
    def list_streams(
        self, prefix: NamespaceLike = (), *, limit: int = 1000, cursor: str | None = None
    ) -> tuple[list[tuple[tuple[str, ...], str]], str | None]: ...
    def set_namespace_ttl(self, prefix: NamespaceLike, ttl: float | None) -> None:
        """Default TTL (seconds) of every item written under ``prefix``; ``None`` clears it."""
    def stats(self, prefix: NamespaceLike = ()) -> dict[str, int]: ...
    def close(self) -> None:
        """Flush and close; later calls raise :class:`StorageError`."""
    def __enter__(self) -> StoreBase: ...
    def __exit__(self, *exc: object) -> None: ...

    def aget(self, ns: NamespaceLike, key: str) -> Awaitable[Item | None]: ...
    def aget_many(self, keys: Sequence[tuple[NamespaceLike, str]]) -> Awaitable[list[Item | None]]: ...
    def aput(
        self,
        ns: NamespaceLike,
        key: str,
        value: ValueLike,
        *,
        content_type: str | None = None,
        if_version: int | None = None,
        if_absent: bool = False,
        ttl: float | Literal["never"] | None = None,
        fence: Lease | None = None,
    ) -> Awaitable[int]: ...
    def adelete(
        self, ns: NamespaceLike, key: str, *, if_version: int | None = None, fence: Lease | None = None
    ) -> Awaitable[bool]: ...
    def atouch(
        self,
        ns: NamespaceLike,
        key: str,
        *,
        ttl: float | Literal["never"] | None = None,
        fence: Lease | None = None,
    ) -> Awaitable[int]: ...
    def apatch(
        self,
        ns: NamespaceLike,
        key: str,
        *,
        merge: Any = None,
        ops: list[dict[str, Any]] | None = None,
        if_version: int | None = None,
        fence: Lease | None = None,
    ) -> Awaitable[int]: ...
    def aacquire_lease(self, ns: NamespaceLike, name: str, holder: str, ttl: float) -> Awaitable[Lease]: ...
    def arenew_lease(self, lease: Lease, ttl: float) -> Awaitable[Lease]: ...
    def arelease_lease(self, lease: Lease) -> Awaitable[None]: ...
    def aget_lease(self, ns: NamespaceLike, name: str) -> Awaitable[Lease | None]: ...
    def ascan(
        self,
        ns: NamespaceLike,
        *,
        prefix: str | None = None,
        start: str | None = None,
        end: str | None = None,
        recursive: bool = False,
        cursor: str | None = None,
        limit: int = 1000,
    ) -> Awaitable[Page]: ...
    def alist_namespaces(
        self,
        prefix: NamespaceLike = (),
        *,
        max_depth: int | None = None,
        limit: int = 1000,
        cursor: str | None = None,
    ) -> Awaitable[tuple[list[tuple[str, ...]], str | None]]: ...
    def abatch(self, ops: Sequence[Put | Delete], *, atomic: bool = True) -> Awaitable[list[int | bool | Exception]]: ...
    def aappend(
        self,
        ns: NamespaceLike,
        stream: str,
        values: Sequence[ValueLike],
        *,
        content_type: str | None = None,
        expected_last: int | None = None,
    ) -> Awaitable[tuple[int, int]]: ...
    def aread_stream(
        self,
        ns: NamespaceLike,
        stream: str,
        *,
        start: int | None = None,
        reverse: bool = False,
        limit: int = 1000,
    ) -> Awaitable[list[StreamEntry]]: ...
    def astream_info(self, ns: NamespaceLike, stream: str) -> Awaitable[StreamInfo | None]: ...
    def atrim(
        self,
        ns: NamespaceLike,
        stream: str,
        *,
        keep_last: int | None = None,
        before: int | None = None,
    ) -> Awaitable[int]: ...
    def adelete_stream(self, ns: NamespaceLike, stream: str) -> Awaitable[bool]: ...
    def alist_streams(
        self, prefix: NamespaceLike = (), *, limit: int = 1000, cursor: str | None = None
    ) -> Awaitable[tuple[list[tuple[tuple[str, ...], str]], str | None]]: ...
    def aset_namespace_ttl(self, prefix: NamespaceLike, ttl: float | None) -> Awaitable[None]: ...
    def astats(self, prefix: NamespaceLike = ()) -> Awaitable[dict[str, int]]: ...

class Store(StoreBase):
    """The embedded store, in this process: the same data folder the ``botstore`` CLI and
    ``botstore serve`` use (one process at a time).

    ``durability``: ``"immediate"`` (a write returns once it is on disk; concurrent
    writes share one fsync) or ``"relaxed"`` / ``"relaxed:25ms"`` (returns at once; the
    journal is flushed within that time; a process crash loses nothing, a power loss
    at most that window)."""

    def __init__(self, path: str | os.PathLike[str] = "botstore-data", *, durability: str = "immediate") -> None: ...
    @property
    def path(self) -> str: ...

class RemoteStore(StoreBase):
    """A ``botstore serve`` over HTTP. ``token``: a bearer token (``botstore token
    create``); ``ca_cert``: a PEM file to trust for ``https://`` (else the system roots);
    ``timeout``: seconds per request."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        ca_cert: str | os.PathLike[str] | None = None,
        timeout: float = 30.0,
    ) -> None: ...
    @property
    def url(self) -> str: ...

Durability = Literal["immediate", "relaxed"]
