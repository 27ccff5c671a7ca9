"""Index files fetched for what is inside them, checked against the sha256 the page gives."""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, BinaryIO

from lockbuild.errors import HashError, MetadataError, UncheckedMetadataError
from lockbuild.models import DistFile
from lockbuild.urls import redact_url

if TYPE_CHECKING:  # the HTTP stack is imported on the first request
    from lockbuild.index.http import HttpClient


def download_to(http: HttpClient, file: DistFile, target: BinaryIO) -> str:
    """Stream ``file`` into ``target`` as sent, checked against the page's sha256;
    return its sha256."""
    digest = http.download(file.url, target).sha256
    if file.sha256 and digest != file.sha256:
        raise hash_mismatch(file, digest)
    return digest


@contextmanager
def downloaded(http: HttpClient, file: DistFile) -> Iterator[BinaryIO]:
    """``file`` downloaded into a temporary file (deleted afterwards), checked, rewound."""
    with tempfile.TemporaryFile(prefix="lockbuild-download-") as archive:
        download_to(http, file, archive)
        archive.seek(0)
        yield archive


def check_sha256(file: DistFile, data: bytes) -> None:
    """Raise HashError when ``data`` is not the file the page gives a sha256 for."""
    if file.sha256 and hashlib.sha256(data).hexdigest() != file.sha256:
        raise hash_mismatch(file)


def hash_mismatch(file: DistFile, digest: str | None = None) -> HashError:
    got = f", got {digest}" if digest is not None else ""
    return HashError(
        f"downloaded file does not match the index's sha256 (expected {file.sha256}{got}): "
        f"{redact_url(file.url)}"
    )


def unchecked(error: MetadataError, file: DistFile) -> UncheckedMetadataError:
    """``error`` met in bytes no hash vouches for: it may be damage, not the release."""
    return UncheckedMetadataError(
        f"unreadable metadata, and no hash vouches for the bytes read ({error}): "
        f"{redact_url(file.url)}"
    )
