#!/usr/bin/env python3
"""A LangGraph conversation that survives a crash, its state kept in botstore.

A small deterministic chat graph (no model, no API key) is compiled with
:class:`botstore.langgraph.BotstoreSaver` on an embedded :class:`botstore.Store`. The
script runs the conversation in two processes on the same data folder:

1. the first process has two turns, then dies (``os._exit``, no cleanup) while the bot
   is answering the third ("What is my name?");
2. a second process opens the folder, finds the conversation stopped before the bot's
   answer, resumes it (``graph.invoke(None, config)``: LangGraph reruns the interrupted
   step from the last checkpoint), and goes on with two more turns. The bot still knows
   the name it was told before the crash.

It prints the transcript and exits with status 1 if the conversation did not continue
exactly as it should.

    scripts/python-env.sh release   # or: pip install './python[langgraph]' langgraph
    python examples/langgraph_restart.py               # in a temporary folder, removed after
    python examples/langgraph_restart.py ./lg-data     # in a folder that stays
    botstore --data ./lg-data ns langgraph             # its threads, with the CLI

With ``botstore serve``, pass ``botstore.RemoteStore(url, token)`` where this script
opens ``botstore.Store(path)``.
"""

from __future__ import annotations

import argparse
import operator
import os
import re
import subprocess
import sys
import tempfile
import uuid
from typing import Annotated, Any, TypedDict

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from typing_extensions import NotRequired

import botstore
from botstore.langgraph import BotstoreSaver

TURNS = [
    "Hi!",
    "My name is Ada.",
    "What is my name?",  # the first process dies while the bot answers this one
    "How many messages have I sent?",
    "What is my name?",
]
EXPECTED = [
    "user: Hi!",
    "bot: You have sent me 1 message so far.",
    "user: My name is Ada.",
    "bot: Nice to meet you, Ada.",
    "user: What is my name?",
    "bot: Your name is Ada.",
    "user: How many messages have I sent?",
    "bot: You have sent me 4 messages so far.",
    "user: What is my name?",
    "bot: Your name is Ada.",
]
CRASH_TURN = 2
CRASH_STATUS = 75


class Chat(TypedDict):
    messages: Annotated[list[str], operator.add]
    name: NotRequired[str]


def make_bot(crash: bool) -> Any:
    """The graph's only node: a deterministic reply to the last user message. With
    ``crash``, it kills the process when asked the crash turn."""

    def bot(state: Chat) -> dict[str, Any]:
        text = state["messages"][-1].removeprefix("user: ")
        sent = sum(m.startswith("user: ") for m in state["messages"])
        if crash and sent == CRASH_TURN + 1:
            print(f"  ... the bot is thinking about {text!r} when the process dies")
            sys.stdout.flush()
            os._exit(CRASH_STATUS)  # no cleanup at all, like a kill -9
        if m := re.fullmatch(r"my name is (\w+)\.?", text, re.IGNORECASE):
            return {"name": m[1], "messages": [f"bot: Nice to meet you, {m[1]}."]}
        if text.lower().startswith("what is my name"):
            name = state.get("name")
            return {"messages": [f"bot: Your name is {name}." if name else "bot: I don't know yet."]}
        return {"messages": [f"bot: You have sent me {sent} message{'s' * (sent != 1)} so far."]}

    return bot


def build(saver: BotstoreSaver, *, crash: bool) -> Any:
    builder = StateGraph(Chat)
    builder.add_node("bot", make_bot(crash))
    builder.add_edge(START, "bot")
    builder.add_edge("bot", END)
    return builder.compile(checkpointer=saver)


def say(graph: Any, config: RunnableConfig, text: str) -> None:
    print(f"  user: {text}")
    # durability="sync": each checkpoint is in botstore before the next step runs.
    out = graph.invoke({"messages": [f"user: {text}"]}, config, durability="sync")
    print(f"  {out['messages'][-1]}")


def before_crash(data: str, thread: str) -> None:
    """First process: two turns, then die in the middle of the third."""
    db = botstore.Store(data)
    graph = build(BotstoreSaver(db), crash=True)
    config: RunnableConfig = {"configurable": {"thread_id": thread}}
    for text in TURNS[: CRASH_TURN + 1]:
        say(graph, config, text)
    raise AssertionError("the bot should have crashed")


def after_crash(data: str, thread: str) -> int:
    """Second process: resume the interrupted turn, go on, check the transcript."""
    with botstore.Store(data) as db:
        graph = build(BotstoreSaver(db), crash=False)
        config: RunnableConfig = {"configurable": {"thread_id": thread}}
        state = graph.get_state(config)
        print(f"  found {len(state.values['messages'])} messages, next step: {state.next}")
        if state.next != ("bot",):
            print("FAILED: the interrupted turn is not pending after the restart")
            return 1
        out = graph.invoke(None, config, durability="sync")  # resume the interrupted step
        print(f"  {out['messages'][-1]}   (the answer the crash interrupted)")
        for text in TURNS[CRASH_TURN + 1 :]:
            say(graph, config, text)
        messages = graph.get_state(config).values["messages"]
    print("\nTranscript read back from botstore:")
    for line in messages:
        print(f"  {line}")
    if messages != EXPECTED:
        print("\nFAILED: the conversation did not continue as expected:")
        print(f"  expected {EXPECTED}")
        return 1
    print("\nOK: the conversation went on after the crash, the bot still knew the name.")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="?", help="data folder (default: a temporary one)")
    parser.add_argument("--phase", choices=["before", "after"], help=argparse.SUPPRESS)
    parser.add_argument("--thread", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase == "before":
        before_crash(args.data, args.thread)
    if args.phase == "after":
        return after_crash(args.data, args.thread)

    if args.data:
        return run_both(args.data)
    # No folder given: a temporary one, removed afterwards whatever happens.
    with tempfile.TemporaryDirectory(prefix="botstore-langgraph-") as scratch:
        return run_both(os.path.join(scratch, "data"))


def run_both(data: str) -> int:
    """Run the two processes on `data`: the first crashes, the second resumes."""
    thread = f"conversation-{uuid.uuid4().hex[:8]}"
    print(f"Data folder: {data}, thread {thread}\n")

    def phase(name: str) -> int:
        cmd = [sys.executable, os.path.abspath(__file__), data, "--phase", name, "--thread", thread]
        return subprocess.run(cmd, check=False).returncode

    print("Process 1:")
    status = phase("before")
    if status != CRASH_STATUS:
        print(f"FAILED: the first process ended with status {status}, not the simulated crash")
        return 1
    print(f"  (process 1 died with status {status})\n\nProcess 2, same data folder:")
    return phase("after")


if __name__ == "__main__":
    sys.exit(main())
