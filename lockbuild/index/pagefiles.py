"""What a simple-API page says of its files, in either format: distribution file names, hashes,
and the files grouped into releases by the version in their names."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping
from urllib.parse import unquote, urlsplit

from packaging.utils import NormalizedName

from lockbuild.errors import IndexFetchError
from lockbuild.models import SDIST_ENDINGS, FileData, release_version
from lockbuild.urls import redact_url

logger = logging.getLogger(__name__)

DIST_EXTENSIONS: tuple[str, ...] = (".whl", *SDIST_ENDINGS)
"""File name endings of the files a project page may contribute (wheels and sdists)."""

PlainAnchor = tuple[str, str]
"""An anchor written ``<a href="..." name="value"...>``: its href and the attributes' text."""

HTML_PLAIN = "html-plain-v1"
"""The stored form of a page read by :func:`lockbuild.index.htmlpage.plain_record` (see
:func:`lockbuild.index.pagestore.read_page_source`). Here, not in htmlpage: a run that reads
only JSON pages, from the index or the store, never imports that module."""

_HEX = re.compile(r"[0-9a-fA-F]+")


def is_distribution_filename(filename: str) -> bool:
    """True if ``filename`` ends like a wheel or an sdist (``.egg``, ``.exe``... do not)."""
    return filename.lower().endswith(DIST_EXTENSIONS)


def group_releases(files: list[FileData], project: NormalizedName) -> dict[str, list[FileData]]:
    """``files`` by the version in their names; files of another project are left out."""
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


def unreadable(why: str, page_url: str) -> IndexFetchError:
    return IndexFetchError(f"unreadable index page ({why}): {redact_url(page_url)}")


_HEX_LENGTHS = {
    name: hashlib.new(name).digest_size * 2
    for name in hashlib.algorithms_guaranteed
    if not name.startswith("shake_")  # of any length: no digest to check a file against
}
"""The length of a digest in hex, by hashlib's name of its algorithm."""


def clean_hashes(raw: Mapping[object, object], where: str) -> dict[str, str]:
    """Keep ``algo: hex`` pairs of hashlib's guaranteed algorithms, lower-cased; a digest of
    the wrong length for its algorithm (``sha256=0000``) is no digest, as one not in hex."""
    hashes: dict[str, str] = {}
    for algo, value in raw.items():
        if not isinstance(algo, str) or not isinstance(value, str):
            continue
        algo = algo.lower()
        if len(value) != _HEX_LENGTHS.get(algo) or not _HEX.fullmatch(value):
            logger.debug("ignoring hash %s=%r of %s", algo, value, where)
            continue
        hashes[algo] = value.lower()
    return hashes


def filename_of(url: str) -> str:
    """Last path segment of ``url`` (query and fragment dropped), percent-decoded."""
    path = url.partition("#")[0].partition("?")[0]
    segment = path.rsplit("/", 1)[-1]
    return unquote(segment) if "%" in segment else segment


def local_on_remote(url: str, page_url: str) -> bool:
    """Whether ``url`` names a local file though the page naming it is not one: a served
    index names no ``file:`` URL lockbuild would read (a link, a ``<base href>``). The
    scheme is read as ``urlsplit`` (and requests after it) reads it: leading spaces and
    control characters dropped, tabs and newlines taken out (`` file:``, ``fi\tle:``)."""
    return url_scheme(url) == "file" and url_scheme(page_url) != "file"


def url_scheme(url: str) -> str:
    """The scheme of ``url`` as ``urlsplit`` reads it, lower-cased ("" when none)."""
    try:
        return urlsplit(url).scheme.lower()
    except ValueError:
        return ""
