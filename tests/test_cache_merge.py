"""``lockbuild cache merge OTHER``: the union of two stores, from a cache directory or an archive.

Different content under one key is refused (the error names the key, nothing is written);
index pages expire, so there the one stored later wins.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lockbuild.cli import main
from lockbuild.store.envelope import Envelope
from lockbuild.store.keys import (
    hash_key,
    metadata_key,
    page_key,
    release_key,
    upload_key,
    wheel_key,
)
from lockbuild.store.store import Store, open_store

SHA = "cd" * 32
PAGE_KEY = page_key("https://pypi.org/simple", "demo")
UPLOAD_KEY = upload_key("https://pypi.org/simple", "demo")
META_KEY = metadata_key(url="https://files.example/demo-1.0-py3-none-any.whl", sha256=SHA)
HASH_KEY = hash_key("https://files.example/demo-1.0.tar.gz")
RELEASE_KEY = release_key("https://pypi.org/simple", "demo", "1.0")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def snapshot(directory: Path) -> dict[str, tuple[object, float, str | None]]:
    with open_store(directory) as store:
        return {
            key: (entry.value, entry.stored, entry.text)
            for key in store.list_keys()
            if (entry := store.get(key)) is not None
        }


def filled(directory: Path, fill: Callable[[Store, Clock], None]) -> Path:
    clock = Clock()
    with open_store(directory, clock=clock) as store:
        fill(store, clock)
    return directory


def merge(cache: Path, other: Path | str) -> int:
    return main(["cache", "merge", "--cache-dir", str(cache), str(other)])


@pytest.fixture(autouse=True)
def no_locks_toml_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def ours(tmp_path: Path) -> Path:
    def fill(store: Store, clock: Clock) -> None:
        clock.now = 2000.0
        store.put(PAGE_KEY, {"files": ["ours"]}, text="<html>ours</html>")
        store.put(META_KEY, {"name": "demo"})
        store.put(RELEASE_KEY, [{"filename": "demo-1.0.tar.gz"}])

    return filled(tmp_path / "ours", fill)


@pytest.fixture(params=["directory", "archive"])
def theirs_as(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., Path]:
    """Builds the other store, and gives it as a cache directory or as an export of it."""

    def make(fill: Callable[[Store, Clock], None]) -> Path:
        directory = filled(tmp_path / "theirs", fill)
        if request.param == "directory":
            return directory
        archive = tmp_path / "theirs.jsonl.gz"
        assert main(["cache", "export", "--cache-dir", str(directory), str(archive)]) == 0
        return archive

    return make


def test_merge_takes_the_union_and_keeps_what_is_the_same(
    ours: Path, theirs_as: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    def fill(store: Store, clock: Clock) -> None:
        clock.now = 500.0  # same content stored at another time: not a conflict
        store.put(META_KEY, {"name": "demo"})
        store.put(HASH_KEY, "sha256:" + SHA)

    other = theirs_as(fill)
    before = snapshot(ours)
    capsys.readouterr()
    assert merge(ours, other) == 0
    out = capsys.readouterr().out
    assert (
        "1 entry added, 0 replaced (later pages, earlier sightings, fuller records), 1 already"
        in out
    )
    after = snapshot(ours)
    assert after == {**before, HASH_KEY: ("sha256:" + SHA, 500.0, None)}
    assert merge(ours, other) == 0
    assert snapshot(ours) == after


def test_different_content_under_one_key_is_refused_and_nothing_written(
    ours: Path, theirs_as: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    def fill(store: Store, clock: Clock) -> None:
        store.put(HASH_KEY, "sha256:" + SHA)  # would be added, but the merge is refused
        store.put(META_KEY, {"name": "demo", "requires_dist": ["evil"]})
        store.put(RELEASE_KEY, [{"filename": "demo-1.0-py3-none-any.whl"}])

    other = theirs_as(fill)
    before = snapshot(ours)
    capsys.readouterr()
    assert merge(ours, other) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0] == (
        f"error: cannot merge {other}: the stores hold different content under {META_KEY} "
        "(and 1 more); nothing was written"
    )
    assert snapshot(ours) == before


@pytest.mark.parametrize("theirs_later", [True, False], ids=["theirs-later", "ours-later"])
def test_pages_differ_legitimately_and_the_later_one_wins(
    ours: Path, theirs_as: Callable[..., Path], theirs_later: bool
) -> None:
    def fill(store: Store, clock: Clock) -> None:
        clock.now = 3000.0 if theirs_later else 1500.0
        store.put(PAGE_KEY, {"files": ["theirs"]}, text="<html>theirs</html>", etag='"t"')

    other = theirs_as(fill)
    assert merge(ours, other) == 0
    page = snapshot(ours)[PAGE_KEY]
    if theirs_later:
        assert page == ({"files": ["theirs"]}, 3000.0, "<html>theirs</html>")
    else:
        assert page == ({"files": ["ours"]}, 2000.0, "<html>ours</html>")


def test_upload_times_grow_and_the_later_entry_wins(
    ours: Path, theirs_as: Callable[..., Path]
) -> None:
    with open_store(ours, clock=lambda: 2000.0) as store:
        store.put(UPLOAD_KEY, {"demo-1.0.tar.gz": "2026-01-01T00:00:00Z"})

    def fill(store: Store, clock: Clock) -> None:
        clock.now = 3000.0  # fetched again later, when a new file appeared
        store.put(
            UPLOAD_KEY,
            {
                "demo-1.0.tar.gz": "2026-01-01T00:00:00Z",
                "demo-1.0-py3-none-any.whl": "2026-02-01T00:00:00Z",
            },
        )

    assert merge(ours, theirs_as(fill)) == 0
    value, stored, _ = snapshot(ours)[UPLOAD_KEY]
    assert stored == 3000.0 and "demo-1.0-py3-none-any.whl" in value  # type: ignore[operator]


def test_merge_into_an_empty_cache_creates_it(tmp_path: Path, ours: Path) -> None:
    fresh = tmp_path / "fresh"
    assert merge(fresh, ours) == 0
    assert snapshot(fresh) == snapshot(ours)


def test_a_damaged_archive_is_refused_and_nothing_written(ours: Path, tmp_path: Path) -> None:
    archive = tmp_path / "theirs.jsonl.gz"
    assert main(["cache", "export", "--cache-dir", str(ours), str(archive)]) == 0
    archive.write_bytes(archive.read_bytes()[:-20])
    fresh = tmp_path / "fresh"
    filled(fresh, lambda store, clock: store.put(HASH_KEY, "sha256:" + SHA))
    before = snapshot(fresh)
    assert merge(fresh, archive) == 1
    assert snapshot(fresh) == before


@pytest.mark.parametrize(
    ("other", "message"),
    [
        ("missing", "missing: no such cache directory or archive"),
        ("plain-dir", "not a lockbuild cache directory (no store/cache.db in it): plain-dir"),
        ("ours", "cannot merge the cache with itself: ours"),
    ],
)
def test_a_wrong_other_is_a_usage_error(
    ours: Path,
    tmp_path: Path,
    other: str,
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "plain-dir").mkdir()
    before = snapshot(ours)
    capsys.readouterr()
    assert merge(ours, other) == 2
    assert capsys.readouterr().err == f"lockbuild: error: {message}\n"
    assert snapshot(ours) == before


@pytest.mark.parametrize("damage", ["not-a-database", "empty-store-dir"])
def test_a_damaged_other_store_is_refused_naming_it_and_left_as_it_was(
    ours: Path, tmp_path: Path, damage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The cure the error names must not be a command that clears the user's own cache, and
    reading the other store must not write to it."""
    theirs = tmp_path / "theirs" / "store"
    theirs.mkdir(parents=True)
    if damage == "not-a-database":
        (theirs / "cache.db").write_bytes(b"garbage\n")
    before = snapshot(ours)
    files = sorted((path.name, path.read_bytes()) for path in theirs.iterdir())
    capsys.readouterr()
    code = merge(ours, tmp_path / "theirs")
    err = capsys.readouterr().err
    assert snapshot(ours) == before
    assert sorted((path.name, path.read_bytes()) for path in theirs.iterdir()) == files
    if damage == "not-a-database":
        assert code == 1
        assert len(err.strip().splitlines()) == 1, err
        assert f"cannot merge {tmp_path / 'theirs'}" in err and "nothing was written" in err
        assert "cache clear" not in err
    else:
        assert code == 2
        assert err.startswith(
            "lockbuild: error: not a lockbuild cache directory (no store/cache.db"
        )


