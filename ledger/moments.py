"""The two moments a question names, read the same way by the command line and by programs.

``as_of`` is a day in valid time (facts effective on or before it); ``known_at`` is an
instant in transaction time (facts known at or before it: their batch committed by then). Recorded times are UTC, so an
instant without an offset is taken as UTC, and a bare date asked as ``known_at`` means the
end of that day, UTC: "what did the ledger know on 2024-06-01" includes what was recorded
that afternoon. Both accept the objects or their ISO text; anything else is a
``MomentError`` whose message names the value and what was expected.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

__all__ = ["MomentError", "as_of_date", "known_at_time", "parse_date", "parse_timestamp"]


class MomentError(ValueError):
    """A value that is not a date or a timestamp; the message says which value and what was expected."""


def parse_date(text: str) -> date:
    """An ISO date, ``YYYY-MM-DD``."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise MomentError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def parse_timestamp(text: str) -> datetime:
    """ISO 8601; UTC when no offset is given; a bare date (``2026-11-28`` or ``20261128``) means the end of that day, UTC."""
    try:
        return end_of_day(date.fromisoformat(text))
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise MomentError(f"{text!r} is not an ISO 8601 timestamp") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def end_of_day(day: date) -> datetime:
    """The last instant of ``day``, UTC."""
    return datetime.combine(day, time.max, tzinfo=UTC)


def as_of_date(value: date | str | None) -> date | None:
    """``as_of`` from a date, a datetime (its day) or ISO text."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        return parse_date(value)
    raise MomentError(f"{value!r} is not a date (YYYY-MM-DD)")


def known_at_time(value: datetime | date | str | None) -> datetime | None:
    """``known_at`` from a datetime (UTC when naive), a date (the end of that day, UTC) or ISO text."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return end_of_day(value)
    if isinstance(value, str):
        return parse_timestamp(value)
    raise MomentError(f"{value!r} is not an ISO 8601 timestamp")
