"""Turning Bot Framework ids into botstore names.

Bot Framework storage keys, channel ids and conversation ids are arbitrary strings;
botstore keys and stream names are 1..1024 UTF-8 bytes without control characters and
not ``.`` / ``..``, and namespace segments are 1..128 bytes without ``/`` as well. The
mapping here is injective, so two ids never share a botstore name:

* ``%`` and every character botstore refuses become ``%`` and two hex digits (``%25``,
  ``%2F``, ``%0A``); every other character, non-ASCII included, stays as it is;
* ``.`` and ``..`` become ``%2E`` and ``%2E%2E``; the empty string becomes a lone ``%``;
* a name still too long keeps a prefix and ends in ``%H`` and the SHA-256 of the id
  (``%H`` never appears otherwise, as an escape is always followed by hex digits).

Names are only ever computed from ids, never parsed back: the ids a caller needs back
(a transcript's conversation id) are read from the stored data itself.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

#: Bytes in a botstore namespace segment.
MAX_SEGMENT_BYTES = 128
#: Bytes in a botstore key or stream name.
MAX_NAME_BYTES = 1024


def _is_control(c: str) -> bool:
    """Unicode general category Cc, the characters botstore refuses (Rust ``char::is_control``)."""
    o = ord(c)
    return o < 0x20 or 0x7F <= o <= 0x9F


def _escape(text: str, reserved: str, max_bytes: int) -> str:
    if text == "":
        return "%"
    if text in (".", ".."):
        return text.replace(".", "%2E")
    out = "".join(f"%{ord(c):02X}" if c in reserved or _is_control(c) else c for c in text)
    encoded = out.encode("utf-8")
    if len(encoded) <= max_bytes:
        return out
    digest = "%H" + hashlib.sha256(text.encode("utf-8")).hexdigest()
    head = encoded[: max_bytes - len(digest)].decode("utf-8", errors="ignore")
    return head + digest


def key_name(text: str) -> str:
    """A botstore key or stream name for ``text`` (``/`` is allowed there and kept)."""
    return _escape(text, "%", MAX_NAME_BYTES)


def segment_name(text: str) -> str:
    """A botstore namespace segment for ``text`` (``/`` is escaped)."""
    return _escape(text, "%/", MAX_SEGMENT_BYTES)


def namespace_tuple(namespace: str | Sequence[str]) -> tuple[str, ...]:
    """A namespace given as ``"a/b"`` or as segments, as a tuple of segments."""
    if isinstance(namespace, str):
        return tuple(namespace.split("/"))
    return tuple(namespace)
