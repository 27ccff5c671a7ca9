"""Parsers for "simple" repository API project pages: PEP 503 HTML and PEP 691 JSON.

Only parsing lives here: the index client fetches a page and hands the body, its
``Content-Type`` and its final URL to :func:`parse_project_page`, which returns a
:class:`~lockbuild.models.ProjectPage` listing the project's wheels and sdists in page order.
"""

from __future__ import annotations

import codecs
import hashlib
import html
import json
import logging
import re
from collections.abc import Mapping
from functools import lru_cache
from urllib.parse import unquote, urljoin, urlsplit

from packaging.utils import (
    NormalizedName,
    canonicalize_name,
    parse_sdist_filename,
)
from packaging.version import InvalidVersion, Version

from lockbuild.errors import IndexFetchError
from lockbuild.models import DistFile, ProjectPage

__all__ = [
    "ACCEPT_HEADER",
    "DIST_EXTENSIONS",
    "HTML_CONTENT_TYPES",
    "JSON_CONTENT_TYPE",
    "is_distribution_filename",
    "parse_filename",
    "parse_project_page",
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

DIST_EXTENSIONS: tuple[str, ...] = (".whl", ".tar.gz", ".zip", ".tar.bz2", ".tgz", ".tar.xz")
"""File name endings of the files a project page may contribute (wheels and sdists)."""

_SUPPORTED_API_MAJOR = 1
_HEX = re.compile(r"[0-9a-fA-F]+")


def is_distribution_filename(filename: str) -> bool:
    """True if ``filename`` ends like a wheel or an sdist (``.egg``, ``.exe``... do not)."""
    return filename.lower().endswith(DIST_EXTENSIONS)


def parse_filename(filename: str) -> tuple[NormalizedName, Version] | None:
    """Project name and version encoded in a wheel or sdist file name, or ``None``.

    Wheels and ``.tar.gz``/``.zip`` sdists are parsed strictly (as packaging does); the
    legacy ``.tar.bz2``, ``.tgz`` and ``.tar.xz`` sdists on a best-effort basis (split at the
    last ``-``). Anything unparseable gives ``None`` and is logged at DEBUG.
    """
    try:
        if filename.endswith(".whl"):
            return _wheel_name_version(filename)
        if filename.endswith((".tar.gz", ".zip")):
            return parse_sdist_filename(filename)
        for ext in (".tar.bz2", ".tgz", ".tar.xz"):
            if filename.endswith(ext):
                name_part, sep, version_part = filename[: -len(ext)].rpartition("-")
                if not sep or not name_part:
                    logger.debug("ignoring %s: no '-' between name and version", filename)
                    return None
                return canonicalize_name(name_part), Version(version_part)
    except (ValueError, InvalidVersion) as exc:
        logger.debug("ignoring %s: %s", filename, exc)
        return None
    logger.debug("ignoring %s: not a wheel or sdist file name", filename)
    return None


def _wheel_name_version(filename: str) -> tuple[NormalizedName, Version]:
    # Pages list thousands of wheels; splitting the name is enough here (the tags are
    # checked by the environment), and name and version strings repeat, so both are cached.
    parts = filename[:-4].split("-")
    if len(parts) not in (5, 6):
        raise ValueError(f"invalid wheel filename (expected 5 or 6 parts): {filename!r}")
    if not _WHEEL_NAME.match(parts[0]):
        raise ValueError(f"invalid project name in wheel filename: {filename!r}")
    return _canonical_name(parts[0]), _version(parts[1])


_WHEEL_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._]*[A-Za-z0-9])?$")


@lru_cache(maxsize=4096)
def _canonical_name(name: str) -> NormalizedName:
    return canonicalize_name(name)


@lru_cache(maxsize=65536)
def _version(text: str) -> Version:
    return Version(text)


def parse_project_page(
    body: bytes, *, content_type: str, page_url: str, project: str, index_url: str
) -> ProjectPage:
    """Parse one project page of a simple repository.

    ``content_type`` is the response's ``Content-Type`` (parameters allowed); ``page_url``
    is the final URL of the page, against which relative file URLs resolve. A JSON (PEP 691)
    or HTML (PEP 503) parser is chosen from the content type; for any other type the body
    is sniffed (JSON if it starts with ``{``). Files that are not wheels or sdists are left
    out; the rest keep page order.

    Raises :class:`~lockbuild.errors.IndexFetchError` when the body cannot be read as a
    project page, or when a JSON page has an API version other than 1.x.
    """
    media_type, charset = _split_content_type(content_type)
    if media_type == JSON_CONTENT_TYPE:
        files = _parse_json(body, page_url)
    elif media_type in HTML_CONTENT_TYPES:
        files = _parse_html(body, page_url, charset)
    elif body.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
        files = _parse_json(body, page_url)
    else:
        files = _parse_html(body, page_url, charset)
    return ProjectPage(name=canonicalize_name(project), index_url=index_url, files=files)


