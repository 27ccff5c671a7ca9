"""Instants: ISO 8601 upload times and ``exclude-newer`` cutoffs read and written, in UTC.

Pure functions over :class:`~datetime.datetime`. Upload times (PEP 700) are read as the index
writes them (``Z``, an offset, or naive meaning UTC, fractions of any length); a cutoff is an
RFC 3339 instant or a date meaning midnight UTC, and is written back in one normal form
(``2026-11-01T00:00:00Z``), which is what lock fingerprints and stored snapshots carry.

A cutoff may also be a span before the start of the run (a cooldown, as pip, uv and Poetry take
it): ``7 days``, ``7d``, ``P7D``, ``P1W``, ``PT12H``. :func:`run_start` is read once per process,
so every lock of one run resolves a span to the same instant.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

__all__ = [
    "CUTOFF_FORMS",
    "PYPI_TIME",
    "SpanCutoff",
    "format_cutoff",
    "format_instant",
    "format_span",
    "oldest_and_newest",
    "parse_cutoff",
    "parse_exclude_newer",
    "parse_instant",
    "parse_span",
    "run_start",
]

PYPI_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
"""An upload time as PyPI writes it (UTC, microseconds): such times sort as their text does."""
_FRACTION = re.compile(r"\.(\d+)")
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ISO_SPAN = re.compile(r"P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?)?", re.IGNORECASE)
_SPAN_PART = re.compile(r"\s*(\d+)\s*(weeks?|w|days?|d|hours?|h)\b\s*,?", re.IGNORECASE)
_HOURS = {"w": 7 * 24, "d": 24, "h": 1}

CUTOFF_FORMS = (
    "an RFC 3339 instant such as 2026-11-01T00:00:00Z, a date such as 2026-11-01, or a span "
    "before now such as '7 days', '7d', '12 hours', '2 weeks', 'P7D' or 'PT12H'"
)
"""What :func:`parse_exclude_newer` takes, for error messages."""

_RUN_START: list[datetime] = []


def run_start() -> datetime:
    """The start of this run (UTC, whole seconds): the instant a span counts back from, read
    on first use and the same for every later call in the process."""
    if not _RUN_START:
        _RUN_START.append(datetime.now(timezone.utc).replace(microsecond=0))
    return _RUN_START[0]


class SpanCutoff(datetime):
    """A cutoff resolved from a span: the instant, and :attr:`span` as written back (``P7D``).

    Compares and hashes as the instant; a lock's settings fingerprint holds the span, so a
    cooldown does not make every run a change of settings.
    """

    span: str

    @classmethod
    def before(cls, start: datetime, span: timedelta) -> SpanCutoff:
        instant = (start - span).astimezone(timezone.utc)
        value = cls.fromtimestamp(instant.timestamp(), timezone.utc)
        value.span = format_span(span)
        return value

    def __reduce_ex__(self, protocol: object) -> tuple[object, ...]:
        return (_span_cutoff, (self.timestamp(), self.span))


def _span_cutoff(timestamp: float, span: str) -> SpanCutoff:
    value = SpanCutoff.fromtimestamp(timestamp, timezone.utc)
    value.span = span
    return value


def parse_span(text: str) -> timedelta | None:
    """A span of weeks, days and hours (``7 days``, ``7d``, ``1 week 2 days``, ``P7D``,
    ``P1W``, ``PT12H``, ``P1DT12H``); None when ``text`` is not one. ValueError for a zero span.
    """
    text = text.strip()
    hours: int | None = None
    iso = _ISO_SPAN.fullmatch(text)
    if iso and any(iso.groups()) and not text.upper().endswith("T"):
        weeks, days, hours_part = (int(group or 0) for group in iso.groups())
        hours = (weeks * 7 + days) * 24 + hours_part
    elif text and text[0].upper() != "P":
        position, total = 0, 0
        for part in _SPAN_PART.finditer(text):
            if part.start() != position:
                return None
            total += int(part[1]) * _HOURS[part[2][0].lower()]
            position = part.end()
        if position == 0 or position != len(text):
            return None
        hours = total
    if hours is None:
        return None
    if hours == 0:
        raise ValueError("a span of zero keeps nothing out")
    return timedelta(hours=hours)


def format_span(span: timedelta) -> str:
    """The span in ISO 8601: ``P7D``, ``PT12H``, ``P1DT12H``."""
    hours = int(span.total_seconds()) // 3600
    days, hours = divmod(hours, 24)
    return "P" + (f"{days}D" if days else "") + (f"T{hours}H" if hours else "")


def parse_instant(text: str) -> datetime:
    """An ISO 8601 instant (``Z`` or an offset; naive means UTC) as an aware datetime.

    ValueError when ``text`` is not one. Fractions of any length are read (Python 3.10's
    ``fromisoformat`` takes only 3 or 6 digits).
    """
    if len(text) == 27 and text[26] == "Z" and text[19] == ".":  # as PyPI writes them
        return datetime.fromisoformat(text[:26]).replace(tzinfo=timezone.utc)
    text = text.strip().replace("Z", "+00:00").replace("z", "+00:00")
    text = _FRACTION.sub(lambda match: "." + (match[1] + "000000")[:6], text)
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def oldest_and_newest(times: Sequence[object]) -> tuple[str, str] | None:
    """The earliest and the latest of ``times``, as written (of equal instants written
    differently: the least text, and the greatest); None when there are none or one is not
    an instant :func:`parse_instant` reads.
    Times all in PyPI's form are compared as text, each checked to be a real date."""
    texts = [text for text in times if isinstance(text, str)]
    if not texts or len(texts) != len(times):
        return None
    try:
        if all(map(PYPI_TIME.fullmatch, texts)):
            for text in texts:
                datetime.fromisoformat(text[:26])  # a real date and time
            return min(texts), max(texts)
        instants = [(parse_instant(text), text) for text in texts]
    except ValueError:
        return None
    return min(instants)[1], max(instants)[1]


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


def parse_exclude_newer(text: str) -> datetime:
    """An ``exclude-newer`` value: a span before :func:`run_start` (a :class:`SpanCutoff`),
    else as :func:`parse_cutoff`, in UTC. ValueError when it is neither."""
    span = parse_span(text)
    if span is not None:
        return SpanCutoff.before(run_start(), span)
    return parse_cutoff(text).astimezone(timezone.utc)