def test_an_interrupted_merge_leaves_nothing_half_merged(tmp_path: Path, ours: Path) -> None:
    def fill(store: Store, clock: Clock) -> None:
        for number in range(50):
            store.put(hash_key(f"https://files.example/p{number}.tar.gz"), "sha256:" + SHA)

    theirs = filled(tmp_path / "theirs", fill)
    before = snapshot(ours)
    with open_store(theirs) as source:
        entries = list(source.envelopes())
    passes = 0

    def interrupted() -> Iterator[Envelope]:
        nonlocal passes
        passes += 1
        for number, envelope in enumerate(entries):
            if passes == 2 and number == 25:
                raise KeyboardInterrupt
            yield envelope

    with open_store(ours) as store, pytest.raises(KeyboardInterrupt):
        store.merge(interrupted, source="theirs")
    assert snapshot(ours) == before


def test_entries_of_a_newer_lockbuild_are_left_out(tmp_path: Path, ours: Path) -> None:
    theirs = filled(tmp_path / "theirs", lambda store, clock: store.put(HASH_KEY, "sha256:" + SHA))
    with open_store(theirs) as store:
        store._cache.set("page-v99:https://pypi.org/simple:demo", '{"v":{"new":"shape"}}')
    assert merge(ours, theirs) == 0
    merged = snapshot(ours)
    assert HASH_KEY in merged and not any(key.startswith("page-v99") for key in merged)


