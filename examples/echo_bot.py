#!/usr/bin/env python3
"""A Bot Framework echo bot that keeps its state and transcripts in botstore.

The bot counts the turns of each conversation (``ConversationState``) and the messages
of each user across conversations (``UserState``), both in a :class:`BotstoreStorage`,
and logs every activity with ``TranscriptLoggerMiddleware`` to a
:class:`BotstoreTranscriptStore`. It needs no Azure and no network: botbuilder's
``TestAdapter`` plays the channel. The script

1. talks to the bot in conversation 1, then closes the store;
2. opens the store again (a restarted bot) and goes on in conversation 1 (the turn count
   goes on where it was) and starts conversation 2 (its turn count starts again, the
   user's message count does not);
3. prints the transcripts read back from botstore.

It exits with status 1 if a reply or the transcript is not what it should be.

    scripts/python-env.sh release   # or: pip install './python[botbuilder]'
    python examples/echo_bot.py               # in a temporary data folder
    python examples/echo_bot.py ./bot-data    # in a folder that stays (runs add up)

With ``botstore serve`` instead of an embedded store, pass
``botstore.RemoteStore(url, token)`` where this script opens ``botstore.Store(path)``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import uuid

from botbuilder.core import (
    ActivityHandler,
    ConversationState,
    TranscriptLoggerMiddleware,
    TurnContext,
    UserState,
)
from botbuilder.core.adapters import TestAdapter
from botbuilder.schema import Activity, ChannelAccount, ConversationAccount

import botstore
from botstore.botbuilder import BotstoreStorage, BotstoreTranscriptStore

CHANNEL = "test"


class EchoBot(ActivityHandler):
    """Echoes each message with the conversation's turn number and the user's message count."""

    def __init__(self, conversation_state: ConversationState, user_state: UserState) -> None:
        self._conversation_state = conversation_state
        self._user_state = user_state
        self._turns = conversation_state.create_property("turns")
        self._messages = user_state.create_property("messages")

    async def on_turn(self, turn_context: TurnContext) -> None:
        await super().on_turn(turn_context)
        await self._conversation_state.save_changes(turn_context)
        await self._user_state.save_changes(turn_context)

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        turns = (await self._turns.get(turn_context) or 0) + 1
        messages = (await self._messages.get(turn_context) or 0) + 1
        await self._turns.set(turn_context, turns)
        await self._messages.set(turn_context, messages)
        await turn_context.send_activity(reply_text(turns, messages, turn_context.activity.text))


def reply_text(turn: int, message: int, text: str) -> str:
    """What the bot answers on a conversation's ``turn`` to the user's ``message``-th message."""
    return f"turn {turn}, your message {message}: {text}"


async def talk(store: botstore.StoreBase, user: str, conversation: str, texts: list[str]) -> list[str]:
    """Send ``texts`` to a freshly made bot on ``store``; return its replies."""
    storage = BotstoreStorage(store)
    bot = EchoBot(ConversationState(storage), UserState(storage))
    adapter = TestAdapter(
        bot.on_turn,
        Activity(
            channel_id=CHANNEL,
            service_url="https://test.invalid",
            from_property=ChannelAccount(id=user, name="User", role="user"),
            recipient=ChannelAccount(id="echo-bot", name="Echo bot", role="bot"),
            conversation=ConversationAccount(id=conversation),
        ),
    )
    adapter.use(TranscriptLoggerMiddleware(BotstoreTranscriptStore(store)))
    replies = []
    for text in texts:
        await adapter.send(text)
        while (reply := adapter.get_next_activity()) is not None:
            replies.append(reply.text)
    return replies


async def transcript(store: botstore.StoreBase, conversation: str) -> list[Activity]:
    """Every activity of a conversation, following the continuation tokens."""
    transcripts = BotstoreTranscriptStore(store)
    activities: list[Activity] = []
    token = None
    while True:
        page = await transcripts.get_transcript_activities(CHANNEL, conversation, token)
        activities += page.items
        token = page.continuation_token
        if token is None:
            return activities


async def conversations(store: botstore.StoreBase) -> set[str]:
    """The ids of every conversation with a transcript, following the continuation tokens."""
    transcripts = BotstoreTranscriptStore(store)
    ids: set[str] = set()
    token = None
    while True:
        page = await transcripts.list_transcripts(CHANNEL, token)
        ids.update(info.id for info in page.items)
        token = page.continuation_token
        if token is None:
            return ids


def check(what: str, got: object, expected: object, failures: list[str]) -> None:
    """Print a check's outcome; remember it if it failed."""
    ok = got == expected
    print(f"  [{'ok' if ok else 'FAILED'}] {what}")
    if not ok:
        failures.append(f"{what}: got {got!r}, expected {expected!r}")


async def run(data: str) -> list[str]:
    """Run the scenario in data folder ``data``; return the failed checks."""
    failures: list[str] = []
    run_id = uuid.uuid4().hex[:8]  # runs in a kept folder do not mix their users
    user, first, second = f"user-{run_id}", f"conversation-1-{run_id}", f"conversation-2-{run_id}"

    print(f"botstore data folder: {data}")
    print("\nFirst start of the bot")
    with botstore.Store(data) as store:
        replies = await talk(store, user, first, ["hello", "how are you?"])
        for line in replies:
            print(f"  bot: {line}")
        check(
            "replies count turns from 1",
            replies,
            [reply_text(1, 1, "hello"), reply_text(2, 2, "how are you?")],
            failures,
        )

    print("\nThe store was closed; the bot starts again")
    with botstore.Store(data) as store:
        replies = await talk(store, user, first, ["still there?"])
        replies += await talk(store, user, second, ["new conversation"])
        for line in replies:
            print(f"  bot: {line}")
        check(
            "conversation 1 goes on at turn 3; conversation 2 starts at turn 1, the user's count does not",
            replies,
            [reply_text(3, 3, "still there?"), reply_text(1, 4, "new conversation")],
            failures,
        )

        print(f"\nTranscript of {first}, read back from botstore:")
        activities = await transcript(store, first)
        for activity in activities:
            print(f"  {activity.from_property.id}: {activity.text}")
        check(
            "the transcript holds every message and reply in order",
            [a.text for a in activities],
            ["hello", reply_text(1, 1, "hello"), "how are you?", reply_text(2, 2, "how are you?"),
             "still there?", reply_text(3, 3, "still there?")],
            failures,
        )
        check("both conversations are listed", {first, second} <= await conversations(store), True, failures)
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="?", help="botstore data folder (default: a temporary one)")
    args = parser.parse_args()
    if args.data:
        failures = asyncio.run(run(args.data))
    else:
        with tempfile.TemporaryDirectory(prefix="botstore-echo-bot-") as tmp:
            failures = asyncio.run(run(f"{tmp}/data"))
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    print("\nall checks passed" if not failures else f"\n{len(failures)} check(s) failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
