"""The one-pass reading of a JSON page makes what the general code makes of it.

:func:`~lockbuild.index.jsonpass.read_entry_stream` takes shortcuts for entries as PyPI writes them
(their fields in one step, a row packed at once, a wheel's version from its name's start) and
:func:`~lockbuild.index.jsonpage._upload_span` for upload times as PyPI writes them. Pages and
times here are drawn from a seeded generator: PyPI's form with one field or several made odd
(case, length, types, separators, surrogates, yanked forms, other fields, key orders, dates
that do not exist); whatever the shortcut takes or leaves, the outline and rows must be those
of :func:`~lockbuild.index.jsonpage.json_record` and :class:`~lockbuild.index.jsonrows.HeldRows`.
"""

from __future__ import annotations

import logging
import os
import random
from typing import Any

import pytest
from packaging.utils import canonicalize_name

from lockbuild.index import jsonpass
from lockbuild.index.jsonpage import _any_upload_span, _upload_span, json_record
from lockbuild.index.jsonpass import read_entry_stream
from lockbuild.index.jsonrows import HeldRows

SEED = int(os.environ.get("LOCKBUILD_FUZZ_SEED", "11"))
PAGES = 300
PROJECT = canonicalize_name("demo")
PAGE_URL = "https://pypi.org/simple/demo/"
INDEX_URL = "https://pypi.org/simple"
_MISSING = object()


def _hex(rng: random.Random, digits: int = 64) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(digits))


def _time(rng: random.Random) -> Any:
    year, month, day = rng.choice([2019, 2020, 2026]), rng.randint(1, 12), rng.randint(1, 28)
    clock = f"{rng.randint(0, 23):02}:{rng.randint(0, 59):02}:{rng.randint(0, 59):02}"
    seconds = f"{year}-{month:02}-{day:02}T{clock}Z"
    micro = f"{seconds[:-1]}.{rng.randint(0, 999999):06}Z"
    odd = [
        None,
        "",
        5,
        1.5,
        ["2020-01-01T00:00:00Z"],
        seconds.replace("Z", "+00:00"),
        seconds.lower(),
        micro[:-1],
        f"{seconds[:-1]}.123Z",
        "2020-02-29T00:00:00Z",
        "2021-02-29T00:00:00Z",
        "2020-04-31T00:00:00.000000Z",
        "2020-13-01T00:00:00Z",
        "2020-00-10T00:00:00Z",
        "2020-01-01T24:00:00Z",
        "2020-01-01T23:60:00Z",
        "2020-01-01T23:59:60.000000Z",
        "0000-01-01T00:00:00Z",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59.999999Z",
        "\u0662\u0660\u0662\u0660-01-01T00:00:00Z",
        "2020-01-01T00:00:00.\u0661\u0662\u0663\u0664\u0665\u0666Z",
        "2020-01-01T00:00:00Z\n2020-01-01T00:00:00Z",
        " 2020-01-01T00:00:00Z",
        "2020-01-01 00:00:00Z",
        "\ud800020-01-01T00:00:00Z",
    ]
    return rng.choice([seconds] * 6 + [micro] * 6 + odd)


def _entry(rng: random.Random, version: str) -> Any:
    if rng.random() < 0.02:
        return rng.choice([None, [], "demo-1.0.tar.gz", 3])
    kind = rng.choice(["-py3-none-any.whl"] * 4 + ["-1-cp311-cp311-linux_x86_64.whl", ".tar.gz"])
    name = rng.choice(["demo"] * 12 + ["Demo", "de.mo", "other", "-demo", ""])
    filename: Any = f"{name}-{version}{kind}"
    path = f"https://files.pythonhosted.org/packages/{_hex(rng, 2)}/{_hex(rng, 2)}/{_hex(rng, 60)}/"
    entry: dict[str, Any] = {
        "core-metadata": {"sha256": _hex(rng)},
        "data-dist-info-metadata": {"sha256": _hex(rng)},
        "filename": filename,
        "hashes": {"sha256": _hex(rng)},
        "requires-python": rng.choice([None, ">=3.8", ">=3.9,<4"]),
        "size": rng.randint(0, 10**9),
        "upload-time": _time(rng),
        "url": path + filename,
        "yanked": False,
    }
    if rng.random() < 0.5:
        del entry["core-metadata"], entry["data-dist-info-metadata"]
    for _ in range(rng.choice([0, 0, 0, 1, 1, 2, 3])):
        _make_odd(rng, entry, filename, path)
    if rng.random() < 0.05:
        keys = list(entry)
        rng.shuffle(keys)
        entry = {key: entry[key] for key in keys}
    return {key: value for key, value in entry.items() if value is not _MISSING}


