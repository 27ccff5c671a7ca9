"""PEP 691 JSON project pages: the files a ``application/vnd.pypi.simple.v1+json`` page lists.

A page is read once with ``json.loads`` and its entries grouped into releases by the version in
their file names (:func:`json_record`); an entry becomes file data only when its release is
read (:func:`read_json_entries`). The page is stored as the text the index sent plus that
outline (see :mod:`lockbuild.index.pagestore`).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar
from urllib.parse import urljoin

from packaging.utils import NormalizedName

from lockbuild.index.pagefiles import (
    clean_hashes,
    is_distribution_filename,
    local_on_remote,
    unreadable,
)
from lockbuild.instants import oldest_and_newest
from lockbuild.models import FileData, release_version
from lockbuild.urls import redact_url

logger = logging.getLogger(__name__)

_SUPPORTED_API_MAJOR = 1

JSON_PAGE = "json-v1"
"""The stored form of a JSON page: its text and the record :func:`json_record` makes."""


def decode_json(body: bytes, page_url: str) -> str:
    """The page's text, as ``json.loads`` would decode the bytes (UTF-8/16/32, BOM dropped)."""
    try:
        return body.decode(json.detect_encoding(body))
    except (UnicodeDecodeError, LookupError):
        raise unreadable("invalid JSON", page_url) from None


