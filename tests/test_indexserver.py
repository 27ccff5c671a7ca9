"""Tests of the hermetic test infrastructure itself: distbuilder, IndexServer and fixtures."""

from __future__ import annotations

import base64
import gzip
import hashlib
import http.client
import json
import os
import subprocess
import sys
import tarfile
import time
import zipfile
from base64 import urlsafe_b64encode
from collections.abc import Mapping
from dataclasses import dataclass
from email.parser import HeaderParser
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import pytest
from conftest import UniverseBuilder
from distbuilder import make_sdist, make_wheel
from indexserver import JSON_V1, IndexServer
from pyproject_hooks import BuildBackendHookCaller

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

PIP_ACCEPT = f"{JSON_V1}, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def fetch(url: str, headers: Mapping[str, str] | None = None, method: str = "GET") -> Response:
    """One request without proxies or redirect following."""
    parts = urlsplit(url)
    assert parts.hostname == "127.0.0.1"
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        target = f"{parts.path}?{parts.query}" if parts.query else parts.path
        connection.request(method, target, headers=dict(headers or {}))
        response = connection.getresponse()
        return Response(response.status, response.headers, response.read())
    finally:
        connection.close()


class _AnchorParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.anchors: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.anchors.append(dict(attrs))


def anchors(body: bytes) -> dict[str, dict[str, str | None]]:
    """The page's anchors keyed by the file name their href points at (attributes unescaped)."""
    parser = _AnchorParser()
    parser.feed(body.decode())
    result = {}
    for attributes in parser.anchors:
        href = attributes["href"]
        assert href is not None
        result[unquote(urlsplit(href).path.rsplit("/", 1)[-1])] = attributes
    return result


def tar_text(path: Path, member: str) -> str:
    with tarfile.open(path) as archive:
        extracted = archive.extractfile(member)
        assert extracted is not None
        return extracted.read().decode()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def wheel_metadata(path: Path) -> bytes:
    with zipfile.ZipFile(path) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        return archive.read(name)


@pytest.fixture(scope="session")
def wheel(dist_dir: Path) -> Path:
    return make_wheel(
        dist_dir,
        "Demo.Pkg",
        "1.0",
        requires_dist=["dep>=1", "fastlib; extra == 'fast'"],
        requires_python=">=3.8,<4",
        provides_extra=["fast"],
    )


@pytest.fixture(scope="session")
def sdist(dist_dir: Path) -> Path:
    return make_sdist(
        dist_dir,
        "Demo.Pkg",
        "1.1",
        requires_dist=["dep>=2"],
        requires_python=">=3.9",
        static_metadata=True,
    )


@pytest.fixture
def server(index_server: IndexServer, wheel: Path, sdist: Path) -> IndexServer:
    index_server.add(wheel, upload_time="2024-01-02T03:04:05.000000Z")
    index_server.add(sdist, yanked="broken <build>")
    return index_server


def project_url(server: IndexServer) -> str:
    return f"{server.url}/demo-pkg/"


# -- distbuilder ----------------------------------------------------------------------------


def test_wheel_layout_record_and_determinism(tmp_path: Path, wheel: Path) -> None:
    assert wheel.name == "demo_pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        assert names[-1] == "demo_pkg-1.0.dist-info/RECORD"
        assert "demo_pkg/__init__.py" in names
        record = archive.read("demo_pkg-1.0.dist-info/RECORD").decode().splitlines()
        listed = {line.split(",")[0]: line.split(",", 1)[1] for line in record}
        assert set(listed) == set(names)
        for name in names[:-1]:
            data = archive.read(name)
            digest = urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            assert listed[name] == f"sha256={digest},{len(data)}"
        assert listed["demo_pkg-1.0.dist-info/RECORD"] == ","
    metadata = HeaderParser().parsestr(wheel_metadata(wheel).decode())
    assert metadata["Name"] == "Demo.Pkg"
    assert metadata["Requires-Python"] == ">=3.8,<4"
    assert metadata.get_all("Requires-Dist") == ["dep>=1", "fastlib; extra == 'fast'"]
    assert metadata.get_all("Provides-Extra") == ["fast"]

    again = make_wheel(
        tmp_path,
        "Demo.Pkg",
        "1.0",
        requires_dist=["dep>=1", "fastlib; extra == 'fast'"],
        requires_python=">=3.8,<4",
        provides_extra=["fast"],
    )
    assert again.read_bytes() == wheel.read_bytes()


