"""The stored forms of a project page (``page-v5:``): the text of the page as the index sent
it with the outline its parser worked out, or compact rows.

A page read from JSON (:func:`lockbuild.index.jsonpage.json_record`) or by the plain-HTML fast
path (:func:`lockbuild.index.htmlpage.plain_record`) is a :class:`SourcedPage`: stored as its
text plus the record :data:`JSON_PAGE` or :data:`HTML_PLAIN` describes, read back by
:func:`read_page_source`. An HTML page of another shape, or a page built in memory, is stored
as a *record* of rows (:func:`page_record`, read back by :func:`page_from_record`). Either way
nothing is parsed until a release is asked for. Older stored forms lived under ``page-v1``,
``page-v2`` (JSON pages as rows), ``page-v3`` (JSON releases without their upload times)
and ``page-v4`` (each release a list, not one string: see :func:`packed_releases`), which are
no longer read.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from packaging.utils import canonicalize_name

from lockbuild.index.jsonpage import JSON_PAGE
from lockbuild.index.jsonrows import HeldRows, read_rows, release_numbers, row_uploads
from lockbuild.index.pagefiles import HTML_PLAIN
from lockbuild.models import (
    FileData,
    FileUpload,
    PendingRelease,
    ProjectPage,
    ReleaseOutlines,
    UploadSpan,
    is_file_data,
    is_hashes,
)

PARSING = threading.Lock()
"""Held while a page is parsed: parsing holds the GIL all along, so parsing pages side by
side on the fetching threads gains nothing, and would hold each of them parsed in full
(several times the size of what is kept of it) at once."""


@dataclass(frozen=True)
class PageSource:
    """A page in the form its parser can read again: stored instead of its releases.

    An index page is stored as the index sent it (:attr:`text`, kept out of JSON so that
    nothing escapes it) plus what its parser worked out, in :attr:`record` (JSON data
    naming the parser), so that reading it back parses no more than needed.
    """

    text: str
    record: Mapping[str, Any]
    held: HeldRows | None = None
    """A JSON page's rows, added to its record (as ``rows``) only when it is stored, so that
    their JSON form is made on the store's thread and never held."""


class SourcedPage(ProjectPage):
    """A page that keeps the text it was read from, and is stored as that text."""

    def __init__(
        self,
        source: PageSource,
        name: str,
        index_url: str,
        releases: Mapping[str, PendingRelease | str],
        outlines: ReleaseOutlines | None = None,
    ) -> None:
        super().__init__(canonicalize_name(name), index_url, releases=releases, outlines=outlines)
        self.source: PageSource | None = source
        """How to store the page without reading its releases; None once stored (the text,
        often megabytes, is not held for the rest of the run)."""


def page_record(page: ProjectPage) -> dict[str, Any]:
    """The page in its compact stored form (JSON types), without reading unread releases.

    ``{"name", "index_url", "releases": [...]}``, a release being ``[version, all_yanked,
    [row, ...]]``, a row ``[filename, url, hashes, requires_python, yanked, upload_time,
    size, metadata_hashes]`` with trailing nulls dropped, the file name left off a URL that
    ends with it, and hashes that are only a sha256 written as that digest. A release read
    back from a record and not read since is stored again as it was read, unparsed.
    :func:`page_from_record` builds no file until a release is asked for.
    """
    releases: list[list[Any]] = []
    for version in page.versions:
        unread = page.unread(version)
        if unread is not None and unread.record is not None and unread.record[0] == _ROWS:
            releases.append([version, unread.yanked, unread.record[1]])
            continue
        rows = [_file_row(data) for data in page.release_data(version)]
        releases.append([version, page.all_yanked(version), rows])
    return {"name": page.name, "index_url": page.index_url, "releases": releases}


def page_from_record(record: Mapping[str, Any]) -> ProjectPage:
    """The inverse of :func:`page_record`; raises ValueError when ``record`` is not one.

    Only the outline is checked here; a release is checked when it is read (a bad one then
    raises ValueError).
    """
    name, index_url, releases = (
        record.get("name"),
        record.get("index_url"),
        record.get("releases"),
    )
    if not (isinstance(name, str) and isinstance(index_url, str) and isinstance(releases, list)):
        raise ValueError("not a stored project page")
    grouped: dict[str, PendingRelease] = {}
    for release in releases:
        version, yanked, rows = _stored_release(release)
        grouped[version] = PendingRelease(
            yanked=yanked, read=partial(_rows_to_data, rows), record=(_ROWS, rows)
        )
    return ProjectPage(canonicalize_name(name), index_url, releases=grouped)


