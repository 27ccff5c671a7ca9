"""Instants: upload times and exclude-newer cutoffs read and written in UTC."""

from __future__ import annotations

import pickle
from datetime import datetime, timedelta, timezone

import pytest

from lockbuild.instants import (
    SpanCutoff,
    format_cutoff,
    format_span,
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