def test_platform_wheel_name_and_tags(tmp_path: Path) -> None:
    path = make_wheel(tmp_path, "Native_Ext", "2.0", tag="cp311-cp311-manylinux_2_17_x86_64")
    assert path.name == "native_ext-2.0-cp311-cp311-manylinux_2_17_x86_64.whl"
    with zipfile.ZipFile(path) as archive:
        wheel_file = archive.read("native_ext-2.0.dist-info/WHEEL").decode()
    assert "Root-Is-Purelib: false" in wheel_file
    assert "Tag: cp311-cp311-manylinux_2_17_x86_64" in wheel_file


def test_sdist_layout_and_determinism(tmp_path: Path, sdist: Path) -> None:
    assert sdist.name == "demo_pkg-1.1.tar.gz"
    with tarfile.open(sdist) as archive:
        members = {member.name: member for member in archive.getmembers()}
        assert {m.mtime for m in members.values()} == {315532800}
    pkg_info = tar_text(sdist, "demo_pkg-1.1/PKG-INFO")
    pyproject = tomllib.loads(tar_text(sdist, "demo_pkg-1.1/pyproject.toml"))
    assert {"demo_pkg-1.1/tiny_backend.py", "demo_pkg-1.1/demo_pkg/__init__.py"} <= set(members)
    assert pyproject["build-system"] == {
        "requires": [],
        "build-backend": "tiny_backend",
        "backend-path": ["."],
    }
    assert pkg_info.startswith("Metadata-Version: 2.2\n")
    assert "Dynamic" not in pkg_info

    dynamic = make_sdist(tmp_path, "Demo.Pkg", "1.1", requires_dist=["dep>=2"])
    assert tar_text(dynamic, "demo_pkg-1.1/PKG-INFO").startswith("Metadata-Version: 2.1\n")
    again = make_sdist(
        tmp_path / "again",
        "Demo.Pkg",
        "1.1",
        requires_dist=["dep>=2"],
        requires_python=">=3.9",
        static_metadata=True,
    )
    assert again.read_bytes() == sdist.read_bytes()


def test_sdist_backend_hooks_yield_metadata(tmp_path: Path, sdist: Path) -> None:
    with tarfile.open(sdist) as archive:
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        archive.extractall(tmp_path / "src", **safe)  # type: ignore[arg-type]
    caller = BuildBackendHookCaller(
        str(tmp_path / "src" / "demo_pkg-1.1"), "tiny_backend", backend_path=["."]
    )
    assert caller.get_requires_for_build_wheel() == []
    dist_info = caller.prepare_metadata_for_build_wheel(str(tmp_path / "meta"))
    assert dist_info == "demo_pkg-1.1.dist-info"
    metadata = HeaderParser().parsestr((tmp_path / "meta" / dist_info / "METADATA").read_text())
    assert (metadata["Name"], metadata["Version"]) == ("Demo.Pkg", "1.1")
    assert metadata.get_all("Requires-Dist") == ["dep>=2"]
    assert metadata["Requires-Python"] == ">=3.9"

    built = caller.build_wheel(str(tmp_path))
    assert built == "demo_pkg-1.1-py3-none-any.whl"
    assert (
        wheel_metadata(tmp_path / built)
        == (tmp_path / "meta" / dist_info / "METADATA").read_bytes()
    )
    (tmp_path / "out").mkdir()
    rebuilt = caller.build_sdist(str(tmp_path / "out"))
    assert (tmp_path / "out" / rebuilt).read_bytes() == sdist.read_bytes()