def stored_page(
    record: object,
    text: str | Callable[[], str | None] | None,
    section: bytes | None = None,
) -> ProjectPage:
    """The page stored as ``record`` (and ``text``, for a :class:`SourcedPage`, or what reads
    it when needed, and the ``section`` stored with it: see :func:`read_page_source`);
    ValueError when they are not a stored page.

    The page lets go of its text: a page read back is not stored again as it is (a
    revalidation only touches its entry), and the text, often megabytes, would be held
    for the rest of the run."""
    if text is not None:
        page = read_page_source(record, text, section)
        page.source = None
        return page
    if not isinstance(record, dict):
        raise ValueError("not a stored project page")
    return page_from_record(record)


def stored_parts(page: ProjectPage) -> tuple[Mapping[str, Any], str | None, str | None]:
    """:func:`stored_form` with a JSON page's rows apart from its record: the base64 of its
    bytes rows (most of what is stored of a page but its text), stored as the entry's
    section, so that reading the entry back neither decodes them as JSON nor holds them as
    text."""
    record, text = stored_form(page)
    rows = record.get("rows")
    if text is None or not isinstance(rows, dict) or not isinstance(rows.get("rows"), str):
        return record, text, None
    apart = dict(rows)
    section = apart.pop("rows")
    return {**record, "rows": apart}, text, section


def stored_form(page: ProjectPage) -> tuple[Mapping[str, Any], str | None]:
    """What the store keeps of ``page``: its record, and its text when it has one.

    A page's text is handed over once: the page lets go of it (stored again, the page is
    stored in its record form)."""
    if isinstance(page, SourcedPage):
        source, page.source = page.source, None
        if source is not None:
            record = dict(source.record)  # its releases packed when the page was made
            if source.held is not None:
                record["rows"] = source.held.to_record()
            return record, source.text
    return page_record(page), None


# -- rows ----------------------------------------------------------------------------------

_ROW_FIELDS = ("requires_python", "yanked", "upload_time", "size")
_ROWS = "rows"


def _stored_release(release: object) -> tuple[str, bool, list[Any]]:
    """``(version, all_yanked, rows)`` of a stored release; ValueError if bad."""
    if (
        isinstance(release, list)
        and len(release) == 3
        and isinstance(release[0], str)
        and isinstance(release[1], bool)
        and isinstance(release[2], list)
    ):
        return release[0], release[1], release[2]
    raise ValueError("not a stored project page (bad release)")


def _file_row(data: FileData) -> list[Any]:
    """A :meth:`DistFile.to_data` dict as a compact row (see :func:`page_record`)."""
    filename, url = data["filename"], data["url"]
    if url.endswith("/" + filename):
        url = url[: -len(filename)]
    row: list[Any] = [filename, url, _compact_hashes(data.get("hashes"))]
    row += [data.get(key) for key in _ROW_FIELDS]
    metadata = data.get("metadata_hashes")
    row.append(None if metadata is None else _compact_hashes(metadata) or {})
    while row[-1] is None:
        row.pop()
    return row


def _compact_hashes(hashes: Mapping[str, str] | None) -> str | dict[str, str] | None:
    if not hashes:
        return None
    if len(hashes) == 1 and "sha256" in hashes:
        return hashes["sha256"]
    return dict(hashes)


def _expand_hashes(value: object) -> dict[str, str]:
    if isinstance(value, str):
        return {"sha256": value}
    if isinstance(value, dict) and is_hashes(value):
        return dict(value)
    raise ValueError(f"not stored hashes: {value!r}")


def _rows_to_data(rows: list[Any]) -> list[FileData]:
    """The inverse of :func:`_file_row` for a release's rows; ValueError on a bad row."""
    files = []
    for row in rows:
        if not (isinstance(row, list) and 2 <= len(row) <= 8):
            raise ValueError(f"not a stored file row: {row!r}")
        filename, url = row[0], row[1]
        if not (isinstance(filename, str) and isinstance(url, str)):
            raise ValueError(f"not a stored file row: {row!r}")
        data: FileData = {"filename": filename, "url": url + filename if url.endswith("/") else url}
        if len(row) > 2 and row[2] is not None:
            data["hashes"] = _expand_hashes(row[2])
        for key, value in zip(_ROW_FIELDS, row[3:7], strict=False):
            if value is not None:
                data[key] = value
        if len(row) > 7 and row[7] is not None:
            data["metadata_hashes"] = _expand_hashes(row[7])
        if not is_file_data(data):
            raise ValueError(f"not a stored file row: {row!r}")
        files.append(data)
    return files


# -- pages kept as their text -------------------------------------------------------------


