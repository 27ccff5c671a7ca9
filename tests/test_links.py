"""The link resolver: archives hashed and cached by URL, wheels read, offline, paths, keys."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from distbuilder import make_wheel
from linkfixtures import ArchiveServer, project_zip
from packaging.utils import canonicalize_name

from lockbuild.errors import BuildError, LinkError, OfflineError
from lockbuild.http import HttpClient
from lockbuild.links import (
    LinkResolver,
    link_key,
    locked_link_hashes,
    relative_link,
    strip_egg,
)
from lockbuild.models import InputRequirement
from lockbuild.requirements import parse_requirements_text
from lockbuild.store import Store, hash_key, metadata_key, open_store


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


def test_strip_egg_keeps_other_fragment_items() -> None:
    assert strip_egg("git+https://h/r@v1#egg=r") == "git+https://h/r@v1"
    assert strip_egg("https://h/a.zip#egg=a&subdirectory=py") == "https://h/a.zip#subdirectory=py"
    assert strip_egg("https://h/a.zip") == "https://h/a.zip"


def test_link_keys_and_locked_hashes_of_a_previous_lock(tmp_path: Path) -> None:
    lock = tmp_path / "locks" / "base.txt"
    text = (
        "archpkg @ https://h/a.zip \\\n    --hash=sha256:" + "a" * 64 + "\n"
        "./vendor/x-1.0.tar.gz \\\n    --hash=sha256:" + "b" * 64 + "\n"
        "moved @ https://h/m.zip \\\n    --hash=sha256:" + "c" * 64 + "\n"
        "requests==2.0 \\\n    --hash=sha256:" + "d" * 64 + "\n"
    )
    entries = parse_requirements_text(text, str(lock)).requirements
    assert link_key(entries[0]) == "https://h/a.zip"
    assert link_key(entries[1]) == (tmp_path / "locks" / "vendor" / "x-1.0.tar.gz").as_posix()
    assert link_key(entries[3]) is None
    locked = locked_link_hashes(entries, upgrade_packages=frozenset({canonicalize_name("moved")}))
    assert locked == {
        "https://h/a.zip": ("sha256:" + "a" * 64,),
        (tmp_path / "locks" / "vendor" / "x-1.0.tar.gz").as_posix(): ("sha256:" + "b" * 64,),
    }


def test_local_paths_are_written_relative_to_the_lock(tmp_path: Path) -> None:
    output = tmp_path / "locks" / "base.txt"
    assert relative_link((tmp_path / "src" / "pkg").as_posix(), output=output) == "../src/pkg"
    assert relative_link((tmp_path / "locks" / "pkg").as_posix(), output=output) == "./pkg"
    assert relative_link("https://h/a.zip", output=output) == "https://h/a.zip"