# -- pages ----------------------------------------------------------------------------------


def test_root_page_lists_projects_in_html_and_json(server: IndexServer, dist_dir: Path) -> None:
    server.add(make_wheel(dist_dir, "Other_Thing", "0.1"))
    html_page = fetch(server.url + "/")
    assert html_page.status == 200
    assert html_page.headers["Content-Type"].startswith("text/html")
    assert [a["href"] for a in _root_anchors(html_page.body)] == ["demo-pkg/", "other-thing/"]

    json_page = fetch(server.url + "/", {"Accept": PIP_ACCEPT})
    assert json_page.headers["Content-Type"] == JSON_V1
    assert json_page.json() == {
        "meta": {"api-version": "1.1"},
        "projects": [{"name": "demo-pkg"}, {"name": "other-thing"}],
    }
    assert fetch(server.url).status == 301


def _root_anchors(body: bytes) -> list[dict[str, str | None]]:
    parser = _AnchorParser()
    parser.feed(body.decode())
    return parser.anchors


def test_html_project_page(server: IndexServer, wheel: Path, sdist: Path) -> None:
    response = fetch(project_url(server), {"Accept": "text/html"})
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert 'data-requires-python="&gt;=3.8,&lt;4"' in response.body.decode()
    links = anchors(response.body)
    assert list(links) == [wheel.name, sdist.name]

    wheel_link = links[wheel.name]
    assert wheel_link["href"] == f"../../files/{wheel.name}#sha256={sha256(wheel.read_bytes())}"
    assert urljoin(project_url(server), wheel_link["href"]).startswith(
        server.file_url(wheel.name) + "#"
    )
    assert wheel_link["data-requires-python"] == ">=3.8,<4"
    assert "data-yanked" not in wheel_link
    expected_metadata = f"sha256={sha256(wheel_metadata(wheel))}"
    assert wheel_link["data-core-metadata"] == expected_metadata
    assert wheel_link["data-dist-info-metadata"] == expected_metadata

    sdist_link = links[sdist.name]
    assert sdist_link["data-yanked"] == "broken <build>"
    assert sdist_link["data-requires-python"] == ">=3.9"  # read from PKG-INFO
    assert "data-core-metadata" not in sdist_link  # PEP 658 for wheels only, like PyPI


def test_hash_in_page_off_and_explicit_requires_python(
    index_server: IndexServer, wheel: Path
) -> None:
    index_server.add(wheel, hash_in_page=False, requires_python=">=3.10", yanked=True)
    link = anchors(fetch(project_url(index_server)).body)[wheel.name]
    assert link["href"] == f"../../files/{wheel.name}"
    assert link["data-requires-python"] == ">=3.10"
    assert link["data-yanked"] == ""
    (entry,) = fetch(project_url(index_server), {"Accept": JSON_V1}).json()["files"]
    assert entry["hashes"] == {}
    assert entry["yanked"] is True


def test_page_hash_algorithm(server: IndexServer, wheel: Path) -> None:
    server.page_hash = "md5"
    md5 = hashlib.md5(wheel.read_bytes()).hexdigest()
    assert anchors(fetch(project_url(server)).body)[wheel.name]["href"].endswith(f"#md5={md5}")
    files = fetch(project_url(server), {"Accept": JSON_V1}).json()["files"]
    assert [entry["hashes"] for entry in files if entry["filename"] == wheel.name] == [{"md5": md5}]


