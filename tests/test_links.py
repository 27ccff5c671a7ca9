"""The link resolver: archives hashed and cached by URL, wheels read, offline, paths, keys."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pytest
from distbuilder import make_sdist, make_wheel
from linkfixtures import ArchiveServer, project_zip, zip_tree

import lockbuild.index.archives
import lockbuild.index.http
import lockbuild.index.links
from lockbuild.errors import BuildError, HashError, LinkError, OfflineError
from lockbuild.index.http import GATHER_SIZE, HttpClient
from lockbuild.index.links import LinkResolver, relative_link
from lockbuild.index.offline import MissingItems
from lockbuild.index.wheelzip import read_wheel_metadata
from lockbuild.inputs.requirements import parse_requirements_text
from lockbuild.models import InputRequirement
from lockbuild.store.keys import hash_key, metadata_key
from lockbuild.store.store import Store, open_store


@pytest.fixture
def archives() -> Iterator[ArchiveServer]:
    with ArchiveServer() as server:
        yield server


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(tmp_path / "cache") as opened:
        yield opened


def line(text: str, path: str = "requirements.in") -> InputRequirement:
    return parse_requirements_text(text + "\n", path).requirements[0]


def test_wheel_url_is_hashed_and_read_without_a_build(
    archives: ArchiveServer, store: Store, tmp_path: Path
) -> None:
    wheel = make_wheel(tmp_path, "wheelpkg", "2.1", requires_dist=["certi>=1"])
    archives.files["/dl/wheelpkg-2.1-py3-none-any.whl"] = wheel.read_bytes()
    url = archives.url("/dl/wheelpkg-2.1-py3-none-any.whl")
    resolver = LinkResolver(HttpClient(), index_urls=["http://127.0.0.1:9/simple"], store=store)
    linked = resolver.resolve(line(f"wheelpkg @ {url}"))
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert (linked.name, str(linked.version), linked.kind) == ("wheelpkg", "2.1", "archive")
    assert linked.hashes == (f"sha256:{digest}",)
    assert [str(r) for r in linked.metadata.requires_dist] == ["certi>=1"]
    entry = store.get(hash_key(url))
    assert entry is not None and entry.value == digest and entry.etag
    stored = store.get(metadata_key(url=url, sha256=digest))
    assert stored is not None and stored.value["source"] == "wheel"


def test_a_url_s_sha256_fragment_is_checked_against_the_file(
    archives: ArchiveServer, store: Store, tmp_path: Path
) -> None:
    """``name @ URL#sha256=HEX``: pip refuses the file when its sha256 is another; the lock
    was written with the fragment and the real hash, exit 0, and ``pip install
    --require-hashes`` installed it. A fragment that matches (in any case) is the lock's hash;
    one that does not fails the line, cached or not."""
    wheel = make_wheel(tmp_path, "wheelpkg", "2.1")
    archives.files["/dl/wheelpkg-2.1-py3-none-any.whl"] = wheel.read_bytes()
    url = archives.url("/dl/wheelpkg-2.1-py3-none-any.whl")
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    resolver = LinkResolver(HttpClient(), index_urls=["http://127.0.0.1:9/simple"], store=store)
    linked = resolver.resolve(line(f"wheelpkg @ {url}#sha256={digest.upper()}"))
    assert linked.hashes == (f"sha256:{digest}",)
    for _ in range(2):  # downloaded, then from the store
        with pytest.raises(HashError) as raised:
            resolver.resolve(line(f"wheelpkg @ {url}#sha256={'0' * 64}"))
        assert str(raised.value) == (
            f"requirements.in:1: the archive does not have the sha256 its URL gives: {url} has "
            f"sha256:{digest}, the URL's #sha256= is sha256:{'0' * 64}"
        )


def test_archive_is_hashed_while_streaming_to_a_temporary_file_that_is_removed(
    archives: ArchiveServer,
    store: Store,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wheel = make_wheel(tmp_path / "dists", "wheelpkg", "2.1")
    with zipfile.ZipFile(wheel, "a") as archive:  # 512 kB that does not compress
        archive.writestr("wheelpkg/blob.bin", os.urandom(1 << 19), zipfile.ZIP_STORED)
    data = wheel.read_bytes()
    archives.files["/dl/wheelpkg-2.1-py3-none-any.whl"] = data
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    chunks: list[int] = []
    read_from: list[Path] = []
    real_pieces = lockbuild.index.http.pieces

    def whole_reads_refused(*args: object, **kwargs: object) -> None:
        raise AssertionError("an archive is never read into memory with HttpClient.get")

    def counting_pieces(*args: Any, **kwargs: Any) -> Iterator[bytes | memoryview]:
        return (piece for piece in real_pieces(*args, **kwargs) if not chunks.append(len(piece)))

    def recording_reader(file: BinaryIO, *, filename: str) -> bytes:
        read_from.append(Path(file.name))
        assert Path(file.name).read_bytes() == data, "the whole file, on disk"
        return read_wheel_metadata(file, filename=filename)

    monkeypatch.setattr(HttpClient, "get", whole_reads_refused)
    monkeypatch.setattr(lockbuild.index.http, "pieces", counting_pieces)
    monkeypatch.setattr(lockbuild.index.archives, "read_wheel_metadata", recording_reader)
    url = archives.url("/dl/wheelpkg-2.1-py3-none-any.whl")
    linked = LinkResolver(HttpClient(), index_urls=["x"], store=store).resolve(line(url))
    assert linked.hashes == (f"sha256:{hashlib.sha256(data).hexdigest()}",)
    assert len(chunks) > 1 and max(chunks) <= GATHER_SIZE and sum(chunks) == len(data)
    assert [path.name for path in read_from] == ["wheelpkg-2.1-py3-none-any.whl"]
    assert read_from[0].is_relative_to(scratch)
    assert list(scratch.iterdir()) == [], "the download is deleted afterwards"


def test_last_modified_revalidates_and_a_change_is_downloaded_and_reported(
    archives: ArchiveServer, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    archives.last_modified = "Wed, 21 Oct 2015 07:28:00 GMT"
    first = project_zip("archpkg", "0.3", prefix="archpkg-main")
    archives.files["/a.zip"] = first
    url = archives.url("/a.zip")
    http = HttpClient()
    assert LinkResolver(http, index_urls=["x"], store=store).resolve(line(url)).hashes == (
        f"sha256:{hashlib.sha256(first).hexdigest()}",
    )
    again = LinkResolver(http, index_urls=["x"], store=store).resolve(line(url))
    assert str(again.version) == "0.3"
    assert archives.statuses("/a.zip") == [200, 304]
    assert archives.request_headers[1]["If-Modified-Since"] == archives.last_modified
    assert archives.request_headers[1]["Accept-Encoding"] == "identity"

    changed = project_zip("archpkg", "0.4", prefix="archpkg-main")
    archives.files["/a.zip"] = changed
    archives.last_modified = "Thu, 22 Oct 2015 07:28:00 GMT"
    with caplog.at_level(logging.WARNING, logger="lockbuild.index.links"):
        linked = LinkResolver(http, index_urls=["x"], store=store).resolve(line(url))
    assert str(linked.version) == "0.4"
    assert linked.hashes == (f"sha256:{hashlib.sha256(changed).hexdigest()}",)
    assert archives.statuses("/a.zip") == [200, 304, 200]
    assert "the archive changed since it was cached" in caplog.text
    entry = store.get(hash_key(url))
    assert entry is not None and entry.last_modified == archives.last_modified


def test_a_source_archive_is_built_once_per_content_whatever_its_url(
    archives: ArchiveServer, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = project_zip("archpkg", "0.3", prefix="archpkg-main")
    archives.files["/o/archpkg/archive/main.zip"] = data
    archives.files["/mirror/archpkg-main.zip"] = data
    builds: list[str] = []
    real_build = lockbuild.index.archives.build_sdist_metadata

    def counting_build(sdist: Path, **options: object) -> bytes:
        builds.append(sdist.name)
        return real_build(sdist, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(lockbuild.index.archives, "build_sdist_metadata", counting_build)
    http = HttpClient()
    for path in ("/o/archpkg/archive/main.zip", "/mirror/archpkg-main.zip"):
        linked = LinkResolver(http, index_urls=["x"], store=store).resolve(
            line(f"archpkg @ {archives.url(path)}")
        )
        assert str(linked.version) == "0.3"
    assert builds == ["main.zip"], "the second URL has the same sha256: no build"
    entry = store.get(metadata_key(url="", sha256=hashlib.sha256(data).hexdigest()))
    assert entry is not None and entry.value["source"] == "build"


def test_archive_without_a_suffix_is_recognised_by_its_first_bytes(
    archives: ArchiveServer,
) -> None:
    archives.files["/download?ref=main"] = project_zip("archpkg", "0.3", prefix="archpkg-main")
    linked = LinkResolver(HttpClient(), index_urls=["x"]).resolve(
        line(f"archpkg @ {archives.url('/download?ref=main')}")
    )
    assert (linked.name, str(linked.version)) == ("archpkg", "0.3")


def test_each_subdirectory_of_one_archive_has_its_own_metadata(
    archives: ArchiveServer, store: Store, tmp_path: Path
) -> None:
    """``lib @ URL#subdirectory=a`` and ``foo-bar @ URL#subdirectory=b`` of one archive: the
    metadata was kept by the archive's sha256 alone, so the second line read the first's
    (``the project there is lib, not foo-bar``) and ``lib @ URL#subdirectory=b`` was locked
    as lib; a local archive's ``#subdirectory`` was not read at all. Each is its own now."""
    data = zip_tree(
        {
            **{
                path.replace("mono/", "mono/a/", 1): content
                for path, content in _zip_files(project_zip("lib", "1.0", prefix="mono")).items()
            },
            **{
                path.replace("mono/", "mono/b/", 1): content
                for path, content in _zip_files(
                    project_zip("foo-bar", "3.0", prefix="mono", requires_dist=["dep-b"])
                ).items()
            },
        }
    )
    archives.files["/mono.zip"] = data
    local = tmp_path / "mono.zip"
    local.write_bytes(data)
    for url in (archives.url("/mono.zip"), local.as_uri()):
        resolver = LinkResolver(HttpClient(), index_urls=["x"], store=store)
        lib = resolver.resolve(line(f"lib @ {url}#subdirectory=a"))
        foo = resolver.resolve(line(f"foo-bar @ {url}#subdirectory=b"))
        assert (lib.name, foo.name) == ("lib", "foo-bar")
        assert [str(r) for r in foo.metadata.requires_dist] == ["dep-b"]
        assert foo.url.endswith("mono.zip#subdirectory=b")  # the lock's line says where
        with pytest.raises(LinkError, match="the project there is foo-bar, not lib"):
            LinkResolver(HttpClient(), index_urls=["x"], store=store).resolve(
                line(f"lib @ {url}#subdirectory=b")
            )


