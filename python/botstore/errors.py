"""The exceptions botstore raises. They mirror the core's errors (``botstore::Error``), so
an embedded :class:`~botstore.Store` and a :class:`~botstore.RemoteStore` fail the same way.

Every exception is a :class:`BotstoreError`. A failed write changed nothing.
"""

from __future__ import annotations


class BotstoreError(Exception):
    """Base class of every botstore error."""


class NotFound(BotstoreError, LookupError):
    """The item, stream or lease does not exist (or has expired)."""


class InvalidInput(BotstoreError, ValueError):
    """The input broke a rule (``rule``: a stable name such as ``key.characters``);
    nothing was written."""

    def __init__(self, message: str, rule: str = "", detail: str = "") -> None:
        super().__init__(message)
        self.rule = rule
        self.detail = detail


class Conflict(BotstoreError):
    """A condition the write depended on did not hold; nothing was written."""


class PreconditionFailed(Conflict):
    """A write's ``if_version`` / ``if_absent`` did not hold. ``current`` is the item's
    current version, or ``None`` when the item does not exist."""

    def __init__(self, message: str, current: int | None = None) -> None:
        super().__init__(message)
        self.current = current


class SequenceMismatch(Conflict):
    """A stream append's ``expected_last`` was not the stream's last sequence."""

    def __init__(self, message: str, expected: int = 0, current: int = 0) -> None:
        super().__init__(message)
        self.expected = expected
        self.current = current


class LeaseHeld(Conflict):
    """Another holder has the lease and it has not expired."""

    def __init__(self, message: str, holder: str = "", expires_at: int = 0) -> None:
        super().__init__(message)
        self.holder = holder
        self.expires_at = expires_at


class StaleFence(Conflict):
    """A write presented a fencing token that is no longer the lease's current one."""

    def __init__(self, message: str, presented: int = 0, current: int | None = None) -> None:
        super().__init__(message)
        self.presented = presented
        self.current = current


class PatchFailed(BotstoreError):
    """A JSON Patch failed (a ``test`` did not match, a path is missing) or the target
    is not JSON."""


class StorageError(BotstoreError, OSError):
    """The storage engine or the disk failed, or stored bytes do not decode."""


class RemoteError(BotstoreError):
    """The server refused the request itself (``status``: 401, 403, 413, 429, 503, ...),
    not because of the data; ``problem_type`` is the RFC 9457 problem type."""

    def __init__(self, message: str, status: int = 0, problem_type: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.problem_type = problem_type


class TransportError(BotstoreError, ConnectionError):
    """The server could not be reached, or answered something that is not botstore."""


__all__ = [
    "BotstoreError",
    "NotFound",
    "InvalidInput",
    "Conflict",
    "PreconditionFailed",
    "SequenceMismatch",
    "LeaseHeld",
    "StaleFence",
    "PatchFailed",
    "StorageError",
    "RemoteError",
    "TransportError",
]
