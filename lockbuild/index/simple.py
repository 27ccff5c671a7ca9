"""Parsers for "simple" repository API project pages: PEP 503 HTML and PEP 691 JSON.

Only parsing lives here: the index client fetches a page and hands the body, its
``Content-Type`` and its final URL to :func:`parse_project_page`, which returns a
:class:`~lockbuild.models.ProjectPage` holding the project's wheels and sdists as plain data,
grouped by the version in their file names.
"""

from __future__ import annotations

import codecs
import hashlib
import html
import json
import logging
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache, partial
from typing import Any
from urllib.parse import unquote, urljoin

from packaging.utils import NormalizedName, canonicalize_name

from lockbuild.errors import IndexFetchError
from lockbuild.models import (
    SDIST_ENDINGS,
    DistFile,
    FileData,
    PageSource,
    PendingRelease,
    ProjectPage,
    RecordReaders,
    release_version,
)
from lockbuild.urls import redact_url

__all__ = [
    "ACCEPT_HEADER",
    "DIST_EXTENSIONS",
    "HTML_CONTENT_TYPES",
    "JSON_CONTENT_TYPE",
    "is_distribution_filename",
    "parse_project_page",
    "read_page_source",
]

logger = logging.getLogger(__name__)

JSON_CONTENT_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_CONTENT_TYPES: tuple[str, ...] = ("application/vnd.pypi.simple.v1+html", "text/html")
ACCEPT_HEADER = (
    "application/vnd.pypi.simple.v1+json, "
    "application/vnd.pypi.simple.v1+html;q=0.2, "
    "text/html;q=0.1"
)
"""``Accept`` for project pages: v1 JSON, else v1 HTML, else legacy PEP 503 HTML."""

DIST_EXTENSIONS: tuple[str, ...] = (".whl", *SDIST_ENDINGS)
"""File name endings of the files a project page may contribute (wheels and sdists)."""

_SUPPORTED_API_MAJOR = 1
Releases = Mapping[str, list[FileData] | PendingRelease]
_HEX = re.compile(r"[0-9a-fA-F]+")


def is_distribution_filename(filename: str) -> bool:
    """True if ``filename`` ends like a wheel or an sdist (``.egg``, ``.exe``... do not)."""
    return filename.lower().endswith(DIST_EXTENSIONS)


