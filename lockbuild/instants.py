"""Instants: ISO 8601 upload times and ``exclude-newer`` cutoffs read and written, in UTC.

Pure functions over :class:`~datetime.datetime`. Upload times (PEP 700) are read as the index
writes them (``Z``, an offset, or naive meaning UTC, fractions of any length); a cutoff is an
RFC 3339 instant or a date meaning midnight UTC, and is written back in one normal form
(``2026-11-01T00:00:00Z``), which is what lock fingerprints and stored snapshots carry.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

__all__ = ["format_cutoff", "format_instant", "parse_cutoff", "parse_instant"]

_FRACTION = re.compile(r"\.(\d+)")
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_instant(text: str) -> datetime:
    """An ISO 8601 instant (``Z`` or an offset; naive means UTC) as an aware datetime.

    ValueError when ``text`` is not one. Fractions of any length are read (Python 3.10's
    ``fromisoformat`` takes only 3 or 6 digits).
    """
    text = text.strip().replace("Z", "+00:00").replace("z", "+00:00")
    text = _FRACTION.sub(lambda match: "." + (match[1] + "000000")[:6], text)
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def format_instant(value: datetime) -> str:
    """``2026-11-21T02:40:00Z``."""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_cutoff(text: str) -> datetime:
    """An ``exclude-newer`` value: an RFC 3339 instant, or a date meaning midnight UTC.

    ValueError when ``text`` is neither (a date-time without ``Z`` or an offset included:
    it names no instant).
    """
    text = text.strip()
    if _DATE.fullmatch(text):
        return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)
    if not _RFC3339.fullmatch(text):
        raise ValueError(f"not an RFC 3339 instant or a date: {text!r}")
    return parse_instant(text)


def format_cutoff(value: datetime) -> str:
    """``2026-11-01T00:00:00Z`` (UTC; fractions of a second kept when there are any)."""
    value = value.astimezone(timezone.utc)
    if value.microsecond:
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return format_instant(value)
