"""BotstoreTranscriptStore, in both modes: paging with continuation tokens, start_date,
listing, deletion, and the TranscriptLoggerMiddleware writing to it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from botbuilder.core import TranscriptLoggerMiddleware, TurnContext
from botbuilder.core.adapters import TestAdapter
from botbuilder.schema import Activity, ActivityTypes, ChannelAccount, ConversationAccount

import botstore
from botstore.botbuilder import PAGE_SIZE, BotstoreTranscriptStore

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def transcripts(store: botstore.StoreBase, root: str) -> BotstoreTranscriptStore:
    return BotstoreTranscriptStore(store, namespace=(root, "transcripts"))


def message(n: int, *, conversation: str = "conv", channel: str = "test", at: datetime | None = T0) -> Activity:
    """The n-th message of a conversation, ``n`` minutes after ``at`` (no timestamp if None)."""
    return Activity(
        type=ActivityTypes.message,
        id=f"m{n}",
        text=f"message {n}",
        channel_id=channel,
        conversation=ConversationAccount(id=conversation),
        from_property=ChannelAccount(id="user", name="User", role="user"),
        recipient=ChannelAccount(id="bot", name="Bot", role="bot"),
        timestamp=None if at is None else at + timedelta(minutes=n),
    )


async def log(transcripts: BotstoreTranscriptStore, count: int, **kwargs: object) -> None:
    for n in range(count):
        await transcripts.log_activity(message(n, **kwargs))  # type: ignore[arg-type]


async def all_pages(transcripts: BotstoreTranscriptStore, **kwargs: object) -> list[list[Activity]]:
    """Every page of get_transcript_activities, following the continuation tokens."""
    pages, token = [], None
    while True:
        page = await transcripts.get_transcript_activities("test", "conv", token, **kwargs)  # type: ignore[arg-type]
        pages.append(page.items)
        token = page.continuation_token
        if token is None:
            return pages
        assert isinstance(token, str)


async def test_pages_of_activities(transcripts: BotstoreTranscriptStore) -> None:
    await log(transcripts, 2 * PAGE_SIZE + 5)
    pages = await all_pages(transcripts)
    assert [len(p) for p in pages] == [PAGE_SIZE, PAGE_SIZE, 5]
    activities = [a for p in pages for a in p]
    assert [a.id for a in activities] == [f"m{n}" for n in range(2 * PAGE_SIZE + 5)]
    first = activities[0]
    assert (first.text, first.from_property.id, first.recipient.name) == ("message 0", "user", "Bot")
    assert (first.channel_id, first.conversation.id, first.timestamp) == ("test", "conv", T0)


async def test_a_full_last_page_has_no_token(transcripts: BotstoreTranscriptStore) -> None:
    await log(transcripts, PAGE_SIZE)
    assert [len(p) for p in await all_pages(transcripts)] == [PAGE_SIZE]


async def test_unknown_conversation_is_an_empty_page(transcripts: BotstoreTranscriptStore) -> None:
    page = await transcripts.get_transcript_activities("test", "nobody")
    assert (page.items, page.continuation_token) == ([], None)


async def test_a_foreign_token_is_refused(transcripts: BotstoreTranscriptStore) -> None:
    with pytest.raises(ValueError):
        await transcripts.get_transcript_activities("test", "conv", "m19")


async def test_start_date(transcripts: BotstoreTranscriptStore) -> None:
    await log(transcripts, 60)
    pages = await all_pages(transcripts, start_date=T0 + timedelta(minutes=15))
    assert [len(p) for p in pages] == [PAGE_SIZE, PAGE_SIZE, 5]
    assert [a.id for p in pages for a in p] == [f"m{n}" for n in range(15, 60)]
    # A naive start_date is taken as UTC.
    naive = (T0 + timedelta(minutes=58)).replace(tzinfo=None)
    assert [a.id for p in await all_pages(transcripts, start_date=naive) for a in p] == ["m58", "m59"]
    assert await all_pages(transcripts, start_date=T0 + timedelta(days=1)) == [[]]
    assert len((await all_pages(transcripts, start_date=datetime.min))[0]) == PAGE_SIZE


async def test_start_date_skips_older_activities_between_newer_ones(transcripts: BotstoreTranscriptStore) -> None:
    """Timestamps come from the channels and need not grow with the log order."""
    for n in range(30):
        await transcripts.log_activity(message(n if n % 2 else -100 - n))
    pages = await all_pages(transcripts, start_date=T0)
    assert [a.id for p in pages for a in p] == [f"m{n}" for n in range(1, 30, 2)]


async def test_activities_without_timestamp_use_the_time_they_were_logged(
    transcripts: BotstoreTranscriptStore,
) -> None:
    before = datetime.now(timezone.utc) - timedelta(seconds=5)
    await log(transcripts, 3, at=None)
    assert len((await all_pages(transcripts, start_date=before))[0]) == 3
    assert await all_pages(transcripts, start_date=datetime.now(timezone.utc) + timedelta(minutes=5)) == [[]]


async def test_list_transcripts(transcripts: BotstoreTranscriptStore) -> None:
    conversations = [f"conv-{n:02}" for n in range(PAGE_SIZE + 3)]
    for n, conversation in enumerate(conversations):
        await transcripts.log_activity(message(n, conversation=conversation))
        await transcripts.log_activity(message(n + 100, conversation=conversation))
    await transcripts.log_activity(message(0, conversation="elsewhere", channel="other"))

    infos, token = [], None
    while True:
        page = await transcripts.list_transcripts("test", token)
        infos += page.items
        token = page.continuation_token
        if token is None:
            break
    assert len(infos) == PAGE_SIZE + 3
    assert sorted(i.id for i in infos) == conversations
    assert all(i.channel_id == "test" for i in infos)
    assert {i.id: i.created for i in infos} == {c: T0 + timedelta(minutes=n) for n, c in enumerate(conversations)}

    first = await transcripts.list_transcripts("test")
    assert len(first.items) == PAGE_SIZE and first.continuation_token is not None
    assert [i.id for i in (await transcripts.list_transcripts("other")).items] == ["elsewhere"]
    assert (await transcripts.list_transcripts("nowhere")).items == []


async def test_any_channel_and_conversation_id(transcripts: BotstoreTranscriptStore) -> None:
    ids = [("a/b", "x/y"), ("a", "b/x/y"), ("..", "."), ("%", "%25"), ("c" * 300, "d" * 3000), ("日本", "19:abc@thread.v2\n")]
    for n, (channel, conversation) in enumerate(ids):
        await transcripts.log_activity(message(n, channel=channel, conversation=conversation))
    for n, (channel, conversation) in enumerate(ids):
        page = await transcripts.get_transcript_activities(channel, conversation)
        assert [a.id for a in page.items] == [f"m{n}"]
        assert [i.id for i in (await transcripts.list_transcripts(channel)).items] == [conversation]


async def test_delete_transcript(transcripts: BotstoreTranscriptStore) -> None:
    await log(transcripts, 3, conversation="gone")
    await log(transcripts, 2, conversation="kept")
    await transcripts.delete_transcript("test", "gone")
    await transcripts.delete_transcript("test", "never-logged")
    assert (await transcripts.get_transcript_activities("test", "gone")).items == []
    assert len((await transcripts.get_transcript_activities("test", "kept")).items) == 2
    assert [i.id for i in (await transcripts.list_transcripts("test")).items] == ["kept"]
    # A deleted conversation starts again from nothing.
    await log(transcripts, 1, conversation="gone")
    assert [a.id for a in (await transcripts.get_transcript_activities("test", "gone")).items] == ["m0"]


async def test_missing_arguments(transcripts: BotstoreTranscriptStore) -> None:
    with pytest.raises(TypeError):
        await transcripts.log_activity(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        await transcripts.log_activity(Activity(type=ActivityTypes.message, channel_id="test"))
    with pytest.raises(TypeError):
        await transcripts.get_transcript_activities("", "conv")
    with pytest.raises(TypeError):
        await transcripts.list_transcripts("")
    with pytest.raises(TypeError):
        await transcripts.delete_transcript("test", "")


async def test_transcript_logger_middleware(transcripts: BotstoreTranscriptStore) -> None:
    async def echo(context: TurnContext) -> None:
        await context.send_activity(f"echo: {context.activity.text}")

    adapter = TestAdapter(echo)
    adapter.use(TranscriptLoggerMiddleware(transcripts))
    flow = await adapter.send("hello")
    flow = await flow.assert_reply("echo: hello")
    await (await flow.send("bye")).assert_reply("echo: bye")

    conversation = adapter.template.conversation.id
    page = await transcripts.get_transcript_activities(adapter.template.channel_id, conversation)
    assert [(a.from_property.id, a.text) for a in page.items] == [
        ("User1", "hello"),
        ("bot", "echo: hello"),
        ("User1", "bye"),
        ("bot", "echo: bye"),
    ]
    listed = await transcripts.list_transcripts(adapter.template.channel_id)
    assert [i.id for i in listed.items] == [conversation]