def test_json_api_on_and_off(server: IndexServer, wheel: Path, sdist: Path) -> None:
    url = f"{server.base_url}/pypi/Demo.Pkg/json"
    assert fetch(url).status == 404  # off by default
    server.json_api = True
    project = fetch(url).json()
    assert project["info"] == {"name": "demo-pkg", "version": "1.1"}
    assert [entry["filename"] for entry in project["urls"]] == [sdist.name]
    (entry,) = project["releases"]["1.0"]
    assert entry["filename"] == wheel.name
    assert entry["upload_time_iso_8601"] == "2024-01-02T03:04:05.000000Z"
    assert entry["digests"]["sha256"] == hashlib.sha256(wheel.read_bytes()).hexdigest()
    release = fetch(f"{server.base_url}/pypi/demo-pkg/1.0/json").json()
    assert [entry["filename"] for entry in release["urls"]] == [wheel.name]
    assert "releases" not in release
    assert fetch(f"{server.base_url}/pypi/demo-pkg/3.0/json").status == 404
    assert fetch(f"{server.base_url}/pypi/nothing/json").status == 404


def test_json_project_page(server: IndexServer, wheel: Path, sdist: Path) -> None:
    response = fetch(project_url(server), {"Accept": PIP_ACCEPT})
    assert response.status == 200
    assert response.headers["Content-Type"] == JSON_V1
    assert response.headers["Vary"] == "Accept"
    page = response.json()
    assert page["meta"] == {"api-version": "1.1"}
    assert page["name"] == "demo-pkg"
    assert page["versions"] == ["1.0", "1.1"]
    wheel_entry, sdist_entry = page["files"]
    metadata_hash = {"sha256": sha256(wheel_metadata(wheel))}
    assert wheel_entry == {
        "filename": wheel.name,
        "url": f"../../files/{wheel.name}",
        "hashes": {"sha256": sha256(wheel.read_bytes())},
        "requires-python": ">=3.8,<4",
        "yanked": False,
        "upload-time": "2024-01-02T03:04:05.000000Z",
        "size": wheel.stat().st_size,
        "core-metadata": metadata_hash,
        "dist-info-metadata": metadata_hash,
    }
    assert sdist_entry["filename"] == sdist.name
    assert sdist_entry["yanked"] == "broken <build>"
    assert sdist_entry["core-metadata"] is False
    assert "upload-time" not in sdist_entry


@pytest.mark.parametrize(
    ("accept", "json_enabled", "expected"),
    [
        (PIP_ACCEPT, True, JSON_V1),
        ("application/vnd.pypi.simple.latest+json", True, JSON_V1),
        (f"{JSON_V1}; q=0.2, text/html", True, "text/html"),
        ("application/vnd.pypi.simple.v1+html", True, "application/vnd.pypi.simple.v1+html"),
        (None, True, "text/html"),
        (PIP_ACCEPT, False, "application/vnd.pypi.simple.v1+html"),
        (JSON_V1, False, "text/html"),
    ],
)
def test_content_negotiation(
    server: IndexServer, accept: str | None, json_enabled: bool, expected: str
) -> None:
    server.json = json_enabled
    response = fetch(project_url(server), {"Accept": accept} if accept else {})
    assert response.headers["Content-Type"].split(";")[0] == expected
    if expected == JSON_V1:
        assert response.json()["name"] == "demo-pkg"
    else:
        assert b"<a href=" in response.body


def test_absolute_urls_redirects_and_missing(server: IndexServer, wheel: Path) -> None:
    server.relative_urls = False
    href = anchors(fetch(project_url(server)).body)[wheel.name]["href"]
    assert href is not None
    assert href.startswith(server.file_url(wheel.name) + "#sha256=")
    assert fetch(href).body == wheel.read_bytes()
    entry = fetch(project_url(server), {"Accept": JSON_V1}).json()["files"][0]
    assert entry["url"] == server.file_url(wheel.name)

    redirect = fetch(f"{server.url}/Demo.Pkg/")
    assert redirect.status == 301
    assert redirect.headers["Location"] == "/simple/demo-pkg/"
    assert fetch(f"{server.url}/demo-pkg").headers["Location"] == "/simple/demo-pkg/"
    assert fetch(f"{server.url}/nothing-here/").status == 404
    assert fetch(f"{server.base_url}/files/nothing.whl").status == 404