@pytest.mark.parametrize("marked", ["theirs", "ours"])
def test_metadata_said_read_from_the_wheel_checked_whole_wins_over_the_same_unsaid(
    ours: Path, theirs_as: Callable[..., Path], marked: str, capsys: pytest.CaptureFixture[str]
) -> None:
    mark = {"verified": SHA}
    if marked == "ours":
        with open_store(ours) as store:
            store.put(META_KEY, {"name": "demo", **mark})

    def fill(store: Store, clock: Clock) -> None:
        store.put(META_KEY, {"name": "demo", **(mark if marked == "theirs" else {})})

    other = theirs_as(fill)
    assert merge(ours, other) == 0
    assert snapshot(ours)[META_KEY][0] == {"name": "demo", **mark}

    def unlike(store: Store, clock: Clock) -> None:  # other metadata: still refused
        store.put(META_KEY, {"name": "demo", "requires_dist": ["evil"]})

    capsys.readouterr()
    assert merge(ours, theirs_as(unlike)) == 1
    assert "different content under meta-v2:" in capsys.readouterr().err
    assert snapshot(ours)[META_KEY][0] == {"name": "demo", **mark}


@pytest.mark.parametrize("stronger", ["theirs", "ours"])
def test_a_wheel_record_that_vouches_for_more_wins_over_one_that_vouches_for_less(
    ours: Path, theirs_as: Callable[..., Path], stronger: str, capsys: pytest.CaptureFixture[str]
) -> None:
    key = wheel_key(SHA)
    base = {"filename": "demo-1.0-py3-none-any.whl", "name": "demo", "version": "1.0"}
    ranges, checked = {**base, "verified": False}, {**base, "verified": True}
    found = {**checked, "metadata_sha256": SHA}
    for weaker, more in ((ranges, checked), (checked, found), (ranges, found)):
        with open_store(ours) as store:
            store.put(key, more if stronger == "ours" else weaker)
        other = theirs_as(
            lambda store, clock, value=(weaker if stronger == "ours" else more): store.put(
                key, value
            )
        )
        assert merge(ours, other) == 0
        assert snapshot(ours)[key][0] == more

    def unlike(store: Store, clock: Clock) -> None:  # another METADATA text: still refused
        store.put(key, {**found, "metadata_sha256": "0" * 64})

    capsys.readouterr()
    assert merge(ours, theirs_as(unlike)) == 1
    assert "different content under wheel-v1:" in capsys.readouterr().err
    assert snapshot(ours)[key][0] == found


@pytest.mark.parametrize("theirs_earlier", [True, False], ids=["theirs-earlier", "ours-earlier"])
def test_snapshots_that_differ_only_in_when_they_were_seen_keep_the_earlier(
    tmp_path: Path, theirs_as: Callable[..., Path], theirs_earlier: bool
) -> None:
    """Two stores that first saw the same files of a release a second apart (two runs, two
    CI machines): the earlier sighting is kept; other files under the key stay a conflict."""
    files = [["demo-1.0.tar.gz", SHA, 10, None]]
    ours_value = {"project": "demo", "version": "1.0", "seen": "2026-12-08T00:00:01Z"}
    seen = "2026-12-08T00:00:00Z" if theirs_earlier else "2026-12-08T00:00:02Z"
    with open_store(tmp_path / "ours-release") as store:
        store.put(RELEASE_KEY, {**ours_value, "files": files})

    def fill(store: Store, clock: Clock) -> None:
        store.put(RELEASE_KEY, {**ours_value, "seen": seen, "files": files})

    assert merge(tmp_path / "ours-release", theirs_as(fill)) == 0
    value = snapshot(tmp_path / "ours-release")[RELEASE_KEY][0]
    assert value["seen"] == min(seen, ours_value["seen"])  # type: ignore[index]

    def other_files(store: Store, clock: Clock) -> None:
        store.put(
            RELEASE_KEY,
            {**ours_value, "seen": seen, "files": [[*files[0][:1], "ab" * 32, 10, None]]},
        )

    assert merge(tmp_path / "ours-release", theirs_as(other_files)) == 1
