"""The index client over a store, with a scripted HTTP stub: freshness and revalidation.

Also the compact stored form of project pages (:func:`lockbuild.index.pagestore.page_record`).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from packaging.utils import canonicalize_name

from lockbuild.index.client import CachePolicy, IndexClient
from lockbuild.index.http import HttpClient, HttpResponse
from lockbuild.index.offline import MissingItems
from lockbuild.index.pagestore import page_from_record, page_record, read_page_source
from lockbuild.models import DistFile, ProjectPage
from lockbuild.store.jsondata import check_json
from lockbuild.store.keys import page_key
from lockbuild.store.store import Store, open_store

INDEX = "https://index.example/simple"
PAGE = json.dumps(
    {
        "meta": {"api-version": "1.1"},
        "name": "demo",
        "files": [
            {
                "filename": "demo-1.0-py3-none-any.whl",
                "url": "https://files.example/d/demo-1.0-py3-none-any.whl",
                "hashes": {"sha256": "a" * 64},
            }
        ],
    }
).encode()


class ScriptedHttp(HttpClient):
    """Answers page requests from a script and records the headers it was sent."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[dict[str, str]] = []
        self.status = 200
        self.etag: str | None = '"v1"'

    def get(
        self, url: str, *, headers: Mapping[str, str] | None = None, missing_ok: bool = False
    ) -> HttpResponse:
        self.request_count += 1
        self.sent.append(dict(headers or {}))
        answer = {"content-type": "application/vnd.pypi.simple.v1+json"}
        if self.etag:
            answer["etag"] = self.etag
        body = PAGE if self.status == 200 else b""
        return HttpResponse(url=url, status=self.status, headers=answer, content=body)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Iterator[Store]:
    with open_store(tmp_path / "cache", clock=clock) as opened:
        yield opened


def page_of(store: Store, http: ScriptedHttp, **policy: object) -> ProjectPage:
    client = IndexClient(
        http,
        index_urls=[INDEX],
        store=store,
        policy=CachePolicy(**policy),  # type: ignore[arg-type]
    )
    try:
        return client.project_page(canonicalize_name("demo"))
    finally:
        client.close()


def test_stale_pages_are_revalidated_with_their_etag(store: Store, clock: Clock) -> None:
    http = ScriptedHttp()
    first = page_of(store, http, page_ttl=60)
    assert first.versions == ("1.0",)
    assert page_of(store, http, page_ttl=60) == first
    assert len(http.sent) == 1 and "If-None-Match" not in http.sent[0]

    clock.now += 61
    http.status = 304
    assert page_of(store, http, page_ttl=60) == first
    assert http.sent[-1]["If-None-Match"] == '"v1"'
    entry = store.get(page_key(INDEX, "demo"), max_age=60)
    assert entry is not None and not entry.stale  # renewed by the 304

    clock.now += 10
    assert page_of(store, http, page_ttl=60) == first
    assert len(http.sent) == 2
    http.status = 200
    assert page_of(store, http, page_ttl=60, refresh_all=True) == first
    assert len(http.sent) == 3 and "If-None-Match" not in http.sent[-1]


def test_offline_reads_stale_pages_and_records_misses(store: Store, clock: Clock) -> None:
    http = ScriptedHttp()
    page_of(store, http)
    clock.now += 10**6
    missing = MissingItems()
    client = IndexClient(
        http,
        index_urls=[INDEX],
        store=store,
        policy=CachePolicy(offline=True, refresh_all=True),
        missing=missing,
    )
    try:
        assert client.project_page(canonicalize_name("demo")).versions == ("1.0",)
        assert client.project_page(canonicalize_name("other")).versions == ()
    finally:
        client.close()
    assert len(http.sent) == 1
    assert missing.items == (f"no cached index page for 'other' (index {INDEX})",)


FILES = [
    DistFile(
        filename="demo-1.0-py3-none-any.whl",
        url="https://files.example/packages/ab/cd/demo-1.0-py3-none-any.whl",
        hashes={"sha256": "b" * 64},
        requires_python=">=3.9",
        upload_time="2024-01-01T00:00:00Z",
        size=1234,
        metadata_hashes={"sha256": "c" * 64},
    ),
    DistFile(
        filename="demo-1.0.tar.gz",
        url="https://files.example/demo-1.0.tar.gz?download=1",
        hashes={"sha256": "d" * 64, "md5": "e" * 32},
        yanked="broken",
        metadata_hashes={},
    ),
    DistFile(filename="demo-2.0.zip", url="https://files.example/x/demo-2.0.zip"),
]


