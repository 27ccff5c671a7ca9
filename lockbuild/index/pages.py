"""Project pages: from the index a project comes from, stored, fresh, revalidated or fetched.

Pages come from the first index that has the project (PEP 691 JSON by content negotiation,
PEP 503 HTML otherwise), or as :class:`IndexSelection` says: only from the index ``index-for``
pins the project to, or merged from every index; with ``exclude-newer`` they are views without
the files uploaded later (times an HTML page lacks come from :mod:`lockbuild.index.uploads`).
A stored page is used for ``page_ttl`` seconds, then revalidated with its ETag/Last-Modified.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from packaging.utils import NormalizedName

from lockbuild.errors import IndexFetchError, LockbuildError
from lockbuild.index.caching import CachePolicy, StoreWrites
from lockbuild.index.offline import missing_page
from lockbuild.index.pagestore import stored_page
from lockbuild.index.simple import ACCEPT_HEADER, parse_handed_page
from lockbuild.index.uploads import UploadTimes
from lockbuild.index.views import merge_pages, uploaded_before
from lockbuild.models import ProjectPage
from lockbuild.store.envelope import DamagedText, TextGone, TextUnreadable
from lockbuild.store.keys import page_key
from lockbuild.store.store import Entry, Store
from lockbuild.urls import conceal, conceal_bytes, project_url, redact_url

if TYPE_CHECKING:  # the HTTP stack is imported on the first request
    from lockbuild.index.http import HttpClient

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class IndexSelection:
    """Which index each project comes from, and which files count.

    By default a project comes from the first index that lists it, in :func:`search_order`
    (so a name taken on the public index cannot shadow a private one); ``best_match``
    merges every index's page instead (``index-strategy = "unsafe-best-match"``). A project
    of ``pinned`` (``index-for``) comes from its index only, never from another. With
    ``exclude_newer``, files uploaded after that instant are left out of every page.
    """

    best_match: bool = False
    pinned: Mapping[NormalizedName, str] = field(default_factory=dict)
    """Project -> the URL of the only index it may come from."""
    names: Mapping[str, str] = field(default_factory=dict)
    """Index URL -> its name in ``[settings.indexes]`` (for messages)."""
    exclude_newer: datetime | None = None

    def describe(self, index_url: str) -> str:
        """``'internal' (https://...)`` for a named index, else the (redacted) URL."""
        name = self.names.get(index_url.rstrip("/"))
        shown = redact_url(index_url)
        return f"{name!r} ({shown})" if name else shown


def search_order(index_urls: Sequence[str]) -> tuple[str, ...]:
    """The order indexes are asked for a project: the extra indexes (``--extra-index-url``,
    in their order) before the index (``--index-url``, PyPI by default), as uv asks them: a
    private package on an extra index cannot be shadowed by its name taken on the public
    one (dependency confusion)."""
    return (*index_urls[1:], *index_urls[:1])


class IndexPages:
    """Project pages from the indexes, as :class:`IndexSelection` chooses, through the store."""

    def __init__(
        self,
        http: HttpClient,
        *,
        index_urls: Sequence[str],
        selection: IndexSelection,
        store: Store | None,
        policy: CachePolicy,
        writes: StoreWrites,
        upload_times: UploadTimes,
        count: Callable[[str], None],
    ) -> None:
        self.http = http
        self.index_urls = tuple(index_urls)
        self.search_order = search_order(self.index_urls)
        self.selection = selection
        self.store = store
        self.policy = policy
        self.writes = writes
        self.upload_times = upload_times
        self.count = count

    def page(self, name: NormalizedName) -> ProjectPage:
        """``name``'s page from the index it comes from, as of ``exclude-newer``."""
        return self._as_of_cutoff(name, self._index_page(name, self._page_on))

    def stored(self, name: NormalizedName) -> ProjectPage | None:
        """:meth:`page`, when the store answers it without a request: every page it reads is
        stored and fresh and, with ``exclude-newer``, every file on it has its upload time
        (as on JSON pages). None otherwise, and when it would fail: :meth:`page` then asks
        the index, or says what is wrong."""
        read: list[NormalizedName] = []

        def stored_on(index_url: str, name: NormalizedName) -> ProjectPage:
            _entry, cached = self._from_store(page_key(index_url, name), name, local_only=True)
            if cached is None:
                raise _NotStored
            read.append(name)
            return cached

        try:
            page = self._index_page(name, stored_on)
        except (_NotStored, LockbuildError):
            return None
        if self.selection.exclude_newer is not None and not _dated(page):
            return None  # upload times from the JSON API's table: maybe a request
        for _ in read:
            self.count("pages cached")
        return self._as_of_cutoff(name, page)

    def _as_of_cutoff(self, name: NormalizedName, page: ProjectPage) -> ProjectPage:
        cutoff = self.selection.exclude_newer
        if cutoff is None or not page.versions:
            return page
        times = self.upload_times.for_page(page)
        view = uploaded_before(page, cutoff, upload_times=times, spans=times.spans)
        if view.undated:
            one = len(view.undated) == 1
            logger.warning(
                "%s: %d %s on %s %s no upload time and %s ignored (exclude-newer): %s",
                name,
                len(view.undated),
                "file" if one else "files",
                redact_url(page.index_url),
                "has" if one else "have",
                "is" if one else "are",
                ", ".join(sorted(view.undated)[:3]) + (", ..." if len(view.undated) > 3 else ""),
            )
        return view.page

    def empty(self, name: NormalizedName) -> ProjectPage:
        """The page of a project no index has."""
        return ProjectPage(name=name, index_url=shown_index(self.index_urls[0]), files=())

    def _index_page(
        self, name: NormalizedName, page_on: Callable[[str, NormalizedName], ProjectPage]
    ) -> ProjectPage:
        """The page of the index ``name`` comes from (see :class:`IndexSelection`), each
        index's page read by ``page_on``."""
        pinned = self.selection.pinned.get(name)
        if pinned is not None:
            page = page_on(pinned, name)
            if not page.versions:
                raise IndexFetchError(
                    f"{name}: not found on index {self.selection.describe(pinned)}, the only "
                    f"index index-for allows for it (no other index is asked)"
                )
            return page
        if self.selection.best_match:
            pages = [page_on(index_url, name) for index_url in self.index_urls]  # its order
            found = [page for page in pages if page.versions]
            if found:
                return merge_pages(name, found)
            return self.empty(name)
        for index_url in self.search_order:
            page = page_on(index_url, name)
            if page.versions:
                return page
            logger.debug("%s: not on %s", name, redact_url(index_url))
        return self.empty(name)

    def _page_on(self, index_url: str, name: NormalizedName) -> ProjectPage:
        """``name``'s page on one index (empty when not there): stored, revalidated or fetched."""
        key = page_key(index_url, name)
        entry, cached = self._from_store(key, name)
        if entry is not None and cached is not None and not entry.stale:
            self.count("pages cached")
            return cached
        if self.policy.offline:
            raise missing_page(name, index_url)
        headers = {"Accept": ACCEPT_HEADER}
        if entry is not None and cached is not None:
            if entry.etag:
                headers["If-None-Match"] = entry.etag
            if entry.last_modified:
                headers["If-Modified-Since"] = entry.last_modified
        response = self.http.get(project_url(index_url, name), headers=headers, missing_ok=True)
        if response.status == 304 and entry is not None and cached is not None:
            self.count("pages revalidated")
            self.writes.touch(key, response.headers)
            return cached
        self.count("pages fetched")
        shown = shown_index(index_url)
        status, page_headers, page_url = response.status, response.headers, response.url
        # The body is handed to the parser, which lets go of it once decoded: nothing here
        # holds it while the page is parsed, nor while it is stored.
        handed = [response.content]
        del response
        if status in (404, 410):
            page = ProjectPage(name=name, index_url=shown, files=())
        else:
            handed.append(conceal_bytes(handed.pop(), index_url))
            page = parse_handed_page(
                handed,
                content_type=page_headers.get("content-type", ""),
                page_url=conceal(page_url, index_url),
                project=name,
                index_url=shown,
            )
        del handed
        self.writes.put_page(key, page, page_headers)
        return page

    def _from_store(
        self, key: str, name: NormalizedName, *, local_only: bool = False
    ) -> tuple[Entry | None, ProjectPage | None]:
        """The stored entry under ``key`` and the page read from it; with ``local_only``,
        only a fresh entry of the local store (else no page)."""
        if self.store is None or self.policy.refreshes(name):
            return None, None
        max_age = None if self.policy.offline else self.policy.page_ttl
        entry = self.store.get(key, max_age=max_age, defer_text=True, local_only=local_only)
        if local_only and (entry is None or entry.stale):
            return entry, None
        return entry, self._stored_page(entry, name)

    def _stored_page(self, entry: Entry | None, name: NormalizedName) -> ProjectPage | None:
        if entry is None:
            return None
        try:
            text = None if entry.text is None and entry.deferred is None else entry.read_text
            page = stored_page(entry.value, text, entry.section)
            if page.name != name:
                raise ValueError(f"a page of {page.name}")
        except DamagedText as error:
            if self.store is not None:
                self.store.discard_damaged(entry.key, str(error))
            return None
        except TextUnreadable as error:  # a miss, as an entry the store cannot read is
            logger.warning("cannot read cache entry (%s): %s", error, entry.key)
            return None
        except TextGone:  # replaced or removed since its envelope was read: a miss
            logger.debug("%s: stored page text gone, read again", name)
            return None
        except (ValueError, TypeError) as error:
            if self.store is not None:
                self.store.discard(entry.key, f"unusable: {error}")
            return None
        return page


class _NotStored(Exception):
    """A page the store cannot answer without a request (see :meth:`IndexPages.stored`)."""


def _dated(page: ProjectPage) -> bool:
    """Whether every file of ``page`` has its upload time (every release's span is known)."""
    return all(page.upload_span(version) is not None for version in page.versions)


def shown_index(index_url: str) -> str:
    """The index URL a page holds: its credentials masked (the HTTP client fills them in)."""
    return conceal(index_url, index_url)