def _make_odd(rng: random.Random, entry: dict[str, Any], filename: str, path: str) -> None:
    odd: dict[str, list[Any]] = {
        "filename": [
            _MISSING,
            None,
            "",
            3,
            filename.upper(),
            filename.replace("-", "\x1f", 1),
            filename.replace(".whl", ".WHL"),
            filename.replace(".tar.gz", ".zip"),
            filename.replace(".tar.gz", ".exe"),
            filename.replace(".tar.gz", ".tgz"),
            filename.replace("-py3", "-x-y-py3"),
            filename.replace("-none-", "-"),
            "\ud800" + filename,
            "demo-1.0-py3-none-any.whl.tar.gz",
        ],
        "url": [
            _MISSING,
            None,
            "",
            filename,
            path.upper() + filename,
            path.replace("https://files.pythonhosted.org", "https://files.example.org") + filename,
            path[:-2] + "/" + filename,
            path + "other.whl",
            path.replace("/", " /", 5) + filename,
            path + filename + "#sha256=" + "ab" * 32,
            [path],
        ],
        "hashes": [
            _MISSING,
            None,
            {},
            {"sha256": "AB" * 32},
            {"sha256": "ab" * 31},
            {"sha256": "zz" * 32},
            {"sha256": " a" * 32},
            {"sha256": "ab" * 32, "md5": "cd" * 16},
            {"SHA256": "ab" * 32},
            {"sha256": 12},
            {"sha256": "\u0661" * 64},
            "ab" * 32,
        ],
        "requires-python": [_MISSING, "", "\ud800", 3, ">=3.8\x1f", " "],
        "size": [_MISSING, None, True, False, -1, 0, "12", 1.5, float("nan"), 10**30],
        "upload-time": [_MISSING, _time(rng), "2020\x1f-01-01T00:00:00Z"],
        "yanked": [_MISSING, True, "", "broken", 0, 1, [], None],
        "core-metadata": [
            _MISSING,
            None,
            True,
            False,
            {"sha256": "CD" * 32},
            {"sha256": "cd" * 31},
            {"sha256": "cd" * 32, "md5": "ef" * 16},
            {},
            "cd" * 32,
        ],
        "dist-info-metadata": [True, {"sha256": "cd" * 32}],
        "data-dist-info-metadata": [_MISSING, True],
        "provenance": [None, "https://pypi.org/integrity/demo/1.0/x/provenance"],
    }
    key = rng.choice([*sorted(odd), "no filename"])
    if key == "no filename":  # a URL that ends in the empty name
        entry["filename"], entry["url"] = "", path
    else:
        entry[key] = rng.choice(odd[key])
        if key == "filename" and isinstance(entry[key], str) and rng.random() < 0.7:
            entry["url"] = path + entry[key]  # the URL as the index would write it


def _page(rng: random.Random) -> list[Any]:
    versions = [rng.choice(["1.0", "1.1", "2.0rc1", "2!3.0", "1.0.post1"]) for _ in range(4)]
    return [_entry(rng, rng.choice(versions)) for _ in range(rng.randint(0, 40))]