def json_entries(text: str, page_url: str) -> list[Any]:
    """The ``files`` list of a JSON page, its API version checked."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than Python goes
        raise unreadable("invalid JSON", page_url) from None
    if not isinstance(data, dict):
        raise unreadable("JSON page is not an object", page_url)
    _check_api_version(data.get("meta"), page_url)
    raw_files = data.get("files")
    if not isinstance(raw_files, list):
        raise unreadable("JSON page has no 'files' list", page_url)
    return raw_files


Read = TypeVar("Read")

_FILES_FIRST = re.compile(r'[ \t\n\r]*\{[ \t\n\r]*"files"[ \t\n\r]*:[ \t\n\r]*\[')
"""The start of a page whose first key is ``files``, as PyPI writes them, up to the list's
``[``: that ``files`` is the page's own (the text holds nothing before it)."""
_SPACE = re.compile(r"[ \t\n\r]*")
"""JSON's white space (as :mod:`json` skips it)."""
_SCAN: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
"""One JSON value at an index of a text, as ``json.loads`` reads it."""


def read_json_files(text: str, page_url: str, read: Callable[[Iterable[Any]], Read]) -> Read:
    """``read`` of the ``files`` list of a JSON page, as ``read(json_entries(text, page_url))``.

    A page whose first key is ``files`` (as PyPI writes them) is not parsed whole: its
    entries are decoded one at a time as ``read`` asks for them, each let go once read, and
    the rest of the page (``meta``...) is parsed after, without them, its API version then
    checked. A page of megabytes parsed whole is held at several times its size (pydantic-
    core's 7 MB page peaked at 31 MB), its entries all at once. The outcome is the same, but
    for a page that fails (not JSON, or of another API version) after ``read`` has logged
    what it makes of its entries. A page with ``files`` twice is read again whole (the
    last one counts, as ``json.loads`` has it)."""
    start = _FILES_FIRST.match(text)
    if start is None:
        return read(json_entries(text, page_url))
    end: list[int] = []
    try:
        result = read(_entries_at(text, start.end(), end))
    except _NotJson:
        raise unreadable("invalid JSON", page_url) from None
    if not end:  # not read to its end: never, but then it is read whole
        return read(json_entries(text, page_url))
    tops: list[list[tuple[str, Any]]] = []

    def top(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        tops[:] = [pairs]  # the outermost object is made last
        return dict(pairs)

    try:  # the page without its entries, an empty list in their place
        data = json.loads(f"{text[: start.end()]}]{text[end[0] :]}", object_pairs_hook=top)
    except (ValueError, RecursionError):
        raise unreadable("invalid JSON", page_url) from None
    if [key for key, _ in tops[0]].count("files") != 1:
        return read(json_entries(text, page_url))
    _check_api_version(data.get("meta"), page_url)
    return result


class _NotJson(Exception):
    """The list of entries is not JSON."""


def _entries_at(text: str, index: int, end: list[int]) -> Iterator[Any]:
    """The values of the JSON list whose ``[`` is just before ``index``, one at a time;
    the index after its ``]`` is put in ``end`` once it is reached. Raises :class:`_NotJson`
    where ``json.loads`` would find the text is not JSON.

    Entries are decoded some :data:`_BATCH` characters at a time, up to a ``}, {`` (how
    PyPI separates them), as a list of their own: where that ``}, {`` is not between two
    entries of the list (in a string, or within an entry), the piece is not a JSON list,
    and its entries are decoded one by one instead (slower: a call each) up to that cut,
    before a batch is tried again (not one batch decoded for nothing per entry)."""
    failed = -1  # where the last batch that was not a JSON list was cut (or: no cut further)
    try:
        index = _skip_space(text, index)
        if text[index] == "]":
            end.append(index + 1)
            return
        while True:
            cut = -1
            if index > failed:
                cut = text.find("}, {", index + _BATCH)
                if cut == -1:  # none further on (a page written without spaces has none)
                    failed = len(text)  # not looked for again: not once more per entry
            if cut != -1:
                try:
                    batch = json.loads(f"[{text[index : cut + 1]}]")
                except (ValueError, RecursionError):
                    failed = cut
                else:
                    batch.reverse()
                    while batch:  # each entry let go once read
                        yield batch.pop()
                    index = cut + 3
                    continue
            entry, index = _SCAN(text, index)
            yield entry
            del entry
            index = _skip_space(text, index)
            if text[index] == "]":
                end.append(index + 1)
                return
            if text[index] != ",":
                raise _NotJson
            index = _skip_space(text, index + 1)
    except (StopIteration, ValueError, IndexError, RecursionError):  # as json.loads fails
        raise _NotJson from None


_BATCH = 1 << 15
"""Characters of entries decoded at a time, about: a hundred entries as PyPI writes them."""


def _skip_space(text: str, index: int) -> int:
    """The index of the first character from ``index`` that is not JSON's white space."""
    if text[index] not in " \t\n\r":
        return index
    return _SPACE.match(text, index).end()  # type: ignore[union-attr]


def json_record(
    entries: Sequence[Any], page_url: str, project: NormalizedName, index_url: str
) -> dict[str, Any]:
    """The outline of a JSON page: per release, the numbers of its entries, whether every
    one is yanked, and the upload times of its oldest and newest files when all have a
    readable one (else null). Only file names, yanked flags and upload times are read;
    entries that are not files of ``project`` are left out (those without a file name or URL
    with a warning)."""
    releases: Releases = {}
    for number, entry in enumerate(entries):
        outline_entry(releases, number, entry, page_url, project)
    return outline(releases, page_url, project, index_url, len(entries))


Releases = dict[str, tuple[list[int], list[bool], list[Any]]]
"""Releases of a page being outlined: the numbers of their entries, whether every one is
yanked (in a list of one) and their upload times as the page gives them."""


def outline_entry(
    releases: Releases, number: int, entry: Any, page_url: str, project: NormalizedName
) -> None:
    """Entry ``number`` of a page added to its ``releases``, if it is a file of ``project``."""
    if not isinstance(entry, dict):
        logger.warning("ignoring a file entry that is not an object on %s", redact_url(page_url))
        return
    filename, url = entry.get("filename"), entry.get("url")
    if not isinstance(filename, str) or not filename or not isinstance(url, str) or not url:
        logger.warning("ignoring a file entry without filename or url on %s", redact_url(page_url))
        return
    if not is_distribution_filename(filename):
        return
    version = release_version(filename, project)
    if version is None:
        logger.debug("ignoring %s: not a wheel or sdist of %s", filename, project)
        return
    value = entry.get("yanked")
    is_yanked = value is True or isinstance(value, str)
    release = releases.get(version)
    if release is None:
        releases[version] = ([number], [is_yanked], [entry.get("upload-time")])
    else:
        release[0].append(number)
        release[1][0] = release[1][0] and is_yanked
        release[2].append(entry.get("upload-time"))


def outline(
    releases: Releases, page_url: str, project: NormalizedName, index_url: str, entries: int
) -> dict[str, Any]:
    """The record of a page of ``entries`` entries outlined as ``releases``."""
    return {
        "reader": JSON_PAGE,
        "name": project,
        "index_url": index_url,
        "page_url": page_url,
        "entries": entries,
        "releases": [
            [version, yanked[0], numbers, *_upload_span(times)]
            for version, (numbers, yanked, times) in releases.items()
        ],
    }


_DAY = (
    r"(?!0000)[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    r"|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))"
    r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
)
_EXACT_TIMES = {
    20: re.compile(f"{_DAY}Z(?:\n{_DAY}Z)*"),
    27: re.compile(f"{_DAY}\\.[0-9]{{6}}Z(?:\n{_DAY}\\.[0-9]{{6}}Z)*"),
}
"""Upload times as PyPI writes them (UTC, to the second or the microsecond), by length: only
real dates and times (February 29th and the like are left to the general code), in ASCII
digits; each matches times of one form, one to a line. Times of one such form sort as their
text does."""


