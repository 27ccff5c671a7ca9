"""Tests for lockbuild.index.client: the IndexClient against the hermetic IndexServer on 127.0.0.1.

The server's switches (PEP 691 JSON, PEP 658 metadata files, HTTP ranges) are varied to
check that each metadata route is taken when, and only when, the index allows it; the
request log is the witness of which route was taken.
"""

from __future__ import annotations

import hashlib
import random
import shutil
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from distbuilder import make_sdist, make_wheel
from indexserver import IndexServer, RequestRecord
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

import lockbuild.index.distmeta
from lockbuild.errors import BuildError, HashError, MetadataError, UncheckedMetadataError
from lockbuild.index.client import IndexClient
from lockbuild.index.http import HttpClient
from lockbuild.models import CoreMetadata, DistFile, ProjectPage
from lockbuild.resolution.source import MetadataTask

ServerFactory = Callable[..., IndexServer]
ClientFactory = Callable[..., IndexClient]

ALPHA = canonicalize_name("Alpha")
ALPHA_REQUIRES = ["beta>=1.0", "gamma[fast]<3; extra == 'speed'", "delta; python_version < '3.12'"]


def mode_id(json: bool, pep658: bool, ranges: bool) -> str:
    return "-".join(
        [
            "json" if json else "html",
            "pep658" if pep658 else "no658",
            "ranges" if ranges else "noranges",
        ]
    )


ALL_MODES = [
    pytest.param(
        {"json": json, "pep658": pep658, "ranges": ranges}, id=mode_id(json, pep658, ranges)
    )
    for json in (True, False)
    for pep658 in (True, False)
    for ranges in (True, False)
]
PAGE_MODES = [
    pytest.param(
        {"json": json, "pep658": pep658}, id=mode_id(json, pep658, True).rpartition("-")[0]
    )
    for json in (True, False)
    for pep658 in (True, False)
]
FORMATS = [pytest.param({"json": True}, id="json"), pytest.param({"json": False}, id="html")]


@pytest.fixture
def servers() -> Iterator[ServerFactory]:
    """Start IndexServers with the given options; all are stopped after the test."""
    started: list[IndexServer] = []

    def start(**options: Any) -> IndexServer:
        server = IndexServer(**options).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def clients(servers: ServerFactory) -> Iterator[ClientFactory]:
    """Make IndexClients over the given servers (first is the main index); closed after."""
    made: list[IndexClient] = []

    def make(
        *indexes: IndexServer, build_sdists: bool = True, verify_metadata: str = "download"
    ) -> IndexClient:
        client = IndexClient(
            HttpClient(backoff=0.01, connect_timeout=5.0, read_timeout=10.0),
            index_urls=[server.url for server in indexes],
            build_sdists=build_sdists,
            verify_metadata=verify_metadata,
        )
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()
        client.http.close()


def file_requests(server: IndexServer, filename: str) -> list[RequestRecord]:
    """Requests for the file itself (not its ``.metadata``)."""
    return [record for record in server.requests if record[1] == f"/files/{filename}"]


def metadata_requests(server: IndexServer, filename: str) -> list[RequestRecord]:
    return [record for record in server.requests if record[1] == f"/files/{filename}.metadata"]


def only_file(page: ProjectPage, filename: str) -> DistFile:
    (file,) = [file for file in page.files if file.filename == filename]
    return file


def requirement_strings(metadata: CoreMetadata) -> list[str]:
    return [str(requirement) for requirement in metadata.requires_dist]


def normalized(requirements: Iterable[str]) -> list[str]:
    return [str(Requirement(line)) for line in requirements]


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


# -- project pages --------------------------------------------------------------------------


