"""Tests for lockbuild.index.metadata: core metadata, wheels, sdists and RangeFile."""

from __future__ import annotations

import email.parser
import email.policy
import io
import itertools
import logging
import os
import random
import re
import tarfile
import zipfile
from collections.abc import Callable
from typing import BinaryIO, Literal, cast

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from lockbuild.errors import IndexFetchError, MetadataError
from lockbuild.index.metadata import (
    _headers,
    metadata_is_static,
    parse_metadata,
    read_sdist_pkg_info,
)
from lockbuild.index.wheelzip import RangeFile, _fast_metadata, read_wheel_metadata

REQUESTS_METADATA = b"""\
Metadata-Version: 2.1
Name: requests
Version: 2.31.0
Summary: Python HTTP for Humans.
Requires-Python: >=3.7
License: Apache 2.0
Requires-Dist: charset-normalizer<4,>=2
Requires-Dist: idna<4,>=2.5
Requires-Dist: urllib3<3,>=1.21.1
Requires-Dist: certifi>=2017.4.17
Provides-Extra: security
Provides-Extra: socks
Requires-Dist: PySocks!=1.5.7,>=1.5.6; extra == "socks"
Provides-Extra: use_chardet_on_py3
Requires-Dist: chardet<6,>=3.0.2; extra == "use_chardet_on_py3"
Description-Content-Type: text/markdown

# Requests

Requires-Dist: not-a-header-this-is-the-body
"""


# -- parse_metadata -------------------------------------------------------------------------


def test_parse_requests_metadata() -> None:
    meta = parse_metadata(REQUESTS_METADATA, source="requests-2.31.0-py3-none-any.whl")
    assert meta.name == "requests"
    assert meta.version == Version("2.31.0")
    assert meta.requires_python == ">=3.7"
    assert meta.provides_extra == ("security", "socks", "use-chardet-on-py3")
    assert [str(req) for req in meta.requires_dist] == [
        "charset-normalizer<4,>=2",
        "idna<4,>=2.5",
        "urllib3<3,>=1.21.1",
        "certifi>=2017.4.17",
        'PySocks!=1.5.7,>=1.5.6; extra == "socks"',
        'chardet<6,>=3.0.2; extra == "use-chardet-on-py3"',  # packaging normalizes extras
    ]
    socks = meta.requires_dist[4]
    assert socks.name == "PySocks"
    assert socks.marker is not None
    assert socks.marker.evaluate({"extra": "socks"})
    assert not socks.marker.evaluate({"extra": ""})


@pytest.mark.parametrize(
    ("headers", "field", "expected"),
    [
        ("Name: Foo_Bar\nVersion: 1.0\n", "name", "foo-bar"),
        ("Name: foo\nVersion: 01.0.0-RC1\n", "version", Version("1.0.0rc1")),
        ("name: foo\nversion: 1.0\n", "version", Version("1.0")),
        ("Name:   foo  \nVersion: 1.0\n", "name", "foo"),
        ("Name: foo\nVersion: 1.0\n", "requires_dist", ()),
        ("Name: foo\nVersion: 1.0\n", "requires_python", None),
        ("Name: foo\nVersion: 1.0\nRequires-Python: \n", "requires_python", None),
        ("Name: foo\nVersion: 1.0\n", "provides_extra", ()),
        (
            "Name: foo\nVersion: 1.0\nProvides-Extra: Dev_Tools\nProvides-Extra: dev-tools\n",
            "provides_extra",
            ("dev-tools",),
        ),
        (
            "Name: foo\nVersion: 1.0\nRequires-Dist: bar [baz] (>=1.0) ; python_version < '3.10'\n",
            "requires_dist",
            (Requirement("bar[baz]>=1.0; python_version < '3.10'"),),
        ),
        (
            "Name: foo\nVersion: 1.0\nRequires-Dist: bar>=1.0;\n  python_version < '3.10'\n",
            "requires_dist",
            (Requirement("bar>=1.0; python_version < '3.10'"),),
        ),
        ("Name: foo\r\nVersion: 1.0\r\nRequires-Python: >=3.8\r\n", "requires_python", ">=3.8"),
    ],
)
def test_parse_metadata_fields(headers: str, field: str, expected: object) -> None:
    meta = parse_metadata(headers.encode(), source="test")
    assert getattr(meta, field) == expected


