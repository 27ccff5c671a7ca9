"""Release audits: snapshots, drift and late uploads, on the hiredis 0.2.0 shape."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from lockbuild.trust.audit import (
    Drift,
    FileRecord,
    Snapshot,
    compare,
    describe_files,
    late_uploads,
    left_out_by,
    take_snapshot,
)

SDIST = FileRecord("hiredis-0.2.0.tar.gz", "a" * 64, 27000, "2015-04-03T10:22:11.000000Z")
WHEELS = tuple(
    FileRecord(
        f"hiredis-0.2.0-cp3{minor}-cp3{minor}m-manylinux1_x86_64.whl",
        f"{minor}" * 64,
        60000,
        "2018-08-16T21:25:07.1234Z",
    )
    for minor in range(4, 8)
)
NOW = datetime(2026, 11, 21, 2, 40, tzinfo=timezone.utc)


def test_a_snapshot_round_trips_through_plain_data() -> None:
    snapshot = take_snapshot("hiredis", "0.2.0", [*WHEELS, SDIST], now=NOW)
    assert snapshot.seen == "2026-11-21T02:40:00Z"
    assert [record.filename for record in snapshot.files] == sorted(
        record.filename for record in (*WHEELS, SDIST)
    )
    assert Snapshot.from_data(snapshot.to_data()) == snapshot
    assert "exclude_newer" not in snapshot.to_data()  # as stored before exclude-newer existed


def test_a_snapshot_under_exclude_newer_knows_what_that_left_out() -> None:
    cutoff = datetime(2016, 1, 1, tzinfo=timezone.utc)
    snapshot = take_snapshot("hiredis", "0.2.0", [SDIST], now=NOW, exclude_newer=cutoff)
    assert snapshot.to_data()["exclude_newer"] == "2016-01-01T00:00:00Z"
    assert Snapshot.from_data(snapshot.to_data()) == snapshot
    assert snapshot.outside_first_cutoff(WHEELS[0])  # uploaded 2018: hidden then
    assert not snapshot.outside_first_cutoff(SDIST)
    assert not snapshot.outside_first_cutoff(FileRecord("x.whl", "0" * 64))  # no time: unknown
    assert not snapshot.outside_first_cutoff(FileRecord("x.whl", "0" * 64, None, "soon"))
    assert not take_snapshot("h", "1", [], now=NOW).outside_first_cutoff(WHEELS[0])
    assert left_out_by(WHEELS[0], cutoff)
    assert not left_out_by(SDIST, cutoff)
    assert left_out_by(FileRecord("x.whl", "0" * 64), cutoff)  # as exclude-newer leaves it out
    assert left_out_by(FileRecord("x.whl", "0" * 64, None, "soon"), cutoff)


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        {"project": "x"},
        {"project": "x", "version": "1", "seen": "t", "files": [[1]]},
        {"project": "x", "version": "1", "seen": "t", "files": [], "exclude_newer": "soon"},
    ],
)
def test_malformed_snapshot_data_is_refused(data: object) -> None:
    with pytest.raises(ValueError):
        Snapshot.from_data(data)


def test_compare_reports_added_removed_and_rehashed_files() -> None:
    snapshot = take_snapshot("hiredis", "0.2.0", [SDIST, WHEELS[0]], now=NOW)
    rehashed = FileRecord(WHEELS[0].filename, "f" * 64, 60000, WHEELS[0].upload_time)
    drift = compare(snapshot, [rehashed, WHEELS[1]])
    assert drift.added == (WHEELS[1],)
    assert drift.removed == (SDIST,)
    assert drift.changed == ((WHEELS[0], rehashed),)
    assert drift
    assert not compare(snapshot, [SDIST, WHEELS[0]])
    assert compare(snapshot, [WHEELS[0], SDIST]) == Drift()


def test_late_uploads_are_those_long_after_the_first_file() -> None:
    assert late_uploads([SDIST, *WHEELS]) == WHEELS
    assert late_uploads([SDIST, *WHEELS], days=5000) == ()
    assert late_uploads(list(WHEELS)) == ()
    assert late_uploads([SDIST]) == ()
    undated = FileRecord("hiredis-0.2.0.zip", "b" * 64)
    assert late_uploads([SDIST, undated]) == ()


def test_describe_files_gives_count_and_days() -> None:
    assert describe_files(WHEELS) == "4 files uploaded 2018-08-16"
    assert describe_files([SDIST, *WHEELS]) == "5 files uploaded 2015-04-03 to 2018-08-16"
    assert describe_files([FileRecord("a.whl", "0" * 64)]) == "1 file"