@pytest.mark.parametrize("options", PAGE_MODES)
def test_project_page_lists_files_with_hashes_and_requires_python(
    servers: ServerFactory, clients: ClientFactory, tmp_path: Path, options: dict[str, bool]
) -> None:
    server = servers(**options)
    wheel = make_wheel(tmp_path, "Alpha", "1.0", requires_python=">=3.8")
    sdist = make_sdist(tmp_path, "Alpha", "1.0", requires_python=">=3.8")
    old = make_wheel(tmp_path, "Alpha", "0.9")
    server.add(wheel, upload_time="2024-01-02T03:04:05Z")
    server.add(sdist)
    server.add(old, yanked="broken build")
    server.add(make_wheel(tmp_path, "beta", "1.0"))  # another project: not on alpha's page

    page = clients(server).project_page(ALPHA)

    assert page.name == "alpha"
    assert page.index_url == server.url
    assert sorted(file.filename for file in page.files) == sorted(
        [wheel.name, sdist.name, old.name]
    )
    for path in (wheel, sdist, old):
        file = only_file(page, path.name)
        assert file.url == server.file_url(path.name)
        assert file.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
        assert file.requires_python == (None if path == old else ">=3.8")
        # This server offers PEP 658 files for wheels only.
        assert (file.metadata_hashes is not None) == (options["pep658"] and file.is_wheel)
    assert only_file(page, old.name).yanked == "broken build"
    assert only_file(page, wheel.name).yanked is None
    if options["json"]:
        assert only_file(page, wheel.name).upload_time == "2024-01-02T03:04:05Z"
        assert only_file(page, wheel.name).size == wheel.stat().st_size
    accepts = [record[3] for record in server.requests if record[1] == "/simple/alpha/"]
    assert len(accepts) == 1
    assert accepts[0] is not None and "application/vnd.pypi.simple.v1+json" in accepts[0]


@pytest.mark.parametrize("options", FORMATS)
def test_unknown_project_gives_an_empty_page(
    servers: ServerFactory, clients: ClientFactory, tmp_path: Path, options: dict[str, bool]
) -> None:
    server = servers(**options)
    server.add(make_wheel(tmp_path, "alpha", "1.0"))
    client = clients(server)
    page = client.project_page(canonicalize_name("no-such-project"))
    assert page == ProjectPage(
        name=canonicalize_name("no-such-project"), index_url=server.url, files=()
    )
    assert server.count("/simple/no-such-project/") == 1
    # Pages are fetched once per client, also the empty ones.
    client.project_page(canonicalize_name("no-such-project"))
    assert server.count("/simple/no-such-project/") == 1


def test_project_only_on_the_extra_index_comes_from_there(
    servers: ServerFactory, clients: ClientFactory, tmp_path: Path
) -> None:
    main, extra = servers(), servers(json=False)
    main.add(make_wheel(tmp_path / "main", "unrelated", "1.0"))
    wheel = make_wheel(tmp_path / "extra", "alpha", "2.0")
    extra.add(wheel)
    page = clients(main, extra).project_page(ALPHA)
    assert page.index_url == extra.url
    assert [file.url for file in page.files] == [extra.file_url(wheel.name)]
    assert main.count("/simple/alpha/") == 0  # the extra index is asked first
    assert extra.count("/simple/alpha/") == 1
    main.add(make_wheel(tmp_path / "main", "beta", "1.0"))
    assert clients(main, extra).project_page(canonicalize_name("beta")).index_url == main.url
    assert extra.count("/simple/beta/") == main.count("/simple/beta/") == 1  # then the index


def test_an_extra_index_with_the_project_wins_over_the_index(
    servers: ServerFactory, clients: ClientFactory, tmp_path: Path
) -> None:
    """As uv has it: a private package on an extra index is not shadowed by its name taken
    on the (public) index, which is not even asked."""
    main, extra = servers(), servers()
    main.add(make_wheel(tmp_path / "main", "alpha", "1.0"))
    extra.add(make_wheel(tmp_path / "extra", "alpha", "2.0"))
    page = clients(main, extra).project_page(ALPHA)
    assert page.index_url == extra.url
    assert [file.filename for file in page.files] == ["alpha-2.0-py3-none-any.whl"]
    assert main.count("/simple/alpha/") == 0


def test_project_on_no_index_gives_an_empty_page_of_the_first(
    servers: ServerFactory, clients: ClientFactory
) -> None:
    main, extra = servers(), servers()
    page = clients(main, extra).project_page(ALPHA)
    assert page == ProjectPage(name=ALPHA, index_url=main.url, files=())
    assert main.count("/simple/alpha/") == extra.count("/simple/alpha/") == 1


# -- metadata of wheels ---------------------------------------------------------------------


