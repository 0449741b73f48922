"""Free-form strings (thread ids, conversation ids, storage keys) as botstore names.

botstore refuses namespace segments with ``/``, control characters (Unicode category
Cc), ``.``/``..``, empty ones and ones over 128 bytes, and keys with control characters,
``.``/``..``, empty ones and ones over 1024 bytes. The adapters percent-escape ``%``,
those characters and any separator of their own (each as the ``%XX`` of its UTF-8
bytes, so ``urllib.parse.unquote`` inverts it); what to do with a name still too long
is each adapter's choice.
"""

from __future__ import annotations

import re

#: botstore's limit on a namespace segment, in UTF-8 bytes.
MAX_SEGMENT_BYTES = 128
#: botstore's limit on a key or stream name, in UTF-8 bytes.
MAX_KEY_BYTES = 1024

#: Unicode category Cc: what botstore calls a control character.
_CONTROL = "\x00-\x1f\x7f-\x9f"


def unsafe(reserved: str) -> re.Pattern[str]:
    """The characters to escape: ``%``, the control characters and ``reserved``."""
    return re.compile(f"[%{re.escape(reserved)}{_CONTROL}]")


def _percent(m: re.Match[str]) -> str:
    return "".join(f"%{b:02X}" for b in m.group().encode())


def escape(text: str, pattern: re.Pattern[str]) -> str:
    """``text`` with every character ``pattern`` matches as ``%XX``."""
    return pattern.sub(_percent, text)


def whole(escaped: str) -> str:
    """An escaped string as a whole segment or key: ``""`` becomes a lone ``%`` and
    ``.``/``..`` become ``%2E``/``%2E%2E`` (forms escaping never produces)."""
    if not escaped:
        return "%"
    if escaped in (".", ".."):
        return escaped.replace(".", "%2E")
    return escaped