def _upload_span(times: list[Any]) -> tuple[str | None, str | None]:
    """The upload times of a release's oldest and newest files, as the page gives them;
    ``(None, None)`` when a file has no readable one."""
    first = times[0] if times else None
    if type(first) is str and (exact := _EXACT_TIMES.get(len(first))) is not None:
        try:
            lines = "\n".join(times)
        except TypeError:  # not all text
            pass
        else:  # each time a line (of the length of the first), each line such a time
            if len(lines) == len(times) * (len(first) + 1) - 1 and exact.fullmatch(lines):
                return min(times), max(times)
    return _any_upload_span(times)


def _any_upload_span(times: list[Any]) -> tuple[str | None, str | None]:
    """:func:`_upload_span` of times in any form."""
    span = oldest_and_newest(times)
    return (None, None) if span is None else span


def read_json_entries(
    entries: Sequence[Any], numbers: Sequence[int], page_url: str
) -> list[FileData]:
    """The file data of the entries ``numbers`` (one release), in page order; ValueError when
    a number is not an entry of the page."""
    files: list[FileData] = []
    for number in numbers:
        if not (isinstance(number, int) and 0 <= number < len(entries)):
            raise ValueError(f"not an entry of the stored page: {number!r}")
        entry = entries[number]
        if not isinstance(entry, dict):
            raise ValueError(f"not a file entry of the stored page: {number!r}")
        data = json_file(entry, page_url)
        if not local_on_remote(data["url"], page_url):
            files.append(data)
        else:
            logger.debug(
                "ignoring %s: a local file named by a served page", redact_url(data["url"])
            )
    return files


def _check_api_version(meta: object, page_url: str) -> None:
    """Refuse any API version but 1.x; a page without one is read as 1.0."""
    if meta is None:
        return
    if not isinstance(meta, dict):
        raise unreadable("'meta' is not an object", page_url)
    version = meta.get("api-version")
    if version is None:
        return
    if not isinstance(version, str):
        raise unreadable(f"invalid api-version {version!r}", page_url)
    major, _, _minor = version.partition(".")
    if not major.strip().isdigit():
        raise unreadable(f"invalid api-version {version!r}", page_url)
    if int(major) != _SUPPORTED_API_MAJOR:
        raise unreadable(f"unsupported api-version {version}", page_url)


def json_file(entry: dict[str, Any], page_url: str) -> FileData:
    """One entry (with a file name and URL) as :meth:`DistFile.to_data` would write it."""
    filename: str = entry["filename"]
    url: str = entry["url"]
    if not url.startswith(("https://", "http://")):
        url = urljoin(page_url, url)
    data: FileData = {"filename": filename, "url": url}
    raw_hashes = entry.get("hashes")
    if isinstance(raw_hashes, dict) and raw_hashes:
        hashes = clean_hashes(raw_hashes, url)
        if hashes:
            data["hashes"] = hashes
    requires_python = entry.get("requires-python")
    if isinstance(requires_python, str) and requires_python.strip():
        data["requires_python"] = requires_python
    yanked = entry.get("yanked")
    if yanked is True:
        data["yanked"] = ""
    elif isinstance(yanked, str):
        data["yanked"] = yanked
    upload_time = entry.get("upload-time")
    if isinstance(upload_time, str):
        data["upload_time"] = upload_time
    size = entry.get("size")
    if isinstance(size, int) and not isinstance(size, bool) and size >= 0:
        data["size"] = size
    metadata = (
        entry["core-metadata"] if "core-metadata" in entry else entry.get("dist-info-metadata")
    )
    if metadata is True:
        data["metadata_hashes"] = {}
    elif isinstance(metadata, dict):
        data["metadata_hashes"] = clean_hashes(metadata, f"metadata of {url}")
    return data