def parse_project_page(
    body: bytes, *, content_type: str, page_url: str, project: str, index_url: str
) -> ProjectPage:
    """Parse one project page of a simple repository.

    ``content_type`` is the response's ``Content-Type`` (parameters allowed); ``page_url``
    is the final URL of the page, against which relative file URLs resolve. A JSON (PEP 691)
    or HTML (PEP 503) parser is chosen from the content type; for any other type the body
    is sniffed (JSON if it starts with ``{``). Files that are not wheels or sdists of the
    project are left out; the rest keep page order within their version.

    Raises :class:`~lockbuild.errors.IndexFetchError` when the body cannot be read as a
    project page, or when a JSON page has an API version other than 1.x.
    """
    media_type, charset = _split_content_type(content_type)
    name = canonicalize_name(project)
    is_json = media_type == JSON_CONTENT_TYPE or (
        media_type not in HTML_CONTENT_TYPES
        and body.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{")
    )
    if is_json:
        return ProjectPage(name, index_url, releases=_group(_parse_json(body, page_url), name))
    text = _decode_html(body, page_url, charset)
    plain = _plain_page(text, page_url, name, index_url)
    if plain is not None:
        return plain
    return ProjectPage(name, index_url, releases=_scanned_releases(text, page_url, name))


def _group(files: list[FileData], project: NormalizedName) -> dict[str, list[FileData]]:
    releases: dict[str, list[FileData]] = {}
    for data in files:
        version = release_version(data["filename"], project)
        if version is None:
            logger.debug("ignoring %s: not a wheel or sdist of %s", data["filename"], project)
            continue
        group = releases.get(version)
        if group is None:
            releases[version] = [data]
        else:
            group.append(data)
    return releases


def _unreadable(why: str, page_url: str) -> IndexFetchError:
    return IndexFetchError(f"unreadable index page ({why}): {redact_url(page_url)}")


def _split_content_type(content_type: str) -> tuple[str, str | None]:
    """``"text/html; charset=UTF-8"`` -> ``("text/html", "UTF-8")``."""
    media_type, *params = content_type.split(";")
    charset = None
    for param in params:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip('"') or None
    return media_type.strip().lower(), charset


def _clean_hashes(raw: Mapping[object, object], where: str) -> dict[str, str]:
    """Keep ``algo: hex`` pairs of hashlib's guaranteed algorithms, lower-cased."""
    hashes: dict[str, str] = {}
    for algo, value in raw.items():
        if not isinstance(algo, str) or not isinstance(value, str):
            continue
        algo = algo.lower()
        if algo not in hashlib.algorithms_guaranteed or not _HEX.fullmatch(value):
            logger.debug("ignoring hash %s=%r of %s", algo, value, where)
            continue
        hashes[algo] = value.lower()
    return hashes


def _filename_of(url: str) -> str:
    """Last path segment of ``url`` (query and fragment dropped), percent-decoded."""
    path = url.partition("#")[0].partition("?")[0]
    segment = path.rsplit("/", 1)[-1]
    return unquote(segment) if "%" in segment else segment


# -- PEP 691 JSON ---------------------------------------------------------------------------


def _parse_json(body: bytes, page_url: str) -> list[FileData]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise _unreadable("invalid JSON", page_url) from None
    if not isinstance(data, dict):
        raise _unreadable("JSON page is not an object", page_url)
    _check_api_version(data.get("meta"), page_url)
    raw_files = data.get("files")
    if not isinstance(raw_files, list):
        raise _unreadable("JSON page has no 'files' list", page_url)
    files: list[FileData] = []
    for entry in raw_files:
        dist = _json_file(entry, page_url)
        if dist is not None:
            files.append(dist.to_data())
    return files


def _check_api_version(meta: object, page_url: str) -> None:
    """Refuse any API version but 1.x; a page without one is read as 1.0."""
    if meta is None:
        return
    if not isinstance(meta, dict):
        raise _unreadable("'meta' is not an object", page_url)
    version = meta.get("api-version")
    if version is None:
        return
    if not isinstance(version, str):
        raise _unreadable(f"invalid api-version {version!r}", page_url)
    major, _, _minor = version.partition(".")
    if not major.strip().isdigit():
        raise _unreadable(f"invalid api-version {version!r}", page_url)
    if int(major) != _SUPPORTED_API_MAJOR:
        raise _unreadable(f"unsupported api-version {version}", page_url)


def _json_file(entry: object, page_url: str) -> DistFile | None:
    if not isinstance(entry, dict):
        logger.warning("ignoring a file entry that is not an object on %s", redact_url(page_url))
        return None
    filename = entry.get("filename")
    url = entry.get("url")
    if not isinstance(filename, str) or not filename or not isinstance(url, str) or not url:
        logger.warning("ignoring a file entry without filename or url on %s", redact_url(page_url))
        return None
    if not is_distribution_filename(filename):
        return None
    url = urljoin(page_url, url)
    raw_hashes = entry.get("hashes")
    hashes = _clean_hashes(raw_hashes, url) if isinstance(raw_hashes, dict) else {}
    requires_python = entry.get("requires-python")
    if not isinstance(requires_python, str) or not requires_python.strip():
        requires_python = None
    upload_time = entry.get("upload-time")
    size = entry.get("size")
    metadata = (
        entry["core-metadata"] if "core-metadata" in entry else entry.get("dist-info-metadata")
    )
    return DistFile(
        filename=filename,
        url=url,
        hashes=hashes,
        requires_python=requires_python,
        yanked=_json_yanked(entry.get("yanked")),
        upload_time=upload_time if isinstance(upload_time, str) else None,
        size=size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None,
        metadata_hashes=_json_metadata(metadata, url),
    )


def _json_yanked(value: object) -> str | None:
    if value is True:
        return ""
    if isinstance(value, str):
        return value
    return None


def _json_metadata(value: object, url: str) -> dict[str, str] | None:
    if value is True:
        return {}
    if isinstance(value, dict):
        return _clean_hashes(value, f"metadata of {url}")
    return None


# -- PEP 503 HTML ---------------------------------------------------------------------------


_TAG = re.compile(r"""<(a|base)(?=[\s>/])((?:[^>"']|"[^"]*"|'[^']*')*)>""", re.IGNORECASE)
"""An ``<a>`` or ``<base>`` start tag; a ``>`` inside a quoted value does not end it (as for
pip's and uv's HTML parsers: ``data-requires-python=">=3.10"`` is often written unescaped)."""
_ATTRIBUTE = re.compile(r"""([^\s=/>"']+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>"']+)))?""")
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)


