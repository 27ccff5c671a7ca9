"""What an offline run lacked: one typed miss per item, collected for one error at the end.

Offline, only the store is read. A part of the index client that finds an item missing raises
:class:`OfflineMiss` (what kind of item, and the line naming it); the client records it in
:class:`MissingItems` when the resolver asks for the item, and :meth:`MissingItems.raise_if_any`
then names every missing item of the run in one :class:`~lockbuild.errors.OfflineError`,
pages first, then upload times, metadata, hashes and anything else, each group sorted.
"""

from __future__ import annotations

import threading
from enum import IntEnum

from packaging.utils import canonicalize_name

from lockbuild.errors import OfflineError
from lockbuild.urls import public_url, redact_url


class MissKind(IntEnum):
    """What kind of item an offline run lacked; the order in which the error lists them."""

    PAGE = 0
    UPLOAD_TIMES = 1
    METADATA = 2
    HASH = 3
    OTHER = 4


class OfflineMiss(OfflineError):
    """Offline, and the store lacks one item; recorded only when the resolver asks for it."""

    def __init__(self, kind: MissKind, description: str) -> None:
        super().__init__([description])
        self.kind = kind
        self.description = description


def _index_shown(index_url: str) -> str:
    """An index as messages name it: no user info, no query, no trailing ``/``."""
    return public_url(index_url.partition("#")[0]).rstrip("/")


def describe_missing_page(project: str, index_url: str) -> str:
    """``no cached index page for 'pyyaml' (index https://pypi.org/simple)``."""
    index = _index_shown(index_url)
    return f"no cached index page for '{canonicalize_name(project)}' (index {index})"


def describe_missing_metadata(filename: str) -> str:
    """``no cached metadata for django-5.1.3-py3-none-any.whl``."""
    return f"no cached metadata for {filename}"


def describe_missing_hash(what: str) -> str:
    """``no cached hash for <filename or URL>``."""
    return f"no cached hash for {redact_url(what.partition('#')[0])}"


def describe_missing_upload_times(project: str, index_url: str) -> str:
    """``no cached upload times for 'hiredis' (index https://pypi.org/simple)``: times the
    index's JSON API gives (see :mod:`lockbuild.index.uploads`) and its pages do not."""
    index = _index_shown(index_url)
    return f"no cached upload times for '{canonicalize_name(project)}' (index {index})"


def missing_page(project: str, index_url: str) -> OfflineMiss:
    return OfflineMiss(MissKind.PAGE, describe_missing_page(project, index_url))


def missing_upload_times(project: str, index_url: str) -> OfflineMiss:
    return OfflineMiss(MissKind.UPLOAD_TIMES, describe_missing_upload_times(project, index_url))


def missing_metadata(what: str) -> OfflineMiss:
    return OfflineMiss(MissKind.METADATA, describe_missing_metadata(what))


def missing_hash(what: str) -> OfflineMiss:
    return OfflineMiss(MissKind.HASH, describe_missing_hash(what))


class MissingItems:
    """Everything an offline lock found missing, collected from any thread; one error for all.

    :meth:`raise_if_any` lists pages, then upload times, then metadata, then hashes, then
    anything else, each group sorted, so the message does not depend on thread timing.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: set[tuple[MissKind, str]] = set()

    def add(self, miss: OfflineMiss) -> None:
        with self._lock:
            self._items.add((miss.kind, miss.description))

    def note(self, description: str) -> None:
        """Record something else the run lacked (why the store could not serve it)."""
        self.add(OfflineMiss(MissKind.OTHER, description))

    def page(self, project: str, index_url: str) -> None:
        self.add(missing_page(project, index_url))

    def metadata(self, filename: str) -> None:
        self.add(missing_metadata(filename))

    @property
    def items(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(description for _kind, description in sorted(self._items))

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def raise_if_any(self) -> None:
        items = self.items
        if items:
            raise OfflineError(items)