def test_remove_and_replace(server: IndexServer, wheel: Path, tmp_path: Path) -> None:
    changed = make_wheel(tmp_path, "Demo.Pkg", "1.0", requires_dist=["other"])
    assert changed.name == wheel.name
    assert changed.read_bytes() != wheel.read_bytes()
    server.replace(changed)
    link = anchors(fetch(project_url(server)).body)[wheel.name]
    assert link["href"] == f"../../files/{wheel.name}#sha256={sha256(changed.read_bytes())}"
    assert "data-requires-python" not in link
    assert fetch(server.file_url(wheel.name)).body == changed.read_bytes()
    assert fetch(server.file_url(wheel.name) + ".metadata").body == wheel_metadata(changed)

    server.remove(wheel.name)
    assert fetch(server.file_url(wheel.name)).status == 404
    assert wheel.name not in anchors(fetch(project_url(server)).body)
    server.remove("demo_pkg-1.1.tar.gz")
    assert fetch(project_url(server)).status == 404
    assert _root_anchors(fetch(server.url + "/").body) == []
    with pytest.raises(KeyError):
        server.replace(changed)


# -- files: PEP 658 and ranges --------------------------------------------------------------


def test_pep658_metadata_on_and_off(server: IndexServer, wheel: Path, sdist: Path) -> None:
    response = fetch(server.file_url(wheel.name) + ".metadata")
    assert response.status == 200
    assert response.body == wheel_metadata(wheel)
    assert fetch(server.file_url(sdist.name) + ".metadata").status == 404

    server.pep658 = False
    assert fetch(server.file_url(wheel.name) + ".metadata").status == 404
    link = anchors(fetch(project_url(server)).body)[wheel.name]
    assert "data-core-metadata" not in link
    assert "data-dist-info-metadata" not in link
    entry = fetch(project_url(server), {"Accept": JSON_V1}).json()["files"][0]
    assert entry["core-metadata"] is False


def test_range_requests(server: IndexServer, wheel: Path) -> None:
    data = wheel.read_bytes()
    size = len(data)
    url = server.file_url(wheel.name)

    full = fetch(url)
    assert (full.status, full.body, full.headers["Accept-Ranges"]) == (200, data, "bytes")

    head = fetch(url, method="HEAD")
    assert (head.status, head.body, head.headers["Content-Length"]) == (200, b"", str(size))

    first = fetch(url, {"Range": "bytes=0-9"})
    assert (first.status, first.body) == (206, data[:10])
    assert first.headers["Content-Range"] == f"bytes 0-9/{size}"

    suffix = fetch(url, {"Range": "bytes=-22"})
    assert (suffix.status, suffix.body) == (206, data[-22:])
    assert suffix.headers["Content-Range"] == f"bytes {size - 22}-{size - 1}/{size}"

    open_ended = fetch(url, {"Range": "bytes=100-"})
    assert (open_ended.status, open_ended.body) == (206, data[100:])

    beyond = fetch(url, {"Range": f"bytes={size}-"})
    assert beyond.status == 416
    assert beyond.headers["Content-Range"] == f"bytes */{size}"

    server.ranges = False
    ignored = fetch(url, {"Range": "bytes=-22"})
    assert (ignored.status, ignored.body) == (200, data)
    assert "Accept-Ranges" not in ignored.headers
    assert "Content-Range" not in ignored.headers


# -- fault injection, delay and the request log ----------------------------------------------


def test_fail_with_status_then_succeed(server: IndexServer, wheel: Path) -> None:
    server.fail("/simple/demo-pkg/", times=2, status=503)
    assert fetch(project_url(server)).status == 503
    assert fetch(server.file_url(wheel.name)).status == 200  # other paths are unaffected
    assert fetch(project_url(server)).status == 503
    assert fetch(project_url(server)).status == 200