@pytest.mark.parametrize("verify", ["range", "download"])
@pytest.mark.parametrize("options", ALL_MODES)
def test_wheel_metadata_and_the_route_taken(
    servers: ServerFactory,
    clients: ClientFactory,
    tmp_path: Path,
    options: dict[str, bool],
    verify: str,
) -> None:
    server = servers(**options)
    wheel = make_wheel(
        tmp_path,
        "Alpha",
        "1.0",
        requires_dist=ALPHA_REQUIRES,
        requires_python=">=3.9",
        provides_extra=["speed"],
    )
    server.add(wheel)
    client = clients(server, verify_metadata=verify)
    file = only_file(client.project_page(ALPHA), wheel.name)
    server.reset_log()

    metadata = client.metadata(file, name=ALPHA, version=Version("1.0"))

    assert metadata.name == "alpha"
    assert metadata.version == Version("1.0")
    assert requirement_strings(metadata) == normalized(ALPHA_REQUIRES)
    assert metadata.requires_python == ">=3.9"
    assert metadata.provides_extra == ("speed",)

    downloads = file_requests(server, wheel.name)
    if options["pep658"]:
        assert len(metadata_requests(server, wheel.name)) == 1
        assert downloads == []
    elif options["ranges"] and verify == "range":
        assert metadata_requests(server, wheel.name) == []
        assert downloads, "the wheel was not read at all"
        assert all(record[2] is not None for record in downloads), downloads
    else:
        assert metadata_requests(server, wheel.name) == []
        assert len(downloads) == 1
    assert server.count("/simple/") == 0

    # Asked again: answered from the client's cache.
    assert client.metadata(file, name=ALPHA, version=Version("1.0")) == metadata
    assert len(server.requests) == len(downloads) + len(metadata_requests(server, wheel.name))


def range_length(header: str, size: int) -> int:
    """How many bytes a ``bytes=a-b`` or ``bytes=-n`` request asks for from a file of ``size``."""
    first, _, last = header.removeprefix("bytes=").partition("-")
    if not first:
        return min(int(last), size)
    return min(int(last), size - 1) - int(first) + 1


@pytest.mark.parametrize(
    ("metadata_first", "expected_requests"),
    [
        pytest.param(False, 1, id="metadata-in-the-tail"),
        pytest.param(True, 2, id="metadata-at-the-start"),
    ],
)
def test_large_wheel_metadata_is_read_by_small_ranges(
    servers: ServerFactory,
    clients: ClientFactory,
    tmp_path: Path,
    metadata_first: bool,
    expected_requests: int,
) -> None:
    """A wheel far bigger than the first range read: only small parts of it are fetched."""
    server = servers(pep658=False)
    small = make_wheel(tmp_path / "small", "Alpha", "1.0", requires_dist=ALPHA_REQUIRES)
    big = tmp_path / small.name
    noise = random.Random(0).randbytes(512 * 1024)  # incompressible
    with zipfile.ZipFile(small) as source, zipfile.ZipFile(big, "w") as target:
        if not metadata_first:
            target.writestr("alpha/blob.bin", noise)
        for info in source.infolist():
            target.writestr(info, source.read(info))
        if metadata_first:
            target.writestr("alpha/blob.bin", noise)
    size = big.stat().st_size
    server.add(big)
    client = clients(server, verify_metadata="range")
    file = only_file(client.project_page(ALPHA), big.name)

    metadata = client.metadata(file, name=ALPHA, version=Version("1.0"))

    assert requirement_strings(metadata) == normalized(ALPHA_REQUIRES)
    headers = [record[2] for record in file_requests(server, big.name)]
    assert len(headers) == expected_requests
    assert all(header is not None for header in headers)
    fetched = sum(range_length(str(header), size) for header in headers)
    assert fetched < size // 3


@pytest.mark.parametrize("options", ALL_MODES)
def test_metadata_name_or_version_mismatch_raises(
    servers: ServerFactory, clients: ClientFactory, tmp_path: Path, options: dict[str, bool]
) -> None:
    server = servers(**options)
    wheel = make_wheel(tmp_path, "alpha", "1.0")
    renamed = tmp_path / "alpha-2.0-py3-none-any.whl"  # file name says 2.0, METADATA says 1.0
    shutil.copy(wheel, renamed)
    server.add(renamed)
    for mode in ("range", "download"):
        client = clients(server, verify_metadata=mode)
        file = only_file(client.project_page(ALPHA), renamed.name)
        with pytest.raises(MetadataError) as caught:
            client.metadata(file, name=ALPHA, version=Version("2.0"))
        message = str(caught.value)
        assert "1.0" in message and "2.0" in message
        assert renamed.name in message
        # a fact about the release (skipped) only when a hash vouches for the bytes read
        range_read = mode == "range" and options["ranges"] and not options["pep658"]
        assert caught.value.about_release is not range_read
        assert isinstance(caught.value, UncheckedMetadataError) is range_read


