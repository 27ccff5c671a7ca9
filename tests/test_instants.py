"""Instants: upload times and exclude-newer cutoffs read and written in UTC."""

from __future__ import annotations

import pickle
from datetime import datetime, timedelta, timezone

import pytest

from lockbuild.instants import (
    SpanCutoff,
    format_cutoff,
    format_span,
    oldest_and_newest,
    parse_cutoff,
    parse_exclude_newer,
    parse_instant,
    parse_span,
    run_start,
)


def test_instants_with_z_offsets_or_none() -> None:
    assert parse_instant("2018-08-16T21:25:07Z") == datetime(
        2018, 8, 16, 21, 25, 7, tzinfo=timezone.utc
    )
    assert parse_instant("2018-08-16T23:25:07+02:00") == parse_instant("2018-08-16T21:25:07")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-01T00:00:00Z", "2026-11-01T00:00:00Z"),
        ("2026-11-01", "2026-11-01T00:00:00Z"),  # a date is midnight UTC
        ("2026-11-01T01:30:00+01:00", "2026-11-01T00:30:00Z"),
        ("2026-11-01 00:00:00.25z", "2026-11-01T00:00:00.250000Z"),
    ],
)
def test_exclude_newer_cutoffs(text: str, expected: str) -> None:
    assert format_cutoff(parse_cutoff(text)) == expected


@pytest.mark.parametrize(
    "text", ["2026-11-01T00:00:00", "yesterday", "2026-13-01", "2026-02-30T00:00:00Z", "P7D", ""]
)
def test_exclude_newer_refuses_what_names_no_instant(text: str) -> None:
    with pytest.raises(ValueError):
        parse_cutoff(text)


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("7 days", "P7D"),
        ("7d", "P7D"),
        ("P7D", "P7D"),
        ("p1w", "P7D"),
        ("1 week, 2 days", "P9D"),
        ("PT12H", "PT12H"),
        ("36 hours", "P1DT12H"),
        ("P1DT12H", "P1DT12H"),
    ],
)
def test_spans_of_a_cooldown(text: str, span: str) -> None:
    found = parse_span(text)
    assert found is not None and format_span(found) == span


@pytest.mark.parametrize("text", ["7", "days", "7 dayz", "P", "PT", "P1DT", "P7M", "2026-11-01"])
def test_not_spans(text: str) -> None:
    assert parse_span(text) is None


def test_a_span_counts_back_from_one_start_of_the_run() -> None:
    cutoff = parse_exclude_newer("7 days")
    assert isinstance(cutoff, SpanCutoff) and cutoff.span == "P7D"
    assert cutoff == run_start() - timedelta(days=7) == parse_exclude_newer("P1W")
    assert pickle.loads(pickle.dumps(cutoff)).span == "P7D"
    with pytest.raises(ValueError, match="zero"):
        parse_span("0 days")


@pytest.mark.parametrize(
    ("times", "expected"),
    [
        (["2024-01-02T00:00:00.000001Z", "2023-12-31T23:59:59.999999Z"], (1, 0)),
        (["2024-01-02T00:00:00Z", "2024-01-01T23:00:00-02:00"], (0, 1)),  # as instants
        (["2024-01-01T12:00:00+00:00", "2024-01-01T12:00:00Z"], (0, 1)),  # equal: least text
        (["2024-01-01T00:00:00.5Z", "2023-06-01 00:00:00"], (1, 0)),  # naive means UTC
    ],
)
def test_the_oldest_and_newest_upload_times_as_written(
    times: list[str], expected: tuple[int, int]
) -> None:
    assert oldest_and_newest(times) == (times[expected[0]], times[expected[1]])


@pytest.mark.parametrize(
    "times",
    [
        [],
        ["2024-01-01T00:00:00.000000Z", None],
        ["2024-02-30T00:00:00.000000Z", "2024-01-01T00:00:00.000000Z"],  # PyPI's form, no date
        ["2024-01-01T00:00:00Z", "yesterday"],
        [20240101, "2024-01-01T00:00:00Z"],
    ],
)
def test_times_that_are_not_all_instants_have_no_span(times: list[object]) -> None:
    assert oldest_and_newest(times) is None
