"""Bot Framework transcripts (``TranscriptLoggerMiddleware``) in botstore streams."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from botbuilder.core.transcript_logger import PagedResult, TranscriptInfo, TranscriptStore
from botbuilder.schema import Activity

from botstore import StoreBase, StreamEntry
from botstore.botbuilder._names import key_name, namespace_tuple, segment_name

if TYPE_CHECKING:
    from botstore._native import NamespaceLike

#: Activities or transcripts in one page, as in the Bot Framework's own stores.
PAGE_SIZE = 20
#: Most stream entries read at once while skipping activities older than ``start_date``.
_MAX_READ = 1000


class BotstoreTranscriptStore(TranscriptStore):
    """A :class:`botbuilder.core.TranscriptStore` kept in a botstore ``Store`` or
    ``RemoteStore``.

    A transcript is one botstore stream: namespace ``namespace + (channel id,)``, stream
    name the conversation id (both escaped so that any id works, see
    :mod:`botstore.botbuilder._names`). Each entry is one activity, as the JSON of
    ``Activity.serialize()``. Streams are append-only: a ``messageUpdate`` or
    ``messageDelete`` activity is logged after the original, as ``MemoryTranscriptStore``
    does, rather than replacing it.

    Pages hold :data:`PAGE_SIZE` items. The continuation token of
    :meth:`get_transcript_activities` is the sequence number of the page's last activity;
    that of :meth:`list_transcripts` is botstore's stream-list cursor. A page gets a
    token only when more follows.
    """

    def __init__(self, store: StoreBase, *, namespace: NamespaceLike = ("botbuilder", "transcripts")) -> None:
        self._store = store
        self._namespace = namespace_tuple(namespace)

    def _channel(self, channel_id: str) -> tuple[str, ...]:
        return (*self._namespace, segment_name(channel_id))

    async def log_activity(self, activity: Activity) -> None:
        """Append the activity to its conversation's transcript."""
        if activity is None:
            raise TypeError("activity cannot be None for log_activity()")
        if not activity.channel_id or not activity.conversation or not activity.conversation.id:
            raise TypeError("log_activity(): the activity needs a channel_id and a conversation.id")
        await self._store.aappend(
            self._channel(activity.channel_id), key_name(activity.conversation.id), [activity.serialize()]
        )

    async def get_transcript_activities(
        self,
        channel_id: str,
        conversation_id: str,
        continuation_token: str | None = None,
        start_date: datetime | None = None,
    ) -> PagedResult:
        """A page of the conversation's activities, oldest first, from ``start_date`` on
        (an activity's ``timestamp``, or when it was logged if it has none; a naive
        ``start_date`` is taken as UTC). An unknown conversation gives an empty page."""
        if not channel_id:
            raise TypeError("Missing channel_id")
        if not conversation_id:
            raise TypeError("Missing conversation_id")
        since = None if start_date is None else _aware(start_date)
        page = PagedResult()
        page.items = []
        ns, name = self._channel(channel_id), key_name(conversation_id)
        start = None if not continuation_token else _parse_seq(continuation_token) + 1
        last_seq = 0
        limit = PAGE_SIZE + 1
        while True:
            entries = await self._store.aread_stream(ns, name, start=start, limit=limit)
            for entry in entries:
                activity = Activity.deserialize(entry.json())
                if since is not None and _timestamp(activity, entry) < since:
                    continue
                if len(page.items) == PAGE_SIZE:
                    page.continuation_token = str(last_seq)
                    return page
                page.items.append(activity)
                last_seq = entry.seq
            if len(entries) < limit:
                return page
            start = entries[-1].seq + 1
            limit = min(limit * 2, _MAX_READ)

    async def list_transcripts(self, channel_id: str, continuation_token: str | None = None) -> PagedResult:
        """A page of the channel's transcripts (``TranscriptInfo``: channel id, conversation
        id, and ``created``, the first activity's time), in botstore's stream order."""
        if not channel_id:
            raise TypeError("Missing channel_id")
        ns = self._channel(channel_id)
        streams, cursor = await self._store.alist_streams(ns, limit=PAGE_SIZE, cursor=continuation_token or None)
        # Streams at every depth under the prefix are listed: keep the channel's own.
        names = [name for stream_ns, name in streams if tuple(stream_ns) == ns]
        firsts = await asyncio.gather(*(self._store.aread_stream(ns, name, limit=1) for name in names))
        page = PagedResult()
        page.items = []
        for entries in firsts:
            if entries:  # a stream trimmed to nothing has no conversation left to show
                first = Activity.deserialize(entries[0].json())
                page.items.append(TranscriptInfo(channel_id, _timestamp(first, entries[0]), first.conversation.id))
        page.continuation_token = cursor
        return page

    async def delete_transcript(self, channel_id: str, conversation_id: str) -> None:
        """Delete the conversation's transcript (no error if there is none)."""
        if not channel_id:
            raise TypeError("channel_id should not be None")
        if not conversation_id:
            raise TypeError("conversation_id should not be None")
        await self._store.adelete_stream(self._channel(channel_id), key_name(conversation_id))


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def _timestamp(activity: Activity, entry: StreamEntry) -> datetime:
    """The activity's timestamp, or the time botstore appended it when it has none."""
    if activity.timestamp is not None:
        return _aware(activity.timestamp)
    return datetime.fromtimestamp(entry.at / 1000, timezone.utc)


def _parse_seq(token: str) -> int:
    if not (token.isascii() and token.isdigit()):
        raise ValueError(f"continuation token {token!r} is not one this transcript store issued")
    return int(token)
