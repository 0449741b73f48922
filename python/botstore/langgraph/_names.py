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
import re
from functools import lru_cache
from urllib.parse import unquote

#: Unicode category Cc: what botstore calls a control character.
_CONTROL = "\x00-\x1f\x7f-\x9f"
_SEGMENT_UNSAFE = re.compile(f"[%/{_CONTROL}]")
_KEY_UNSAFE = re.compile(f"[%{_CONTROL}]")
_PART_UNSAFE = re.compile(f"[%#{_CONTROL}]")

#: botstore's limit on a namespace segment, in UTF-8 bytes.
MAX_SEGMENT_BYTES = 128
#: Longest escaped key part kept as is; longer ones are hashed so that a key made of a
#: namespace part, a checkpoint id and a task id stays under botstore's 1024 bytes.
MAX_PART_BYTES = 256


def _percent(m: re.Match[str]) -> str:
    return "".join(f"%{b:02X}" for b in m.group().encode())


def _hashed(s: str) -> str:
    # "%h" never comes out of escaping ("%" is always followed by two hex digits).
    return "%h" + hashlib.sha256(s.encode()).hexdigest()


@lru_cache(maxsize=65536)
def thread_segment(thread_id: str) -> str:
    """The namespace segment of a checkpointer thread (one-way, never refused)."""
    seg = _SEGMENT_UNSAFE.sub(_percent, thread_id)
    if not seg:
        return "%"
    if seg == "." or seg == "..":
        return seg.replace(".", "%2E")
    if len(seg.encode()) > MAX_SEGMENT_BYTES:
        return _hashed(thread_id)
    return seg


@lru_cache(maxsize=65536)
def key_part(s: str) -> str:
    """A checkpoint namespace or task id as part of a key: without ``#`` (the separator
    that follows it), one-way, hashed when long. ``""`` stays ``""``."""
    part = _PART_UNSAFE.sub(_percent, s)
    if len(part.encode()) > MAX_PART_BYTES:
        return _hashed(s)
    return part


def label_to_segment(label: str) -> str:
    """A store namespace label as a segment (reversible). LangGraph's own validation
    already refuses empty labels and labels with ``.``."""
    return _SEGMENT_UNSAFE.sub(_percent, label)


def segment_to_label(segment: str) -> str:
    """Inverse of :func:`label_to_segment`."""
    return unquote(segment) if "%" in segment else segment


def encode_key(key: str) -> str:
    """A store key as a botstore key (reversible)."""
    if not key:
        return "%"
    if key == "." or key == "..":
        return key.replace(".", "%2E")
    return _KEY_UNSAFE.sub(_percent, key)


def decode_key(key: str) -> str:
    """Inverse of :func:`encode_key`."""
    if "%" not in key:
        return key
    return "" if key == "%" else unquote(key)
