"""Tests for lockbuild.index.uploads: upload times from an index's JSON API, for HTML-only indexes.

The local index serves HTML pages (which carry no upload time) and, with ``json_api=True``,
PyPI's ``/pypi/<project>[/<version>]/json``; its request log shows what was asked.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from distbuilder import make_sdist, make_wheel
from indexserver import IndexServer
from packaging.utils import canonicalize_name

from lockbuild.errors import IndexFetchError, OfflineError
from lockbuild.index.client import IndexClient
from lockbuild.index.http import HttpClient
from lockbuild.index.uploads import UploadTimes, json_api_url, parse_json_api, times_for
from lockbuild.models import DistFile, ProjectPage
from lockbuild.store.keys import upload_key
from lockbuild.store.store import open_store

EARLY = "2015-04-03T10:00:00Z"
LATE = "2018-08-16T21:25:07.123456Z"


def test_json_api_url_sits_next_to_a_simple_index() -> None:
    assert (
        json_api_url("https://pypi.org/simple/", "hiredis") == "https://pypi.org/pypi/hiredis/json"
    )
    assert (
        json_api_url("https://pypi.org/simple", "hiredis", "0.2.0")
        == "https://pypi.org/pypi/hiredis/0.2.0/json"
    )
    assert json_api_url("https://mirror.example/root/+simple", "x") is None
    assert json_api_url("file:///srv/simple", "x") is None


def test_parse_json_api_reads_urls_and_releases() -> None:
    body = json.dumps(
        {
            "info": {"name": "a"},
            "urls": [
                {
                    "filename": "a-2.0.tar.gz",
                    "upload_time_iso_8601": LATE,
                    "digests": {"sha256": "AB" * 32},
                }
            ],
            "releases": {
                "1.0": [{"filename": "a-1.0.tar.gz", "upload_time": "2015-04-03T10:00:00"}],
                "0.1": "not a list",
            },
        }
    ).encode()
    assert parse_json_api(body) == {
        "a-2.0.tar.gz": (LATE, "ab" * 32),
        "a-1.0.tar.gz": ("2015-04-03T10:00:00", None),
    }
    for bad in (b"<html>", b"[1, 2]", b'{"info": 3}'):
        with pytest.raises(ValueError):
            parse_json_api(bad)


def test_times_for_takes_a_time_only_for_the_same_content() -> None:
    same = DistFile("a-1.0.tar.gz", "https://x.invalid/a-1.0.tar.gz", {"sha256": "a" * 64})
    other = DistFile("a-1.0-py3-none-any.whl", "https://x.invalid/a.whl", {"sha256": "b" * 64})
    unhashed = DistFile("a-1.0.zip", "https://x.invalid/a-1.0.zip")
    dated = DistFile("a-1.0-py2-none-any.whl", "https://x.invalid/b.whl", upload_time=EARLY)
    table = {
        same.filename: (EARLY, "a" * 64),
        other.filename: (EARLY, "c" * 64),  # another content under that name
        unhashed.filename: (LATE, "d" * 64),
        dated.filename: (LATE, None),  # the page's own time wins
    }
    assert times_for([same, other, unhashed, dated], table) == {
        same.filename: EARLY,
        unhashed.filename: LATE,
    }


@pytest.fixture
def server(tmp_path: Path) -> Iterator[IndexServer]:
    with IndexServer(json=False, json_api=True) as index:
        index.add(make_wheel(tmp_path, "alpha", "1.0"), upload_time=EARLY)
        index.add(make_sdist(tmp_path, "alpha", "1.0"), upload_time=EARLY)
        index.add(make_wheel(tmp_path, "alpha", "2.0"), upload_time=LATE)
        index.add(make_wheel(tmp_path, "beta", "1.0"), upload_time=EARLY)
        yield index


def html_page(server: IndexServer, project: str) -> ProjectPage:
    client = IndexClient(HttpClient(), index_urls=[server.url])
    try:
        return client.project_page(canonicalize_name(project))
    finally:
        client.close()


def api_requests(server: IndexServer) -> list[str]:
    return [path for _, path, _, _ in server.requests if path.startswith("/pypi/")]


def test_release_times_come_from_the_version_json_once_then_from_the_store(
    server: IndexServer, tmp_path: Path
) -> None:
    page = html_page(server, "alpha")
    assert all(file.upload_time is None for file in page.files)
    with open_store(tmp_path / "cache") as store:
        times = UploadTimes(HttpClient(), store=store, write=store.put)
        expected = {"alpha-1.0-py3-none-any.whl": EARLY, "alpha-1.0.tar.gz": EARLY}
        assert times.for_release(page, ["1.0"]) == expected
        assert times.for_release(page, ["1.0"]) == expected
        assert api_requests(server) == ["/pypi/alpha/1.0/json"]
        entry = store.get(upload_key(server.url, "alpha"))
        assert entry is not None and set(entry.value) == set(expected)

        later = UploadTimes(HttpClient(), store=store)  # another run: the store answers
        assert later.for_release(page, ["1.0"]) == expected
        assert later.requests == 0
        assert UploadTimes(None, store=store, offline=True).for_release(page, ["1.0"]) == expected

        # a file the entry does not know makes the project be asked again
        assert later.for_page(page) == {**expected, "alpha-2.0-py3-none-any.whl": LATE}
        assert api_requests(server) == ["/pypi/alpha/1.0/json", "/pypi/alpha/json"]


def test_an_index_without_the_api_is_asked_once_per_run(server: IndexServer) -> None:
    server.json_api = False
    alpha, beta = html_page(server, "alpha"), html_page(server, "beta")
    times = UploadTimes(HttpClient())
    assert times.for_release(alpha, ["1.0"]) == {}
    assert times.for_release(beta, ["1.0"]) == {}
    assert times.for_page(alpha) == {}
    assert api_requests(server) == ["/pypi/alpha/1.0/json"]
    with pytest.raises(OfflineError, match=r"^offline: no cached upload times for 'alpha' \("):
        UploadTimes(None, offline=True).for_page(alpha)  # offline, nothing says there is none


def test_a_project_missing_from_a_working_api_is_only_that_project(server: IndexServer) -> None:
    alpha, beta = html_page(server, "alpha"), html_page(server, "beta")
    times = UploadTimes(HttpClient())
    assert times.for_release(beta, ["1.0"]) == {"beta-1.0-py3-none-any.whl": EARLY}
    server.remove("alpha-1.0-py3-none-any.whl")
    server.remove("alpha-1.0.tar.gz")
    assert times.for_release(alpha, ["1.0"]) == {}  # 404 for this release only
    assert times.for_page(alpha) == {"alpha-2.0-py3-none-any.whl": LATE}


def test_a_failing_api_fails_exclude_newer_but_not_late_upload_detection(
    server: IndexServer,
) -> None:
    page = html_page(server, "alpha")
    server.fail("/pypi/", times=20, status=500)
    times = UploadTimes(HttpClient(retries=0))
    assert times.for_release(page, ["1.0"]) == {}
    with pytest.raises(IndexFetchError, match=r"cannot read upload times from the index's JSON"):
        times.for_page(page)


def test_an_unusable_stored_entry_is_dropped(server: IndexServer, tmp_path: Path) -> None:
    page = html_page(server, "alpha")
    key = upload_key(server.url + "/", "Alpha")
    assert key == f"upload-v1:{server.url}:alpha"
    with open_store(tmp_path / "cache") as store:
        store.put(key, {"alpha-1.0.tar.gz": "not a pair"})
        with pytest.raises(OfflineError, match="no cached upload times for 'alpha'"):
            UploadTimes(None, store=store, offline=True).for_release(page, ["1.0"])
        assert store.get(key) is None
