"""A wheel checked whole keeps only its end in memory (KeptTail), and its METADATA is read there.

The whole wheel is still hashed and checked against the page's sha256 before its METADATA is
read; a wheel whose METADATA lies before the end kept is downloaded again, to a temporary
file. The HTTP client here is a stand-in that writes the body as a download does.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, cast

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

from lockbuild.errors import HashError, UncheckedMetadataError
from lockbuild.index import wheelmeta
from lockbuild.index.downloads import BeyondTail, KeptTail
from lockbuild.index.metastore import MetadataRecords
from lockbuild.index.wheelmeta import WheelMetadata
from lockbuild.models import DistFile

FILENAME = "app-1.0-py3-none-any.whl"
METADATA = b"Metadata-Version: 2.1\nName: app\nVersion: 1.0\nRequires-Dist: dep\n"


def wheel(*, blob_first: bool, blob: int = 300_000) -> bytes:
    """A wheel with ``blob`` random bytes stored before (or after) its .dist-info files."""
    buffer = io.BytesIO()
    members = [
        ("app-1.0.dist-info/METADATA", METADATA),
        ("app-1.0.dist-info/WHEEL", b"Wheel-Version: 1.0\n"),
    ]
    payload = ("app/blob.bin", os.urandom(blob))
    members = [payload, *members] if blob_first else [*members, payload]
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members:
            archive.writestr(name, data, zipfile.ZIP_STORED)
    return buffer.getvalue()


class Sender:
    """Writes ``data`` into a download's target in pieces, as HttpClient.download does."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.downloads = 0

    def download(self, url: str, target: Any = None, **_: Any) -> SimpleNamespace:
        self.downloads += 1
        target.seek(0)
        target.truncate()
        view = memoryview(self.data)
        for start in range(0, len(view), 7919):
            target.write(view[start : start + 7919])
        return SimpleNamespace(sha256=hashlib.sha256(self.data).hexdigest())


def reader_of(data: bytes, *, size: int | None, keep: int) -> KeptTail:
    tail = KeptTail(size, keep)
    tail.write(b"bytes of an attempt that broke off")
    tail.seek(0)
    tail.truncate()
    for start in range(0, len(data), 1000):
        tail.write(memoryview(data)[start : start + 1000])
    return tail


@pytest.mark.parametrize("size", [10_000, None, 8000], ids=["size", "no-size", "size-too-small"])
def test_a_kept_tail_reads_the_end_and_refuses_what_it_did_not_keep(size: int | None) -> None:
    data = os.urandom(10_000)
    tail = reader_of(data, size=size, keep=3000)
    assert tail.position == len(data)
    assert 3000 <= len(tail.kept) <= 6000, "the end kept, and no more than twice the keep"
    reader = tail.reader()
    assert reader.seek(0, io.SEEK_END) == len(data)
    reader.seek(len(data) - 3000)
    assert reader.read() == data[-3000:]
    reader.seek(100)
    with pytest.raises(BeyondTail):
        reader.read(10)


def test_a_file_shorter_than_the_page_says_keeps_less_and_refuses_the_rest() -> None:
    data = os.urandom(10_000)
    reader = reader_of(data, size=12_345, keep=3000).reader()
    reader.seek(-500, io.SEEK_END)
    assert reader.read() == data[-500:]
    reader.seek(-3000, io.SEEK_END)
    with pytest.raises(BeyondTail):
        reader.read()


def test_a_file_shorter_than_the_keep_is_kept_whole() -> None:
    data = os.urandom(2000)
    reader = reader_of(data, size=2000, keep=3000).reader()
    assert reader.read() == data


def downloading(sender: Sender, on_hash: Callable[[DistFile, str], None]) -> WheelMetadata:
    """Wheels read in ``download`` mode from ``sender``, with no store."""
    return WheelMetadata(
        cast(Any, sender),
        records=cast(MetadataRecords, None),
        verify_metadata="download",
        offline=False,
        on_hash=on_hash,
    )


def test_metadata_is_read_from_the_end_kept_after_one_download() -> None:
    data = wheel(blob_first=True)
    sender, hashes = Sender(data), []
    file = DistFile(FILENAME, "https://files.example/app.whl", size=len(data))
    metadata = downloading(sender, lambda file, digest: hashes.append(digest))
    found, digest = metadata.downloaded(file)
    assert found == METADATA
    assert digest == hashlib.sha256(data).hexdigest() == hashes[0]
    assert sender.downloads == 1


def test_metadata_before_the_end_kept_is_read_from_a_second_whole_download(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = wheel(blob_first=False)  # METADATA first, 300 kB after it
    monkeypatch.setattr(wheelmeta, "KEPT_TAIL_BYTES", 100_000)
    sha256 = hashlib.sha256(data).hexdigest()
    sender = Sender(data)
    file = DistFile(FILENAME, "https://files.example/app.whl", {"sha256": sha256}, size=len(data))
    metadata = downloading(sender, lambda file, digest: pytest.fail("the page gives the hash"))
    assert metadata.downloaded(file) == (METADATA, sha256)
    assert sender.downloads == 2


def test_a_wheel_that_does_not_match_the_page_is_refused_before_its_metadata_is_read() -> None:
    data = wheel(blob_first=True)
    sender = Sender(data)
    file = DistFile(FILENAME, "https://u:p@files.example/app.whl", {"sha256": "0" * 64})
    metadata = downloading(sender, lambda file, digest: pytest.fail("the page gives the hash"))
    with pytest.raises(HashError) as caught:
        metadata.downloaded(file)
    assert "u:p" not in str(caught.value)
    assert str(caught.value).startswith("downloaded file does not match the index's sha256")


def test_an_unreadable_wheel_without_a_hash_still_gives_its_hash_then_fails() -> None:
    data = b"not a zip at all" * 1000
    sender, hashes = Sender(data), []
    file = DistFile(FILENAME, "https://files.example/app.whl", size=len(data))
    metadata = downloading(sender, lambda file, digest: hashes.append(digest))
    with pytest.raises(UncheckedMetadataError):
        metadata.checked(file, canonicalize_name("app"), Version("1.0"))
    assert hashes == [hashlib.sha256(data).hexdigest()]
    assert sender.downloads == 1
