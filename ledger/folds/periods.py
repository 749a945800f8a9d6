"""Calendar periods for time series: months, quarters and years, ordered and labelled as views show them."""

from __future__ import annotations

from datetime import date, timedelta
from typing import NamedTuple

PERIODS = ("month", "quarter", "year")
_MONTHS = {"month": 1, "quarter": 3, "year": 12}


class Period(NamedTuple):
    """A calendar month, quarter or year, ordered by time; ``start`` counts months since year 0.

    A tuple, so that comparing and hashing the periods of a million rows costs no Python call.
    """

    start: int
    length: int

    @staticmethod
    def of(day: date, kind: str) -> Period:
        length = _MONTHS[kind]
        month = day.year * 12 + day.month - 1
        return Period(month - month % length, length)

    @property
    def label(self) -> str:
        """``2024-07``, ``2024-Q3`` or ``2024``: sortable, and the form the view's contract promises."""
        year, month = divmod(self.start, 12)
        if self.length == 1:
            return f"{year:04d}-{month + 1:02d}"
        if self.length == 3:
            return f"{year:04d}-Q{month // 3 + 1}"
        return f"{year:04d}"

    @property
    def last_day(self) -> date:
        year, month = divmod(self.start + self.length, 12)
        if year > date.max.year:  # the last period of the calendar ends on its last day
            return date.max
        return date(year, month + 1, 1) - timedelta(days=1)

    def next(self) -> Period:
        return Period(self.start + self.length, self.length)

    def span(self, last: Period) -> list[Period]:
        """This period and every one after it up to ``last``, quiet ones included."""
        periods: list[Period] = []
        period = self
        while period <= last:
            periods.append(period)
            period = period.next()
        return periods


class PeriodStarts(dict[date, int]):
    """``Period.of(day, kind).start`` for each day asked, remembered: a view over a million entries asks about
    the same few thousand days, and a dict lookup costs a tenth of working it out again."""

    __slots__ = ("length",)

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.length = _MONTHS[kind]

    def __missing__(self, day: date) -> int:
        month = day.year * 12 + day.month - 1
        start = self[day] = month - month % self.length
        return start