_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_PLAIN_ATTRIBUTES = re.compile(r'(?:\s+[a-z-]+="[^"]*")*\s*/?\s*')
_PLAIN_PAIR = re.compile(r'([a-z-]+)="([^"]*)"')
_PLAIN_ANCHOR = re.compile(r'<a href="([^"]*)"((?:\s+[a-z-]+="[^"]*")*)\s*/?>')
_BASE_OR_COMMENT = re.compile(r"<[Bb][Aa][Ss][Ee]|<!--")


def _attributes(text: str) -> dict[str, str | None]:
    if _PLAIN_ATTRIBUTES.fullmatch(text):
        return _plain_attributes(text)
    attributes: dict[str, str | None] = {}
    for match in _ATTRIBUTE.finditer(text):
        name = match.group(1).lower()
        if name in attributes:
            continue
        quoted, single, bare = match.group(2, 3, 4)
        value = quoted if quoted is not None else single if single is not None else bare
        if value is not None and "&" in value:
            value = _unescape(value)
        attributes[name] = value
    return attributes


def _plain_attributes(text: str) -> dict[str, str | None]:
    """Attributes in the common shape (lower-case names, double-quoted values), first wins."""
    pairs = _PLAIN_PAIR.findall(text)
    if "&" in text:
        pairs = [(name, _unescape(value)) for name, value in pairs]
    return dict(reversed(pairs))


@lru_cache(maxsize=1024)
def _unescape(value: str) -> str:
    """``html.unescape``, cached: pages repeat the same ``&gt;=3.9`` thousands of times."""
    return html.unescape(value) if "&" in value else value


Anchor = tuple[str, dict[str, str | None]]
"""An ``<a>``: its ``href`` and its other attributes."""


def _scan_tags(text: str) -> tuple[list[Anchor], str | None]:
    """Every ``<a>`` with an ``href``, and the first ``<base href>``.

    Simple-API pages are flat lists of anchors, and some list tens of thousands of files;
    a scan with two regular expressions reads them several times faster than HTMLParser.
    """
    if "<!--" in text:
        text = _COMMENT.sub("", text)
    anchors: list[Anchor] = []
    base_href: str | None = None
    for tag, attribute_text in _TAG.findall(text):
        attributes = _attributes(attribute_text)
        href = attributes.pop("href", None)
        if href is None:
            continue
        if tag == "a" or tag == "A":
            anchors.append((href, attributes))
        elif base_href is None:
            base_href = href.strip()
    return anchors, base_href


def _decode_html(body: bytes, page_url: str, charset: str | None) -> str:
    encoding = "utf-8"
    if charset is not None:
        try:
            encoding = codecs.lookup(charset).name
        except LookupError:
            logger.debug(
                "unknown charset %r of %s; reading it as UTF-8", charset, redact_url(page_url)
            )
    text = body.decode(encoding, errors="replace")
    if "\x00" in text:
        raise _unreadable("binary content", page_url)
    return text