@pytest.mark.parametrize("hash_in_page", [True, False], ids=["sha256", "no-hash"])
def test_a_damaged_download_is_never_taken_for_the_release(
    servers: ServerFactory, clients: ClientFactory, tmp_path: Path, hash_in_page: bool
) -> None:
    server = servers(pep658=False, ranges=False)
    server.add(make_wheel(tmp_path, "alpha", "1.0"), hash_in_page=hash_in_page)
    client = clients(server)
    file = only_file(client.project_page(ALPHA), "alpha-1.0-py3-none-any.whl")
    server.fault("alpha-1.0-py3-none-any.whl", "corrupt")
    expected = HashError if hash_in_page else UncheckedMetadataError
    with pytest.raises(expected) as caught:
        client.metadata(file, name=ALPHA, version=Version("1.0"))
    assert not caught.value.about_release
    assert server.file_url("alpha-1.0-py3-none-any.whl") in str(caught.value)


def test_pep658_metadata_not_matching_its_hash_raises(
    servers: ServerFactory, clients: ClientFactory, tmp_path: Path
) -> None:
    server = servers(pep658=True)
    server.add(make_wheel(tmp_path, "alpha", "1.0"))
    client = clients(server)
    file = only_file(client.project_page(ALPHA), "alpha-1.0-py3-none-any.whl")
    server.replace(make_wheel(tmp_path / "v2", "alpha", "1.0", requires_dist=["changed"]))
    with pytest.raises(HashError, match="does not match the index's sha256") as raised:
        client.metadata(file, name=ALPHA, version=Version("1.0"))
    assert not raised.value.about_release  # a lock fails on it rather than skip the release


# -- metadata of sdists ---------------------------------------------------------------------


def fail_if_called(*args: object, **kwargs: object) -> bytes:
    raise AssertionError("build_sdist_metadata must not be called")


@pytest.mark.parametrize("options", FORMATS)
def test_sdist_with_static_metadata_needs_no_build(
    servers: ServerFactory,
    clients: ClientFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    options: dict[str, bool],
) -> None:
    monkeypatch.setattr(lockbuild.index.distmeta, "build_sdist_metadata", fail_if_called)
    server = servers(**options)
    sdist = make_sdist(
        tmp_path,
        "Alpha",
        "1.0",
        requires_dist=ALPHA_REQUIRES,
        requires_python=">=3.9",
        static_metadata=True,
    )
    server.add(sdist)
    client = clients(server, build_sdists=False)  # a build would not even be allowed
    file = only_file(client.project_page(ALPHA), sdist.name)
    metadata = client.metadata(file, name=ALPHA, version=Version("1.0"))
    assert metadata.name == "alpha"
    assert requirement_strings(metadata) == normalized(ALPHA_REQUIRES)
    assert metadata.requires_python == ">=3.9"
    assert len(file_requests(server, sdist.name)) == 1
    assert metadata_requests(server, sdist.name) == []


@pytest.mark.parametrize("options", FORMATS)
def test_sdist_without_static_metadata_is_built(
    servers: ServerFactory, clients: ClientFactory, tmp_path: Path, options: dict[str, bool]
) -> None:
    server = servers(**options)
    sdist = make_sdist(
        tmp_path, "Alpha", "1.0", requires_dist=ALPHA_REQUIRES, requires_python=">=3.9"
    )
    server.add(sdist)
    client = clients(server)
    file = only_file(client.project_page(ALPHA), sdist.name)
    metadata = client.metadata(file, name=ALPHA, version=Version("1.0"))
    assert metadata.name == "alpha"
    assert metadata.version == Version("1.0")
    assert requirement_strings(metadata) == normalized(ALPHA_REQUIRES)
    assert metadata.requires_python == ">=3.9"
    assert len(file_requests(server, sdist.name)) == 1


