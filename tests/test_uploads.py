"""Tests for lockbuild.index.uploads: upload times from an index's JSON API, for HTML-only indexes.

The local index serves HTML pages (which carry no upload time) and, with ``json_api=True``,
PyPI's ``/pypi/<project>[/<version>]/json``; its request log shows what was asked.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from distbuilder import make_sdist, make_wheel
from indexserver import IndexServer
from packaging.utils import canonicalize_name

from lockbuild.errors import IndexFetchError, OfflineError
from lockbuild.index import htmlpage
from lockbuild.index.client import IndexClient
from lockbuild.index.http import HttpClient
from lockbuild.index.pagestore import stored_page, stored_parts
from lockbuild.index.simple import parse_project_page
from lockbuild.index.uploads import (
    UploadTimes,
    json_api_url,
    parse_json_api,
    release_span,
    times_for,
)
from lockbuild.index.views import uploaded_before
from lockbuild.models import DistFile, FileData, ProjectPage
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
        assert entry is not None and set(entry.value["times"]) == set(expected)

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
    assert key == f"upload-v2:{server.url}:alpha"
    with open_store(tmp_path / "cache") as store:
        store.put(key, {"alpha-1.0.tar.gz": "not a pair"})
        with pytest.raises(OfflineError, match="no cached upload times for 'alpha'"):
            UploadTimes(None, store=store, offline=True).for_release(page, ["1.0"])
        assert store.get(key) is None


# -- release spans: exclude-newer on a warm run of an HTML page that dates its files ------

MIRROR = "https://mirror.example/root/+simple"
"""An index without a JSON API next to it: a file its page leaves undated stays so."""
CUTOFF = datetime(2017, 1, 1, tzinfo=timezone.utc)
STRADDLE_LATE = "2019-02-01T00:00:00.000000Z"


def dated_html(releases: dict[str, list[str | None]]) -> bytes:
    """A page written as PyPI writes HTML: per release, a wheel per upload time (None:
    no ``data-upload-time``)."""
    anchors = []
    for version, times in releases.items():
        for number, uploaded in enumerate(times):
            name = f"alpha-{version}-{number}-py3-none-any.whl"
            dated = "" if uploaded is None else f' data-upload-time="{uploaded}"'
            anchors.append(
                f'<a href="https://files.example/{name}#sha256={"ab" * 32}"{dated}>{name}</a><br/>'
            )
    return ("<!DOCTYPE html><html><body>\n" + "\n".join(anchors) + "\n</body></html>").encode()


PAGE_RELEASES: dict[str, list[str | None]] = {
    "1.0": [EARLY, EARLY],
    "2.0": [LATE],
    "3.0": [EARLY, STRADDLE_LATE],  # straddles the cutoff: read file by file
    "4.0": [EARLY, None],  # not dated wholly by the page: read file by file
}


def dated_page(releases: dict[str, list[str | None]] = PAGE_RELEASES) -> ProjectPage:
    return parse_project_page(
        dated_html(releases),
        content_type="text/html",
        page_url=MIRROR + "/alpha/",
        project="alpha",
        index_url=MIRROR,
    )


@pytest.fixture
def anchors_read(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many anchors each read of a release of an HTML page read."""
    counts: list[int] = []
    read = htmlpage.read_plain_anchors

    def counting(anchors: Sequence[Sequence[str]], base_url: str) -> list[FileData]:
        counts.append(len(anchors))
        return read(anchors, base_url)

    monkeypatch.setattr(htmlpage, "read_plain_anchors", counting)
    return counts


def cutoff_view(page: ProjectPage, times: UploadTimes) -> tuple[ProjectPage, tuple[str, ...]]:
    found = times.for_page(page)
    view = uploaded_before(page, CUTOFF, upload_times=found, spans=found.spans)
    return view.page, view.undated