def _scanned_releases(text: str, page_url: str, project: NormalizedName) -> Releases:
    """The releases of an HTML page of any shape, read with the general scan."""
    anchors, base_href = _scan_tags(text)
    base_url = urljoin(page_url, base_href) if base_href else page_url
    files: list[FileData] = []
    for href, attributes in anchors:
        data = _html_file(href, attributes, base_url)
        if data is not None:
            files.append(data)
    return _group(files, project)


PlainAnchor = tuple[str, str]
"""An anchor written ``<a href="..." name="value"...>``: its href and the attributes' text."""

HTML_PLAIN = "html-plain-v1"
"""The stored form of a page read by :func:`_plain_page` (see :func:`read_page_source`)."""


def _plain_page(
    text: str, page_url: str, project: NormalizedName, index_url: str
) -> ProjectPage | None:
    """A page whose anchors are all written ``<a href="..." name="value"...>``.

    That is how PyPI writes pages: one pass of a regular expression finds the anchors and
    only the file names are read now, the rest of each anchor when its release is wanted.
    The page keeps its text and, per release, the numbers of its anchors, which is how it is
    stored (:class:`~lockbuild.models.PageSource`). ``None`` (read the page with the general
    scan) when an anchor, a ``<base>`` or a comment is written otherwise.
    """
    if "<A" in text or _BASE_OR_COMMENT.search(text):
        return None
    matches: list[PlainAnchor] = _PLAIN_ANCHOR.findall(text)
    if len(matches) != text.count("<a"):
        return None
    groups: dict[str, list[int]] = {}
    for number, (href, _) in enumerate(matches):
        if "&" in href:
            href = _unescape(href)
        filename = _filename_of(href.strip().partition("#")[0])
        version = release_version(filename, project)
        if version is None:
            logger.debug("ignoring %s: not a wheel or sdist of %s", filename, project)
            continue
        group = groups.get(version)
        if group is None:
            groups[version] = [number]
        else:
            group.append(number)
    any_yanked = 'data-yanked="' in text
    record = {
        "reader": HTML_PLAIN,
        "name": project,
        "index_url": index_url,
        "page_url": page_url,
        "anchors": len(matches),
        "releases": [
            [
                version,
                any_yanked and all(_plain_yanked(matches[number][1]) for number in numbers),
                numbers,
            ]
            for version, numbers in groups.items()
        ],
    }
    return _plain_page_of(text, record, matches)


def _plain_page_of(
    text: str, record: Mapping[str, Any], matches: Sequence[PlainAnchor]
) -> ProjectPage:
    page_url = record["page_url"]
    releases = {
        version: PendingRelease(
            yanked=yanked, read=partial(_read_numbered_anchors, matches, numbers, page_url)
        )
        for version, yanked, numbers in record["releases"]
    }
    return ProjectPage(
        canonicalize_name(record["name"]),
        record["index_url"],
        releases=releases,
        source=PageSource(text, record),
    )


def read_page_source(record: object, text: str) -> ProjectPage:
    """The page stored as ``record`` and ``text`` (a :class:`~lockbuild.models.PageSource`).

    Only the outline is checked here; a release is checked when it is read. Raises
    ValueError when ``record`` is not a stored form this parser wrote, or does not fit
    ``text``.
    """
    if not (
        isinstance(record, dict)
        and record.get("reader") == HTML_PLAIN
        and all(isinstance(record.get(key), str) for key in ("name", "index_url", "page_url"))
        and isinstance(record.get("anchors"), int)
        and isinstance(record.get("releases"), list)
        and all(
            isinstance(release, list)
            and len(release) == 3
            and isinstance(release[0], str)
            and isinstance(release[1], bool)
            and isinstance(release[2], list)
            for release in record["releases"]
        )
    ):
        raise ValueError("not a stored page source")
    matches: list[PlainAnchor] = _PLAIN_ANCHOR.findall(text)
    if len(matches) != record["anchors"]:
        raise ValueError("stored page source does not fit its text")
    return _plain_page_of(text, record, matches)