def sourced_page(text: str, record: Mapping[str, Any], starts: Sequence[int]) -> SourcedPage:
    """The page of a :data:`HTML_PLAIN` record over the anchors of ``text``, which start
    where ``starts`` says (see :func:`lockbuild.index.htmlpage.anchor_starts`): the page
    holds its text for the run, and matches an anchor again when its release is read."""
    return _sourced(text, record, partial(_read_numbered_anchors, text, starts))


def json_held_page(text: str, record: Mapping[str, Any], held: HeldRows) -> SourcedPage:
    """The page of a :data:`JSON_PAGE` record whose file entries are ``held`` as rows.

    A page is held for the whole run, most of its releases never read: each entry is kept
    as a compact row of the fields a file is read from (see :mod:`lockbuild.index.jsonrows`),
    and made an entry again when its release is read; the parsed entries take several times
    the memory, and the run's end longer to free them. The rows are stored with the page, so
    a page read back (:func:`read_page_source`) is neither parsed nor packed again.
    """
    return _sourced(text, record, partial(read_rows, held), partial(row_uploads, held), held)


def _sourced(
    text: str,
    record: Mapping[str, Any],
    read: Callable[[Sequence[int] | str, str], list[FileData]],
    uploads: Callable[[Sequence[int] | str], list[FileUpload]] | None = None,
    held: HeldRows | None = None,
) -> SourcedPage:
    """The page of ``record`` over ``text``: each release held as its outline (a packed
    release, see :func:`packed_releases`), made an object only when it is read."""
    outlines = _PackedOutlines(read, uploads, record["page_url"])
    stored = record["releases"]  # checked by read_page_source when read back
    try:  # a page read back: every release packed
        outlined, packed = "\n".join(stored), stored
    except TypeError:  # a page just parsed, or read back with releases that would not pack
        packed = packed_releases(stored)
        outlined = "\n".join(release for release in packed if type(release) is str)
    if outlined and not _OUTLINES.fullmatch(outlined + "\n"):
        raise ValueError("not a stored page source (bad release)")
    releases: dict[str, PendingRelease | str] = {}
    for release in packed:
        if type(release) is str:
            releases[release[: release.index(" ")]] = release
        else:
            version, yanked, numbers, *times = release
            span = (times[0], times[1], len(numbers)) if times and times[0] else None
            releases[version] = outlines.made(yanked, numbers, span)
    kept = {key: value for key, value in record.items() if key != "rows"}
    kept["releases"] = packed  # stored as packed here: packed once
    source = PageSource(text, kept, held)
    return SourcedPage(source, record["name"], record["index_url"], releases, outlines)


_OUTLINES = re.compile(r"(?:[^ \n]++ [01] [0-9]++(?:,[0-9]++)*+(?: [^ \n]++ [^ \n]++)?+\n)*+")
"""Packed releases (see :func:`packed_releases`), each followed by a newline: checked at
once when a page is read back, each release split only when it is asked for."""


class _PackedOutlines:
    """Reads a page's releases from their packed outlines (``version yanked numbers [oldest
    newest]``, see :func:`packed_releases`), checked by :data:`_OUTLINES`."""

    __slots__ = ("_page_url", "_read", "_uploads")

    def __init__(
        self,
        read: Callable[[Sequence[int] | str, str], list[FileData]],
        uploads: Callable[[Sequence[int] | str], list[FileUpload]] | None,
        page_url: str,
    ) -> None:
        self._read, self._uploads, self._page_url = read, uploads, page_url

    def made(
        self, yanked: bool, numbers: Sequence[int] | str, span: UploadSpan | None
    ) -> PendingRelease:
        return PendingRelease(
            yanked=yanked,
            read=partial(self._read, numbers, self._page_url),
            uploads=None if self._uploads is None else partial(self._uploads, numbers),
            uploaded=span,
        )

    def pending(self, version: str, outline: str) -> PendingRelease:
        parts = outline.split(_PACKED_SEPARATOR)
        span = (parts[3], parts[4], parts[2].count(",") + 1) if len(parts) == 5 else None
        return self.made(parts[1] == "1", parts[2], span)

    def yanked(self, version: str, outline: str) -> bool:
        return outline[len(version) + 1] == "1"  # the form checked by _OUTLINES

    def span(self, version: str, outline: str) -> UploadSpan | None:
        # the form checked by _OUTLINES: the numbers start after the version and the flag,
        # and the times, if any, follow them; the numbers are neither copied nor split (a
        # warm run asks each page for every release's span)
        start = len(version) + 3
        end = outline.find(_PACKED_SEPARATOR, start)
        if end < 0:
            return None
        oldest, _, newest = outline[end + 1 :].partition(_PACKED_SEPARATOR)
        return oldest, newest, outline.count(",", start, end) + 1


