"""One pass over the file entries of a JSON page: its outline and its rows together.

:func:`~lockbuild.index.jsonpage.json_record` (the outline) and
:class:`~lockbuild.index.jsonrows.HeldRows` (the rows) each read every entry of a page,
and a page lists thousands. :func:`read_entry_stream` makes both in one pass, taking the
entries one at a time: an entry as PyPI
writes them (exactly PyPI's fields, a file URL under ``files.pythonhosted.org``, one
lower-case SHA-256, no yanked flag...) is read once: its fields taken in one step, its row
packed in one ``bytes.fromhex``, its version read from a split of its name (the project of
each name part worked out once per page, and a wheel of the release the previous wheel was
of seen from the start of its name). Anything else about an entry takes the general code;
the outline and rows are exactly what those two functions make of the page (on a cold
data-science compile's largest pages, in two thirds of the time).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from itertools import accumulate
from operator import itemgetter
from typing import Any

from packaging.utils import NormalizedName

from lockbuild.index.jsonpage import Releases, logger, outline, outline_entry
from lockbuild.index.jsonrows import _SEPARATOR, HeldRows, _pypi_row, _row
from lockbuild.index.pagefiles import is_distribution_filename
from lockbuild.models import release_version

_PYPI_FILES = "https://files.pythonhosted.org/packages/"
_START = len(_PYPI_FILES)
_NO_PREFIX = _SEPARATOR
"""Starts no file name an entry read as PyPI writes them has (none holds a separator)."""
_PLAIN = ("filename", "hashes", "requires-python", "size", "upload-time", "url", "yanked")
"""The fields of a PyPI entry without separate metadata (in the order PyPI writes them)."""
_WITH_METADATA = ("core-metadata", "data-dist-info-metadata", *_PLAIN)
"""The fields of a PyPI entry with separate metadata (``data-dist-info-metadata`` is its old
name, which ``json_file`` does not read)."""


def read_entry_stream(
    entries: Iterable[Any], page_url: str, project: NormalizedName, index_url: str
) -> tuple[dict[str, Any], HeldRows]:
    """The outline ``json_record`` makes of the page and the rows of its entries, read one
    at a time: none is held once read."""
    releases: Releases = {}
    wheel_names: dict[str, bool] = {}
    sdist_names: dict[str, bool] = {}
    shared: dict[str, str] = {}
    rows: list[bytes] = []
    tuples: dict[int, tuple[Any, ...]] = {}
    fromhex, start, end = bytes.fromhex, _START, _START + 67
    plain, with_metadata = itemgetter(*_PLAIN), itemgetter(*_WITH_METADATA)
    prefix = _NO_PREFIX  # of the wheels of the release numbers and times are of, if one
    numbers: list[int] = []
    times: list[Any] = []
    number = -1
    for number, entry in enumerate(entries):
        row: bytes | None = None
        if type(entry) is dict:
            try:
                if len(entry) == 7:
                    filename, hashes, requires_python, size, uploaded, url, yanked = plain(entry)
                    metadata = None
                elif len(entry) == 9:
                    metadata, _, filename, hashes, requires_python, size, uploaded, url, yanked = (
                        with_metadata(entry)
                    )
                else:
                    filename = None
            except KeyError:  # other fields
                filename = None
            if (
                type(filename) is str
                and filename
                and type(url) is str
                and (yanked is False or yanked is None)
                and type(hashes) is dict
                and len(hashes) == 1
                and type(digest := hashes.get("sha256")) is str
                and len(digest) == 64
                and len(url) == end + len(filename)
                and url
                == f"{_PYPI_FILES}{(a := url[start : start + 2])}/"
                f"{(b := url[start + 3 : start + 5])}/{(c := url[start + 6 : end - 1])}/{filename}"
                and (requires_python is None or (type(requires_python) is str and requires_python))
                and (uploaded is None or (type(uploaded) is str and uploaded))
                and (size is None or (type(size) is int and size >= 0))
            ):
                if metadata is None:
                    digits = f"05{digest}{a}{b}{c}"
                elif (
                    type(metadata) is dict
                    and len(metadata) == 1
                    and type(meta_digest := metadata.get("sha256")) is str
                    and len(meta_digest) == 64
                ):
                    digits = f"07{digest}{meta_digest}{a}{b}{c}"
                else:
                    digits = ""
                text = (  # the separator written out: one piece of text, not three
                    f"{filename}\x1f\x1f\x1f{requires_python or ''}\x1f{uploaded or ''}"
                    f"\x1f{'' if size is None else size}\x1f"
                )
                if digits and text.count(_SEPARATOR) == 6:
                    try:
                        packed = fromhex(digits)
                        if packed.hex() == digits:
                            row = packed + text.encode()
                    except (ValueError, UnicodeEncodeError):
                        pass
        if row is None:  # not as PyPI writes them: the general code
            made = (_pypi_row(entry) or _row(entry, shared)) if isinstance(entry, dict) else b""
            if isinstance(made, tuple):
                tuples[number] = made
                made = b""
            rows.append(made)
            outline_entry(releases, number, entry, page_url, project)
            continue
        rows.append(row)
        if (
            filename.startswith(prefix)
            and filename.endswith(".whl")
            and 4 <= filename.count("-") <= 5
        ):  # the next wheel of the release the previous entry was a wheel of
            numbers.append(number)
            times.append(uploaded)
            continue
        prefix = _NO_PREFIX
        if filename.endswith(".tar.gz"):
            name, _, version = filename[:-7].rpartition("-")
            known = sdist_names.get(name)
            if known is None:
                known = sdist_names[name] = release_version(filename, project) is not None
            if not known:
                version = None
        elif filename.endswith(".whl"):
            parts = filename[:-4].split("-")
            version = parts[1] if len(parts) in (5, 6) else None
            if version is not None:
                known = wheel_names.get(parts[0])
                if known is None:
                    known = release_version(filename, project) is not None
                    wheel_names[parts[0]] = known
                if known:
                    prefix = f"{parts[0]}-{version}-"
                else:
                    version = None
        elif is_distribution_filename(filename):
            version = release_version(filename, project)
        else:
            continue
        if version is None:
            logger.debug("ignoring %s: not a wheel or sdist of %s", filename, project)
            continue
        release = releases.get(version)
        if release is None:
            numbers, times = [number], [uploaded]
            releases[version] = (numbers, [False], times)
        else:
            numbers, times = release[0], release[2]
            numbers.append(number)
            times.append(uploaded)
            release[1][0] = False
    held = HeldRows.__new__(HeldRows)
    held._rows, held._tuples = b"".join(rows), tuples
    held._ends = array("Q", accumulate(map(len, rows)))
    return outline(releases, page_url, project, index_url, number + 1), held