def test_a_later_run_decides_wholly_dated_releases_without_reading_them(
    tmp_path: Path, anchors_read: list[int]
) -> None:
    with open_store(tmp_path / "cache") as store:
        first, first_undated = cutoff_view(
            dated_page(), UploadTimes(None, store=store, write=store.put)
        )
        # every anchor once for the spans, not kept; those of the releases the spans do not
        # decide (3.0 straddles the cutoff, 4.0 has an undated file) once more for the view
        assert anchors_read == [2, 1, 2, 2, 2, 2]
        plain = uploaded_before(dated_page(), CUTOFF)  # each file dated one by one
        assert (first.files, first.cutoff, first_undated) == (
            plain.page.files,
            plain.page.cutoff,
            plain.undated,
        )
        entry = store.get(upload_key(MIRROR, "alpha"))
        assert entry is not None
        assert entry.value == {
            "times": {},
            "spans": {
                "1.0": [EARLY, EARLY, 2],
                "2.0": [LATE, LATE, 1],
                "3.0": [EARLY, STRADDLE_LATE, 2],
            },
        }

        anchors_read.clear()
        page = dated_page()  # as a later run reads it from the store
        writes: list[str] = []
        later = UploadTimes(None, store=store, write=lambda key, value: writes.append(key))
        view, undated = cutoff_view(page, later)
        # 4.0 (undated file: read for its span, not kept, and again for the view) and 3.0
        # (straddles): not 1.0, 2.0
        assert anchors_read == [2, 2, 2]
        assert undated == first_undated == ("alpha-4.0-1-py3-none-any.whl",)
        assert view.cutoff == first.cutoff
        assert view.cutoff is not None and view.cutoff.newer == 2
        assert view.versions == first.versions == ("1.0", "3.0", "4.0")
        assert view.files == first.files  # 1.0 read now, checked against the cutoff
        assert anchors_read == [2, 2, 2, 2]
        assert writes == []  # nothing new to store
        offline = UploadTimes(None, store=store, offline=True)
        assert cutoff_view(dated_page(), offline)[0].files == first.files


def test_a_release_kept_on_a_stale_span_still_leaves_out_newer_files(tmp_path: Path) -> None:
    """A span stored before the release gained a file uploaded after the cutoff (or lost a
    time) never lets that file in."""
    with open_store(tmp_path / "cache") as store:
        cutoff_view(dated_page({"1.0": [EARLY]}), UploadTimes(None, store=store, write=store.put))
        grown = dated_page({"1.0": [EARLY, LATE, None]})
        view, _ = cutoff_view(grown, UploadTimes(None, store=store))
        assert [file.filename for file in view.files] == ["alpha-1.0-0-py3-none-any.whl"]


def test_spans_are_stored_only_for_releases_the_page_dates(tmp_path: Path) -> None:
    with open_store(tmp_path / "cache") as store:
        cutoff_view(
            dated_page({"1.0": [None], "2.0": ["not a time"], "3.0": [EARLY]}),
            UploadTimes(None, store=store, write=store.put),
        )
        entry = store.get(upload_key(MIRROR, "alpha"))
        assert entry is not None and entry.value["spans"] == {"3.0": [EARLY, EARLY, 1]}


@pytest.mark.parametrize(
    "value",
    [
        {"alpha-1.0-py3-none-any.whl": [EARLY, None]},  # the upload-v1 form: times alone
        {"times": {}, "spans": {"1.0": [EARLY, EARLY, 0]}},
        {"times": {}, "spans": {"1.0": [EARLY, None, 1]}},
    ],
)
def test_an_older_or_unusable_entry_is_never_misread(
    server: IndexServer, tmp_path: Path, value: object
) -> None:
    page = html_page(server, "alpha")
    key = upload_key(server.url, "alpha")
    with open_store(tmp_path / "cache") as store:
        store.put(key, value)
        with pytest.raises(OfflineError, match="no cached upload times for 'alpha'"):
            UploadTimes(None, store=store, offline=True).for_page(page)
        assert store.get(key) is None
        store.put(key, value)
        online = UploadTimes(HttpClient(), store=store, write=store.put)
        assert online.for_page(html_page(server, "alpha"))
        assert api_requests(server) == ["/pypi/alpha/json"]


