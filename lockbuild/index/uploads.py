"""Upload times from an index's JSON API, for files whose simple page gives none.

PEP 700 ``upload-time`` comes with PEP 691 JSON pages; an index that answers HTML only says
nothing of when a file was uploaded, and late-upload detection and ``exclude-newer`` need to
know. PyPI (and indexes laid out like it: the simple API at ``<root>/simple``) also serves a
JSON API at ``<root>/pypi``: ``/pypi/<project>/json`` lists every release,
``/pypi/<project>/<version>/json`` one release, each file with ``filename``,
``upload_time_iso_8601`` and ``digests.sha256``.

:class:`UploadTimes` asks it only for files that lack a time, keeps the answers in the store
(``upload-v2:<index>:<project>``, ``times``: file name -> ``[upload time, sha256]``, read again
as long as it covers the files asked about), and remembers for the run an index that has no
such API (a 404), so that it is asked once, not once per project. A time is used only for the
file whose sha256 the page gives (when it gives one). A file the API was asked about and gave
no time for is stored as ``[null, null]``: online it is asked about again, offline it is known
to have no time. Offline, times the store lacks are not guessed: they raise an
:class:`~lockbuild.index.offline.OfflineMiss` naming the project and index.

The same entry keeps, under ``spans``, what a later run needs to decide whole releases of an
HTML page against ``exclude-newer`` without reading their anchors: for each release whose
every file the page itself dates, its oldest and newest upload times and its number of files
(see :class:`PageTimes`). (``upload-v1`` entries, the times alone, are no longer read.)
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit, urlunsplit

from lockbuild.errors import IndexFetchError
from lockbuild.index.offline import missing_upload_times
from lockbuild.index.pagestore import SourcedPage
from lockbuild.instants import oldest_and_newest
from lockbuild.models import DistFile, FileData, UploadSpan
from lockbuild.store.keys import upload_key
from lockbuild.urls import redact_url

if TYPE_CHECKING:
    from lockbuild.index.http import HttpClient
    from lockbuild.models import ProjectPage
    from lockbuild.store.store import Store

logger = logging.getLogger(__name__)

UploadTimesTable = dict[str, tuple[str | None, str | None]]
"""File name -> (ISO 8601 upload time, hex sha256), both None for a file the API was asked
about and gave no time for."""

Spans = dict[str, UploadSpan]
"""Version (as the page spells it) -> the upload span of a release the page dates wholly."""


class PageTimes(dict[str, str]):
    """What :meth:`UploadTimes.for_page` found: file name -> upload time for files the page
    gives none, and in :attr:`spans` the releases the page dates wholly, found now or stored
    by an earlier run (those are not read: ``exclude-newer`` decides each from its span and
    checks the files of one it keeps when they are read, see
    :func:`lockbuild.index.views.uploaded_before`)."""

    def __init__(self, times: Mapping[str, str] = {}, spans: Spans | None = None) -> None:
        super().__init__(times)
        self.spans: Spans = spans or {}


def release_span(files: Sequence[FileData]) -> UploadSpan | None:
    """The oldest and newest upload times the page gives ``files`` and their number; None
    when one has none or an unreadable one (only its files can tell then). The oldest is
    the earliest instant (the first written of equal ones), as
    :func:`~lockbuild.index.views.uploaded_before` notes the oldest file left out."""
    span = oldest_and_newest([data.get("upload_time") for data in files])
    return None if span is None else (*span, len(files))


_SIMPLE_SUFFIX = "/simple"
_ACCEPT = {"Accept": "application/json"}


def json_api_url(index_url: str, project: str, version: str | None = None) -> str | None:
    """The JSON API URL of ``project`` (one ``version``) next to a simple index, if any.

    ``https://pypi.org/simple`` -> ``https://pypi.org/pypi/<project>[/<version>]/json``; an
    index whose path does not end in ``/simple`` has no known JSON API (``None``).
    """
    parts = urlsplit(index_url)
    base = parts.path.rstrip("/")
    if parts.scheme not in ("http", "https") or not base.endswith(_SIMPLE_SUFFIX):
        return None
    path = base[: -len(_SIMPLE_SUFFIX)] + "/pypi/" + quote(project, safe="")
    if version is not None:
        path += "/" + quote(version, safe="")
    return urlunsplit(parts._replace(path=path + "/json", fragment=""))


def parse_json_api(body: bytes) -> UploadTimesTable:
    """Upload times and sha256 digests by file name from a JSON API answer.

    Reads ``urls`` (the files of the release asked for, or of the latest) and ``releases``
    (every release, in project answers). ValueError when ``body`` is not such a document.
    """
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ValueError("not JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("info", {}), dict):
        raise ValueError("not a JSON API document")
    groups: list[object] = [document.get("urls", [])]
    releases = document.get("releases")
    if isinstance(releases, dict):
        groups += list(releases.values())
    table: UploadTimesTable = {}
    for group in groups:
        if not isinstance(group, list):
            continue
        for entry in group:
            found = _entry_time(entry)
            if found is not None:
                table[found[0]] = found[1]
    return table


def _entry_time(entry: object) -> tuple[str, tuple[str, str | None]] | None:
    if not isinstance(entry, dict):
        return None
    filename = entry.get("filename")
    uploaded = entry.get("upload_time_iso_8601") or entry.get("upload_time")
    if not isinstance(filename, str) or not isinstance(uploaded, str) or not filename:
        return None
    digests = entry.get("digests")
    sha256 = digests.get("sha256") if isinstance(digests, dict) else None
    return filename, (uploaded, sha256.lower() if isinstance(sha256, str) else None)


def times_for(
    files: Iterable[DistFile], table: Mapping[str, tuple[str | None, str | None]]
) -> dict[str, str]:
    """Upload times from ``table`` for those of ``files`` that have none on the page.

    A time is taken only when the page's sha256 of the file (if it gives one) is the one the
    JSON API names: the time of another content under the same name says nothing.
    """
    times: dict[str, str] = {}
    for file in files:
        if file.upload_time is not None:
            continue
        uploaded, sha256 = table.get(file.filename, (None, None))
        if uploaded is None:  # not asked about, or the API had no time for it
            continue
        if file.sha256 and sha256 and file.sha256.lower() != sha256:
            logger.debug("ignoring the upload time of %s: another sha256", file.filename)
            continue
        times[file.filename] = uploaded
    return times


class UploadTimes:
    """Upload times from the JSON API of the index a page came from, through the store."""

    def __init__(
        self,
        http: HttpClient | None,
        *,
        store: Store | None = None,
        offline: bool = False,
        write: Callable[[str, object], None] | None = None,
    ) -> None:
        self.http = http
        self.store = store
        self.offline = offline or http is None
        self.write = write
        """Stores an entry (the index client writes on its background thread)."""
        self._lock = threading.Lock()
        self._without_api: set[str] = set()
        self._with_api: set[str] = set()
        self._probes: dict[str, threading.Lock] = {}
        """One lock per index whose API is not proven yet (see :meth:`_get`)."""
        self._tables: dict[str, UploadTimesTable] = {}
        """Times read or fetched in this run, by store key."""
        self._spans: dict[str, Spans] = {}
        """Release spans read or found in this run, by store key (see :class:`PageTimes`)."""
        self._asked: set[str] = set()
        """JSON API URLs asked in this run (each is asked at most once)."""
        self.requests = 0
        """JSON API requests made (for ``-v`` and the tests)."""

    def for_page(self, page: ProjectPage) -> PageTimes:
        """Times of every undated file of the page (for ``exclude-newer``): one request.

        The releases of an HTML page (its own, not merged) that a run found dated wholly by
        the page are not read again: they come back as :attr:`PageTimes.spans` (the store is
        asked for them only when a release lacks the page's own span, so a JSON page costs
        no read). A failing
        index raises IndexFetchError, and offline, times the store lacks raise
        OfflineError: without the times, files would silently be left out of the lock.
        """
        key = upload_key(page.index_url, page.name)
        spanned = isinstance(page, SourcedPage)  # a merged page's files are not one index's
        known: Spans | None = None if spanned else {}  # read when a release needs it
        spans: Spans = {}
        files: list[DistFile] = []  # only undated files are built: JSON pages date them all
        for version in page.versions:
            unread = page.held(version) is not None
            if unread and page.upload_span(version) is not None:
                continue  # every file dated
            if unread and known is None:
                known = self._entry(key)[1]
            span = known.get(version) if unread and known is not None else None
            if span is not None:
                spans[version] = span
                continue
            uploads = page.release_uploads(version)
            if uploads is not None and all(uploaded for _name, uploaded, _yanked in uploads):
                continue
            # read, not kept: a page's releases read here for their spans would be held
            # as file data for the run (47,000 files of a cold data-science compile on
            # HTML pages); the cutoff view reads again only the releases it is asked for
            pending = page.unread(version) if spanned else None
            data = page.release_data(version) if pending is None else pending.read()
            span = release_span(data) if spanned else None
            if span is not None:
                spans[version] = span
                continue
            files += [DistFile.from_data(item) for item in data if item.get("upload_time") is None]
        # known is None when the page itself dates every unread release (as a JSON page's
        # outlines do): its spans are the page's, so none are kept for it
        if spanned and known is not None and spans != known:
            with self._lock:
                self._spans[key] = spans
            self._store(key)
        url = json_api_url(page.index_url, page.name)
        times = self._times(page, files, [url] if url else [], required=True)
        return PageTimes(times, spans)

    def for_release(self, page: ProjectPage, versions: Sequence[str]) -> dict[str, str]:
        """Times of the undated files of one release (its version strings as the page
        spells them), for late-upload detection; a failing index only logs a warning.
        Offline, times the store lacks raise OfflineError."""
        files = [file for version in versions for file in page.release_files(version)]
        urls = [json_api_url(page.index_url, page.name, version) for version in versions]
        return self._times(page, files, [url for url in urls if url], required=False)

    def _times(
        self, page: ProjectPage, files: list[DistFile], urls: list[str], *, required: bool
    ) -> dict[str, str]:
        undated = [file for file in files if file.upload_time is None]
        if not undated:
            return {}
        key = upload_key(page.index_url, page.name)
        table = self._entry(key)[0]
        if self.offline:
            if urls and not all(file.filename in table for file in undated):
                raise missing_upload_times(page.name, page.index_url)
        elif not all(table.get(file.filename, (None, None))[0] for file in undated):
            table = self._ask(
                key, table, undated, urls, index_url=page.index_url, required=required
            )
        return times_for(undated, table)

    def _ask(
        self,
        key: str,
        table: UploadTimesTable,
        undated: Sequence[DistFile],
        urls: Sequence[str],
        *,
        index_url: str,
        required: bool,
    ) -> UploadTimesTable:
        """``table`` with what the JSON API says of ``undated`` at the URLs not asked yet in
        this run, stored; when the API answered, a file it gave no time for is stored as
        having none (so that offline runs know it was asked about)."""
        with self._lock:
            pending = [url for url in urls if url not in self._asked]
            self._asked.update(pending)
        if not pending:
            return table
        fetched, answered = self._fetch(index_url, pending, required=required)
        if answered:
            for file in undated:
                if file.filename not in fetched and not table.get(file.filename, (None, None))[0]:
                    fetched[file.filename] = (None, None)
        merged = {**table, **fetched}
        if merged != table:
            with self._lock:
                self._tables[key] = merged
            self._store(key)
        return merged

    def _fetch(
        self, index_url: str, urls: Sequence[str], *, required: bool
    ) -> tuple[UploadTimesTable, bool]:
        """The times the JSON API gives at ``urls``, and whether it answered for every one
        (an index without the API counts as an answer: it has no time to give)."""
        table: UploadTimesTable = {}
        answered = True
        for url in urls:
            try:
                body = self._get(index_url, url)
            except IndexFetchError as error:
                if required:
                    raise IndexFetchError(
                        f"cannot read upload times from the index's JSON API ({error})"
                    ) from None
                logger.warning("no upload times (%s)", error)
                answered = False
                continue
            if body is None:
                break
            table.update(body)
        return table, answered

    def _get(self, index_url: str, url: str) -> UploadTimesTable | None:
        """The times one JSON API URL gives; None when the index turns out to have no API.

        While an index is not known to have the API, one request at a time is made to it,
        so that a 404 is met once, not once per project fetched concurrently.
        """
        with self._lock:
            if index_url in self._without_api:
                return None
            proven = index_url in self._with_api
            probe = self._probes.setdefault(index_url, threading.Lock())
        if proven:
            return self._request(index_url, url, proven=True)
        with probe:
            with self._lock:
                if index_url in self._without_api:
                    return None
                proven = index_url in self._with_api
            table = self._request(index_url, url, proven=proven)
            if table is not None:
                with self._lock:
                    self._with_api.add(index_url)
            return table

    def _request(self, index_url: str, url: str, *, proven: bool) -> UploadTimesTable | None:
        """The times at ``url``; a 404 from an index whose API answered before is only
        this project's (``{}``), from any other index it means there is no API (None)."""
        assert self.http is not None
        with self._lock:
            self.requests += 1
        response = self.http.get(url, headers=_ACCEPT, missing_ok=True)
        if response.status in (404, 410):
            if proven:
                return {}
            self._no_api(index_url, f"HTTP {response.status} for {redact_url(url)}")
            return None
        try:
            return parse_json_api(response.content)
        except ValueError as error:
            self._no_api(index_url, f"{error} at {redact_url(url)}")
            return None

    def _no_api(self, index_url: str, why: str) -> None:
        logger.debug("index %s has no JSON API for upload times (%s)", redact_url(index_url), why)
        with self._lock:
            self._without_api.add(index_url)

    def _entry(self, key: str) -> tuple[UploadTimesTable, Spans]:
        """The times and release spans of ``key`` known in this run, else stored."""
        with self._lock:
            table, spans = self._tables.get(key), self._spans.get(key)
        if table is not None and spans is not None:
            return table, spans
        stored_table, stored_spans = self._stored(key)
        with self._lock:
            table = self._tables.setdefault(key, stored_table)
            spans = self._spans.setdefault(key, stored_spans)
        return table, spans

    def _store(self, key: str) -> None:
        """Stores the times and spans of ``key`` known in this run."""
        if self.write is None:
            return
        with self._lock:
            table, spans = self._tables.get(key, {}), self._spans.get(key, {})
        self.write(
            key,
            {
                "times": {name: list(value) for name, value in sorted(table.items())},
                "spans": {version: list(span) for version, span in spans.items()},
            },
        )

    def _stored(self, key: str) -> tuple[UploadTimesTable, Spans]:
        if self.store is None:
            return {}, {}
        entry = self.store.get(key)
        if entry is None:
            return {}, {}
        try:
            return stored_times(entry.value), stored_spans(entry.value)
        except ValueError as error:
            self.store.discard(key, f"unusable: {error}")
            return {}, {}