def _zip_files(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_sdist_with_static_metadata_is_read_without_a_build(
    archives: ArchiveServer, tmp_path: Path
) -> None:
    sdist = make_sdist(tmp_path, "staticpkg", "1.2", requires_dist=["certi"], static_metadata=True)
    archives.files[f"/dl/{sdist.name}"] = sdist.read_bytes()
    resolver = LinkResolver(HttpClient(), index_urls=["x"], build_sdists=False)
    linked = resolver.resolve(line(archives.url(f"/dl/{sdist.name}")))
    assert (linked.name, str(linked.version)) == ("staticpkg", "1.2")
    assert [str(requirement) for requirement in linked.metadata.requires_dist] == ["certi"]


def test_offline_misses_are_recorded_for_one_error_when_a_list_is_given(
    archives: ArchiveServer, store: Store
) -> None:
    missing = MissingItems()
    resolver = LinkResolver(None, index_urls=["x"], store=store, offline=True, missing=missing)
    url = archives.url("/a.zip")
    stand_in = resolver.resolve(line(f"archpkg @ {url}"))
    assert (stand_in.name, stand_in.metadata.requires_dist) == ("archpkg", ())
    resolver.resolve(line(archives.url("/b.zip")))
    assert missing.items == (f"no cached hash for {url}", f"no cached hash for {url[:-5]}b.zip")
    assert archives.log == [], "offline: no request"


def test_offline_uses_the_cache_or_names_what_is_missing(
    archives: ArchiveServer, store: Store
) -> None:
    archives.files["/a.zip"] = project_zip("archpkg", "0.3", prefix="archpkg-main")
    url = archives.url("/a.zip")
    with pytest.raises(OfflineError, match=r"no cached hash for http://127\.0\.0\.1:\d+/a\.zip"):
        LinkResolver(None, index_urls=["x"], store=store, offline=True).resolve(line(url))
    LinkResolver(HttpClient(), index_urls=["x"], store=store).resolve(line(url))
    offline = LinkResolver(None, index_urls=["x"], store=store, offline=True)
    assert str(offline.resolve(line(url)).version) == "0.3"
    assert archives.statuses("/a.zip") == [200]


def test_source_archive_needs_a_build_and_building_can_be_refused(
    archives: ArchiveServer,
) -> None:
    archives.files["/a.zip"] = project_zip("archpkg", "0.3", prefix="archpkg-main")
    resolver = LinkResolver(HttpClient(), index_urls=["x"], build_sdists=False)
    with pytest.raises(BuildError) as caught:
        resolver.resolve(line(f"archpkg @ {archives.url('/a.zip')}"))
    assert str(caught.value).startswith("requirements.in:1: archpkg needs a metadata build")
    assert "build-sdists = false" in str(caught.value)


def test_not_an_archive_and_missing_paths_are_link_errors(
    archives: ArchiveServer, tmp_path: Path
) -> None:
    archives.files["/page"] = b"<html>not a zip</html>"
    resolver = LinkResolver(HttpClient(), index_urls=["x"])
    with pytest.raises(LinkError, match=r"^requirements\.in:1: not a wheel, sdist or source"):
        resolver.resolve(line(f"thing @ {archives.url('/page')}"))
    with pytest.raises(LinkError, match=r"no such file or directory: \./missing"):
        resolver.resolve(line("./missing", str(tmp_path / "requirements.in")))


def test_local_paths_are_written_relative_to_the_lock(tmp_path: Path) -> None:
    output = tmp_path / "locks" / "base.txt"
    assert relative_link((tmp_path / "src" / "pkg").as_posix(), output=output) == "../src/pkg"
    assert relative_link((tmp_path / "locks" / "pkg").as_posix(), output=output) == "./pkg"
    assert relative_link((tmp_path / "locks").as_posix(), output=output) == "."  # not ./.
    assert relative_link(tmp_path.as_posix(), output=output) == ".."
    assert relative_link("https://h/a.zip", output=output) == "https://h/a.zip"