def test_fail_by_dropping_the_connection(server: IndexServer, wheel: Path) -> None:
    server.fail(wheel.name, status=0)
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        fetch(server.file_url(wheel.name))
    assert fetch(server.file_url(wheel.name)).body == wheel.read_bytes()


def test_truncate_sends_half_the_announced_body(server: IndexServer, wheel: Path) -> None:
    server.fault(wheel.name, "truncate")
    with pytest.raises(http.client.IncompleteRead):
        fetch(server.file_url(wheel.name))
    assert fetch(server.file_url(wheel.name)).body == wheel.read_bytes()


def test_reset_breaks_the_body(server: IndexServer, wheel: Path) -> None:
    server.fault(wheel.name, "reset")
    with pytest.raises((http.client.IncompleteRead, ConnectionError)):
        fetch(server.file_url(wheel.name))


def test_corrupt_keeps_the_length_and_changes_the_bytes(server: IndexServer, wheel: Path) -> None:
    server.fault(wheel.name, "corrupt")
    body = fetch(server.file_url(wheel.name)).body
    assert len(body) == len(wheel.read_bytes())
    assert body != wheel.read_bytes()


def test_gzip_encodes_whatever_was_asked(server: IndexServer, wheel: Path) -> None:
    server.fault(wheel.name, "gzip")
    response = fetch(server.file_url(wheel.name), {"Accept-Encoding": "identity"})
    assert response.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(response.body) == wheel.read_bytes()


def test_gzip_label_sends_the_file_as_it_is_labelled_gzip(server: IndexServer, wheel: Path) -> None:
    server.fault(wheel.name, "gzip-label")
    response = fetch(server.file_url(wheel.name), {"Accept-Encoding": "identity"})
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.body == wheel.read_bytes()
    assert server.request_headers(wheel.name)[-1]["accept-encoding"] == "identity"


def test_trickle_and_slow_headers_take_their_time(server: IndexServer, wheel: Path) -> None:
    server.fault("/simple/demo-pkg/", "slow-headers", seconds=0.3)
    started = time.monotonic()
    assert fetch(project_url(server)).status == 200
    assert time.monotonic() - started >= 0.3
    server.fault("/simple/", "trickle", seconds=0.001)
    assert b"demo-pkg" in fetch(server.url + "/").body


def test_loop_redirects_to_itself_and_body_replaces_the_answer(server: IndexServer) -> None:
    server.fault("/simple/demo-pkg/", "loop", times=2)
    response = fetch(project_url(server))
    assert response.status == 302
    assert response.headers["Location"] == "/simple/demo-pkg/"
    server.fault("/simple/demo-pkg/", "body", body=b"<a href=", content_type="text/html")
    assert fetch(project_url(server)).status == 302
    assert fetch(project_url(server)).body == b"<a href="
    with pytest.raises(ValueError):
        server.fault("x", "status")


def test_basic_auth_and_query_token_are_required_when_set(server: IndexServer, wheel: Path) -> None:
    server.auth = ("user", "s3cret")
    assert fetch(project_url(server)).status == 401
    good = "Basic " + base64.b64encode(b"user:s3cret").decode()
    assert fetch(project_url(server), {"Authorization": good}).status == 200
    server.auth = None
    server.query_token = "T0KEN"
    assert fetch(project_url(server)).status == 401
    page = fetch(project_url(server) + "?token=T0KEN")
    assert page.status == 200
    assert b"?token=T0KEN" in page.body  # file links carry the token too
    assert fetch(server.file_url(wheel.name) + "?token=T0KEN").body == wheel.read_bytes()


def test_delay_applies_to_responses(index_server: IndexServer) -> None:
    index_server.delay = 0.3
    started = time.monotonic()
    assert fetch(index_server.url + "/").status == 200
    assert time.monotonic() - started >= 0.3


