"""botstore: storage for chatbots and AI agents.

``Store`` is the embedded engine, in this process (a data folder); ``RemoteStore`` talks
to ``botstore serve`` over HTTP. Both have the same methods (``StoreBase``), each as a
blocking call that releases the GIL and as an ``a``-prefixed coroutine for asyncio.

Adapters: :mod:`botstore.langgraph` (checkpointer and store) and
:mod:`botstore.botbuilder` (Bot Framework storage and transcripts).
"""

from botstore._native import (
    Delete,
    Item,
    Lease,
    Page,
    Put,
    RemoteStore,
    Store,
    StoreBase,
    StreamEntry,
    StreamInfo,
)
from botstore.errors import (
    BotstoreError,
    Conflict,
    InvalidInput,
    LeaseHeld,
    NotFound,
    PatchFailed,
    PreconditionFailed,
    RemoteError,
    SequenceMismatch,
    StaleFence,
    StorageError,
    TransportError,
)

__all__ = [
    "Store",
    "RemoteStore",
    "StoreBase",
    "Item",
    "Lease",
    "Page",
    "Put",
    "Delete",
    "StreamEntry",
    "StreamInfo",
    "BotstoreError",
    "Conflict",
    "InvalidInput",
    "LeaseHeld",
    "NotFound",
    "PatchFailed",
    "PreconditionFailed",
    "RemoteError",
    "SequenceMismatch",
    "StaleFence",
    "StorageError",
    "TransportError",
]
