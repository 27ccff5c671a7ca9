"""Fetches that failed for good, remembered for the rest of a run of many locks.

A request is retried until its retries or its deadline run out (:mod:`lockbuild.index.http`);
when it still fails, every later lock of a ``lockbuild lock`` or ``doit lock`` run that asks
for the same URL meets the same answer, and would wait out the same retries and timeouts
again: a trickling page cost each of twelve locks its ``request-timeout``. Within
:func:`remembering_failures`, such a URL fails at once with the message it failed with.
Only a run over many locks turns this on; a single compile, or a caller that goes on (the
tests), never remembers a failure beyond its own requests.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Iterator
from contextlib import contextmanager

__all__ = ["earlier_failure", "note_failure", "remembering_failures"]

_lock = threading.Lock()
_failed: dict[tuple[str, object], str] | None = None
"""(URL, the limits it was asked within) -> the message it failed with, while a run
remembers failures: a lock with longer timeouts or more retries asks again."""


@contextmanager
def remembering_failures() -> Iterator[None]:
    """Within: a fetch that failed for good is not tried again."""
    global _failed
    with _lock:
        _failed = {}
    try:
        yield
    finally:
        with _lock:
            _failed = None


def earlier_failure(url: str, limits: Hashable) -> str | None:
    """The message ``url`` failed with earlier in this run within the same ``limits``."""
    failed = _failed
    return None if failed is None else failed.get((url, limits))


def note_failure(url: str, limits: Hashable, message: str) -> None:
    """Remember that ``url`` failed for good within ``limits`` (when the run remembers)."""
    with _lock:
        if _failed is not None:
            _failed[(url, limits)] = message
