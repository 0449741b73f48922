"""Write an operation once, run it blocking or on asyncio.

An operation that needs several store calls is a generator: it yields
``(method, args, kwargs)`` for each call and receives the result (or has the call's
exception thrown into it), and returns its result. :func:`run` performs the calls with
the store's blocking methods, :func:`arun` awaits their ``a``-prefixed coroutines, so the
async path never uses a thread.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, TypeVar

from botstore import StoreBase

T = TypeVar("T")

#: One store call: method name (blocking spelling), positional and keyword arguments.
Call = tuple[str, tuple[Any, ...], dict[str, Any]]
#: An operation: yields calls, receives their results, returns ``T``.
Steps = Generator[Call, Any, T]


def call(method: str, *args: Any, **kwargs: Any) -> Call:
    """A call to yield from an operation."""
    return method, args, kwargs


def run(store: StoreBase, steps: Steps[T]) -> T:
    """Run an operation with the store's blocking methods."""
    result: Any = None
    error: Exception | None = None
    while True:
        try:
            method, args, kwargs = steps.send(result) if error is None else steps.throw(error)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        try:
            result, error = getattr(store, method)(*args, **kwargs), None
        except Exception as e:  # handed to the operation, which may recover
            result, error = None, e


async def arun(store: StoreBase, steps: Steps[T]) -> T:
    """Run an operation with the store's coroutines."""
    result: Any = None
    error: Exception | None = None
    while True:
        try:
            method, args, kwargs = steps.send(result) if error is None else steps.throw(error)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        try:
            result, error = await getattr(store, "a" + method)(*args, **kwargs), None
        except Exception as e:  # handed to the operation, which may recover
            result, error = None, e


def scan_all(ns: Any, **kwargs: Any) -> Steps[list[Any]]:
    """Every item of a scan, following its cursor (an operation: ``yield from`` it)."""
    items: list[Any] = []
    cursor: str | None = None
    while True:
        page = yield call("scan", ns, cursor=cursor, limit=PAGE, **kwargs)
        items.extend(page.items)
        cursor = page.cursor
        if cursor is None:
            return items


#: Items per scan page and operations per write batch: big enough that a thread's
#: checkpoints come in a few round trips, small enough to bound one response's size.
PAGE = 512
