"""PEP 503 HTML project pages: anchors scanned with two regular expressions, and a fast path for
pages written the way PyPI writes them (see :func:`plain_record`)."""

from __future__ import annotations

import codecs
import logging
import re
from array import array
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any
from urllib.parse import urljoin

from packaging.utils import NormalizedName

from lockbuild.index.pagefiles import (
    HTML_PLAIN,
    PlainAnchor,
    clean_hashes,
    filename_of,
    group_releases,
    is_distribution_filename,
    local_on_remote,
    unreadable,
)
from lockbuild.models import FileData, release_version
from lockbuild.urls import redact_url

logger = logging.getLogger(__name__)


_TAG = re.compile(r"""<(a|base)(?=[\s>/])((?:[^>"']|"[^"]*"|'[^']*')*)>""", re.IGNORECASE)
"""An ``<a>`` or ``<base>`` start tag; a ``>`` inside a quoted value does not end it (as for
pip's and uv's HTML parsers: ``data-requires-python=">=3.10"`` is often written unescaped)."""
_ATTRIBUTE = re.compile(r"""([^\s=/>"']+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>"']+)))?""")
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)


_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_PLAIN_ATTRIBUTES = re.compile(r'(?:\s+[a-z-]+="[^"]*")*\s*/?\s*')
_PLAIN_PAIR = re.compile(r'([a-z-]+)="([^"]*)"')
PLAIN_ANCHOR = re.compile(r'<a href="([^"]*)"((?:\s+[a-z-]+="[^"]*")*)\s*/?>')
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
            value = unescape(value)
        attributes[name] = value
    return attributes


def _plain_attributes(text: str) -> dict[str, str | None]:
    """Attributes in the common shape (lower-case names, double-quoted values), first wins."""
    pairs = _PLAIN_PAIR.findall(text)
    if "&" in text:
        pairs = [(name, unescape(value)) for name, value in pairs]
    return dict(reversed(pairs))


@lru_cache(maxsize=1024)
def unescape(value: str) -> str:
    """``html.unescape``, cached: pages repeat the same ``&gt;=3.9`` thousands of times."""
    import html  # ~1.1 ms (html.entities): a run that reads only JSON pages never unescapes

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


def decode_html(body: bytes, page_url: str, charset: str | None) -> str:
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
        raise unreadable("binary content", page_url)
    return text


def scanned_releases(
    text: str, page_url: str, project: NormalizedName
) -> dict[str, list[FileData]]:
    """The releases of an HTML page of any shape, read with the general scan."""
    anchors, base_href = _scan_tags(text)
    base_url = urljoin(page_url, base_href) if base_href else page_url
    if local_on_remote(base_url, page_url):
        base_url = page_url
    files: list[FileData] = []
    for href, attributes in anchors:
        data = _html_file(href, attributes, base_url)
        if data is not None:
            files.append(data)
    return group_releases(files, project)


def plain_record(
    text: str, page_url: str, project: NormalizedName, index_url: str
) -> tuple[dict[str, Any], array[int]] | None:
    """A page whose anchors are all written ``<a href="..." name="value"...>``.

    That is how PyPI writes pages: one pass of a regular expression finds the anchors and
    only the file names are read now, the rest of each anchor when its release is wanted.
    Returns the page's record (per release, the numbers of its anchors: how the page is
    stored with its text, see :mod:`lockbuild.index.pagestore`) and where each anchor
    starts in ``text`` (:func:`anchor_starts`). ``None`` (read the page with the general
    scan) when an anchor, a ``<base>`` or a comment is written otherwise.
    """
    if "<A" in text or _BASE_OR_COMMENT.search(text):
        return None
    matches: list[PlainAnchor] = PLAIN_ANCHOR.findall(text)
    if len(matches) != text.count("<a"):
        return None
    groups: dict[str, list[int]] = {}
    for number, (href, _) in enumerate(matches):
        if "&" in href:
            href = unescape(href)
        filename = filename_of(href.strip().partition("#")[0])
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
    del matches  # the page is read from its text: the anchors are not held for the run
    return record, anchor_starts(text)


_ANCHOR_START = re.compile("<a")


def anchor_starts(text: str) -> array[int]:
    """Where each ``<a`` of ``text`` starts: of a page :func:`plain_record` reads, where
    each of its anchors does (every ``<a`` there starts one, as it checks).

    A page is held for the run as its text and these, each anchor matched again when its
    release is read: its anchors held as strings (an href and the rest of each) took more
    than the text, one small object per field (a cold data-science compile held 54,000)."""
    return array("q", [match.start() for match in _ANCHOR_START.finditer(text)])


def plain_anchor(text: str, start: int) -> PlainAnchor | None:
    """The href and the rest of the anchor at ``start`` of ``text``; None if none is there."""
    match = PLAIN_ANCHOR.match(text, start)
    return None if match is None else (match[1], match[2])


def _plain_yanked(attribute_text: str) -> bool:
    """Whether a plain anchor's attributes include ``data-yanked``."""
    return 'data-yanked="' in attribute_text and "data-yanked" in _plain_attributes(attribute_text)


def read_plain_anchors(anchors: Sequence[Sequence[str]], base_url: str) -> list[FileData]:
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
        if local_on_remote(url, base_url):
            logger.debug("ignoring %s: a local file named by a served page", redact_url(url))
            return None
    filename = filename_of(url)
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
    return clean_hashes({algo: value}, url) if sep else {}


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
    return clean_hashes({algo: digest}, f"metadata of {url}")
