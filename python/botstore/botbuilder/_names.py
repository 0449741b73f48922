"""Turning Bot Framework ids into botstore names.

Bot Framework storage keys, channel ids and conversation ids are arbitrary strings;
botstore keys and stream names are 1..1024 UTF-8 bytes without control characters and
not ``.`` / ``..``, and namespace segments are 1..128 bytes without ``/`` as well. The
mapping here is injective, so two ids never share a botstore name:

* ``%`` and every character botstore refuses become the ``%XX`` of their UTF-8 bytes
  (``%25``, ``%2F``, ``%0A``; :mod:`botstore._names`); every other character, non-ASCII
  included, stays as it is;
* ``.`` and ``..`` become ``%2E`` and ``%2E%2E``; the empty string becomes a lone ``%``;
* a name still too long keeps a prefix and ends in ``%H`` and the SHA-256 of the id
  (``%H`` never appears otherwise, as an escape is always followed by hex digits).

Names are only ever computed from ids, never parsed back: the ids a caller needs back
(a transcript's conversation id) are read from the stored data itself.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

from botstore._names import MAX_KEY_BYTES, MAX_SEGMENT_BYTES, escape, unsafe, whole

#: Bytes in a botstore key or stream name.
MAX_NAME_BYTES = MAX_KEY_BYTES

_NAME_UNSAFE = unsafe("")
_SEGMENT_UNSAFE = unsafe("/")


def _escape(text: str, pattern: re.Pattern[str], max_bytes: int) -> str:
    out = whole(escape(text, pattern))
    encoded = out.encode("utf-8")
    if len(encoded) <= max_bytes:
        return out
    digest = "%H" + hashlib.sha256(text.encode("utf-8")).hexdigest()
    head = encoded[: max_bytes - len(digest)].decode("utf-8", errors="ignore")
    return head + digest


def key_name(text: str) -> str:
    """A botstore key or stream name for ``text`` (``/`` is allowed there and kept)."""
    return _escape(text, _NAME_UNSAFE, MAX_NAME_BYTES)


def segment_name(text: str) -> str:
    """A botstore namespace segment for ``text`` (``/`` is escaped)."""
    return _escape(text, _SEGMENT_UNSAFE, MAX_SEGMENT_BYTES)


def namespace_tuple(namespace: str | Sequence[str]) -> tuple[str, ...]:
    """A namespace given as ``"a/b"`` or as segments, as a tuple of segments."""
    if isinstance(namespace, str):
        return tuple(namespace.split("/"))
    return tuple(namespace)