def test_release_span_orders_by_instant_and_refuses_what_a_file_would_not_be_dated_by() -> None:
    def span(*times: str | None) -> object:
        files: list[FileData] = [
            {"filename": f"a-1.0-{n}.tar.gz", "url": "https://x/a.tar.gz"}
            for n in range(len(times))
        ]
        for data, uploaded in zip(files, times, strict=True):
            if uploaded is not None:
                data["upload_time"] = uploaded
        return release_span(files)

    assert span(LATE, "2016-01-01T00:00:00.000000Z") == ("2016-01-01T00:00:00.000000Z", LATE, 2)
    assert span(EARLY, "2015-04-03T11:00:00+02:00") == ("2015-04-03T11:00:00+02:00", EARLY, 2)
    assert span(LATE, None) is None
    assert span("2019-02-30T00:00:00.000000Z") is None  # no such day
    assert span("yesterday", LATE) is None
    assert span() is None


def outlined_page() -> ProjectPage:
    """A JSON page dating each file, as a warm run reads it back: releases as outlines."""
    files = [
        {
            "filename": f"alpha-{version}-py3-none-any.whl",
            "url": f"alpha-{version}-py3-none-any.whl",
            "hashes": {"sha256": "ab" * 32},
            "upload-time": uploaded,
        }
        for version, uploaded in (("1.0", EARLY), ("2.0", LATE))
    ]
    body = json.dumps({"name": "alpha", "files": files, "meta": {"api-version": "1.1"}})
    parsed = parse_project_page(
        body.encode(),
        content_type="application/vnd.pypi.simple.v1+json",
        page_url=MIRROR + "/alpha/",
        project="alpha",
        index_url=MIRROR,
    )
    return stored_page(*stored_parts(parsed))


def test_a_page_that_dates_every_release_costs_no_store_read(tmp_path: Path) -> None:
    """A JSON page read back from the store dates each release by its outline: the run's
    stored spans and times are not asked for (a warm run reads a hundred such pages)."""
    page = outlined_page()
    assert page.held("1.0") is not None and page.upload_span("1.0") == (EARLY, EARLY, 1)
    with open_store(tmp_path / "cache") as store:
        store.put(upload_key(MIRROR, "alpha"), {"times": {}, "spans": {"9.0": [EARLY, EARLY, 1]}})
        asked: list[str] = []
        get = store.get

        def counting(key: str, **options: Any) -> Any:
            asked.append(key)
            return get(key, **options)

        store.get = counting  # type: ignore[method-assign]
        writes: list[str] = []
        times = UploadTimes(None, store=store, write=lambda key, _value: writes.append(key))
        view, undated = cutoff_view(page, times)
        assert (asked, writes, undated) == ([], [], ())
        assert view.versions == ("1.0",) and view.cutoff is not None and view.cutoff.newer == 1


def test_a_release_span_is_split_from_its_outline_once_and_gone_once_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    page = outlined_page()
    assert page.outlines is not None
    split: list[str] = []
    reader = type(page.outlines)
    span = reader.span

    def counting(self: Any, version: str, outline: str) -> Any:
        split.append(version)
        return span(self, version, outline)

    monkeypatch.setattr(reader, "span", counting)
    for _ in range(3):  # the store, the upload times and the cutoff each ask
        assert [page.upload_span(version) for version in page.versions] == [
            (EARLY, EARLY, 1),
            (LATE, LATE, 1),
        ]
    assert split == ["1.0", "2.0"]
    assert page.release_files("1.0") and page.upload_span("1.0") is None  # read: no span
    assert page.upload_span("2.0") == (LATE, LATE, 1)
