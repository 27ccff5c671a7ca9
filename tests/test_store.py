"""Tests of lockbuild.store.store: envelopes, freshness, self-repair, cache commands,
concurrency."""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import multiprocessing
import os
import random
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import diskcache
import pytest

from lockbuild.cli.cache import format_info
from lockbuild.errors import StoreError
from lockbuild.store.envelope import encode_envelope, value_sha256
from lockbuild.store.info import FOREIGN
from lockbuild.store.keys import (
    BUILD_FAILURE,
    HASH,
    METADATA,
    PAGE,
    RELEASE,
    UPLOAD,
    WHEEL,
    build_failure_key,
    hash_key,
    metadata_key,
    namespace_of,
    page_key,
    release_key,
)
from lockbuild.store.store import Entry, Store, open_store

SHA = "ab" * 32
PAGE_KEY = page_key("https://pypi.org/simple", "django")
META_KEY = metadata_key(url="https://files.example/django-5.1.3-py3-none-any.whl", sha256=SHA)
HASH_KEY = hash_key("https://files.example/pkg-1.0.tar.gz")
RELEASE_KEY = release_key("https://pypi.org/simple", "django", "5.1.3")
PAGE_VALUE = {
    "name": "django",
    "files": [
        {"filename": "django-5.1.3-py3-none-any.whl", "hashes": {"sha256": SHA}, "size": 8},
        {"filename": "django-5.1.3.tar.gz", "yanked": None, "requires_python": ">=3.10"},
    ],
    "meta": {"api-version": "1.1", "ratio": 0.5, "flag": True},
}


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> Iterator[Store]:
    with open_store(tmp_path / "cache", clock=clock) as opened:
        yield opened


@pytest.fixture
def raw_cache(store: Store) -> Iterator[diskcache.Cache]:
    """A plain diskcache.Cache (default, pickling Disk) on the store's own directory."""
    cache = diskcache.Cache(store.directory)
    yield cache
    cache.close()


def raw_rows(store: Store) -> list[tuple[str, int, int, str | None, object]]:
    with sqlite3.connect(os.path.join(store.directory, "cache.db")) as connection:
        query = "SELECT key, raw, mode, filename, value FROM Cache ORDER BY key"
        return list(connection.execute(query).fetchall())


# --- keys ---------------------------------------------------------------------------------------


def test_keys_are_versioned_normalized_and_free_of_credentials() -> None:
    assert page_key("https://u:token@pypi.org/simple/", "Django_REST") == (
        "page-v5:https://pypi.org/simple:django-rest"
    )
    assert metadata_key(url="https://x/a.whl", sha256="SHA256:" + SHA.upper()) == f"meta-v2:{SHA}"
    assert metadata_key(url="https://token@x/a.whl#sha256=00") == "meta-v2:https://x/a.whl"
    assert hash_key("https://u:p@x/p-1.0.tar.gz#egg=p") == "hash-v1:https://x/p-1.0.tar.gz"
    assert release_key("https://pypi.org/simple/", "PyYAML", "6.0.2") == (
        "release-v1:https://pypi.org/simple:pyyaml:6.0.2"
    )
    assert build_failure_key("SHA256:" + SHA.upper()) == f"build-failure-v1:{SHA}"
    assert namespace_of(build_failure_key(SHA)) == BUILD_FAILURE
    assert [namespace_of(key) for key in (PAGE_KEY, META_KEY, HASH_KEY, RELEASE_KEY)] == [
        PAGE,
        METADATA,
        HASH,
        RELEASE,
    ]


@pytest.mark.parametrize("key", ["page-v0:x", "nonsense", "", "meta:abc"])
def test_unknown_namespace_is_a_programming_error(store: Store, key: str) -> None:
    with pytest.raises(ValueError, match="unknown namespace"):
        store.put(key, 1)
    with pytest.raises(ValueError, match="unknown namespace"):
        store.get(key)


def test_metadata_key_rejects_a_malformed_sha256() -> None:
    with pytest.raises(ValueError, match="sha256"):
        metadata_key(url="https://x/a.whl", sha256="abc")


# --- round trips and JSON-only values -----------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value"),
    [
        (PAGE_KEY, PAGE_VALUE),
        (META_KEY, {"name": "django", "requires_dist": ["asgiref>=3.8", "sqlparse"]}),
        (HASH_KEY, "sha256:" + SHA),
        (RELEASE_KEY, [{"filename": "a.whl", "sha256": SHA, "upload_time": None}]),
        (PAGE_KEY, {"unicode": "naïve ☃ \U0001f40d", "big": 2**70, "neg": -0.0, "empty": {}}),
        (HASH_KEY, None),
    ],
)
def test_round_trip(store: Store, key: str, value: object) -> None:
    assert store.put(key, value) is True
    entry = store.get(key)
    assert entry is not None
    assert entry.value == value
    assert entry.key == key
    assert entry.sha256 == value_sha256(value)


def test_holds_answers_without_reading(store: Store) -> None:
    assert store.holds(PAGE_KEY) is False
    assert store.put(PAGE_KEY, {"a": 1}) is True
    assert store.holds(PAGE_KEY) is True
    assert store.holds(HASH_KEY) is False
    store.delete(PAGE_KEY)
    assert store.holds(PAGE_KEY) is False
    with pytest.raises(ValueError):
        store.holds("no-such-namespace:x")


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ((1, 2), TypeError),
        ({"a": {1, 2}}, TypeError),
        (b"bytes", TypeError),
        ({1: "non-string key"}, TypeError),
        ([{"ok": [object()]}], TypeError),
        (float("nan"), ValueError),
        ({"x": float("inf")}, ValueError),
    ],
)
def test_non_json_values_are_refused(store: Store, value: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="not JSON data"):
        store.put(PAGE_KEY, value)
    assert store.get(PAGE_KEY) is None


def _nested(depth: int, leaf: object) -> object:
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"k": value, "n": [1, None, True, 1.5]}
    return value


@pytest.mark.parametrize("depth", [1, 99, 100, 101, 300])
@pytest.mark.parametrize(
    ("leaf", "error"), [((1,), TypeError), (float("-inf"), ValueError), ({2: 3}, TypeError)]
)
def test_non_json_data_deep_inside_a_value_is_refused(
    store: Store, depth: int, leaf: object, error: type[Exception]
) -> None:
    """However deep, past the quick walk's depth or not, the path is named."""
    with pytest.raises(error, match=r"not JSON data \(.*\): value(\['k'\]|\[0\])+"):
        store.put(PAGE_KEY, _nested(depth, leaf))
    assert store.get(PAGE_KEY) is None


class _Text(str):
    pass


@pytest.mark.parametrize("depth", [0, 5, 150])
def test_json_data_of_subclasses_and_deep_nesting_is_stored(store: Store, depth: int) -> None:
    value = _nested(depth, [_Text("t"), False, -0.0, 10**30, {"k": _Text("v")}])
    assert store.put(PAGE_KEY, value)
    entry = store.get(PAGE_KEY)
    assert entry is not None and entry.value == value


def test_circular_value_is_refused(store: Store) -> None:
    value: list[object] = []
    value.append(value)
    with pytest.raises(ValueError, match="circular"):
        store.put(PAGE_KEY, value)


def test_error_names_the_path_inside_the_value(store: Store) -> None:
    with pytest.raises(TypeError, match=r"value\['files'\]\[1\]\['hashes'\]"):
        store.put(PAGE_KEY, {"files": [{}, {"hashes": ("sha256", SHA)}]})