def test_page_records_round_trip_and_load_lazily() -> None:
    page = ProjectPage(canonicalize_name("demo"), INDEX, FILES)
    record = json.loads(json.dumps(page_record(page)))
    loaded = page_from_record(record)
    assert loaded == page
    assert loaded.versions == ("1.0", "2.0")
    assert not loaded.all_yanked("1.0")
    fresh = page_from_record(record)
    assert fresh._built == {}  # nothing built until asked
    assert fresh.release_files("2.0") == (FILES[2],)
    releases = {
        version: [file.to_data() for file in page.release_files(version)]
        for version in page.versions
    }
    as_dicts = {"name": page.name, "index_url": page.index_url, "releases": releases}
    assert len(json.dumps(record)) < len(json.dumps(as_dicts)) * 0.8


@pytest.mark.parametrize(
    "record",
    [
        {},
        {"name": "demo", "index_url": INDEX, "releases": {"1.0": []}},
        {"name": "demo", "index_url": INDEX, "releases": [["1.0", "no", []]]},
    ],
)
def test_bad_records_raise_value_error(record: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        page_from_record(record)


PYPI_SHAPED_PAGE = "\n".join(
    [
        "<!DOCTYPE html><html><body><h1>Links for demo</h1>",
        '<a href="https://files.example/demo-1.0-py3-none-any.whl#sha256=aaaa"'
        ' data-requires-python="&gt;=3.8">demo-1.0-py3-none-any.whl</a><br />',
        '<a href="https://files.example/demo-1.0.tar.gz#sha256=bbbb"'
        ' data-yanked="broken">demo-1.0.tar.gz</a><br />',
        '<a href="https://files.example/demo-2.0-py3-none-any.whl#sha256=cccc">'
        "demo-2.0-py3-none-any.whl</a><br />",
        "</body></html>",
    ]
).encode()


def test_storing_an_html_page_reads_no_release_and_loads_back_the_same_files(
    tmp_path: Path,
) -> None:
    from lockbuild.index.simple import parse_project_page

    page = parse_project_page(
        PYPI_SHAPED_PAGE,
        content_type="text/html",
        page_url="https://index.example/simple/demo/",
        project="demo",
        index_url="https://index.example/simple",
    )
    assert page.source is not None
    assert page.source.text == PYPI_SHAPED_PAGE.decode()  # the page as the index sent it
    check_json(page.source.record)  # what the store accepts: no tuples, JSON types only
    assert page._built == {}  # storing reads nothing
    with open_store(tmp_path) as store:
        store.put("page-v5:x:demo", page.source.record, text=page.source.text)
        entry = store.get("page-v5:x:demo")
    assert entry is not None and entry.text == page.source.text
    loaded = read_page_source(entry.value, entry.text)
    assert loaded.source is not None and loaded.source.record == entry.value  # stored as is
    assert loaded == page
    assert loaded.all_yanked("1.0") is False
    assert loaded.release_files("1.0")[0].requires_python == ">=3.8"
    assert loaded.release_files("1.0")[1].yanked == "broken"


JSON_SHAPED_PAGE = json.dumps(
    {
        "meta": {"api-version": "1.1"},
        "name": "demo",
        "files": [
            {
                "filename": "demo-1.0-py3-none-any.whl",
                "url": "https://files.pythonhosted.org/packages/ab/cd/"
                + "ef" * 30
                + "/demo-1.0-py3-none-any.whl",
                "hashes": {"sha256": "a" * 64},
                "requires-python": ">=3.8",
                "upload-time": "2020-01-01T00:00:00.000000Z",
                "size": 1234,
                "core-metadata": {"sha256": "b" * 64},
            },
            {  # yanked, two hashes: kept as the fields it was read from
                "filename": "demo-1.0.tar.gz",
                "url": "../../files/demo-1.0.tar.gz",
                "hashes": {"sha256": "c" * 64, "md5": "d" * 32},
                "yanked": "broken",
                "upload-time": "2020-01-02T00:00:00Z",
            },
            {  # an odd field: kept as read, decided when its release is read
                "filename": "demo-2.0-py3-none-any.whl",
                "url": "https://files.example/demo-2.0-py3-none-any.whl",
                "hashes": {"sha256": "e" * 64},
                "core-metadata": True,
                "size": "12",
            },
            "not an entry",
        ],
    }
).encode()


def parse_json_page(body: bytes) -> Any:
    """``body`` read as demo's PEP 691 page on https://index.example/simple."""
    from lockbuild.index.simple import parse_project_page

    return parse_project_page(
        body,
        content_type="application/vnd.pypi.simple.v1+json",
        page_url="https://index.example/simple/demo/",
        project="demo",
        index_url="https://index.example/simple",
    )


def json_page() -> Any:
    return parse_json_page(JSON_SHAPED_PAGE)


def test_a_stored_json_page_is_read_back_without_parsing_or_packing_its_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store keeps a JSON page's text and, with its outline, the rows its entries were
    packed into: read back, neither is made again, and every release reads as the page
    just fetched does."""
    import lockbuild.index.jsonpage as jsonpage
    import lockbuild.index.jsonrows as jsonrows
    from lockbuild.index.pagestore import stored_form

    record, text = stored_form(json_page())
    assert text == JSON_SHAPED_PAGE.decode() and "rows" in record
    check_json(record)
    with open_store(tmp_path) as store:
        store.put("page-v5:x:demo", record, text=text)
        entry = store.get("page-v5:x:demo")
    assert entry is not None

    def refused(*_: object, **__: object) -> None:
        raise AssertionError("a stored page is parsed or packed again")

    monkeypatch.setattr(jsonpage.json, "loads", refused)
    monkeypatch.setattr(jsonrows.HeldRows, "__init__", refused)
    loaded = read_page_source(entry.value, entry.text)
    monkeypatch.undo()
    fresh = json_page()
    assert loaded.versions == fresh.versions == ("1.0", "2.0")
    for version in fresh.versions:
        assert loaded.release_files(version) == fresh.release_files(version)
        assert loaded.all_yanked(version) == fresh.all_yanked(version)
    assert loaded.release_files("1.0")[1].yanked == "broken"
    assert loaded.release_files("1.0")[1].url == "https://index.example/files/demo-1.0.tar.gz"
    assert loaded.release_files("1.0")[0].metadata_hashes == {"sha256": "b" * 64}


def test_a_stored_page_holds_each_release_as_one_string_when_it_reads_back_the_same() -> None:
    """A release is stored as ``"version yanked numbers oldest newest"``: one string to
    decode, its numbers parsed when it is read. A release whose fields a space would not
    keep apart (or none to keep) is stored as its list, and both read back as fetched."""
    from lockbuild.index.pagestore import packed_releases, stored_form

    releases = [
        ["1.0", False, [0, 1], "2020-01-01T00:00:00Z", "2020-01-02T00:00:00Z"],
        ["2.0", True, [2], None, None],
        ["3 0", False, [3], None, None],  # a space in the version
        ["4.0", False, [4], "2020-01-01 00:00:00", "2020-01-01 00:00:00"],
        ["5.0", False, [], None, None],  # no entries
        ["6.0", False, [5], "", ""],
        ["7.0", False, [True], None, None],
        ["8.0", False, [6, -1], None, None],  # a number below 0
        ["9.0", False, [7, 8.0], None, None],  # a number not an int
    ]
    assert packed_releases(releases) == [
        "1.0 0 0,1 2020-01-01T00:00:00Z 2020-01-02T00:00:00Z",
        "2.0 1 2",
        *releases[2:],
    ]
    record, text = stored_form(json_page())
    assert record["releases"] == [
        "1.0 0 0,1 2020-01-01T00:00:00.000000Z 2020-01-02T00:00:00Z",
        "2.0 0 2",
    ]
    assert text is not None
    fresh = json_page()
    as_lists = [["1.0", False, [0, 1], None, None], ["2.0", False, [2], None, None]]
    unpacked = {**record, "releases": as_lists}
    for stored in (record, unpacked):
        loaded = read_page_source(stored, text)
        assert loaded.versions == fresh.versions
        for version in fresh.versions:
            assert loaded.release_files(version) == fresh.release_files(version)
            assert loaded.release_uploads(version) == fresh.release_uploads(version)
    pending = read_page_source(record, text).unread("1.0")
    assert pending is not None and pending.uploaded == (
        "2020-01-01T00:00:00.000000Z",
        "2020-01-02T00:00:00Z",
        2,
    )


def many_files_page() -> Any:
    """A JSON page of 40 releases of 3 files each, every file a packed row."""
    files = [
        {
            "filename": f"demo-{n}.0{suffix}",
            "url": f"https://files.pythonhosted.org/packages/ab/cd/{n:060x}/demo-{n}.0{suffix}",
            "hashes": {"sha256": f"{n:064x}"},
            "upload-time": "2020-01-01T00:00:00.000000Z",
            "size": n,
        }
        for n in range(1, 41)
        for suffix in ("-py3-none-any.whl", "-cp311-none-any.whl", ".tar.gz")
    ]
    return parse_json_page(json.dumps({"meta": {"api-version": "1.1"}, "files": files}).encode())


def test_a_stored_json_page_decodes_only_the_rows_it_reads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import lockbuild.index.jsonrows as jsonrows
    from lockbuild.index.pagestore import stored_form

    record, _text = stored_form(many_files_page())
    assert not record["rows"]["others"]  # every file a packed row
    decoded: list[int] = []
    real = jsonrows.base64.b64decode
    monkeypatch.setattr(
        jsonrows.base64,
        "b64decode",
        lambda data, **kw: decoded.append(len(data)) or real(data, **kw),
    )
    loaded = read_page_source(record, "")
    assert decoded == [len(record["rows"]["ends"])]  # the ends only: the rows stay as stored
    again, _ = stored_form(loaded)  # stored again as read, not encoded again
    assert again["rows"] == record["rows"] and len(decoded) == 1
    fresh = many_files_page()
    for version in ("17.0", "1.0", "40.0"):
        assert loaded.release_files(version) == fresh.release_files(version)

    # each row decoded from its own characters (and at most two more): 9 rows of the 120
    rows = len(record["rows"]["rows"])
    assert len(decoded) == 1 + 9 and sum(decoded[1:]) < rows * 9 / 120 + 9 * 8


def test_a_stored_page_makes_an_object_only_for_the_releases_it_reads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A page read back holds each release as its stored outline: its versions, yanked
    flags and upload spans are answered from it, a view as of a cutoff holds it the same
    way, and a release's object is made only when the release is read."""
    from datetime import datetime, timezone

    import lockbuild.index.pagestore as pagestore
    from lockbuild.index.views import uploaded_before
    from lockbuild.models import PendingRelease

    record, text = pagestore.stored_form(many_files_page())
    fresh_files = many_files_page().release_files("17.0")
    made: list[PendingRelease] = []
    real = pagestore.PendingRelease

    def counted(**fields: Any) -> PendingRelease:
        made.append(real(**fields))
        return made[-1]

    monkeypatch.setattr(pagestore, "PendingRelease", counted)
    loaded = read_page_source(record, text)
    assert len(loaded.versions) == 40
    for version in loaded.versions:
        assert not loaded.all_yanked(version)
        assert loaded.upload_span(version) == (
            "2020-01-01T00:00:00.000000Z",
            "2020-01-01T00:00:00.000000Z",
            3,
        )
    view = uploaded_before(loaded, datetime(2021, 1, 1, tzinfo=timezone.utc)).page
    assert view.versions == loaded.versions and not made
    assert view.release_files("17.0") == fresh_files
    assert len(made) == 1  # the release read, once
    assert loaded.unread("17.0") is not None and view.unread("17.0") is None


def test_a_view_that_holds_no_outline_lets_go_of_its_page_s_reader() -> None:
    """A cutoff view whose releases are all read or left out keeps no reader of the page
    (a fetched page's reader holds all its entries, megabytes, for the rest of the run)."""
    from datetime import datetime, timezone

    from lockbuild.index import pagestore
    from lockbuild.index.views import uploaded_before

    record, text = pagestore.stored_form(many_files_page())
    loaded = read_page_source(record, text)
    assert loaded.outlines is not None
    kept = uploaded_before(loaded, datetime(2021, 1, 1, tzinfo=timezone.utc)).page
    assert kept.outlines is loaded.outlines  # its releases are held as outlines: read later
    none = uploaded_before(loaded, datetime(2019, 1, 1, tzinfo=timezone.utc)).page
    assert none.versions == () and none.outlines is None


@pytest.mark.parametrize(
    "release",
    [
        "1.0 2 0,1,2",  # not a yanked flag
        "1.0 0",  # no numbers
        "1.0 0 0,,1",
        "1.0 0 0,1 2020-01-01T00:00:00Z",  # an oldest upload time without the newest
        "1.0  0 0,1",
        "",
        "1.0 0 x",
    ],
)
def test_a_stored_page_with_a_release_outline_it_cannot_read_is_refused(release: str) -> None:
    """Each release is read only when asked for, but its outline is checked with the page:
    a damaged one refuses the whole page (then fetched again), not a resolution later."""
    from lockbuild.index.pagestore import stored_form

    record, text = stored_form(many_files_page())
    damaged = {**record, "releases": [*record["releases"][:-1], release]}
    with pytest.raises(ValueError, match="bad release"):
        read_page_source(damaged, text)


@pytest.mark.parametrize(
    ("rows", "when"),
    [
        (lambda text: text[:-4], "read"),  # shorter than the rows' ends say
        (lambda text: text[:-1], "read"),  # not a base64 length
        (lambda text: "!" + text[1:], "release"),  # not base64: found when decoded
        (lambda text: "====" + text[4:], "release"),
    ],
)
def test_stored_rows_that_do_not_decode_are_refused(rows: Callable[[str], str], when: str) -> None:
    from lockbuild.index.pagestore import stored_form

    record, _text = stored_form(json_page())
    damaged = {**record, "rows": {**record["rows"], "rows": rows(record["rows"]["rows"])}}
    if when == "read":
        with pytest.raises(ValueError, match="stored rows"):
            read_page_source(damaged, "")
        return
    loaded = read_page_source(damaged, "")
    with pytest.raises(ValueError, match="not stored rows"):
        loaded.release_files("1.0")


ODD_VALUES = ["NaN", "Infinity", "-Infinity", "1e999", '{"a": [[[1]]]}', "[NaN]", "true", "-1"]
"""What a careless or hostile JSON page may put in a field: all of it ``json.loads`` reads."""


@pytest.mark.parametrize("value", ODD_VALUES)
@pytest.mark.parametrize(
    "field",
    ["size", "upload-time", "yanked", "requires-python", "hashes", "core-metadata", "filename"],
)
def test_odd_field_values_are_stored_as_json_and_read_back_as_fetched(
    field: str, value: str, tmp_path: Path
) -> None:
    """A field ``json_file`` ignores is held as nothing, so the page's rows are JSON data the
    store takes (a NaN size made the record unstorable, and the run end in a traceback);
    what the page says of its files reads the same fresh and stored."""
    from lockbuild.index.pagestore import stored_form

    odd = value if field != "hashes" else '{"sha256": "' + "a" * 64 + '", "md5": ' + value + "}"
    body = (
        '{"meta": {"api-version": "1.1"}, "files": ['
        '{"filename": "demo-1.0.tar.gz", "url": "https://files.example/demo-1.0.tar.gz", '
        '"hashes": {"sha256": "' + "b" * 64 + '"}, "' + field + '": ' + odd + "}, "
        '{"filename": "demo-1.0-py3-none-any.whl", '
        '"url": "https://files.example/demo-1.0-py3-none-any.whl"}]}'
    ).encode()

    record, text = stored_form(parse_json_page(body))
    check_json(record)
    with open_store(tmp_path) as store:
        assert store.put("page-v5:x:demo", record, text=text)
        entry = store.get("page-v5:x:demo")
    assert entry is not None
    loaded = read_page_source(entry.value, entry.text)
    fresh = parse_json_page(body)
    assert loaded.versions == fresh.versions
    for version in fresh.versions:
        assert loaded.release_files(version) == fresh.release_files(version)


def test_a_json_page_nested_deeper_than_python_goes_is_unreadable() -> None:
    from lockbuild.errors import IndexFetchError

    body = ('{"files": [' + "[" * 100_000 + "]" * 100_000 + "]}").encode()
    with pytest.raises(IndexFetchError, match="invalid JSON"):
        parse_json_page(body)


@pytest.mark.parametrize(
    "damage",
    [
        lambda rows: {**rows, "rows": rows["rows"][:-4]},  # rows cut short
        lambda rows: {**rows, "rows": "not base64!"},
        lambda rows: {**rows, "ends": rows["ends"][:-12]},  # an entry fewer
        lambda rows: {**rows, "others": {"9": rows["others"]["1"]}},  # no such entry
        lambda rows: {**rows, "others": {"1": ["demo-1.0.tar.gz"]}},  # too few fields
        lambda rows: {key: value for key, value in rows.items() if key != "ends"},
        lambda rows: None,  # a record without rows
    ],
)
def test_stored_rows_that_do_not_fit_their_page_are_refused(
    damage: Callable[[dict[str, Any]], Any],
) -> None:
    """Damaged rows make the entry unreadable (refetched online, missing offline), never a
    page with other files."""
    from lockbuild.index.pagestore import stored_form

    record, text = stored_form(json_page())
    assert text is not None
    damaged = {**record, "rows": damage(dict(record["rows"]))}
    with pytest.raises(ValueError):
        page = read_page_source(damaged, text)
        for version in page.versions:
            page.release_files(version)


@pytest.mark.parametrize(
    "damage",
    [
        lambda record, text: (record, text.replace("<a ", "<a data-x ", 1)),  # anchors differ
        lambda record, text: ({**record, "reader": "html-plain-v0"}, text),
        lambda record, text: ({**record, "releases": [["1.0", False, [7]]]}, text),
        lambda record, text: ({**record, "releases": [["1.0", "no", [0]]]}, text),
        lambda record, text: ({**record, "releases": ["1.0 0 7"]}, text),  # no such anchor
        lambda record, text: ({**record, "releases": ["1.0 2 0"]}, text),  # not a yanked flag
        lambda record, text: ({**record, "releases": ["1.0 0"]}, text),  # no numbers
        lambda record, text: ({**record, "releases": ["1.0 0 0 x"]}, text),  # half a span
        lambda record, text: ({**record, "releases": ["1.0 0 0,x"]}, text),  # not numbers
        lambda record, text: ({**record, "releases": ["1.0 0 0,,1"]}, text),
        lambda record, text: ({**record, "releases": ["1.0  0 0"]}, text),  # an empty field
        lambda record, text: ({**record, "releases": [7]}, text),
    ],
)
def test_a_stored_page_source_that_does_not_fit_is_refused(
    damage: Callable[[dict[str, Any], str], tuple[dict[str, Any], str]],
) -> None:
    from lockbuild.index.simple import parse_project_page

    page = parse_project_page(
        PYPI_SHAPED_PAGE,
        content_type="text/html",
        page_url="https://index.example/simple/demo/",
        project="demo",
        index_url="https://index.example/simple",
    )
    assert page.source is not None
    record, text = damage(dict(page.source.record), page.source.text)
    with pytest.raises(ValueError):
        read_page_source(record, text).release_files("1.0")


def test_a_page_stored_in_the_previous_form_is_never_read(store: Store, clock: Clock) -> None:
    """``page-v2`` held JSON pages as rows, ``page-v3`` their text with releases that did not
    say when their files came, ``page-v4`` each release as a list; such entries are not
    read: refetched online, and missing offline."""
    from lockbuild.index.pagestore import stored_form
    from lockbuild.index.simple import parse_project_page
    from lockbuild.store.envelope import encode_envelope, text_sha256

    rows_key = page_key(INDEX, "demo").replace("page-v5:", "page-v2:")
    rows = page_record(ProjectPage(canonicalize_name("demo"), INDEX, FILES))
    store._cache.set(
        rows_key, encode_envelope(rows_key, rows, stored=clock(), etag=None, last_modified=None)
    )
    text_key = page_key(INDEX, "demo").replace("page-v5:", "page-v3:")
    parsed = parse_project_page(
        PAGE,
        content_type="application/vnd.pypi.simple.v1+json",
        page_url=f"{INDEX}/demo/",
        project="demo",
        index_url=INDEX,
    )
    parsed_releases = [list(release) for release in parsed.source.record["releases"]]
    record, text = stored_form(parsed)
    old_record = {**record, "releases": [release[:3] for release in parsed_releases]}
    assert text is not None
    head = encode_envelope(
        text_key,
        old_record,
        stored=clock(),
        etag=None,
        last_modified=None,
        text_sha256=text_sha256(text),
    )
    store._cache.set(text_key, head + "\n" + text)
    list_key = page_key(INDEX, "demo").replace("page-v5:", "page-v4:")  # releases as lists
    listed = {**record, "releases": parsed_releases}
    store._cache.set(
        list_key,
        encode_envelope(
            list_key,
            listed,
            stored=clock(),
            etag=None,
            last_modified=None,
            text_sha256=text_sha256(text),
        )
        + "\n"
        + text,
    )
    missing = MissingItems()
    offline = IndexClient(
        ScriptedHttp(),
        index_urls=[INDEX],
        store=store,
        policy=CachePolicy(offline=True),
        missing=missing,
    )
    try:
        assert offline.project_page(canonicalize_name("demo")).versions == ()
    finally:
        offline.close()
    assert missing.items == (f"no cached index page for 'demo' (index {INDEX})",)
    http = ScriptedHttp()
    page = page_of(store, http)
    assert len(http.sent) == 1
    assert [file.url for file in page.files] == [
        "https://files.example/d/demo-1.0-py3-none-any.whl"
    ]
    entry = store.get(page_key(INDEX, "demo"))
    assert entry is not None and entry.text == PAGE.decode()
    assert entry.value["reader"] == "json-v1"


def test_a_json_page_lets_go_of_its_text_once_stored_and_reads_its_files_unchanged() -> None:
    """The stored form hands the text over once; the held rows read as the entries did."""
    from lockbuild.index.pagestore import stored_form
    from lockbuild.index.simple import parse_project_page

    metadata = {"sha256": "dd" * 32}
    entries = [
        {
            "filename": "demo-1.0-py3-none-any.whl",
            "url": "https://files.example/demo-1.0-py3-none-any.whl",
            "hashes": {"sha256": "aa" * 32},
            "requires-python": ">=3.8",
            "upload-time": "2024-01-02T03:04:05.000000Z",
            "size": 1234,
            "yanked": False,
            "core-metadata": metadata,
            "data-dist-info-metadata": metadata,
            "provenance": None,
        },
        {
            "filename": "demo-1.0.tar.gz",
            "url": "../../files/demo-1.0.tar.gz",
            "hashes": {"sha256": "bb" * 32, "md5": "cc" * 16},
            "yanked": "broken",
            "dist-info-metadata": True,
        },
    ]
    body = json.dumps({"meta": {"api-version": "1.1"}, "name": "demo", "files": entries})

    def parsed() -> ProjectPage:
        return parse_project_page(
            body.encode(),
            content_type="application/vnd.pypi.simple.v1+json",
            page_url="https://index.example/simple/demo/",
            project="demo",
            index_url="https://index.example/simple",
        )

    page = parsed()
    record, text = stored_form(page)
    assert text == body and page.source is None  # the page holds its text no longer
    assert stored_form(page)[1] is None  # stored again: in record form
    wheel, sdist = page.release_files("1.0")
    assert wheel.hashes == {"sha256": "aa" * 32} and wheel.metadata_hashes == metadata
    assert wheel.requires_python == ">=3.8" and wheel.size == 1234 and wheel.yanked is None
    assert sdist.url == "https://index.example/files/demo-1.0.tar.gz"
    assert sdist.hashes == {"sha256": "bb" * 32, "md5": "cc" * 16}
    assert sdist.yanked == "broken" and sdist.metadata_hashes == {}
    assert read_page_source(record, text) == parsed() == page


def test_a_compile_against_a_page_with_odd_numbers_writes_its_lock_and_reads_it_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A JSON page whose file entries hold NaN, Infinity and 1e999 (all of which json.loads
    reads) locks as any page does, is stored, and a second run reads it from the store."""
    import urllib.request

    from conftest import warm_compile_arguments
    from distbuilder import make_wheel
    from indexserver import IndexServer

    from lockbuild.cli import main

    wheel = make_wheel(tmp_path / "dists", "app", "1.0")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "requirements.in").write_text("app\n")
    json_type = "application/vnd.pypi.simple.v1+json"
    with IndexServer(json=True) as server:
        server.add(wheel)
        request = urllib.request.Request(f"{server.url}/app/", headers={"Accept": json_type})
        with urllib.request.urlopen(request, timeout=10) as response:
            page = json.loads(response.read())
        page["files"][0].update({"size": float("nan"), "upload-time": float("inf")})
        page["files"].append({"filename": "app-0.9.tar.gz", "url": "x", "size": "BIG"})
        body = json.dumps(page).replace('"BIG"', "1e999").encode()  # NaN, Infinity as is
        assert b"NaN" in body and b"Infinity" in body and b"1e999" in body
        server.fault("/simple/app/", "body", times=1000, body=body, content_type=json_type)
        arguments = list(warm_compile_arguments(server))
        assert main(arguments) == 0
        lock = (tmp_path / "requirements.txt").read_text()
        assert "app==1.0" in lock
        before = server.count("/simple/app/")
        (tmp_path / "requirements.txt").unlink()
        assert main(arguments) == 0
        assert server.count("/simple/app/") == before  # read from the store
    assert (tmp_path / "requirements.txt").read_text() == lock


def test_a_fresh_stored_page_is_read_in_the_asking_thread_a_stale_one_on_the_pool(
    store: Store, clock: Clock
) -> None:
    """A warm run hands nothing to the fetch threads; a page that needs a request does."""
    threads: list[int] = []

    class Recording(ScriptedHttp):
        def get(
            self, url: str, *, headers: Mapping[str, str] | None = None, missing_ok: bool = False
        ) -> HttpResponse:
            threads.append(threading.get_ident())
            return super().get(url, headers=headers, missing_ok=missing_ok)

    http = Recording()
    first = page_of(store, http, page_ttl=60)
    client = IndexClient(http, index_urls=[INDEX], store=store, policy=CachePolicy(page_ttl=60))
    fetched: list[str] = []
    pages = client._page_source
    original = pages.page
    pages.page = lambda name: fetched.append(name) or original(name)  # type: ignore[method-assign]
    try:
        assert client.project_page(canonicalize_name("demo")) == first
        assert fetched == [] and len(http.sent) == 1
    finally:
        client.close()

    clock.now += 61
    http.status = 304
    assert page_of(store, http, page_ttl=60) == first
    assert len(http.sent) == 2 and http.sent[-1]["If-None-Match"] == '"v1"'
    assert threads[-1] != threading.get_ident()


def test_a_json_page_is_stored_with_its_rows_apart_and_refetched_when_they_are_damaged(
    store: Store, clock: Clock
) -> None:
    """The rows' base64 is the entry's section, not a string of its record: read back as
    bytes, checked, never decoded as JSON. Damaged, the entry is dropped and the page
    fetched again."""
    http = ScriptedHttp()
    fetched = page_of(store, http)
    key = page_key(INDEX, "demo")
    entry = store.get(key, defer_text=True)
    assert entry is not None and entry.section is not None
    assert "rows" not in entry.value["rows"] and set(entry.value["rows"]) == {"ends", "others"}
    again = page_of(store, http)
    assert len(http.sent) == 1  # read back, not fetched
    assert again.release_files("1.0") == fetched.release_files("1.0")
    stored = store._cache.get(key)
    if not isinstance(stored, str):
        stored = stored.whole()
    head, _, rest = stored.partition("\n")
    section, _, text = rest.partition("\n")
    assert section.encode() == entry.section and text == PAGE.decode()
    store._cache.set(key, f"{head}\n{section[:-4]}AAAA\n{text}")
    refetched = page_of(store, http)
    assert len(http.sent) == 2 and store.dropped == 1
    assert refetched.release_files("1.0") == fetched.release_files("1.0")


def test_a_page_stored_with_its_rows_apart_needs_them() -> None:
    from lockbuild.index.pagestore import stored_parts

    record, text, section = stored_parts(json_page())
    assert text is not None and section is not None and "rows" not in record["rows"]
    page = read_page_source(record, text, section.encode())
    assert page.release_files("2.0") == json_page().release_files("2.0")
    with pytest.raises(ValueError, match="not stored rows"):
        read_page_source(record, text)