_COUNTS = {HTML_PLAIN: "anchors", JSON_PAGE: "entries"}
"""Each reader of a page's text, and the record field that counts what it finds there."""


def read_page_source(
    record: object, text: str | Callable[[], str | None], section: bytes | None = None
) -> SourcedPage:
    """The page stored as ``record`` and ``text`` (a :class:`PageSource`), a JSON page's
    bytes rows in its record or, stored apart (:func:`stored_parts`), as ``section``.

    Only the outline is checked here; a release is checked when it is read. Raises
    ValueError when ``record`` is not a stored form these parsers wrote, or does not fit
    ``text``. ``text`` may be what reads it (and checks it, raising ValueError when it is
    damaged): it is then read only for a page whose releases are read from it, not for a
    JSON page read from its stored rows, and the page holds no text (stored again, it is
    stored as a record).
    """
    reader = record.get("reader") if isinstance(record, dict) else None
    count = _COUNTS.get(reader) if isinstance(reader, str) else None
    fields = 5 if reader == JSON_PAGE else 3
    if not (
        isinstance(record, dict)
        and count is not None
        and all(isinstance(record.get(key), str) for key in ("name", "index_url", "page_url"))
        and isinstance(record.get(count), int)
        and isinstance(record.get("releases"), list)
        and all(
            type(release) is str  # checked as it is split (see _sourced)
            or (
                isinstance(release, list)
                and len(release) == fields
                and isinstance(release[0], str)
                and isinstance(release[1], bool)
                and isinstance(release[2], list)
                and _upload_times(release[3:])
            )
            for release in record["releases"]
        )
    ):
        raise ValueError("not a stored page source")
    if reader == JSON_PAGE:
        held = HeldRows.from_record(record.get("rows"), record[count], section)
        page = json_held_page(text if isinstance(text, str) else "", record, held)
        if not isinstance(text, str):
            page.source = None
        return page
    from lockbuild.index.htmlpage import PLAIN_ANCHOR, anchor_starts  # HTML pages only

    read = text if isinstance(text, str) else text()
    if read is None:
        raise ValueError("stored page source without its text")
    starts = anchor_starts(read)
    if len(starts) != record[count] or sum(1 for _ in PLAIN_ANCHOR.finditer(read)) != len(starts):
        raise ValueError("stored page source does not fit its text")
    return sourced_page(read, record, starts)


_PACKED_SEPARATOR = " "
"""Between the fields of a release stored as one string (see :func:`packed_releases`)."""
_INTEGERS = {int}


def packed_releases(releases: Sequence[Sequence[Any]]) -> list[str | Sequence[Any]]:
    """A page record's releases as stored: each ``[version, yanked, numbers, *times]`` as one
    string, ``"1.0 0 3,4,5 <oldest> <newest>"`` (no times when there are none), so that a
    page read back decodes one string per release, not a list of lists, and its numbers are
    parsed only when the release is read. A release whose fields would not read back the
    same (a space in them, an empty one, no numbers) is stored as it is."""
    packed: list[str | Sequence[Any]] = []
    separator = _PACKED_SEPARATOR
    for release in releases:
        version, yanked, numbers, *times = release
        if times == [None, None]:
            times = []
        fields = [version, *times]
        if (
            type(yanked) is bool
            and numbers
            and set(map(type, numbers)) == _INTEGERS  # each an int (not a bool), none below 0
            and min(numbers) >= 0
            and all(
                type(field) is str and field and separator not in field and "\n" not in field
                for field in fields
            )
        ):
            numbers_text = ",".join(map(str, numbers))
            packed.append(separator.join((version, "1" if yanked else "0", numbers_text, *times)))
        else:
            packed.append(release)
    return packed


def _upload_times(times: list[Any]) -> bool:
    """Whether a stored release's upload times are none (an HTML record), or its oldest and
    newest file's as text, or null for both (a file without a readable one)."""
    if not times:
        return True
    oldest, newest = times
    return (oldest is None and newest is None) or (
        isinstance(oldest, str) and isinstance(newest, str)
    )


def _read_numbered_anchors(
    text: str, starts: Sequence[int], numbers: Sequence[int] | str, base_url: str
) -> list[FileData]:
    from lockbuild.index.htmlpage import plain_anchor, read_plain_anchors, unescape

    anchors = []
    for number in release_numbers(numbers):
        anchor = (
            plain_anchor(text, starts[number])
            if isinstance(number, int) and 0 <= number < len(starts)
            else None
        )
        if anchor is None:
            raise ValueError(f"not an anchor of the stored page: {number!r}")
        href, rest = anchor
        anchors.append((unescape(href) if "&" in href else href, rest))
    return read_plain_anchors(anchors, base_url)