def test_headers_must_be_strings(store: Store) -> None:
    with pytest.raises(TypeError, match="etag"):
        store.put(PAGE_KEY, 1, etag=123)  # type: ignore[arg-type]


def test_values_are_stored_as_json_text_never_pickled(
    store: Store, raw_cache: diskcache.Cache
) -> None:
    big = {"files": ["x" * 100 for _ in range(1000)]}  # > 32 KiB: kept in a file by diskcache
    store.put(PAGE_KEY, PAGE_VALUE, etag='"abc"')
    store.put(META_KEY, big)
    rows = {row[0]: row for row in raw_rows(store)}
    _, raw, mode, filename, value = rows[PAGE_KEY]
    assert (raw, mode, filename) == (1, diskcache.core.MODE_RAW, None)
    assert isinstance(value, str)
    envelope = json.loads(value)
    assert envelope["v"] == PAGE_VALUE
    assert envelope["etag"] == '"abc"'
    assert envelope["sha256"] == value_sha256(PAGE_VALUE)
    _, raw, mode, filename, value = rows[META_KEY]
    assert (raw, mode, value) == (1, diskcache.core.MODE_TEXT, None)
    assert isinstance(filename, str)
    text = Path(store.directory, filename).read_text(encoding="utf-8")
    assert json.loads(text)["v"] == big
    assert all(row[2] != diskcache.core.MODE_PICKLE for row in rows.values())
    assert isinstance(raw_cache.get(PAGE_KEY), str)


TRIPWIRE: list[str] = []


def _tripwire_fired() -> str:
    TRIPWIRE.append("unpickled")
    return "pwned"


class _Tripwire:
    def __reduce__(self) -> tuple[object, tuple[()]]:
        return _tripwire_fired, ()


def test_a_pickled_entry_is_dropped_never_unpickled(
    store: Store, raw_cache: diskcache.Cache, caplog: pytest.LogCaptureFixture
) -> None:
    raw_cache.set(PAGE_KEY, _Tripwire())
    assert [row[2] for row in raw_rows(store)] == [diskcache.core.MODE_PICKLE]
    with caplog.at_level(logging.WARNING, logger="lockbuild.store.store"):
        assert store.get(PAGE_KEY) is None
    assert TRIPWIRE == []
    assert "dropping corrupt cache entry" in caplog.text
    assert raw_rows(store) == []


def test_foreign_keys_are_counted_but_never_unpickled(
    store: Store, raw_cache: diskcache.Cache
) -> None:
    raw_cache.set(("tuple", "key"), "x")
    store.put(HASH_KEY, "sha256:" + SHA)
    assert store.list_keys() == [HASH_KEY]
    assert store.info().entries[FOREIGN] == 1
    assert store.clear() == 2


# --- freshness and validators -------------------------------------------------------------------


def test_age_and_staleness(store: Store, clock: FakeClock) -> None:
    store.put(PAGE_KEY, PAGE_VALUE, etag='"v1"', last_modified="Tue, 01 Oct 2024 00:00:00 GMT")
    stored_at = clock.now
    clock.now += 600
    stale = store.get(PAGE_KEY, max_age=300)
    fresh = store.get(PAGE_KEY, max_age=900)
    unlimited = store.get(PAGE_KEY)
    assert stale is not None and fresh is not None and unlimited is not None
    assert (stale.stale, fresh.stale, unlimited.stale) == (True, False, False)
    assert stale.stored == stored_at
    assert stale.age == 600
    assert stale.is_fresh(600) and not stale.is_fresh(599)
    assert stale.value == PAGE_VALUE
    assert stale.etag == '"v1"'
    assert stale.last_modified == "Tue, 01 Oct 2024 00:00:00 GMT"


@pytest.mark.parametrize("key", [META_KEY, HASH_KEY, RELEASE_KEY])
def test_immutable_namespaces_never_go_stale(store: Store, clock: FakeClock, key: str) -> None:
    store.put(key, "x")
    clock.now += 10 * 365 * 86400
    entry = store.get(key, max_age=1)
    assert entry is not None and not entry.stale and entry.is_fresh(0)


def test_age_is_never_negative(store: Store, clock: FakeClock) -> None:
    store.put(PAGE_KEY, 1)
    clock.now -= 100
    entry = store.get(PAGE_KEY, max_age=0)
    assert entry is not None and entry.age == 0 and not entry.stale


def test_touch_renews_the_stored_time_and_keeps_validators(store: Store, clock: FakeClock) -> None:
    store.put(PAGE_KEY, PAGE_VALUE, etag='"v1"', last_modified="yesterday")
    clock.now += 1000
    assert store.touch(PAGE_KEY, etag='"v2"') is True
    entry = store.get(PAGE_KEY, max_age=10)
    assert entry is not None
    assert (entry.stored, entry.stale, entry.value) == (clock.now, False, PAGE_VALUE)
    assert (entry.etag, entry.last_modified) == ('"v2"', "yesterday")
    assert store.touch(page_key("https://pypi.org/simple", "missing")) is False


# --- texts stored with a value -----------------------------------------------------------------

PAGE_TEXT = "<!DOCTYPE html>\n" + "".join(
    f'<a href="https://files.example/pkg-{n}.tar.gz#sha256={n:064x}">pkg-{n}.tar.gz</a>\n'
    for n in range(2000)
)


@pytest.mark.parametrize("text", [PAGE_TEXT, "short \u00e9\n\nwith blank lines\n", ""])
def test_a_text_is_stored_after_the_value_as_it_is(store: Store, text: str) -> None:
    store.put(PAGE_KEY, PAGE_VALUE, text=text, etag='"v1"')
    entry = store.get(PAGE_KEY)
    assert entry is not None
    assert (entry.value, entry.text, entry.etag) == (PAGE_VALUE, text, '"v1"')
    ((_, _, _, filename, inline),) = [row for row in raw_rows(store) if row[0] == PAGE_KEY]
    stored = inline if filename is None else Path(store.directory, filename).read_text()
    head, newline, rest = stored.partition("\n")
    assert (newline, rest) == ("\n", text)  # unescaped, after one line of JSON
    assert json.loads(head)["text_sha256"] == hashlib.sha256(text.encode()).hexdigest()
    store.put(PAGE_KEY, PAGE_VALUE)
    replaced = store.get(PAGE_KEY)
    assert replaced is not None and replaced.text is None


def test_touch_keeps_the_text(store: Store, clock: FakeClock) -> None:
    store.put(PAGE_KEY, PAGE_VALUE, text=PAGE_TEXT)
    clock.now += 1000
    assert store.touch(PAGE_KEY, etag='"v2"') is True
    entry = store.get(PAGE_KEY)
    assert entry is not None and (entry.text, entry.stored) == (PAGE_TEXT, clock.now)


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        (lambda stored: stored[:-10], "text checksum mismatch"),
        (lambda stored: stored.replace("pkg-7.tar", "pkg-8.tar", 1), "text checksum mismatch"),
        (lambda stored: stored.partition("\n")[0], "text missing"),
        (
            lambda stored: stored.replace(',"text_sha256":', ',"other":', 1),
            "text without its checksum",
        ),
    ],
)
def test_a_damaged_text_is_dropped(
    store: Store,
    raw_cache: diskcache.Cache,
    caplog: pytest.LogCaptureFixture,
    damage: Callable[[str], str],
    why: str,
) -> None:
    store.put(PAGE_KEY, PAGE_VALUE, text=PAGE_TEXT)
    raw_cache.set(PAGE_KEY, damage(raw_cache.get(PAGE_KEY)))
    with caplog.at_level(logging.WARNING, logger="lockbuild.store.store"):
        assert store.get(PAGE_KEY) is None
    assert f"dropping corrupt cache entry ({why}): {PAGE_KEY}" in caplog.text


