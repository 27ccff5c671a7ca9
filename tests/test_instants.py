"""Instants: upload times and exclude-newer cutoffs read and written in UTC."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from lockbuild.instants import format_cutoff, parse_cutoff, parse_instant


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
