"""How LangGraph's free-form names become botstore namespace segments and keys.

botstore refuses segments with ``/``, control characters, ``.``/``..``, empty ones and
ones over 128 bytes; keys with control characters, ``.``/``..``, empty ones and ones over
1024 bytes. LangGraph's thread ids, checkpoint namespaces, task ids, store labels and
store keys are arbitrary strings, so they are percent-escaped (``%`` itself, the
forbidden characters, and ``#`` where it separates key parts).

Two families:

* one-way names (:func:`thread_segment`, :func:`key_part`), used by the checkpointer,
  which keeps the real strings inside the stored values: injective, and hashed when too
  long, so no thread id or namespace is ever refused;
* reversible names (:func:`label_to_segment`/:func:`segment_to_label`,
  :func:`encode_key`/:func:`decode_key`), used by the store, whose items must read back
  as the namespace and key they were written with.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from urllib.parse import unquote

from botstore._names import MAX_SEGMENT_BYTES, escape, unsafe, whole

_SEGMENT_UNSAFE = unsafe("/")
_KEY_UNSAFE = unsafe("")
_PART_UNSAFE = unsafe("#")

#: Longest escaped key part kept as is; longer ones are hashed so that a key made of a
#: namespace part, a checkpoint id and a task id stays under botstore's 1024 bytes.
MAX_PART_BYTES = 256


def _hashed(s: str) -> str:
    # "%h" never comes out of escaping ("%" is always followed by two hex digits).
    return "%h" + hashlib.sha256(s.encode()).hexdigest()


@lru_cache(maxsize=65536)
def thread_segment(thread_id: str) -> str:
    """The namespace segment of a checkpointer thread (one-way, never refused)."""
    seg = whole(escape(thread_id, _SEGMENT_UNSAFE))
    if len(seg.encode()) > MAX_SEGMENT_BYTES:
        return _hashed(thread_id)
    return seg


@lru_cache(maxsize=65536)
def key_part(s: str) -> str:
    """A checkpoint namespace or task id as part of a key: without ``#`` (the separator
    that follows it), one-way, hashed when long. ``""`` stays ``""``."""
    part = escape(s, _PART_UNSAFE)
    if len(part.encode()) > MAX_PART_BYTES:
        return _hashed(s)
    return part


def label_to_segment(label: str) -> str:
    """A store namespace label as a segment (reversible). LangGraph's own validation
    already refuses empty labels and labels with ``.``."""
    return escape(label, _SEGMENT_UNSAFE)


def segment_to_label(segment: str) -> str:
    """Inverse of :func:`label_to_segment`."""
    return unquote(segment) if "%" in segment else segment


def encode_key(key: str) -> str:
    """A store key as a botstore key (reversible)."""
    return whole(escape(key, _KEY_UNSAFE))


def decode_key(key: str) -> str:
    """Inverse of :func:`encode_key`."""
    if "%" not in key:
        return key
    return "" if key == "%" else unquote(key)