def test_a_deferred_text_is_checked_when_read(
    store: Store, raw_cache: diskcache.Cache, caplog: pytest.LogCaptureFixture
) -> None:
    from lockbuild.store import envelope
    from lockbuild.store.envelope import DamagedText

    store.put(PAGE_KEY, PAGE_VALUE, text=PAGE_TEXT)
    digests: list[int] = []
    real = envelope.text_sha256
    envelope_sha256 = lambda text: digests.append(len(text)) or real(text)  # noqa: E731
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(envelope, "text_sha256", envelope_sha256)
        entry = store.get(PAGE_KEY, defer_text=True)
        assert entry is not None and entry.text is None and digests == []
        assert entry.read_text() == PAGE_TEXT and entry.read_text() == PAGE_TEXT
        assert digests == [len(PAGE_TEXT)]  # once
    raw_cache.set(PAGE_KEY, raw_cache.get(PAGE_KEY).replace("pkg-7.tar", "pkg-8.tar", 1))
    damaged = store.get(PAGE_KEY, defer_text=True)
    assert damaged is not None and damaged.value == PAGE_VALUE
    with pytest.raises(DamagedText, match="text checksum mismatch"):
        damaged.read_text()
    with caplog.at_level(logging.WARNING, logger="lockbuild.store.store"):
        store.discard_damaged(PAGE_KEY, "text checksum mismatch")
    assert f"dropping corrupt cache entry (text checksum mismatch): {PAGE_KEY}" in caplog.text
    assert store.get(PAGE_KEY, defer_text=True) is None and store.dropped == 1


def _value_file(store: Store, key: str) -> Path:
    (filename,) = [row[3] for row in raw_rows(store) if row[0] == key]
    assert filename is not None
    return Path(store.directory, filename)


def test_a_deferred_text_is_read_from_disk_only_when_read(store: Store) -> None:
    from lockbuild.store import disk

    store.put(PAGE_KEY, PAGE_VALUE, text=PAGE_TEXT)
    reads: list[str] = []
    real = disk.FileText.rest
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(disk.FileText, "rest", lambda self: reads.append("rest") or real(self))
        entry = store.get(PAGE_KEY, defer_text=True)
        assert entry is not None and entry.value == PAGE_VALUE and reads == []
        assert entry.read_text() == PAGE_TEXT and entry.read_text() == PAGE_TEXT
        assert reads == ["rest"]  # once
        whole = store.get(PAGE_KEY)  # not deferred: read with its envelope
        assert whole is not None and whole.text == PAGE_TEXT and reads == ["rest"] * 2


def test_a_deferred_text_removed_before_it_is_read_is_a_miss(store: Store) -> None:
    from lockbuild.store.envelope import TextGone

    store.put(PAGE_KEY, PAGE_VALUE, text=PAGE_TEXT)
    entry = store.get(PAGE_KEY, defer_text=True)
    assert entry is not None
    _value_file(store, PAGE_KEY).unlink()
    with pytest.raises(TextGone):
        entry.read_text()
    assert store.dropped == 0


