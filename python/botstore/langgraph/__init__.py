"""LangGraph on botstore: a checkpointer and a long-term memory store.

* :class:`BotstoreSaver`: a ``BaseCheckpointSaver`` (short-term memory: thread state,
  time travel, interrupts), sync and async, with ``copy_thread``, ``delete_for_runs``
  and ``prune``.
* :class:`BotstoreStore`: a ``BaseStore`` (long-term memory: namespaced JSON documents
  with filters and TTLs).

Both work on an embedded :class:`botstore.Store` or a :class:`botstore.RemoteStore`::

    import botstore
    from botstore.langgraph import BotstoreSaver, BotstoreStore

    db = botstore.Store("data")
    graph = builder.compile(checkpointer=BotstoreSaver(db), store=BotstoreStore(db))

Needs the ``langgraph`` extra (in ``python/`` of a checkout: ``pip install '.[langgraph]'``).
"""

from botstore.langgraph.checkpoint import BotstoreSaver
from botstore.langgraph.store import BotstoreStore

__all__ = ["BotstoreSaver", "BotstoreStore"]