class _Messages(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.seen: list[tuple[int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append((record.levelno, record.getMessage()))


def _assert_same_rows(made: HeldRows, general: HeldRows) -> None:
    assert len(made) == len(general)
    for number in range(len(general)):
        row, expected = made.row(number), general.row(number)
        assert row == expected and type(row) is type(expected), number
        if isinstance(expected, tuple):
            assert [type(field) for field in row] == [type(field) for field in expected]  # type: ignore[union-attr]
    assert made.to_record() == general.to_record()


def test_one_pass_makes_the_outline_and_rows_of_the_general_code() -> None:
    logger = logging.getLogger("lockbuild.index.jsonpage")
    messages = _Messages()
    logger.addHandler(messages)
    level, propagate = logger.level, logger.propagate
    logger.setLevel(logging.DEBUG)
    logger.propagate = False  # file names with lone surrogates: kept out of the test report
    try:
        rng = random.Random(SEED)
        for index in range(PAGES):
            entries = _page(rng)
            record = json_record(entries, PAGE_URL, PROJECT, INDEX_URL)
            held = HeldRows(entries)
            general_messages, messages.seen = messages.seen, []
            made, made_rows = read_entry_stream(iter(entries), PAGE_URL, PROJECT, INDEX_URL)
            assert made == record, (SEED, index)
            assert messages.seen == general_messages, (SEED, index)
            messages.seen = []
            _assert_same_rows(made_rows, held)
    finally:
        logger.removeHandler(messages)
        logger.setLevel(level)
        logger.propagate = propagate


def test_entries_as_pypi_writes_them_take_the_shortcut(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the general code, a page as PyPI writes it is still read, the same."""
    rng = random.Random(SEED)
    entries = []
    for version in ("1.0", "1.1", "2.0"):
        for kind in ("-py3-none-any.whl", "-cp311-cp311-linux_x86_64.whl", ".tar.gz"):
            path = f"https://files.pythonhosted.org/packages/{_hex(rng, 2)}/{_hex(rng, 2)}/"
            filename = f"demo-{version}{kind}"
            entry = {
                "filename": filename,
                "hashes": {"sha256": _hex(rng)},
                "requires-python": ">=3.8",
                "size": 1234,
                "upload-time": f"2020-01-0{len(entries) % 9 + 1}T00:00:00.000000Z",
                "url": f"{path}{_hex(rng, 60)}/{filename}",
                "yanked": False,
            }
            if kind == ".tar.gz":
                entry = {"core-metadata": {"sha256": _hex(rng)}, "data-dist-info-metadata": {}}
                entry |= {"filename": filename, "hashes": {"sha256": _hex(rng)}}
                entry |= {
                    "requires-python": None,
                    "size": 99,
                    "upload-time": "2020-01-09T00:00:00Z",
                }
                entry |= {"url": f"{path}{_hex(rng, 60)}/{filename}", "yanked": False}
            entries.append(entry)
    record, held = json_record(entries, PAGE_URL, PROJECT, INDEX_URL), HeldRows(entries)

    def general(*_: Any) -> Any:
        raise AssertionError("the general code was asked")

    monkeypatch.setattr(jsonpass, "_pypi_row", general)
    monkeypatch.setattr(jsonpass, "_row", general)
    monkeypatch.setattr(jsonpass, "outline_entry", general)
    made, made_rows = read_entry_stream(entries, PAGE_URL, PROJECT, INDEX_URL)
    assert made == record
    assert [release[0] for release in made["releases"]] == ["1.0", "1.1", "2.0"]
    _assert_same_rows(made_rows, held)


@pytest.mark.parametrize(
    "name",
    [
        "demo-1.0-py3-any.whl",
        "demo-1.0-1-py3-none-any-x.whl",
        "demo-1.0-py3-none-any.whl.zip",
        "demo-1.0-py3-none-any.tar.gz",
        "demo-1.0.tgz",
        "demo-1.0.gz",
        "demo-1.0-.tar.gz",
        "demo-1.0-py3-none-any.WHL",
        "demo-1.0.1-py3-none-any.whl",
        "demo-1.0-1.0-none-any.whl",
        "Demo-1.0-py3-none-any.whl",
        "demo_-1.0-py3-none-any.whl",
        "-1.0-py3-none-any.whl",
    ],
)
def test_names_after_a_wheel_of_their_release(name: str) -> None:
    """A name that starts as the previous wheel's did is still split as the general code does."""
    rng = random.Random(name)
    path = f"https://files.pythonhosted.org/packages/{_hex(rng, 2)}/{_hex(rng, 2)}/{_hex(rng, 60)}/"
    entries = [
        {
            "filename": filename,
            "hashes": {"sha256": _hex(rng)},
            "requires-python": None,
            "size": 1,
            "upload-time": "2020-01-01T00:00:00Z",
            "url": path + filename,
            "yanked": False,
        }
        for filename in ("demo-1.0-py3-none-any.whl", name, "demo-1.0-py2-none-any.whl", name)
    ]
    made, made_rows = read_entry_stream(entries, PAGE_URL, PROJECT, INDEX_URL)
    assert made == json_record(entries, PAGE_URL, PROJECT, INDEX_URL)
    _assert_same_rows(made_rows, HeldRows(entries))


def test_upload_times_as_pypi_writes_them_span_as_any_times_do() -> None:
    rng = random.Random(SEED)
    for index in range(3000):
        times = [_time(rng) for _ in range(rng.choice([1, 1, 2, 3, 8]))]
        if rng.random() < 0.5:  # most releases: all in one form
            times = [time for time in times if isinstance(time, str) and len(time) == 27] or [
                "2020-01-01T00:00:00.000000Z"
            ]
        assert _upload_span(times) == _any_upload_span(times), (SEED, index, times)


@pytest.mark.parametrize(
    ("times", "span"),
    [
        (
            ["2020-01-02T00:00:00Z", "2020-01-01T00:00:00Z"],
            ("2020-01-01T00:00:00Z", "2020-01-02T00:00:00Z"),
        ),
        (["2020-01-01T00:00:00.5Z", "2020-01-01T00:00:00Z"], None),
        (["2020-01-01T00:00:00.000001Z", "2020-01-01T00:00:00Z"], None),
        (["2020-02-29T00:00:00Z"], ("2020-02-29T00:00:00Z",) * 2),
        (["2021-02-29T00:00:00Z"], (None, None)),
        (["0000-01-01T00:00:00Z"], (None, None)),
        (["2020-01-01T00:00:00Z", None], (None, None)),
    ],
)
def test_upload_span_of_odd_times(times: list[Any], span: tuple[Any, Any] | None) -> None:
    assert _upload_span(times) == _any_upload_span(times)
    if span is not None:
        assert _upload_span(times) == span


def _files_first(entries: list[Any], indent: int | None, **rest: Any) -> str:
    import json

    return json.dumps({"files": entries, **rest}, indent=indent)


def _read_page(text: str) -> tuple[dict[str, Any], HeldRows]:
    from lockbuild.index.jsonpage import read_json_files
    from lockbuild.index.jsonpass import read_entry_stream

    return read_json_files(
        text, PAGE_URL, lambda entries: read_entry_stream(entries, PAGE_URL, PROJECT, INDEX_URL)
    )


@pytest.mark.parametrize("batch", [1 << 15, 1, 300])
def test_a_page_read_an_entry_at_a_time_is_read_as_a_page_parsed_whole(
    batch: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page whose first key is ``files`` has its entries decoded a few at a time: the
    outline and rows are those of the page parsed whole, however it is spaced, whatever its
    strings and entries hold (``}, {`` too, where a batch would not end)."""
    import json

    from lockbuild.index import jsonpage
    from lockbuild.index.jsonpage import json_entries

    monkeypatch.setattr(jsonpage, "_BATCH", batch)
    rng = random.Random(SEED)
    for index in range(60):
        entries = _page(rng)
        for entry in entries[::3]:
            if isinstance(entry, dict) and rng.random() < 0.5:
                entry["x"] = rng.choice(['}, {"', "}, {", [{"a": "}, {"}, {}], {"b": [{}, {}]}])
        meta = {"api-version": "1.1", "_last-serial": 7}
        indent = rng.choice([None, 0, 2])
        text = _files_first(entries, indent, meta=meta, name="demo", versions=["1.0"])
        parsed = json.loads(text)["files"]  # what the page is, parsed whole (NaN sizes too)
        made, held = _read_page(text)
        whole, whole_held = jsonpass.read_entry_stream(
            json_entries(text, PAGE_URL), PAGE_URL, PROJECT, INDEX_URL
        )
        assert made == whole == json_record(parsed, PAGE_URL, PROJECT, INDEX_URL), index
        _assert_same_rows(held, whole_held)
        _assert_same_rows(held, HeldRows(parsed))


def test_entries_read_one_at_a_time_are_let_go() -> None:
    """Each entry is decoded when it is asked for, and the list is never made."""
    text = _files_first([{"filename": f"demo-1.{n}.tar.gz", "url": "u"} for n in range(5)], 1)
    from lockbuild.index.jsonpage import read_json_files

    seen: list[int] = []

    def read(entries: Any) -> int:
        assert not isinstance(entries, list)
        for entry in entries:
            seen.append(int(entry["filename"].split(".")[1]))
        return len(seen)

    assert read_json_files(text, PAGE_URL, read) == 5
    assert seen == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ('{"files": [{"filename": "demo-1.0.tar.gz", "url": "u"},]}', "invalid JSON"),
        ('{"files": [{"filename": "demo-1.0.tar.gz", "url": "u"} {}]}', "invalid JSON"),
        ('{"files": [{"filename": "demo-1.0.tar.gz", "url": "u"}', "invalid JSON"),
        ('{"files": [', "invalid JSON"),
        ('{"files": [1, 2', "invalid JSON"),
        ('{"files": [], "meta": }', "invalid JSON"),
        ('{"files": []} trailing', "invalid JSON"),
        ('{"files": [{"a": [[[[[' + "[" * 100000, "invalid JSON"),
        ('{"files": [], "meta": {"api-version": "2.0"}}', "unsupported api-version 2.0"),
        ('{"files": [{"filename": 1}], "meta": {"api-version": "x"}}', "invalid api-version"),
    ],
)
def test_a_page_read_an_entry_at_a_time_fails_as_one_parsed_whole(text: str, why: str) -> None:
    from lockbuild.errors import IndexFetchError
    from lockbuild.index.jsonpage import json_entries

    with pytest.raises(IndexFetchError, match=why):
        json_entries(text, PAGE_URL)
    with pytest.raises(IndexFetchError, match=why):
        _read_page(text)


def test_a_page_with_files_twice_counts_the_last_as_json_does() -> None:
    first = [{"filename": "demo-1.0.tar.gz", "url": "https://x/demo-1.0.tar.gz"}]
    last = [{"filename": "demo-2.0.tar.gz", "url": "https://x/demo-2.0.tar.gz"}]
    text = f'{{"files": {json_text(first)}, "meta": {{}}, "files": {json_text(last)}}}'
    made, _ = _read_page(text)
    assert made == json_record(last, PAGE_URL, PROJECT, INDEX_URL)
    assert [release[0] for release in made["releases"]] == ["2.0"]


def test_pages_that_do_not_start_with_files_are_parsed_whole() -> None:
    entries = [{"filename": "demo-1.0.tar.gz", "url": "https://x/demo-1.0.tar.gz"}]
    for text in (
        json_text({"meta": {"api-version": "1.0"}, "files": entries}),
        json_text({"name": "demo", "files": entries}),
        f'{{"meta": {{"files": []}}, "files": {json_text(entries)}}}',
    ):
        made, held = _read_page(text)
        assert made == json_record(entries, PAGE_URL, PROJECT, INDEX_URL)
        _assert_same_rows(held, HeldRows(entries))


def json_text(value: Any) -> str:
    import json

    return json.dumps(value)


def test_entries_that_hold_a_cut_are_not_each_decoded_again_with_a_whole_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Where ``}, {`` lies within entries, a batch fails; the entries are then read one by
    one past that cut before a batch is tried again, not one failed batch (some 32K
    characters decoded for nothing) per entry: a page of such entries is read in about the
    time parsing it whole takes, not hundreds of times that."""
    import json

    from lockbuild.index import jsonpage

    entries = [{"filename": f"demo-1.{n}.tar.gz", "url": "u", "x": [{}, {}]} for n in range(4000)]
    text = _files_first(entries, None)
    loads = json.loads
    decoded: list[int] = []

    def counted(document: Any, **options: Any) -> Any:
        decoded.append(len(document))
        return loads(document, **options)

    monkeypatch.setattr(jsonpage.json, "loads", counted)
    made, held = _read_page(text)
    monkeypatch.undo()
    assert made == json_record(entries, PAGE_URL, PROJECT, INDEX_URL)
    _assert_same_rows(held, HeldRows(entries))
    assert sum(decoded) < 4 * len(text), (len(decoded), sum(decoded), len(text))


class _SearchedText(str):
    """A page's text that counts the characters its ``find`` calls look through."""

    searched = 0

    def find(self, sub: str, start: Any = None, end: Any = None) -> int:
        found = super().find(sub, start, end)
        _SearchedText.searched += (len(self) if found == -1 else found) - (start or 0)
        return found


def test_a_compact_page_is_searched_for_a_cut_once_not_once_per_entry() -> None:
    """A page written without spaces (``},{``, as many JSON writers do) has no cut to batch
    entries at: the text after an entry was searched to its end again for every entry, a
    page of 7 MB taking 40 s (0.05 s parsed whole)."""
    import json

    entries = [{"filename": f"demo-1.{n}.tar.gz", "url": "u"} for n in range(3000)]
    text = _SearchedText(json.dumps({"files": entries, "meta": {}}, separators=(",", ":")))
    _SearchedText.searched = 0
    made, held = _read_page(text)
    assert made == json_record(entries, PAGE_URL, PROJECT, INDEX_URL)
    _assert_same_rows(held, HeldRows(entries))
    assert _SearchedText.searched < 2 * len(text), (_SearchedText.searched, len(text))