@pytest.mark.parametrize("how", ["a directory", "EIO"])
def test_a_deferred_text_the_system_will_not_read_is_a_miss(
    store: Store, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """Any OSError of the late read (I/O error, too many open files, no permission) is a
    miss, as an entry the store cannot read is when it is first read; never a traceback."""
    import builtins
    import errno

    from lockbuild.store.envelope import TextGone, TextUnreadable

    store.put(PAGE_KEY, PAGE_VALUE, text=PAGE_TEXT)
    entry = store.get(PAGE_KEY, defer_text=True)
    assert entry is not None
    path = _value_file(store, PAGE_KEY)
    if how == "a directory":
        path.unlink()
        path.mkdir()
    else:
        real_open = builtins.open

        def failing(file: Any, *arguments: Any, **keywords: Any) -> Any:
            if str(file) == str(path):
                raise OSError(errno.EIO, "Input/output error", str(file))
            return real_open(file, *arguments, **keywords)

        monkeypatch.setattr(builtins, "open", failing)
    with pytest.raises(TextUnreadable) as raised:
        entry.read_text()
    assert isinstance(raised.value, TextGone) and store.dropped == 0
    assert ("Input/output error" if how == "EIO" else "directory") in str(raised.value)


def test_a_text_is_written_and_read_back_byte_for_byte(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Carriage returns come back as they went in, read whole or deferred: the value file is
    written as bytes (text mode would write "\r\n" for "\n" on Windows) and read as bytes."""
    import diskcache

    modes: list[str] = []
    real_write = diskcache.Disk._write

    def write(self: Any, full_path: str, iterator: Any, mode: str, encoding: Any = None) -> Any:
        modes.append(mode)
        return real_write(self, full_path, iterator, mode, encoding)

    monkeypatch.setattr(diskcache.Disk, "_write", write)
    text = PAGE_TEXT.replace("\n", "\r\n") + "a lone \r and \u00e9\n"
    store.put(PAGE_KEY, PAGE_VALUE, text=text)
    assert modes == ["xb"]
    assert _value_file(store, PAGE_KEY).read_bytes().partition(b"\n")[2] == text.encode()
    whole = store.get(PAGE_KEY)
    deferred = store.get(PAGE_KEY, defer_text=True)
    assert whole is not None and whole.text == text
    assert deferred is not None and deferred.read_text() == text


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        (lambda data: data.replace(b"pkg-7.tar", b"pkg-8.tar", 1), "text checksum mismatch"),
        (lambda data: data[:-100] + b"\xff\xfe" + data[-98:], "text is not UTF-8"),
        (lambda data: data.partition(b"\n")[0] + b"\n", "text checksum mismatch"),
    ],
)
def test_a_deferred_text_damaged_before_it_is_read_is_refused(
    store: Store, damage: Callable[[bytes], bytes], why: str
) -> None:
    from lockbuild.store.envelope import DamagedText

    store.put(PAGE_KEY, PAGE_VALUE, text=PAGE_TEXT)
    entry = store.get(PAGE_KEY, defer_text=True)
    assert entry is not None and entry.value == PAGE_VALUE
    path = _value_file(store, PAGE_KEY)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(DamagedText, match=why):
        entry.read_text()
    assert store.get(PAGE_KEY) is None and store.dropped == 1  # read whole: refused too


@pytest.mark.parametrize(
    "damage",
    [lambda stored: stored.partition("\n")[0], lambda s: s.replace(',"text_sha256":', ',"o":', 1)],
)
def test_a_deferred_text_missing_or_unchecked_is_dropped(
    store: Store, raw_cache: diskcache.Cache, damage: Callable[[str], str]
) -> None:
    store.put(PAGE_KEY, PAGE_VALUE, text=PAGE_TEXT)
    raw_cache.set(PAGE_KEY, damage(raw_cache.get(PAGE_KEY)))
    assert store.get(PAGE_KEY, defer_text=True) is None and store.dropped == 1


def test_a_text_goes_through_export_and_import(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    store.put(PAGE_KEY, PAGE_VALUE, text=PAGE_TEXT)
    archive = tmp_path / "cache.jsonl.gz"
    assert store.export_archive(archive) == 1
    with gzip.open(archive, "rt") as lines:
        assert all(json.loads(line) for line in lines)  # still one JSON object per line
    with open_store(tmp_path / "airgapped") as other:
        assert other.import_archive(archive) == 1
        copy = other.get(PAGE_KEY)
        assert copy is not None and (copy.value, copy.text) == (PAGE_VALUE, PAGE_TEXT)


# --- self-repair --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "garbage",
    [
        "not json {",
        b"\x00\x01binary",
        12345,
        '["a list"]',
        '{"stored": 1.0}',
        '{"v": 1}',
        '{"v": 1, "stored": true}',
        '{"v": 1, "stored": 1.0, "etag": 5}',
        '{"v": NaN, "stored": 1.0}',
        '{"v": 1e999, "stored": 1.0}',
        '{"v": 1, "stored": 1e999}',
        '{"v": 1, "stored": 1' + "0" * 400 + "}",
        '{"v": 1, "stored": 1.0, "sha256": 7}',
    ],
)
def test_corrupt_entry_is_dropped_with_a_warning(
    store: Store,
    raw_cache: diskcache.Cache,
    caplog: pytest.LogCaptureFixture,
    garbage: object,
) -> None:
    raw_cache.set(PAGE_KEY, garbage)
    with caplog.at_level(logging.WARNING, logger="lockbuild.store.store"):
        assert store.get(PAGE_KEY) is None
    assert "dropping corrupt cache entry" in caplog.text
    assert PAGE_KEY in caplog.text
    assert PAGE_KEY not in raw_cache
    assert store.put(PAGE_KEY, PAGE_VALUE)
    assert store.get(PAGE_KEY) is not None


def test_checksum_mismatch_is_dropped(
    store: Store, raw_cache: diskcache.Cache, caplog: pytest.LogCaptureFixture
) -> None:
    store.put(META_KEY, {"requires_dist": ["a"]})
    envelope = json.loads(raw_cache.get(META_KEY))
    envelope["v"] = {"requires_dist": ["evil"]}
    raw_cache.set(META_KEY, json.dumps(envelope))
    with caplog.at_level(logging.WARNING, logger="lockbuild.store.store"):
        assert store.get(META_KEY) is None
    assert "checksum mismatch" in caplog.text
    assert META_KEY not in raw_cache


@pytest.mark.parametrize(
    "older",
    [
        '{"v": "sha256:00", "stored": 5}',
        json.dumps({"sha256": value_sha256("sha256:00"), "stored": 5.0, "v": "sha256:00"}),
    ],
)
def test_an_envelope_not_bound_to_its_key_is_an_older_format_read_as_a_miss(
    store: Store, raw_cache: diskcache.Cache, caplog: pytest.LogCaptureFixture, older: str
) -> None:
    raw_cache.set(HASH_KEY, older)
    with caplog.at_level(logging.WARNING, logger="lockbuild.store.store"):
        assert store.get(HASH_KEY) is None
    assert caplog.text == ""
    assert HASH_KEY not in raw_cache
    assert store.dropped == 1


def test_values_swapped_between_keys_are_dropped_never_read(
    store: Store, raw_cache: diskcache.Cache, caplog: pytest.LogCaptureFixture
) -> None:
    other = hash_key("https://files.example/other-1.0.tar.gz")
    store.put(HASH_KEY, "a" * 64)
    store.put(other, "b" * 64)
    first, second = raw_cache.get(HASH_KEY), raw_cache.get(other)
    raw_cache.set(HASH_KEY, second)
    raw_cache.set(other, first)
    with caplog.at_level(logging.WARNING, logger="lockbuild.store.store"):
        assert store.get(HASH_KEY) is None
        assert store.get(other) is None
    assert "written under another key" in caplog.text
    assert store.dropped == 2
    assert HASH_KEY not in raw_cache and other not in raw_cache


@pytest.mark.parametrize("field", ["stored", "etag", "text_sha256"])
def test_an_envelope_field_changed_by_hand_is_dropped(
    store: Store, raw_cache: diskcache.Cache, field: str
) -> None:
    store.put(PAGE_KEY, PAGE_VALUE, text="<html>", etag='"e1"')
    head, _, text = raw_cache.get(PAGE_KEY).partition("\n")
    envelope = json.loads(head)
    envelope[field] = {"stored": 1.0, "etag": '"e2"', "text_sha256": "0" * 64}[field]
    if field == "text_sha256":
        envelope[field] = hashlib.sha256(b"<evil>").hexdigest()
        text = "<evil>"
    raw_cache.set(PAGE_KEY, json.dumps(envelope) + "\n" + text)
    assert store.get(PAGE_KEY) is None


def test_expected_sha256_is_checked(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    value = {"requires_dist": ["a"]}
    store.put(META_KEY, value)
    assert store.get(META_KEY, expected_sha256=value_sha256(value).upper()) is not None
    with caplog.at_level(logging.WARNING, logger="lockbuild.store.store"):
        assert store.get(META_KEY, expected_sha256="0" * 64) is None
    assert "not the expected sha256" in caplog.text
    assert store.get(META_KEY) is None


@pytest.mark.parametrize(
    "error", [sqlite3.OperationalError("database is locked"), diskcache.Timeout(), OSError(28, "")]
)
def test_a_failed_write_returns_false_and_never_raises(
    store: Store,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    error: Exception,
) -> None:
    store.put(PAGE_KEY, 1)

    def fail(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr(store._cache, "set", fail)
    with caplog.at_level(logging.WARNING, logger="lockbuild.store.store"):
        assert store.put(PAGE_KEY, 2) is False
        assert store.touch(PAGE_KEY) is False
    assert "cannot write cache entry" in caplog.text
    assert "cannot renew cache entry" in caplog.text


def test_a_failed_read_is_a_miss(
    store: Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    store.put(PAGE_KEY, 1)

    def fail(*args: object, **kwargs: object) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(store._cache, "get", fail)
    with caplog.at_level(logging.WARNING, logger="lockbuild.store.store"):
        assert store.get(PAGE_KEY) is None
    assert "cannot read cache entry (disk I/O error)" in caplog.text
    assert store.damaged is None


def test_a_database_found_damaged_in_a_run_is_left_alone_then_repaired_at_the_next_open(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = open_store(tmp_path / "cache")
    store.put(PAGE_KEY, 1)

    def fail(*args: object, **kwargs: object) -> None:
        raise sqlite3.DatabaseError("database disk image is malformed")

    store._cache.get = fail
    with caplog.at_level(logging.WARNING, logger="lockbuild.store.store"):
        assert store.get(PAGE_KEY) is None
        assert store.get(META_KEY) is None
        assert store.put(META_KEY, 2) is False
    assert caplog.text.count("the cache store is damaged") == 1
    assert store.offline_note() == (
        f"the cache store is damaged (database disk image is malformed): {store.directory}; "
        "run `lockbuild cache clear` to start an empty one"
    )
    store.close()
    with pytest.raises(StoreError, match="lockbuild cache clear"):
        open_store(tmp_path / "cache")
    with (
        caplog.at_level(logging.WARNING, logger="lockbuild.store.store"),
        open_store(tmp_path / "cache", repair=True) as repaired,
    ):
        assert repaired.get(PAGE_KEY) is None
        assert repaired.put(PAGE_KEY, 3)
    assert "moved aside to" in caplog.text
    assert (tmp_path / "cache" / "store.damaged" / "DAMAGED").exists()


# --- opening ------------------------------------------------------------------------------------


def test_open_store_uses_a_store_subdirectory(tmp_path: Path) -> None:
    with open_store(tmp_path / "deep" / "cache") as opened:
        assert opened.directory == str(tmp_path / "deep" / "cache" / "store")
        assert opened.cache_dir == str(tmp_path / "deep" / "cache")
        assert (tmp_path / "deep" / "cache" / "store" / "cache.db").is_file()


def test_open_store_on_a_file_raises_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "cache"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match="cannot open the cache store") as raised:
        open_store(blocker)
    assert str(blocker) in str(raised.value)


def test_open_store_on_a_garbage_database_raises_store_error(tmp_path: Path) -> None:
    (tmp_path / "cache" / "store").mkdir(parents=True)
    (tmp_path / "cache" / "store" / "cache.db").write_bytes(b"garbage" * 1000)
    damaged = r"the cache store is damaged \(file is not a database\).*lockbuild cache clear"
    with pytest.raises(StoreError, match=damaged):
        open_store(tmp_path / "cache")


# --- cache commands -----------------------------------------------------------------------------


def fill(store: Store, clock: FakeClock) -> None:
    clock.now = 1000.0
    store.put(page_key("https://pypi.org/simple", "old"), {"files": []})
    clock.now = 1900.0
    store.put(PAGE_KEY, PAGE_VALUE, etag='"e"', last_modified="lm")
    clock.now = 2000.0
    store.put(META_KEY, {"name": "django"})
    store.put(metadata_key(url="https://files.example/gone.whl"), {"name": "gone"})
    store.put(HASH_KEY, "sha256:" + SHA)
    store.put(hash_key("https://files.example/gone.tar.gz"), "sha256:" + "0" * 64)
    store.put(RELEASE_KEY, [{"filename": "django-5.1.3.tar.gz"}])


def test_info(store: Store, clock: FakeClock) -> None:
    empty = store.info()
    assert empty.entries == {
        PAGE: 0,
        METADATA: 0,
        HASH: 0,
        RELEASE: 0,
        UPLOAD: 0,
        WHEEL: 0,
        BUILD_FAILURE: 0,
    }
    assert (empty.oldest_page, empty.newest_page) == (None, None)
    assert "index pages stored: none" in format_info(empty)
    fill(store, clock)
    info = store.info()
    assert info.directory == store.directory
    assert info.entries == {
        PAGE: 2,
        METADATA: 2,
        HASH: 2,
        RELEASE: 1,
        UPLOAD: 0,
        WHEEL: 0,
        BUILD_FAILURE: 0,
    }
    assert info.total_entries == 7
    assert (info.oldest_page, info.newest_page) == (1000.0, 1900.0)
    on_disk = sum(
        path.stat().st_size for path in Path(store.directory).rglob("*") if path.is_file()
    )
    assert info.size == on_disk > 0
    text = format_info(info)
    assert f"store: {store.directory}" in text
    assert "entries: 7" in text
    assert "  page-v5           2" in text
    assert "oldest index page stored: 1970-01-01T00:16:40Z" in text
    assert "newest index page stored: 1970-01-01T00:31:40Z" in text


def test_prune_pages_by_age(store: Store, clock: FakeClock) -> None:
    fill(store, clock)
    removed = store.prune(page_older_than=500)
    assert removed == {
        PAGE: 1,
        METADATA: 0,
        HASH: 0,
        RELEASE: 0,
        UPLOAD: 0,
        WHEEL: 0,
        BUILD_FAILURE: 0,
    }
    assert store.list_keys(PAGE) == [PAGE_KEY]
    assert len(store.list_keys()) == 6


def test_prune_metadata_and_hashes_by_keep_function(store: Store, clock: FakeClock) -> None:
    fill(store, clock)
    wanted = {META_KEY, HASH_KEY}
    removed = store.prune(keep_metadata=wanted.__contains__)
    assert removed == {
        PAGE: 0,
        METADATA: 1,
        HASH: 1,
        RELEASE: 0,
        UPLOAD: 0,
        WHEEL: 0,
        BUILD_FAILURE: 0,
    }
    assert store.list_keys(METADATA) == [META_KEY]
    assert store.list_keys(HASH) == [HASH_KEY]
    assert store.list_keys(RELEASE) == [RELEASE_KEY]
    assert len(store.list_keys(PAGE)) == 2


def test_prune_drops_obsolete_namespaces_and_corrupt_pages(
    store: Store, raw_cache: diskcache.Cache, clock: FakeClock
) -> None:
    fill(store, clock)
    raw_cache.set("page-v0:https://pypi.org/simple:django", '{"v": 1, "stored": 1}')
    raw_cache.set(page_key("https://pypi.org/simple", "broken"), "garbage")
    removed = store.prune(page_older_than=10**9)
    assert removed == {
        PAGE: 1,
        METADATA: 0,
        HASH: 0,
        RELEASE: 0,
        UPLOAD: 0,
        WHEEL: 0,
        BUILD_FAILURE: 0,
        "page-v0": 1,
    }
    assert len(store.list_keys()) == 7


def test_prune_keeps_the_namespaces_of_a_newer_lockbuild(
    store: Store, raw_cache: diskcache.Cache, clock: FakeClock
) -> None:
    """A cache shared with a newer lockbuild: prune removed its ``page-v6`` and ``meta-v3``
    entries as obsolete; only an older version's namespaces are."""
    fill(store, clock)
    newer = ["page-v9:https://pypi.org/simple:django", "meta-v9:" + SHA, "shelf-v1:x"]
    for key in newer:
        raw_cache.set(key, '{"v": 1, "stored": 1}')
    raw_cache.set("meta-v1:" + SHA, '{"v": 1, "stored": 1}')
    removed = store.prune(page_older_than=10**9)
    assert removed["meta-v1"] == 1 and not {"page-v9", "meta-v9", "shelf-v1"} & removed.keys()
    assert set(newer) <= set(raw_cache.iterkeys())


def test_a_page_stored_in_the_future_is_stale_and_pruned(store: Store, clock: FakeClock) -> None:
    """A page from a machine whose clock was ahead (an import, a merge): its age read as 0,
    so it stayed fresh past page-ttl, and prune never found it old."""
    clock.now = 10_000.0 + 3600
    store.put(PAGE_KEY, PAGE_VALUE)
    clock.now = 10_000.0
    entry = store.get(PAGE_KEY)
    assert entry is not None and not entry.is_fresh(600)
    clock.now = 10_000.0 + 3400  # within the clocks' slack of it: as fresh as one stored now
    entry = store.get(PAGE_KEY)
    assert entry is not None and entry.is_fresh(600)
    clock.now = 10_000.0
    assert store.prune(page_older_than=10**9)[PAGE] == 1


def test_clear_and_delete(store: Store, clock: FakeClock) -> None:
    fill(store, clock)
    assert store.delete(PAGE_KEY) is True
    assert store.delete(PAGE_KEY) is False
    assert store.clear() == 6
    assert store.list_keys() == []
    assert store.info().total_entries == 0


def test_cache_commands_turn_database_errors_into_store_errors(
    store: Store, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fill(store, clock)

    def fail(*args: object, **kwargs: object) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(store._cache, "iterkeys", fail)
    monkeypatch.setattr(store._cache, "clear", fail)
    commands: list[Callable[[], object]] = [
        store.info,
        store.prune,
        store.clear,
        lambda: store.export_archive(tmp_path / "a.gz"),
    ]
    for command in commands:
        with pytest.raises(StoreError, match=r"the cache store \(disk I/O"):
            command()
    assert not (tmp_path / "a.gz").exists()


def test_export_then_import_into_an_empty_store(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    fill(store, clock)
    archive = tmp_path / "cache.jsonl.gz"
    assert store.export_archive(archive) == 7
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".")] == []
    with open_store(tmp_path / "airgapped") as other:
        assert other.import_archive(archive) == 7
        assert other.list_keys() == store.list_keys()
        for key in store.list_keys():
            original, copy = store.get(key), other.get(key)
            assert original is not None and copy is not None
            assert (copy.value, copy.stored, copy.etag, copy.last_modified, copy.sha256) == (
                original.value,
                original.stored,
                original.etag,
                original.last_modified,
                original.sha256,
            )
        assert other.import_archive(archive) == 0


def test_export_is_deterministic(store: Store, clock: FakeClock, tmp_path: Path) -> None:
    fill(store, clock)
    store.export_archive(tmp_path / "one.gz")
    store.export_archive(tmp_path / "two.gz")
    assert (tmp_path / "one.gz").read_bytes() == (tmp_path / "two.gz").read_bytes()
    lines = gzip.decompress((tmp_path / "one.gz").read_bytes()).decode("ascii").splitlines()
    assert json.loads(lines[0]) == {"format": "lockbuild-store-archive", "version": 2}
    assert json.loads(lines[-1]) == {"count": 7, "end": True}


def test_an_export_is_readable_as_the_umask_says(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    """A temporary file's 0600 was the archive's mode: another user of a CI cache could not
    read it. A new archive gets what the umask leaves of 0666; one written over keeps its."""
    import os
    import stat

    fill(store, clock)
    umask = os.umask(0o022)
    try:
        store.export_archive(tmp_path / "new.gz")
        assert stat.S_IMODE(os.stat(tmp_path / "new.gz").st_mode) == 0o644
        os.chmod(tmp_path / "new.gz", 0o640)
        store.export_archive(tmp_path / "new.gz")
        assert stat.S_IMODE(os.stat(tmp_path / "new.gz").st_mode) == 0o640
    finally:
        os.umask(umask)


def test_export_skips_corrupt_entries(
    store: Store, raw_cache: diskcache.Cache, clock: FakeClock, tmp_path: Path
) -> None:
    fill(store, clock)
    raw_cache.set(page_key("https://pypi.org/simple", "broken"), "garbage")
    assert store.export_archive(tmp_path / "a.gz") == 7


def test_import_takes_later_pages_and_refuses_other_content(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    """An archive is imported as ``cache merge`` takes it: a page stored here later is kept;
    metadata (or a release's snapshot, a file's hash) the archive holds otherwise than this
    store is refused, nothing written; it was taken for being stored later, so a file
    replaced on the index and snapshotted by another machine passed as first seen."""
    fill(store, clock)
    store.export_archive(tmp_path / "a.gz")
    with open_store(tmp_path / "other", clock=clock) as other:
        clock.now = 5000.0
        other.put(PAGE_KEY, {"newer": True})
        assert other.import_archive(tmp_path / "a.gz") == 6
        page = other.get(PAGE_KEY)
        assert page is not None and page.value == {"newer": True}
    with open_store(tmp_path / "third", clock=clock) as third:
        clock.now = 1.0
        third.put(META_KEY, {"older": True})
        with pytest.raises(StoreError) as refused:
            third.import_archive(tmp_path / "a.gz")
        assert str(refused.value) == (
            f"cannot import {tmp_path / 'a.gz'}: the stores hold different content under "
            f"{META_KEY}; nothing was written"
        )
        assert third.list_keys() == [META_KEY]


def test_export_to_a_missing_directory_raises_store_error(store: Store, tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "a.gz"
    with pytest.raises(StoreError, match="cannot write cache archive") as raised:
        store.export_archive(target)
    assert str(target) in str(raised.value)


def test_export_into_the_store_itself_is_refused(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    """``cache export STORE/cache.db`` replaced the store's database with the archive
    ("exported 7 entries", then "file is not a database")."""
    fill(store, clock)
    database = Path(store.directory) / "cache.db"
    before = database.read_bytes()
    for target in (database, Path(store.directory) / "sub" / "a.gz"):
        with pytest.raises(StoreError) as raised:
            store.export_archive(target)
        assert str(raised.value) == f"cannot export into the cache store itself: {target}"
    assert database.read_bytes() == before
    assert len(store.list_keys()) == 7


def archive_lines(store: Store, clock: FakeClock, tmp_path: Path) -> list[str]:
    fill(store, clock)
    store.export_archive(tmp_path / "good.gz")
    return gzip.decompress((tmp_path / "good.gz").read_bytes()).decode("ascii").splitlines()


def write_archive(path: Path, lines: list[str]) -> Path:
    path.write_bytes(gzip.compress("".join(line + "\n" for line in lines).encode()))
    return path


def swap_keys(line: str, other: str) -> str:
    record = json.loads(line)
    record["key"] = json.loads(other)["key"]
    return json.dumps(record)


def tamper(line: str) -> str:
    record = json.loads(line)
    record["entry"]["v"] = "tampered"
    return json.dumps(record)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda lines: lines[:-1], "truncated: no end marker"),
        (lambda lines: [*lines[:3], "{not json", *lines[3:]], "line 4: unparsable JSON"),
        (lambda lines: [lines[0], tamper(lines[1]), *lines[2:]], "line 2: checksum mismatch"),
        (lambda lines: [lines[0], "[1]", *lines[1:]], "line 2: not a JSON object"),
        (lambda lines: [lines[0], '{"entry": {}}', *lines[1:]], "line 2: entry without a key"),
        (lambda lines: ['{"format": "zip"}', *lines[1:]], "not a lockbuild cache archive"),
        (lambda lines: [lines[0].replace("2", "9"), *lines[1:]], "unsupported archive version"),
        (lambda lines: [lines[0].replace("2", "1"), *lines[1:]], "written by an older lockbuild"),
        (lambda lines: [lines[0], swap_keys(lines[1], lines[2]), *lines[2:]], "another key"),
        (lambda lines: [*lines[:-2], lines[-1]], "entry count does not match"),
        (lambda lines: [*lines, lines[1]], "entry count does not match"),
        (lambda lines: [], "line 1: unparsable JSON"),
    ],
)
def test_import_of_a_damaged_archive_raises_and_imports_nothing(
    store: Store, clock: FakeClock, tmp_path: Path, damage: object, message: str
) -> None:
    lines = archive_lines(store, clock, tmp_path)
    bad = write_archive(tmp_path / "bad.gz", damage(lines))  # type: ignore[operator]
    with open_store(tmp_path / "other") as other:
        with pytest.raises(StoreError, match="bad cache archive") as raised:
            other.import_archive(bad)
        assert message in str(raised.value)
        assert str(bad) in str(raised.value)
        assert other.list_keys() == []


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(lambda good: good[: len(good) // 2], id="truncated-gzip"),
        pytest.param(lambda good: b"PK\x03\x04 not gzip at all", id="not-gzip"),
        pytest.param(lambda good: good[:20] + bytes(len(good) - 20), id="zeroed"),
        pytest.param(lambda good: gzip.compress(b"\xff\xfe\n"), id="not-utf8"),
    ],
)
def test_import_of_an_unreadable_archive_raises(
    store: Store, clock: FakeClock, tmp_path: Path, content: object
) -> None:
    archive_lines(store, clock, tmp_path)
    bad = tmp_path / "bad.gz"
    bad.write_bytes(content((tmp_path / "good.gz").read_bytes()))  # type: ignore[operator]
    with open_store(tmp_path / "other") as other:
        with pytest.raises(StoreError, match="cache archive") as raised:
            other.import_archive(bad)
        assert str(bad) in str(raised.value)
        assert other.list_keys() == []


def test_import_of_a_missing_archive_raises(store: Store, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="unreadable cache archive"):
        store.import_archive(tmp_path / "missing.gz")


def test_import_skips_unknown_namespaces(
    store: Store, clock: FakeClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lines = archive_lines(store, clock, tmp_path)
    key = "page-v9:" + json.loads(lines[1])["key"]
    envelope = encode_envelope(key, {"a": 1}, stored=1.0, etag=None, last_modified=None)
    future = {"entry": json.loads(envelope), "key": key}
    lines = [lines[0], json.dumps(future), *lines[1:-1], '{"count": 8, "end": true}']
    with open_store(tmp_path / "other") as other, caplog.at_level(logging.WARNING):
        assert other.import_archive(write_archive(tmp_path / "f.gz", lines)) == 7
    assert "skipping 1 archived entries of unknown namespaces" in caplog.text


# --- concurrency --------------------------------------------------------------------------------


def _write_many(cache_dir: str, worker: int, count: int, start: Any) -> None:
    """Runs in a spawned process: open the store at the same moment as the other, then
    ``count`` puts of its own keys, and a put of a shared key every tenth time."""
    start.wait(timeout=60)
    with open_store(cache_dir) as opened:
        for number in range(count):
            key = hash_key(f"https://files.example/w{worker}/f{number}.tar.gz")
            if not opened.put(key, {"worker": worker, "number": number, "pad": "x" * number}):
                raise SystemExit(f"put failed: {key}")
            if number % 10 == 0 and not opened.put(PAGE_KEY, {"worker": worker, "n": number}):
                raise SystemExit("shared put failed")


def test_two_processes_write_concurrently(tmp_path: Path) -> None:
    cache_dir = str(tmp_path / "cache")
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(2)
    workers = [
        context.Process(target=_write_many, args=(cache_dir, worker, 200, start))
        for worker in range(2)
    ]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=120)
    assert [process.exitcode for process in workers] == [0, 0]
    with open_store(cache_dir) as opened:
        assert len(opened.list_keys(HASH)) == 400
        for worker in range(2):
            for number in range(200):
                entry = opened.get(hash_key(f"https://files.example/w{worker}/f{number}.tar.gz"))
                assert entry is not None
                assert entry.value == {"worker": worker, "number": number, "pad": "x" * number}
        shared = opened.get(PAGE_KEY)
        assert shared is not None and shared.value["n"] == 190


def test_threads_share_one_store(store: Store) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def hammer(worker: int) -> None:
        chooser = random.Random(worker)
        try:
            start.wait()
            for number in range(100):
                key = hash_key(f"https://files.example/t{worker}/{number}")
                assert store.put(key, [worker, number])
                assert store.put(PAGE_KEY, {"last": worker})
                entry = store.get(hash_key(f"https://files.example/t{worker}/{number}"))
                assert entry is not None and entry.value == [worker, number]
                other = store.get(
                    hash_key(f"https://files.example/t{chooser.randrange(8)}/{number}")
                )
                assert other is None or other.value[1] == number
                assert store.get(PAGE_KEY) is not None
        except BaseException as error:  # reported below, with the worker's traceback
            errors.append(error)

    threads = [threading.Thread(target=hammer, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert len(store.list_keys(HASH)) == 800
    assert all(store.get(key) is not None for key in store.list_keys())


def test_a_large_entry_is_written_without_a_whole_copy_of_it(store: Store) -> None:
    """A page and its record are megabytes: the store writes the envelope, its value and
    the text one slice at a time, never joined or encoded whole in memory, and reads back
    exactly what was put."""
    import tracemalloc

    text = "".join(f"<a href='f{number}'>f{number}</a>\n" for number in range(600_000))
    record = {"rows": "x" * 4_000_000, "name": "demo"}
    key = "page-v5:https://index.example/simple:demo"
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        assert store.put(key, record, text=text)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(text) > 15_000_000
    # the value's JSON once (4 MB) and slices of a megabyte; a join or a whole encoding
    # of the text would take 15 MB more
    assert peak < 12_000_000, peak
    entry = store.get(key)
    assert entry is not None and entry.value == record and entry.text == text


def test_the_store_disk_takes_text_or_the_pieces_of_a_text_only(tmp_path: Path) -> None:
    from lockbuild.store.disk import FileText, open_cache

    cache = open_cache(str(tmp_path / "disk"))
    try:
        cache.set("small", ("a", "b"))
        cache.set("large", ("x" * 70_000, "\n", "y" * 70_000))
        assert cache.get("small") == "ab"
        large = cache.get("large")  # read up to its newline, the rest when asked for
        assert isinstance(large, FileText) and large.head == "x" * 70_000
        assert large.rest() == "y" * 70_000
        assert large.whole() == "x" * 70_000 + "\n" + "y" * 70_000
        cache.set("one-line", "z" * 70_000)
        assert cache.get("one-line") == "z" * 70_000
        for bad in (("a", b"b"), ["a"], b"a", 1):
            with pytest.raises(TypeError):
                cache.set("bad", bad)
        assert "bad" not in cache
    finally:
        cache.close()


def _stored_page_entry(store: Store) -> Entry:
    """A plain HTML page of django stored with its text, got back with the text deferred."""
    from lockbuild.index.htmlpage import HTML_PLAIN

    index = "https://pypi.org/simple"
    record = {"reader": HTML_PLAIN, "name": "django", "index_url": index,
              "page_url": index + "/django/", "anchors": 2000, "releases": []}  # fmt: skip
    store.put(PAGE_KEY, record, text=PAGE_TEXT)
    entry = store.get(PAGE_KEY, defer_text=True)
    assert entry is not None
    return entry


def _read_back(store: Store, entry: Entry) -> object:
    """The page the compile's page reader makes of ``entry`` (None: a miss)."""
    from types import SimpleNamespace

    from packaging.utils import canonicalize_name

    from lockbuild.index.pages import IndexPages

    pages = SimpleNamespace(store=store)
    return IndexPages._stored_page(pages, entry, canonicalize_name("django"))  # type: ignore[arg-type]


def test_a_page_whose_text_has_gone_is_a_miss_and_kept(store: Store) -> None:
    entry = _stored_page_entry(store)
    _value_file(store, PAGE_KEY).unlink()  # replaced by another process, say
    assert _read_back(store, entry) is None
    assert store.dropped == 0 and PAGE_KEY in store.list_keys()  # a miss: refetched, not dropped


def test_a_page_whose_text_the_system_will_not_read_is_a_miss_with_a_warning(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    entry = _stored_page_entry(store)
    path = _value_file(store, PAGE_KEY)
    path.unlink()
    path.mkdir()  # whatever the system says when it is opened
    with caplog.at_level("WARNING"):
        assert _read_back(store, entry) is None
    assert store.dropped == 0
    assert "cannot read cache entry" in caplog.text and PAGE_KEY in caplog.text


@pytest.mark.parametrize("chunk", [1, 7, 70_000, 70_001, 1 << 20])
def test_a_value_file_is_read_to_its_first_newline_in_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    from lockbuild.store import disk

    monkeypatch.setattr(disk, "_CHUNK", chunk)
    cache = disk.open_cache(str(tmp_path / "disk"))
    try:
        cache.set("large", ("x" * 70_000, "\n", "y\nz" * 30_000))
        cache.set("one-line", "é" * 40_000)
        large = cache.get("large")
        assert isinstance(large, disk.FileText) and large.head == "x" * 70_000
        assert large.raw == b"x" * 70_000 and large.rest() == "y\nz" * 30_000
        assert cache.get("one-line") == "é" * 40_000
    finally:
        cache.close()


SECTION = "".join(f"{n:08d}" for n in range(4000))
"""ASCII without a newline, stored between an entry's value and its text (a page's rows)."""


@pytest.mark.parametrize("defer_text", [False, True])
@pytest.mark.parametrize("text", [PAGE_TEXT, None])
def test_a_section_is_stored_apart_from_the_value_and_read_back_checked_as_bytes(
    store: Store, defer_text: bool, text: str | None
) -> None:
    assert store.put(PAGE_KEY, PAGE_VALUE, text=text, section=SECTION)
    entry = store.get(PAGE_KEY, defer_text=defer_text)
    assert entry is not None and entry.value == PAGE_VALUE
    assert entry.section == SECTION.encode("ascii") and entry.read_text() == text
    assert store.touch(PAGE_KEY, etag='"e"')  # renewed with its section and text
    renewed = store.get(PAGE_KEY, defer_text=defer_text)
    assert renewed is not None and renewed.etag == '"e"' and renewed.section == entry.section
    assert renewed.read_text() == text
    assert store.put(PAGE_KEY, PAGE_VALUE, text=text)  # stored again without one
    plain = store.get(PAGE_KEY, defer_text=defer_text)
    assert plain is not None and plain.section is None and plain.read_text() == text


@pytest.mark.parametrize("section", ["a\nb", "é", b"ab"])
def test_a_section_that_is_not_one_line_of_ascii_text_is_a_bug(store: Store, section: Any) -> None:
    with pytest.raises(TypeError, match="section"):
        store.put(PAGE_KEY, PAGE_VALUE, section=section)


@pytest.mark.parametrize("defer_text", [False, True])
@pytest.mark.parametrize(
    ("damage", "why"),
    [
        (lambda stored: stored.replace("00001234", "00001235", 1), "section checksum mismatch"),
        (lambda stored: stored.replace("00001234", "0000123", 1), "section checksum mismatch"),
        (lambda stored: stored[: stored.index("00001234")], "text missing"),  # cut short
        (lambda stored: stored.partition("\n")[0], "text missing"),
        (
            lambda stored: stored.replace(',"section_sha256":"', ',"section_sha256":"0', 1),
            "section checksum mismatch",
        ),
        (  # read whole, the section is taken for the text; deferred, the key's binding fails
            lambda stored: stored.replace(',"section_sha256":', ',"other":', 1),
            "text checksum mismatch|written under another key",
        ),
    ],
)
def test_a_damaged_or_truncated_section_is_dropped(
    store: Store,
    raw_cache: diskcache.Cache,
    caplog: pytest.LogCaptureFixture,
    damage: Callable[[str], str],
    why: str,
    defer_text: bool,
) -> None:
    store.put(PAGE_KEY, PAGE_VALUE, text=PAGE_TEXT, section=SECTION)
    raw_cache.set(PAGE_KEY, damage(raw_cache.get(PAGE_KEY)))
    with caplog.at_level(logging.WARNING, logger="lockbuild.store.store"):
        assert store.get(PAGE_KEY, defer_text=defer_text) is None
    assert re.search(rf"dropping corrupt cache entry \(({why})[^)]*\): ", caplog.text)
    assert store.dropped == 1


def test_a_section_without_a_text_cut_short_is_dropped(
    store: Store, raw_cache: diskcache.Cache, caplog: pytest.LogCaptureFixture
) -> None:
    store.put(PAGE_KEY, PAGE_VALUE, section=SECTION)
    raw_cache.set(PAGE_KEY, raw_cache.get(PAGE_KEY).partition("\n")[0])
    with caplog.at_level(logging.WARNING, logger="lockbuild.store.store"):
        assert store.get(PAGE_KEY, defer_text=True) is None
    assert f"dropping corrupt cache entry (section missing): {PAGE_KEY}" in caplog.text


@pytest.mark.parametrize("defer_text", [False, True])
@pytest.mark.parametrize("text", [PAGE_TEXT, None])
def test_a_value_file_cut_short_in_its_section_is_dropped(
    store: Store, caplog: pytest.LogCaptureFixture, defer_text: bool, text: str | None
) -> None:
    """A value file (an entry too large for the database) that ends inside its section, as
    a full disk or a crash leaves it: dropped as corrupt, never an AssertionError."""
    store.put(PAGE_KEY, PAGE_VALUE, text=text, section=SECTION * 3)
    path = _value_file(store, PAGE_KEY)
    stored = path.read_bytes()
    path.write_bytes(stored[: stored.index(b"00001234")])
    with caplog.at_level(logging.WARNING, logger="lockbuild.store.store"):
        assert store.get(PAGE_KEY, defer_text=defer_text) is None
    why = "section checksum mismatch|text missing"
    assert re.search(rf"dropping corrupt cache entry \(({why})\): ", caplog.text)
    assert store.dropped == 1


def test_a_section_without_a_text_in_a_value_file_reads_back(store: Store) -> None:
    store.put(PAGE_KEY, PAGE_VALUE, section=SECTION * 3)
    assert _value_file(store, PAGE_KEY).is_file()  # too large for the database
    entry = store.get(PAGE_KEY, defer_text=True)
    assert entry is not None and entry.section == (SECTION * 3).encode("ascii")
    assert entry.read_text() is None


def test_a_value_file_removed_while_its_section_is_read_is_a_miss(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replaced or removed by another process between its envelope and its section (one
    longer than what is read with the envelope): a miss, never a traceback, and nothing is
    dropped (the entry that replaced it is fine)."""
    from lockbuild.store import disk

    store.put(PAGE_KEY, PAGE_VALUE, text=PAGE_TEXT, section=SECTION * 4)
    real = disk.FileText.next_line

    def removed(self: disk.FileText) -> tuple[bytes, bool]:
        _value_file(store, PAGE_KEY).unlink()
        return real(self)

    monkeypatch.setattr(disk.FileText, "next_line", removed)
    assert store.get(PAGE_KEY, defer_text=True) is None
    assert store.dropped == 0


def test_a_section_read_with_its_envelope_is_not_read_again(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A short section is read in the same read as its envelope: its file removed after
    that, the entry is whole, checked, and its deferred text a miss when it is read."""
    from lockbuild.store import disk
    from lockbuild.store.envelope import TextGone

    store.put(PAGE_KEY, PAGE_VALUE, text=PAGE_TEXT, section=SECTION)
    real = disk.FileText.next_line

    def removed(self: disk.FileText) -> tuple[bytes, bool]:
        _value_file(store, PAGE_KEY).unlink()
        return real(self)

    monkeypatch.setattr(disk.FileText, "next_line", removed)
    entry = store.get(PAGE_KEY, defer_text=True)
    assert entry is not None and entry.section == SECTION.encode()
    with pytest.raises(TextGone):
        entry.read_text()
    assert store.dropped == 0


@pytest.mark.parametrize("size", [1, 65_535, 65_536, 65_537, 200_000, 3_000_000])
def test_a_section_of_any_length_reads_back_whole(store: Store, size: int) -> None:
    """However a section falls across the reads of its file (in the first with the
    envelope, just past it, over several), it and the text after it read back as stored;
    one byte changed in it, the entry is dropped."""
    section = ("0123456789abcdef" * (size // 16 + 1))[:size]
    store.put(PAGE_KEY, PAGE_VALUE, text=PAGE_TEXT, section=section)
    entry = store.get(PAGE_KEY, defer_text=True)
    assert entry is not None and entry.section == section.encode()
    assert entry.read_text() == PAGE_TEXT
    path = _value_file(store, PAGE_KEY)
    data = path.read_bytes()
    at = data.index(b"\n") + 1 + size // 2
    path.write_bytes(data[:at] + (b"x" if data[at : at + 1] != b"x" else b"y") + data[at + 1 :])
    assert store.get(PAGE_KEY, defer_text=True) is None
    assert store.dropped == 1