def stored_times(value: object) -> UploadTimesTable:
    """The times of a stored ``upload-v2`` entry; ValueError when it is not one."""
    times = _stored_table(value, "times", "upload times", _is_time_item)
    return {name: (item[0], item[1]) for name, item in times.items()}


def stored_spans(value: object) -> Spans:
    """The release spans of a stored ``upload-v2`` entry; ValueError when they are not."""
    spans = _stored_table(value, "spans", "release upload spans", _is_span)
    return {version: (span[0], span[1], span[2]) for version, span in spans.items()}


def _stored_table(
    value: object, field: str, what: str, fits: Callable[[list[Any]], bool]
) -> dict[str, list[Any]]:
    """``value[field]``: a table of lists by name, each of which ``fits``; else ValueError."""
    table = value.get(field) if isinstance(value, dict) else None
    if isinstance(table, dict) and all(
        isinstance(name, str) and isinstance(item, list) and fits(item)
        for name, item in table.items()
    ):
        return table
    raise ValueError(f"not {what}")


def _is_time_item(item: list[Any]) -> bool:
    """``[upload time, sha256]``, either null."""
    return len(item) == 2 and all(part is None or isinstance(part, str) for part in item)


def _is_span(span: list[Any]) -> bool:
    """``[oldest, newest, number of files]``."""
    return (
        len(span) == 3
        and isinstance(span[0], str)
        and isinstance(span[1], str)
        and type(span[2]) is int
        and span[2] > 0
    )
