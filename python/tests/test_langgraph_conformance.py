"""LangGraph's published checkpointer conformance suite (langgraph-checkpoint-conformance)
against BotstoreSaver, embedded and remote: every base and extended capability must be
detected and pass (conformance level FULL)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.checkpoint.conformance.capabilities import ALL_CAPABILITIES
from langgraph.checkpoint.conformance.report import ProgressCallbacks

import botstore
from botstore.langgraph import BotstoreSaver


async def test_conformance_full(store: botstore.StoreBase, root: str) -> None:
    mode = "embedded" if isinstance(store, botstore.Store) else "remote"
    instance = itertools.count()

    @checkpointer_test(name=f"BotstoreSaver ({mode})")
    async def make_saver() -> AsyncIterator[BotstoreSaver]:
        # A fresh saver per capability suite, on its own root: the server is shared.
        yield BotstoreSaver(store, namespace=(root, f"saver-{next(instance)}"))

    report = await validate(make_saver, progress=ProgressCallbacks.verbose())
    report.print_report()

    details = report.to_dict()
    assert report.conformance_level() == "FULL", details
    assert report.passed_all(), details
    for cap in ALL_CAPABILITIES:
        result = report.results[cap.value]
        assert result.detected, f"{cap.value} not detected: {details}"
        assert result.passed is True and result.tests_failed == 0, f"{cap.value}: {result.failures}"
        assert result.tests_passed > 0, cap.value