def _email_headers(data: bytes) -> list[tuple[str, str]]:
    """What the ``email`` package (policy compat32) reads as the fields of ``data``."""
    text = data.decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")
    message = email.parser.Parser(policy=email.policy.compat32).parsestr(text, headersonly=True)
    return [
        (name.lower(), re.sub(r"\r?\n(?=[ \t])", "", value).strip())
        for name, value in message.raw_items()
    ]


@pytest.mark.parametrize(
    "data",
    [
        REQUESTS_METADATA,
        REQUESTS_METADATA.replace(b"\n", b"\r\n"),
        REQUESTS_METADATA.replace(b"\n", b"\r"),
        b"Name: foo\nVersion: 1.0\nRequires-Dist: bar>=1;\n  python_version < '3'\n\tand more\n",
        b"Name: foo\nVersion:1.0\nSummary:\nKeywords:   a b  \n",
        b"  leading continuation\nName: foo\nVersion: 1.0\n",
        b"From someone\nName: foo\nVersion: 1.0\n",
        b"Name: foo\nnot a field\nVersion: 1.0\n",
        b"Name: foo\nbad name: x\nVersion: 1.0\n",
        b"Name: foo\n: empty name\nVersion: 1.0\n",
        b"Name: foo\nVersion: 1.0\n \nRequires-Dist: after-a-blank-continuation\n",
        b"Name: foo\nVersion: 1.0\n\nRequires-Dist: in-the-body\n",
        b"Name: foo\nX-\x7f: odd\nVersion: 1.0\n",
        "Name: foo\nAuthor: Zo\u00eb\nVersion: 1.0\n".encode(),
        b"Name: foo\nAuthor: Jos\xe9\nVersion: 1.0\n",
        b"Name: a: b: c\nVersion: 1.0\fx\n",
        b"",
        b"\n\nName: foo\n",
    ],
)
def test_fields_are_read_like_the_email_package(data: bytes) -> None:
    assert _headers(data) == _email_headers(data)


def test_invalid_requires_dist_is_skipped_with_warning(caplog: pytest.LogCaptureFixture) -> None:
    data = b"Name: foo\nVersion: 1.0\nRequires-Dist: bar (>=1.0\nRequires-Dist: baz>=2\n"
    with caplog.at_level(logging.WARNING, logger="lockbuild.index.metadata"):
        meta = parse_metadata(data, source="foo-1.0.tar.gz")
    assert [str(req) for req in meta.requires_dist] == ["baz>=2"]
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert "foo-1.0.tar.gz" in record.getMessage()
    assert "bar (>=1.0" in record.getMessage()


def test_invalid_requires_python_is_dropped_with_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    data = b"Name: foo\nVersion: 1.0\nRequires-Python: >=3.6.*\n"
    with caplog.at_level(logging.WARNING, logger="lockbuild.index.metadata"):
        meta = parse_metadata(data, source="foo.metadata")
    assert meta.requires_python is None
    assert "foo.metadata" in caplog.text


def test_non_utf8_metadata_does_not_crash() -> None:
    data = b"Name: foo\nVersion: 1.0\nAuthor: Jos\xe9\nRequires-Dist: bar\n"
    meta = parse_metadata(data, source="latin1")
    assert meta.name == "foo"
    assert [str(req) for req in meta.requires_dist] == ["bar"]


def test_utf8_bom_is_ignored() -> None:
    assert parse_metadata(b"\xef\xbb\xbfName: foo\nVersion: 1.0\n", source="bom").name == "foo"


def test_utf8_metadata() -> None:
    data = "Name: foo\nVersion: 1.0\nAuthor: Zoë\nRequires-Dist: bar\n".encode()
    assert parse_metadata(data, source="utf8").requires_dist == (Requirement("bar"),)


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"Name: foo\n", "missing Version"),
        (b"Name: foo\nVersion: \n", "missing Version"),
        (b"Version: 1.0\n", "missing Name"),
        (b"", "missing Name"),
        (b"\x00\x01garbage", "missing Name"),
        (b"Name: foo\nVersion: one point oh\n", "invalid Version 'one point oh'"),
        (b"Name: -foo-\nVersion: 1.0\n", "invalid Name '-foo-'"),
    ],
)
def test_invalid_metadata(data: bytes, why: str) -> None:
    with pytest.raises(MetadataError) as info:
        parse_metadata(data, source="foo-1.0.tar.gz")
    assert str(info.value) == f"invalid core metadata ({why}): foo-1.0.tar.gz"


