"""The escaping of Bot Framework ids into botstore keys, stream names and segments."""

from __future__ import annotations

import pytest

from botstore.botbuilder._names import (
    MAX_NAME_BYTES,
    MAX_SEGMENT_BYTES,
    key_name,
    namespace_tuple,
    segment_name,
)

AWKWARD = [
    "",
    ".",
    "..",
    "...",
    "%",
    "%25",
    "%2E",
    "%H",
    "a/b",
    "/",
    "tab\there",
    "new\nline",
    "\x7f\x85",
    "ünï/cödé 日本",
    '!@#$%^&*()_+??><":QASD~`',
    "k" * 2000,
    "k" * 2000 + "x",
    "é" * 700,
    "19:meeting_abc@thread.v2;messageid=1234567890",
]


def _valid(name: str, max_bytes: int, slash_ok: bool) -> bool:
    """The rules botstore applies to names (crates/botstore/src/limits.rs)."""
    control = any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in name)
    return (
        0 < len(name.encode()) <= max_bytes
        and name not in (".", "..")
        and not control
        and (slash_ok or "/" not in name)
    )


@pytest.mark.parametrize(
    ("escape", "max_bytes", "slash_ok"),
    [(key_name, MAX_NAME_BYTES, True), (segment_name, MAX_SEGMENT_BYTES, False)],
)
def test_every_id_gets_a_distinct_valid_name(escape, max_bytes: int, slash_ok: bool) -> None:
    names = [escape(text) for text in AWKWARD]
    for text, name in zip(AWKWARD, names):
        assert _valid(name, max_bytes, slash_ok), (text, name)
    assert len(set(names)) == len(names)


def test_ordinary_ids_are_kept_as_they_are() -> None:
    for text in ["createPoco", "test/conversations/Convo1/", "msteams", "日本", "a:b;c@d"]:
        assert key_name(text) == text
    assert segment_name("msteams") == "msteams"
    assert segment_name("a/b") == "a%2Fb"
    assert key_name("100%") == "100%25"
    assert key_name("") == "%"
    assert key_name("..") == "%2E%2E"


def test_long_ids_are_cut_and_hashed() -> None:
    long_key = key_name("k" * 2000)
    assert len(long_key.encode()) == MAX_NAME_BYTES
    assert long_key.startswith("k" * 100)
    assert "%H" in long_key
    # The cut falls between characters: 62 bytes of room hold 31 two-byte characters.
    assert segment_name("é" * 100).startswith("é" * 31 + "%H")


def test_namespace_tuple() -> None:
    assert namespace_tuple("a/b") == ("a", "b")
    assert namespace_tuple(["a", "b"]) == ("a", "b")
    assert namespace_tuple(("bot",)) == ("bot",)