def test_sdist_build_refused_when_building_is_disabled(
    servers: ServerFactory,
    clients: ClientFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(lockbuild.index.distmeta, "build_sdist_metadata", fail_if_called)
    server = servers()
    sdist = make_sdist(tmp_path, "Alpha", "1.0", requires_dist=ALPHA_REQUIRES)
    server.add(sdist)
    client = clients(server, build_sdists=False)
    file = only_file(client.project_page(ALPHA), sdist.name)
    with pytest.raises(BuildError) as caught:
        client.metadata(file, name=ALPHA, version=Version("1.0"))
    message = str(caught.value)
    assert "alpha 1.0" in message
    assert sdist.name in message


# -- an sdist beside wheels for other platforms ----------------------------------------------

PLATFORM_TAGS = ("cp311-cp311-win_amd64", "cp311-cp311-macosx_11_0_arm64")


def sdist_beside_wheels(
    server: IndexServer, directory: Path, wheel_requires: Iterable[list[str]], **sdist: Any
) -> str:
    """Alpha 1.0 as an sdist and wheels for other platforms (one per requirement list); the
    sdist's file name."""
    for tag, requires in zip(PLATFORM_TAGS, wheel_requires, strict=False):
        server.add(make_wheel(directory, "Alpha", "1.0", requires_dist=requires, tag=tag))
    path = make_sdist(directory, "Alpha", "1.0", requires_dist=ALPHA_REQUIRES, **sdist)
    server.add(path)
    return path.name


@pytest.mark.parametrize("options", PAGE_MODES)
def test_an_sdist_is_not_built_when_its_release_wheels_agree(
    servers: ServerFactory,
    clients: ClientFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    options: dict[str, bool],
) -> None:
    monkeypatch.setattr(lockbuild.index.distmeta, "build_sdist_metadata", fail_if_called)
    server = servers(**options)
    sdist = sdist_beside_wheels(server, tmp_path, [ALPHA_REQUIRES, list(reversed(ALPHA_REQUIRES))])
    client = clients(server)
    file = only_file(client.project_page(ALPHA), sdist)
    metadata = client.metadata(file, name=ALPHA, version=Version("1.0"))
    assert sorted(requirement_strings(metadata)) == sorted(normalized(ALPHA_REQUIRES))
    assert file_requests(server, sdist) == []  # the sdist is neither downloaded nor built
    wheel_reads = [
        path for _, path, _, _ in server.requests if path.startswith("/files/alpha-1.0-cp311")
    ]
    assert len(wheel_reads) == 2  # the two wheels' METADATA differ in order only: both read


def test_wheels_with_one_metadata_file_hash_are_read_once(
    servers: ServerFactory, clients: ClientFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lockbuild.index.distmeta, "build_sdist_metadata", fail_if_called)
    server = servers()
    sdist = sdist_beside_wheels(server, tmp_path, [ALPHA_REQUIRES, ALPHA_REQUIRES])
    client = clients(server, build_sdists=False)
    file = only_file(client.project_page(ALPHA), sdist)
    metadata = client.metadata(file, name=ALPHA, version=Version("1.0"))
    assert requirement_strings(metadata) == normalized(ALPHA_REQUIRES)
    reads = [path for _, path, _, _ in server.requests if path.endswith(".whl.metadata")]
    assert len(reads) == 1
    assert file_requests(server, sdist) == []


@pytest.mark.parametrize("options", FORMATS)
def test_wheels_that_disagree_leave_the_sdist_static_metadata_then_a_build(
    servers: ServerFactory,
    clients: ClientFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    options: dict[str, bool],
) -> None:
    monkeypatch.setattr(lockbuild.index.distmeta, "build_sdist_metadata", fail_if_called)
    server = servers(**options)
    static = sdist_beside_wheels(
        server, tmp_path / "static", [["beta>=1.0"], ["beta>=2.0"]], static_metadata=True
    )
    client = clients(server)
    file = only_file(client.project_page(ALPHA), static)
    metadata = client.metadata(file, name=ALPHA, version=Version("1.0"))
    assert requirement_strings(metadata) == normalized(ALPHA_REQUIRES)  # PKG-INFO's
    assert len(file_requests(server, static)) == 1

    built: list[Path] = []

    def build(sdist: Path, **_: object) -> bytes:
        built.append(sdist)
        return _pkg_info_of_alpha()

    monkeypatch.setattr(lockbuild.index.distmeta, "build_sdist_metadata", build)
    other = servers(**options)
    dynamic = sdist_beside_wheels(other, tmp_path / "dynamic", [["beta>=1.0"], ["beta>=2.0"]])
    client = clients(other)
    file = only_file(client.project_page(ALPHA), dynamic)
    metadata = client.metadata(file, name=ALPHA, version=Version("1.0"))
    assert [path.name for path in built] == [dynamic]
    assert requirement_strings(metadata) == ["beta>=3"]


def _pkg_info_of_alpha() -> bytes:
    return b"Metadata-Version: 2.1\nName: Alpha\nVersion: 1.0\nRequires-Dist: beta>=3\n"


# -- hashes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("options", FORMATS)
def test_file_hashes_come_from_the_page_without_downloads(
    servers: ServerFactory, clients: ClientFactory, tmp_path: Path, options: dict[str, bool]
) -> None:
    server = servers(**options)
    paths = [make_wheel(tmp_path, "alpha", "1.0"), make_sdist(tmp_path, "alpha", "1.0")]
    for path in paths:
        server.add(path)
    client = clients(server)
    page = client.project_page(ALPHA)
    hashes = client.file_hashes(page.files)
    assert hashes == {
        server.file_url(path.name): f"sha256:{hashlib.sha256(path.read_bytes()).hexdigest()}"
        for path in paths
    }
    assert server.count("/files/") == 0


@pytest.mark.parametrize("options", FORMATS)
def test_file_hashes_download_files_the_page_gives_no_hash_for(
    servers: ServerFactory, clients: ClientFactory, tmp_path: Path, options: dict[str, bool]
) -> None:
    server = servers(**options)
    wheel = make_wheel(tmp_path, "alpha", "1.0")
    sdist = make_sdist(tmp_path, "alpha", "1.0")
    server.add(wheel)
    server.add(sdist, hash_in_page=False)
    client = clients(server)
    page = client.project_page(ALPHA)
    assert only_file(page, sdist.name).sha256 is None

    hashes = client.file_hashes(page.files)

    assert hashes == {
        server.file_url(path.name): f"sha256:{hashlib.sha256(path.read_bytes()).hexdigest()}"
        for path in (wheel, sdist)
    }
    assert len(file_requests(server, sdist.name)) == 1
    assert file_requests(server, wheel.name) == []
    # Downloaded once per client, however often asked.
    assert client.file_hashes([only_file(page, sdist.name)]) == {
        server.file_url(sdist.name): hashes[server.file_url(sdist.name)]
    }
    assert len(file_requests(server, sdist.name)) == 1


def test_a_file_hashed_for_the_lock_is_checked_against_the_page_s_md5(
    servers: ServerFactory, clients: ClientFactory, tmp_path: Path
) -> None:
    """A page that gives an md5 only: the file downloaded to work out its sha256 for the
    lock is checked against it, and a corrupted download is an error, not a pinned hash."""
    server = servers(page_hash="md5")
    sdist = make_sdist(tmp_path, "alpha", "1.0", static_metadata=True)
    server.add(sdist)
    client = clients(server)
    file = only_file(client.project_page(ALPHA), sdist.name)
    assert file.sha256 is None and "md5" in file.hashes
    server.fault(f"/files/{sdist.name}", "corrupt", times=8)
    with pytest.raises(HashError, match="does not match the index's md5"):
        client.file_hashes([file])
    server.clear_faults()
    expected = hashlib.sha256(sdist.read_bytes()).hexdigest()
    assert clients(server).file_hashes([file]) == {file.url: f"sha256:{expected}"}


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        pytest.param("wheel", {"pep658": False, "ranges": False}, id="wheel-downloaded"),
        pytest.param("sdist", {}, id="sdist-downloaded"),
    ],
)
def test_download_not_matching_the_page_hash_raises(
    servers: ServerFactory,
    clients: ClientFactory,
    tmp_path: Path,
    kind: str,
    options: dict[str, bool],
) -> None:
    server = servers(**options)

    def make(directory: Path, requires_dist: list[str]) -> Path:
        if kind == "wheel":
            return make_wheel(directory, "alpha", "1.0", requires_dist=requires_dist)
        return make_sdist(
            directory, "alpha", "1.0", requires_dist=requires_dist, static_metadata=True
        )

    original = make(tmp_path / "v1", [])
    server.add(original)
    client = clients(server)
    file = only_file(client.project_page(ALPHA), original.name)
    # The index now serves other bytes under the file name whose hash the page gave.
    server.replace(make(tmp_path / "v2", ["tampered"]))
    assert server.sha256(original.name) != file.sha256
    with pytest.raises(HashError) as caught:
        client.metadata(file, name=ALPHA, version=Version("1.0"))
    assert original.name in str(caught.value)
    assert str(file.sha256) in str(caught.value)


