"""A time budget for the work done on one file, so one pathological input cannot stall an indexing run.

Parsing and chunking are linear in the size of a file once their known quadratic cases are cut (long runs of one
character for the tokenizer, deep nesting for the parsers), but a hostile file should never be able to find the
next one and hold the collection's write lock for minutes. The indexer wraps the work on each file in
:func:`file_budget`; the loops that can run long call :func:`check_budget`, which raises :class:`InputError` naming
the file once ``ingest.max_seconds_per_file`` have passed. The indexer reports it as skipped and moves on.

The budget lives in a context variable, so threads (a server indexing uploads while others search) each see their
own, and code outside an indexing run (query-time token counting) never pays for one.

>>> import time
>>> from kenning.errors import InputError
>>> with file_budget("slow.md", 0.01):
...     time.sleep(0.02)
...     try:
...         check_budget()
...     except InputError as exc:
...         print(exc)
slow.md: took more than 0.01 s to read and chunk (ingest.max_seconds_per_file); skipped as pathological input
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from ..errors import InputError

__all__ = ["file_budget", "check_budget", "paused_budget"]


class _Budget:
    __slots__ = ("source", "seconds", "deadline")

    def __init__(self, source: str, seconds: float) -> None:
        self.source = source
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds


_current: ContextVar[_Budget | None] = ContextVar("kenning_file_budget", default=None)


@contextmanager
def file_budget(source: str, seconds: float) -> Iterator[None]:
    """Give the work inside the block ``seconds`` of wall time; :func:`check_budget` raises past it."""
    token = _current.set(_Budget(source, seconds))
    try:
        yield
    finally:
        _current.reset(token)


def check_budget() -> None:
    """Raise :class:`InputError` naming the file when the current file's budget is spent; a no-op outside one."""
    budget = _current.get()
    if budget is not None and time.monotonic() > budget.deadline:
        raise InputError(
            f"{budget.source}: took more than {budget.seconds:g} s to read and chunk (ingest.max_seconds_per_file); "
            "skipped as pathological input"
        )


@contextmanager
def paused_budget() -> Iterator[None]:
    """Time inside the block does not count (a model embedding sentences is not the file's fault)."""
    budget = _current.get()
    t0 = time.monotonic()
    try:
        yield
    finally:
        if budget is not None:
            budget.deadline += time.monotonic() - t0