def _unreadable(why: str, page_url: str) -> IndexFetchError:
    return IndexFetchError(f"unreadable index page ({why}): {_without_userinfo(page_url)}")


def _without_userinfo(url: str) -> str:
    """``url`` without ``user:password@``, so that messages never show credentials."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


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


def _parse_json(body: bytes, page_url: str) -> tuple[DistFile, ...]:
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
    files: list[DistFile] = []
    for entry in raw_files:
        dist = _json_file(entry, page_url)
        if dist is not None:
            files.append(dist)
    return tuple(files)


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
        logger.warning("ignoring a file entry that is not an object on %s", page_url)
        return None
    filename = entry.get("filename")
    url = entry.get("url")
    if not isinstance(filename, str) or not filename or not isinstance(url, str) or not url:
        logger.warning("ignoring a file entry without filename or url on %s", page_url)
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


_TAG = re.compile(r"<(a|base)(?=[\s>/])([^>]*)>", re.IGNORECASE)
_ATTRIBUTE = re.compile(r"""([^\s=/>"']+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>"']+)))?""")
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)


_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_PLAIN_ATTRIBUTES = re.compile(r'(?:\s+[a-z-]+="[^"]*")*\s*/?\s*')
_PLAIN_PAIR = re.compile(r'([a-z-]+)="([^"]*)"')


def _attributes(text: str) -> dict[str, str | None]:
    if _PLAIN_ATTRIBUTES.fullmatch(text):
        # The common shape (lower-case names, double-quoted values): one C-level findall.
        plain: dict[str, str | None] = {}
        for name, value in _PLAIN_PAIR.findall(text):
            if name not in plain:
                plain[name] = html.unescape(value) if "&" in value else value
        return plain
    attributes: dict[str, str | None] = {}
    for match in _ATTRIBUTE.finditer(text):
        name = match.group(1).lower()
        if name in attributes:
            continue
        quoted, single, bare = match.group(2, 3, 4)
        value = quoted if quoted is not None else single if single is not None else bare
        if value is not None and "&" in value:
            value = html.unescape(value)
        attributes[name] = value
    return attributes


def _scan_tags(text: str) -> tuple[list[dict[str, str | None]], str | None]:
    """The attributes of every ``<a>``, and the first ``<base href>``.

    Simple-API pages are flat lists of anchors, and some list tens of thousands of files;
    a scan with two regular expressions reads them several times faster than HTMLParser.
    """
    if "<!--" in text:
        text = _COMMENT.sub("", text)
    anchors: list[dict[str, str | None]] = []
    base_href: str | None = None
    for match in _TAG.finditer(text):
        attributes = _attributes(match.group(2))
        if match.group(1).lower() == "a":
            anchors.append(attributes)
        elif base_href is None and attributes.get("href") is not None:
            base_href = (attributes["href"] or "").strip()
    return anchors, base_href


def _parse_html(body: bytes, page_url: str, charset: str | None) -> tuple[DistFile, ...]:
    encoding = "utf-8"
    if charset is not None:
        try:
            encoding = codecs.lookup(charset).name
        except LookupError:
            logger.debug("unknown charset %r of %s; reading it as UTF-8", charset, page_url)
    text = body.decode(encoding, errors="replace")
    if "\x00" in text:
        raise _unreadable("binary content", page_url)
    anchors, base_href = _scan_tags(text)
    base_url = urljoin(page_url, base_href) if base_href else page_url
    files: list[DistFile] = []
    for attrs in anchors:
        dist = _html_file(attrs, base_url)
        if dist is not None:
            files.append(dist)
    return tuple(files)


def _html_file(attrs: Mapping[str, str | None], base_url: str) -> DistFile | None:
    href = attrs.get("href")
    if not href or not href.strip():
        return None
    href = href.strip()
    absolute = href if href.startswith(("https://", "http://")) else urljoin(base_url, href)
    url, _, fragment = absolute.partition("#")
    filename = _filename_of(url)
    if not is_distribution_filename(filename):
        return None
    hashes: dict[str, str] = {}
    if fragment:
        algo, sep, value = fragment.partition("=")
        if algo == "sha256" and _SHA256.fullmatch(value):
            hashes = {"sha256": value.lower()}
        else:
            hashes = _clean_hashes({algo: value}, url) if sep else {}
        if not hashes:  # not a hash fragment: leave the URL as the page wrote it
            url = f"{url}#{fragment}"
    requires_python = (attrs.get("data-requires-python") or "").strip() or None
    yanked = (attrs["data-yanked"] or "") if "data-yanked" in attrs else None
    if "data-core-metadata" in attrs:
        metadata = attrs["data-core-metadata"]
    else:
        metadata = attrs.get("data-dist-info-metadata")
    return DistFile(
        filename=filename,
        url=url,
        hashes=hashes,
        requires_python=requires_python,
        yanked=yanked,
        upload_time=attrs.get("data-upload-time"),
        metadata_hashes=_html_metadata(metadata, url),
    )


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