# -- prefetching and concurrency ------------------------------------------------------------


class WheelPolicy:
    """Prefetch every wheel's metadata, then every dependency's page."""

    def files_to_prefetch(self, page: ProjectPage) -> list[MetadataTask]:
        return [(file, page.name, Version("1.0")) for file in page.files if file.is_wheel]

    def dependencies_to_prefetch(self, metadata: CoreMetadata) -> list[NormalizedName]:
        return [canonicalize_name(requirement.name) for requirement in metadata.requires_dist]


class BrokenPolicy(WheelPolicy):
    def __init__(self) -> None:
        self.called: list[NormalizedName] = []

    def files_to_prefetch(self, page: ProjectPage) -> list[MetadataTask]:
        self.called.append(page.name)
        raise ValueError("hint failed")


def test_prefetch_pages_then_fetches_metadata_in_the_background(
    servers: ServerFactory, clients: ClientFactory, tmp_path: Path
) -> None:
    server = servers()
    wheel = make_wheel(tmp_path, "alpha", "1.0", requires_dist=["beta"])
    server.add(wheel)
    client = clients(server)

    client.prefetch_pages([ALPHA], policy=WheelPolicy())  # returns at once

    assert wait_for(lambda: len(metadata_requests(server, wheel.name)) == 1)
    assert wait_for(lambda: server.count("/simple/beta/") == 1), "dependency page not followed"
    file = only_file(client.project_page(ALPHA), wheel.name)
    metadata = client.metadata(file, name=ALPHA, version=Version("1.0"))
    assert requirement_strings(metadata) == ["beta"]
    assert len(metadata_requests(server, wheel.name)) == 1  # the prefetched one was used
    assert server.count("/simple/alpha/") == 1