# -- metadata_is_static ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ("Metadata-Version: 2.2\n", True),
        ("Metadata-Version: 2.4\nDynamic: Description\nDynamic: License\n", True),
        ("Metadata-Version: 2.3\nDynamic: Requires-Dist\n", False),
        ("Metadata-Version: 2.3\nDynamic: requires-python\n", False),
        ("Metadata-Version: 2.2\nDynamic: Provides-Extra\n", True),
        ("Metadata-Version: 2.1\n", False),
        ("Metadata-Version: 1.0\n", False),
        ("Metadata-Version: 3.0\n", True),
        ("Metadata-Version: nonsense\n", False),
        ("", False),
    ],
)
def test_metadata_is_static(headers: str, expected: bool) -> None:
    assert metadata_is_static(f"{headers}Name: foo\nVersion: 1.0\n".encode()) is expected


# -- wheels ---------------------------------------------------------------------------------


def make_zip(files: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def make_wheel(name: str = "Foo_Bar", version: str = "1.0", **extra: bytes) -> bytes:
    dist_info = f"{name}-{version}.dist-info"
    return make_zip(
        {
            f"{name.lower()}/__init__.py": b"",
            f"{dist_info}/METADATA": f"Name: {name}\nVersion: {version}\n".encode(),
            f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\n",
            f"{dist_info}/RECORD": b"",
            **extra,
        }
    )


def test_read_wheel_metadata() -> None:
    wheel = make_wheel()
    data = read_wheel_metadata(io.BytesIO(wheel), filename="foo_bar-1.0-py3-none-any.whl")
    assert data == b"Name: Foo_Bar\nVersion: 1.0\n"


def test_read_wheel_metadata_picks_the_matching_dist_info() -> None:
    wheel = make_zip(
        {
            "other-2.0.dist-info/METADATA": b"Name: other\nVersion: 2.0\n",
            "foo.bar-1.0.0.dist-info/METADATA": b"Name: foo.bar\nVersion: 1.0\n",
            "foo_bar-1.0.dist-info/RECORD": b"",
        }
    )
    data = read_wheel_metadata(io.BytesIO(wheel), filename="Foo_Bar-1.0-py3-none-any.whl")
    assert data == b"Name: foo.bar\nVersion: 1.0\n"


def test_read_wheel_metadata_single_dist_info_is_used_even_if_misnamed() -> None:
    wheel = make_zip({"foo-1.0.dist-info/METADATA": b"Name: foo\nVersion: 1.0\n"})
    assert read_wheel_metadata(io.BytesIO(wheel), filename="odd-name.whl").startswith(b"Name")


def test_read_wheel_metadata_ignores_nested_metadata() -> None:
    wheel = make_zip(
        {
            "vendored/bar-1.0.dist-info/METADATA": b"Name: bar\nVersion: 1.0\n",
            "foo-1.0.dist-info/METADATA": b"Name: foo\nVersion: 1.0\n",
        }
    )
    data = read_wheel_metadata(io.BytesIO(wheel), filename="foo-1.0-py3-none-any.whl")
    assert data == b"Name: foo\nVersion: 1.0\n"


@pytest.mark.parametrize(
    ("archive", "why"),
    [
        (b"not a zip at all", "BadZipFile: File is not a zip file"),
        (make_zip({"foo/__init__.py": b""}), "no .dist-info/METADATA"),
        (
            make_zip(
                {
                    "a-1.0.dist-info/METADATA": b"Name: a\nVersion: 1.0\n",
                    "b-1.0.dist-info/METADATA": b"Name: b\nVersion: 1.0\n",
                }
            ),
            "no .dist-info directory matches the name",
        ),
        (
            make_zip(
                {
                    "foo-1.0.dist-info/METADATA": b"Name: foo\nVersion: 1.0\n",
                    "Foo-1.0.0.dist-info/METADATA": b"Name: foo\nVersion: 1.0\n",
                }
            ),
            "several matching .dist-info directories",
        ),
    ],
)
def test_read_wheel_metadata_errors(archive: bytes, why: str) -> None:
    with pytest.raises(MetadataError) as info:
        read_wheel_metadata(io.BytesIO(archive), filename="foo-1.0-py3-none-any.whl")
    assert str(info.value) == f"cannot read METADATA from wheel ({why}): foo-1.0-py3-none-any.whl"


def test_read_wheel_metadata_truncated_archive() -> None:
    wheel = make_wheel()
    with pytest.raises(MetadataError, match=r"foo_bar-1\.0-py3-none-any\.whl"):
        read_wheel_metadata(io.BytesIO(wheel[:-30]), filename="foo_bar-1.0-py3-none-any.whl")


def _with_comment(archive: bytes) -> bytes:
    buffer = io.BytesIO(archive)
    with zipfile.ZipFile(buffer, "a") as appended:
        appended.comment = b"a comment"
    return buffer.getvalue()


def _many_files_wheel() -> bytes:
    files = {f"pkg/module_{index}.py": b"x = 1\n" * index for index in range(2000)}
    # the suffix inside other names and contents must not confuse the directory scan
    files["pkg/foo-1.0.dist-info/METADATA.txt"] = b"Name: decoy\nVersion: 9\n"
    files["docs/notes.txt"] = b"see foo-1.0.dist-info/METADATA"
    files["foo-1.0.dist-info/METADATA"] = b"Name: foo\nVersion: 1.0\nSummary: many\n"
    return make_zip(files)


@pytest.mark.parametrize(
    ("archive", "fast"),
    [
        (make_wheel("foo", "1.0"), True),
        (make_zip({"foo-1.0.dist-info/METADATA": b"Name: foo\n" * 50}, zipfile.ZIP_STORED), True),
        (_many_files_wheel(), True),
        (b"prefix data" + make_wheel("foo", "1.0"), False),
        (_with_comment(make_wheel("foo", "1.0")), False),
        (make_zip({"foo-1.0.dist-info/METADATA": b"Name: foo\n"}, zipfile.ZIP_BZIP2), False),
        (make_zip({"foo-1.0.dist-info/METADATA": b"Name: foo\n", "b\u00e9.py": b""}), True),
        (make_zip({"f\u00f6o-1.0.dist-info/METADATA": b"Name: foo\n"}), False),
    ],
)
def test_wheel_metadata_read_from_the_central_directory_matches_zipfile(
    archive: bytes, fast: bool
) -> None:
    filename = "foo-1.0-py3-none-any.whl"
    with zipfile.ZipFile(io.BytesIO(archive)) as reference:
        (member,) = [
            name for name in reference.namelist() if name.endswith("-1.0.dist-info/METADATA")
        ]
        expected = reference.read(member)
    assert read_wheel_metadata(io.BytesIO(archive), filename=filename) == expected
    direct = _fast_metadata(
        io.BytesIO(archive), filename, (canonicalize_name("foo"), Version("1.0"))
    )
    assert direct == (expected if fast else None)


def test_wheel_metadata_with_a_bad_crc_is_left_to_zipfile() -> None:
    archive = bytearray(
        make_zip({"foo-1.0.dist-info/METADATA": b"Name: foo\n"}, zipfile.ZIP_STORED)
    )
    archive[archive.index(b"Name: foo")] ^= 0x20  # flip a bit of the stored member
    with pytest.raises(MetadataError, match=r"BadZipFile: Bad CRC-32"):
        read_wheel_metadata(io.BytesIO(bytes(archive)), filename="foo-1.0-py3-none-any.whl")


# -- RangeFile ------------------------------------------------------------------------------


class Remote:
    """An in-memory "server" answering range requests and recording them."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.calls: list[tuple[int, int]] = []

    def fetch(self, start: int, end: int) -> bytes:
        assert 0 <= start <= end < len(self.data), (start, end)
        self.calls.append((start, end))
        return self.data[start : end + 1]


def big_wheel() -> bytes:
    """A wheel of ~1 MiB whose METADATA sits between large incompressible files."""
    rng = random.Random(1234)
    return make_zip(
        {
            "foo/a.bin": rng.randbytes(400_000),
            "foo-1.0.dist-info/METADATA": b"Name: foo\nVersion: 1.0\nRequires-Dist: bar\n",
            "foo/b.bin": rng.randbytes(600_000),
            "foo-1.0.dist-info/RECORD": b"",
        },
        compression=zipfile.ZIP_STORED,
    )


def test_range_file_reads_wheel_metadata_with_few_requests() -> None:
    wheel = big_wheel()
    remote = Remote(wheel)
    remote_file = RangeFile(remote.fetch, len(wheel), name="foo-1.0-py3-none-any.whl")
    remote_file.prefetch_tail(16 * 1024)
    assert remote.calls == [(len(wheel) - 16 * 1024, len(wheel) - 1)]
    data = read_wheel_metadata(remote_file, filename="foo-1.0-py3-none-any.whl")
    assert data == b"Name: foo\nVersion: 1.0\nRequires-Dist: bar\n"
    assert remote_file.requests_made == len(remote.calls) <= 3
    assert remote_file.bytes_fetched < len(wheel) // 4


def test_range_file_small_wheel_needs_one_request() -> None:
    wheel = make_wheel()
    remote = Remote(wheel)
    remote_file = RangeFile(remote.fetch, len(wheel))
    remote_file.prefetch_tail(64 * 1024)
    data = read_wheel_metadata(remote_file, filename="Foo_Bar-1.0-py3-none-any.whl")
    assert data == b"Name: Foo_Bar\nVersion: 1.0\n"
    assert remote.calls == [(0, len(wheel) - 1)]
    assert remote_file.requests_made == 1


def test_range_file_arbitrary_seeks_and_reads() -> None:
    data = os.urandom(10_000)
    remote = Remote(data)
    remote_file = RangeFile(remote.fetch, len(data), min_chunk=700)
    rng = random.Random(42)
    for _ in range(500):
        whence = rng.choice([io.SEEK_SET, io.SEEK_CUR, io.SEEK_END])
        if whence == io.SEEK_SET:
            offset = rng.randrange(0, len(data) + 50)
        elif whence == io.SEEK_CUR:
            offset = rng.randrange(-remote_file.tell(), 300)
        else:
            offset = rng.randrange(-len(data), 50)
        position = remote_file.seek(offset, whence)
        assert position == remote_file.tell()
        size = rng.randrange(0, 1500)
        expected = data[position : position + size]
        assert remote_file.read(size) == expected
        assert remote_file.tell() == (position + len(expected) if expected else position)
    # Every byte was fetched at most once: the cache never asks for cached bytes again.
    fetched = sorted(remote.calls)
    for (_, end), (start, _) in itertools.pairwise(fetched):
        assert end < start
    assert remote_file.bytes_fetched <= len(data)


def test_range_file_rounds_requests_up_to_min_chunk() -> None:
    remote = Remote(bytes(range(256)) * 40)  # 10240 bytes
    remote_file = RangeFile(remote.fetch, 10240, min_chunk=1024)
    assert remote_file.read(10) == bytes(range(10))
    assert remote.calls == [(0, 1023)]
    assert remote_file.read(1014) == remote.data[10:1024]
    assert remote_file.requests_made == 1
    remote_file.seek(10000)
    assert remote_file.read(100) == remote.data[10000:10100]
    assert remote.calls[-1] == (10000, 10239)  # capped at the end of the file
    remote_file.seek(9500)
    assert remote_file.read() == remote.data[9500:]
    assert remote.calls[-1] == (9500, 9999)  # capped at the cached range
    assert remote_file.read() == b""
    assert remote_file.requests_made == 3


def test_range_file_readinto_and_readall() -> None:
    remote = Remote(b"0123456789")
    remote_file = RangeFile(remote.fetch, 10, min_chunk=4)
    buffer = bytearray(4)
    assert remote_file.readinto(buffer) == 4
    assert buffer == b"0123"
    assert remote_file.readall() == b"456789"
    assert remote_file.readinto(buffer) == 0
    remote_file.seek(2)
    with io.BufferedReader(remote_file) as buffered:
        assert buffered.read() == b"23456789"


def test_range_file_prefetch_tail() -> None:
    remote = Remote(bytes(1000))
    remote_file = RangeFile(remote.fetch, 1000, min_chunk=10)
    remote_file.prefetch_tail(100)
    remote_file.prefetch_tail(50)  # already cached: no request
    remote_file.prefetch_tail(5000)  # clipped to the file, only what is missing
    assert remote.calls == [(900, 999), (0, 899)]
    remote_file.seek(0)
    assert remote_file.read() == bytes(1000)
    assert remote_file.requests_made == 2


def test_range_file_empty() -> None:
    remote = Remote(b"")
    remote_file = RangeFile(remote.fetch, 0)
    remote_file.prefetch_tail(100)
    assert remote_file.read() == b""
    assert remote_file.read(10) == b""
    assert remote.calls == []


def test_range_file_seek_errors_and_close() -> None:
    remote_file = RangeFile(Remote(b"abc").fetch, 3)
    assert remote_file.readable()
    assert remote_file.seekable()
    assert not remote_file.writable()
    with pytest.raises(ValueError, match="negative seek"):
        remote_file.seek(-1)
    with pytest.raises(ValueError, match="whence"):
        remote_file.seek(0, 7)
    remote_file.close()
    with pytest.raises(ValueError, match="closed"):
        remote_file.read()


def test_range_file_short_response_is_an_index_error() -> None:
    def fetch(start: int, end: int) -> bytes:
        return b"x"

    remote_file = RangeFile(fetch, 100, name="https://files.example/foo.whl")
    with pytest.raises(IndexFetchError) as info:
        remote_file.read(10)
    assert str(info.value) == (
        "range request for bytes 0-99 returned 1 bytes instead of 100: "
        "https://files.example/foo.whl"
    )


def test_range_file_fetch_errors_pass_through_read_wheel_metadata() -> None:
    def fetch(start: int, end: int) -> bytes:
        raise IndexFetchError("HTTP 503: https://files.example/foo.whl")

    with pytest.raises(IndexFetchError, match="HTTP 503"):
        read_wheel_metadata(RangeFile(fetch, 1000), filename="foo-1.0-py3-none-any.whl")


# -- sdists ---------------------------------------------------------------------------------


def make_tar(files: dict[str, bytes], mode: Literal["w:gz", "w:bz2", "w:xz"]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


PKG_INFO = b"Metadata-Version: 2.2\nName: foo\nVersion: 1.0\n"
SDIST_FILES = {
    "foo-1.0/src/foo.egg-info/PKG-INFO": b"nested, not this one",
    "foo-1.0/PKG-INFO": PKG_INFO,
    "foo-1.0/setup.py": b"",
}

SdistMaker = Callable[[dict[str, bytes]], bytes]
SDIST_FORMATS: list[tuple[str, SdistMaker]] = [
    ("foo-1.0.tar.gz", lambda files: make_tar(files, "w:gz")),
    ("foo-1.0.tgz", lambda files: make_tar(files, "w:gz")),
    ("foo-1.0.tar.bz2", lambda files: make_tar(files, "w:bz2")),
    ("foo-1.0.tar.xz", lambda files: make_tar(files, "w:xz")),
    ("foo-1.0.zip", make_zip),
]


@pytest.mark.parametrize(("filename", "make"), SDIST_FORMATS)
def test_read_sdist_pkg_info(filename: str, make: SdistMaker) -> None:
    assert read_sdist_pkg_info(io.BytesIO(make(SDIST_FILES)), filename=filename) == PKG_INFO


@pytest.mark.parametrize(("filename", "make"), SDIST_FORMATS)
def test_read_sdist_pkg_info_absent(filename: str, make: SdistMaker) -> None:
    files = {"foo-1.0/setup.py": b"", "foo-1.0/src/foo.egg-info/PKG-INFO": b"nested"}
    assert read_sdist_pkg_info(io.BytesIO(make(files)), filename=filename) is None


@pytest.mark.parametrize(
    "name", ["PKG-INFO", "./foo-1.0/PKG-INFO", "foo-1.0/PKG-INFO", "./PKG-INFO"]
)
def test_read_sdist_pkg_info_top_level_spellings(name: str) -> None:
    archive = make_tar({name: PKG_INFO}, "w:gz")
    assert read_sdist_pkg_info(io.BytesIO(archive), filename="foo-1.0.tar.gz") == PKG_INFO


def test_read_sdist_pkg_info_non_seekable_stream() -> None:
    class Stream:
        """A pipe-like reader: read() only, no seeking."""

        def __init__(self, data: bytes) -> None:
            self._inner = io.BytesIO(data)

        def read(self, size: int = -1) -> bytes:
            return self._inner.read(size)

        def seekable(self) -> bool:
            return False

    stream = cast(BinaryIO, Stream(make_tar(SDIST_FILES, "w:gz")))
    assert read_sdist_pkg_info(stream, filename="foo-1.0.tar.gz") == PKG_INFO


@pytest.mark.parametrize(
    ("filename", "data", "why"),
    [
        ("foo-1.0.tar.gz", b"not a tarball", "ReadError"),
        ("foo-1.0.zip", b"not a zip", "BadZipFile"),
        ("foo-1.0.rar", b"", "unknown archive format"),
    ],
)
def test_read_sdist_pkg_info_errors(filename: str, data: bytes, why: str) -> None:
    with pytest.raises(MetadataError) as info:
        read_sdist_pkg_info(io.BytesIO(data), filename=filename)
    message = str(info.value)
    assert message.startswith(f"cannot read PKG-INFO from sdist ({why}")
    assert message.endswith(f"): {filename}")