def test_request_log(server: IndexServer, wheel: Path) -> None:
    fetch(project_url(server), {"Accept": PIP_ACCEPT})
    fetch(server.file_url(wheel.name), {"Range": "bytes=-100"})
    fetch(server.file_url(wheel.name) + ".metadata", method="HEAD")
    assert server.requests == [
        ("GET", "/simple/demo-pkg/", None, PIP_ACCEPT),
        ("GET", f"/files/{wheel.name}", "bytes=-100", None),
        ("HEAD", f"/files/{wheel.name}.metadata", None, None),
    ]
    assert server.count() == 3
    assert server.count("/files/") == 2
    assert server.count(".metadata") == 1
    server.reset_log()
    assert server.count() == 0
    assert server.requests == []


def test_universe_fixture(universe: UniverseBuilder) -> None:
    server = universe(
        {
            "app==1.0": ["lib>=1", "speedup; extra == 'fast'"],
            "lib==1.0": [],
            "lib==2.0": {"requires_python": ">=3.9", "sdist": True},
        }
    )
    page = fetch(f"{server.url}/lib/", {"Accept": JSON_V1}).json()
    assert page["versions"] == ["1.0", "2.0"]
    assert [f["filename"] for f in page["files"]] == [
        "lib-1.0-py3-none-any.whl",
        "lib-2.0-py3-none-any.whl",
        "lib-2.0.tar.gz",
    ]
    assert page["files"][2]["requires-python"] == ">=3.9"
    metadata = fetch(server.file_url("app-1.0-py3-none-any.whl") + ".metadata").body.decode()
    assert "Provides-Extra: fast\n" in metadata


# -- pip really installs what distbuilder makes (kept to two, fast) --------------------------


def _pip(*args: str) -> subprocess.CompletedProcess[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.upper().startswith("PIP_") and "PROXY" not in key.upper()
    }
    command = [sys.executable, "-m", "pip", "install", "--isolated", "--no-input"]
    command += ["--disable-pip-version-check", "--no-cache-dir", *args]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_pip_installs_wheel_and_sdist_offline(tmp_path: Path) -> None:
    links = tmp_path / "links"
    make_wheel(links, "tiny-dep", "1.0")
    sdist = make_sdist(links, "Tiny.App", "2.0", requires_dist=["tiny-dep>=1"])
    target = tmp_path / "target"
    _pip("--no-index", "--find-links", str(links), "--target", str(target), str(sdist))
    assert (target / "tiny_dep" / "__init__.py").is_file()
    assert '__version__ = "2.0"' in (target / "tiny_app" / "__init__.py").read_text()
    metadata = HeaderParser().parsestr((target / "tiny_app-2.0.dist-info" / "METADATA").read_text())
    assert metadata.get_all("Requires-Dist") == ["tiny-dep>=1"]


def test_pip_installs_from_index_server(index_server: IndexServer, tmp_path: Path) -> None:
    index_server.add(make_wheel(tmp_path, "tiny-dep", "1.0"))
    index_server.add(make_wheel(tmp_path, "tiny-dep", "9.0", requires_python="<3"))
    index_server.add(make_sdist(tmp_path, "Tiny.App", "2.0", requires_dist=["tiny-dep"]))
    target = tmp_path / "target"
    _pip("--index-url", index_server.url, "--target", str(target), "tiny.app")
    assert (target / "tiny_app-2.0.dist-info").is_dir()
    assert (target / "tiny_dep-1.0.dist-info").is_dir()  # 9.0 excluded by Requires-Python
    pages = [accept for _, path, _, accept in index_server.requests if path.startswith("/simple/")]
    assert pages
    assert all(accept is not None and accept.startswith(JSON_V1) for accept in pages)
    assert index_server.count("/files/tiny_dep-9.0") == 0
    assert index_server.count("/files/tiny_dep-1.0-py3-none-any.whl.metadata") == 1  # PEP 658 used