def test_a_failing_prefetch_hint_breaks_nothing(
    servers: ServerFactory, clients: ClientFactory, tmp_path: Path
) -> None:
    server = servers()
    server.add(make_wheel(tmp_path, "alpha", "1.0"))
    client = clients(server)
    policy = BrokenPolicy()
    called = policy.called

    client.prefetch_pages([ALPHA, canonicalize_name("absent")], policy=policy)
    assert len(client.project_page(ALPHA).files) == 1
    assert client.project_page(canonicalize_name("absent")).files == ()
    assert wait_for(lambda: sorted(called) == ["absent", "alpha"])
    assert server.count(".metadata") == 0


def test_prefetch_metadata_fetches_ahead(
    servers: ServerFactory, clients: ClientFactory, tmp_path: Path
) -> None:
    server = servers(pep658=False)
    wheel = make_wheel(tmp_path, "alpha", "1.0", requires_dist=["beta"])
    server.add(wheel)
    client = clients(server)
    page = client.project_page(ALPHA)
    client.prefetch_metadata(WheelPolicy().files_to_prefetch(page))
    assert wait_for(lambda: len(file_requests(server, wheel.name)) > 0)
    metadata = client.metadata(page.files[0], name=ALPHA, version=Version("1.0"))
    assert requirement_strings(metadata) == ["beta"]
    # One range read in all: metadata() waited for the prefetch instead of starting anew.
    assert len(file_requests(server, wheel.name)) == 1


def test_pages_are_fetched_concurrently(
    servers: ServerFactory, clients: ClientFactory, tmp_path: Path
) -> None:
    """The index holds every page request until all 8 have arrived: fetched one after
    another, the first would wait for the others until the barrier gives up."""
    server = servers()
    names = [canonicalize_name(f"project-{number}") for number in range(8)]
    for name in names:
        server.add(make_wheel(tmp_path, name, "1.0"))
    server.hold(r"^/simple/project-\d/$", len(names), timeout=10)
    client = clients(server)

    client.prefetch_pages(names)
    pages = [client.project_page(name) for name in names]

    assert server.barrier_failures == [], "the pages were not requested concurrently"
    assert [len(page.files) for page in pages] == [1] * 8
    assert server.count("/simple/") == 8