def _read_numbered_anchors(
    matches: Sequence[PlainAnchor], numbers: Sequence[int], base_url: str
) -> list[FileData]:
    anchors = []
    for number in numbers:
        if not (isinstance(number, int) and 0 <= number < len(matches)):
            raise ValueError(f"not an anchor of the stored page: {number!r}")
        href, rest = matches[number]
        anchors.append((_unescape(href) if "&" in href else href, rest))
    return _read_plain_anchors(anchors, base_url)


HTML_ANCHORS = "html-anchors"
"""A release stored unread as ``[page URL, [[href, attribute text], ...]]``, as the index wrote
its anchors (a form earlier versions stored; see :meth:`ProjectPage.to_record`)."""


def _read_stored_anchors(payload: object) -> list[FileData]:
    """The files of a release stored as :data:`HTML_ANCHORS`; ValueError when malformed."""
    if not (isinstance(payload, list) and len(payload) == 2 and isinstance(payload[0], str)):
        raise ValueError("not stored anchors")
    page_url, anchors = payload
    if not (
        isinstance(anchors, list)
        and all(
            isinstance(anchor, list | tuple)
            and len(anchor) == 2
            and all(isinstance(part, str) for part in anchor)
            for anchor in anchors
        )
    ):
        raise ValueError("not stored anchors")
    return _read_plain_anchors(anchors, page_url)


RECORD_READERS: RecordReaders = {HTML_ANCHORS: _read_stored_anchors}
"""The readers :meth:`ProjectPage.from_record` needs for pages this module parsed."""


def _plain_yanked(attribute_text: str) -> bool:
    """Whether a plain anchor's attributes include ``data-yanked``."""
    return 'data-yanked="' in attribute_text and "data-yanked" in _plain_attributes(attribute_text)


def _read_plain_anchors(anchors: Sequence[Sequence[str]], base_url: str) -> list[FileData]:
    files: list[FileData] = []
    for href, rest in anchors:
        data = _html_file(href, _plain_attributes(rest) if rest else {}, base_url)
        if data is not None:
            files.append(data)
    return files


def _html_file(href: str, attributes: Mapping[str, str | None], base_url: str) -> FileData | None:
    url, _, fragment = href.strip().partition("#")
    if not url.startswith(("https://", "http://")):
        url = urljoin(base_url, url)
    filename = _filename_of(url)
    if not is_distribution_filename(filename):
        return None
    data: FileData = {"filename": filename, "url": url}
    if fragment:
        hashes = _fragment_hashes(fragment, url)
        if hashes:
            data["hashes"] = hashes
        else:  # not a hash fragment: leave the URL as the page wrote it
            data["url"] = f"{url}#{fragment}"
    if attributes:
        _add_attributes(data, attributes, url)
    return data


def _add_attributes(data: FileData, attributes: Mapping[str, str | None], url: str) -> None:
    requires_python = (attributes.get("data-requires-python") or "").strip()
    if requires_python:
        data["requires_python"] = requires_python
    if "data-yanked" in attributes:
        data["yanked"] = attributes["data-yanked"] or ""
    upload_time = attributes.get("data-upload-time")
    if upload_time is not None:
        data["upload_time"] = upload_time
    metadata = attributes.get("data-core-metadata", attributes.get("data-dist-info-metadata"))
    metadata_hashes = _html_metadata(metadata, url)
    if metadata_hashes is not None:
        data["metadata_hashes"] = metadata_hashes


def _fragment_hashes(fragment: str, url: str) -> dict[str, str]:
    algo, sep, value = fragment.partition("=")
    if algo == "sha256" and _SHA256.fullmatch(value):
        return {"sha256": value.lower()}
    return _clean_hashes({algo: value}, url) if sep else {}


def _html_metadata(value: str | None, url: str) -> dict[str, str] | None:
    """``"true"`` -> ``{}``; ``"sha256=<hex>"`` -> ``{"sha256": "<hex>"}``; else ``None``."""
    if value is None:
        return None
    value = value.strip()
    if value.lower() == "true":
        return {}
    algo, sep, digest = value.partition("=")
    if not sep:
        return None
    return _clean_hashes({algo: digest}, f"metadata of {url}")
