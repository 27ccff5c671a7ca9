"""PEP 691 JSON project pages: the files a ``application/vnd.pypi.simple.v1+json`` page lists."""

from __future__ import annotations

import json
import logging
from urllib.parse import urljoin

from lockbuild.index.pagefiles import clean_hashes, is_distribution_filename, unreadable
from lockbuild.models import DistFile, FileData
from lockbuild.urls import redact_url

logger = logging.getLogger(__name__)

_SUPPORTED_API_MAJOR = 1


def parse_json_files(body: bytes, page_url: str) -> list[FileData]:
    """The wheels and sdists a PEP 691 page lists, as :meth:`DistFile.to_data` dicts."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise unreadable("invalid JSON", page_url) from None
    if not isinstance(data, dict):
        raise unreadable("JSON page is not an object", page_url)
    _check_api_version(data.get("meta"), page_url)
    raw_files = data.get("files")
    if not isinstance(raw_files, list):
        raise unreadable("JSON page has no 'files' list", page_url)
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
    hashes = clean_hashes(raw_hashes, url) if isinstance(raw_hashes, dict) else {}
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
        return clean_hashes(value, f"metadata of {url}")
    return None
