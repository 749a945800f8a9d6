"""What the built-in views share: exact numbers out, exchange rates, parties and their groups, periods.

Views keep money as exact ``Decimal`` and fractions as exact ``Fraction`` while folding, and
round only when a row is produced, so no rounding error ever accumulates across facts.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from events.markets import FxRate
from events.parties import PartyRegistered
from ledger.errors import ViewError
from ledger.exact import Fraction
from ledger.views import Query

FRACTION_PLACES = 6
"""Fractions are shown with six decimal places: a millionth of a company is below any reported figure."""

MONEY_PLACES = 2
"""Derived money (converted amounts, implied values) is rounded to hundredths; recorded amounts stay exact."""

Number = Decimal | Fraction


def rounded(value: Fraction, places: int) -> Decimal:
    """``value`` rounded half-to-even to ``places`` decimals, without passing through a float."""
    scaled = round(value * 10**places)  # Fraction.__round__ rounds half to even (ROUND_HALF_EVEN)
    digits = tuple(int(digit) for digit in str(abs(scaled)))
    return Decimal((int(scaled < 0), digits, -places))


def fraction_out(value: Fraction) -> Decimal:
    """A fraction as a row shows it: six places."""
    return rounded(value, FRACTION_PLACES)


def money_out(value: Number) -> Decimal:
    """Money as a row shows it: recorded sums exactly, derived amounts to hundredths."""
    if isinstance(value, Decimal):
        return value
    return rounded(value, MONEY_PLACES)


def shown(value: Number, places: int = FRACTION_PLACES) -> str:
    """A number for a message: ``places`` decimals at most, no trailing zeros, never in exponent form."""
    number = rounded(value, places) if isinstance(value, Fraction) else value
    return format(number.normalize(), "f")


class Rates:
    """Exchange rates by pair, in effective order, so a view converts each amount at its own date.

    A rate recorded as base->quote also answers quote->base (as its inverse); whichever of
    the two was recorded last on or before the date wins.
    """

    def __init__(self) -> None:
        self._days: dict[tuple[str, str], list[date]] = {}
        self._rates: dict[tuple[str, str], list[Fraction]] = {}

    def add(self, fact: FxRate) -> None:
        rate = Fraction(fact.rate)
        self._add((fact.base, fact.quote), fact.effective, rate)
        self._add((fact.quote, fact.base), fact.effective, 1 / rate)

    def _add(self, pair: tuple[str, str], day: date, rate: Fraction) -> None:
        self._days.setdefault(pair, []).append(day)
        self._rates.setdefault(pair, []).append(rate)

    def rate(self, source: str, target: str, on: date) -> Fraction:
        """Units of ``target`` per unit of ``source`` on ``on``; ``ViewError`` naming the pair when unknown."""
        if source == target:
            return Fraction(1)
        days = self._days.get((source, target), [])
        position = bisect_right(days, on)
        if position == 0:
            raise ViewError(f"no fx.rate for {source}->{target} on or before {on.isoformat()}")
        return self._rates[(source, target)][position - 1]

    def convert(self, amount: Decimal, source: str, target: str, on: date) -> Fraction:
        return Fraction(amount) * self.rate(source, target, on)


class Money:
    """Sums amounts either per currency, exactly, or converted into the one currency a user asked for.

    Views call ``value`` on each recorded amount and ``out`` on each total, and never need to
    know which of the two modes they are in.
    """

    def __init__(self, rates: Rates, target: str | None) -> None:
        self.rates = rates
        self.target = target.upper() if target else None

    def currency(self, currency: str) -> str:
        """The currency an amount is totalled in."""
        return self.target or currency

    def zero(self) -> Number:
        return Fraction(0) if self.target else Decimal(0)

    def value(self, amount: Decimal, currency: str, on: date) -> Number:
        if self.target is None:
            return amount
        return self.rates.convert(amount, currency, self.target, on)

    def out(self, total: Number) -> Decimal:
        return money_out(total)


class Parties:
    """Registered parties as far as the fold has read: parent links (groups) and sector tags."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}
        self.sectors: dict[str, frozenset[str]] = {}
        self._roots: dict[str, str] = {}

    def add(self, fact: PartyRegistered) -> None:
        """A later registration of the same slug (or a correction) replaces the earlier one."""
        self._roots.clear()
        if fact.parent:
            self.parent[fact.party] = fact.parent
        else:
            self.parent.pop(fact.party, None)
        self.sectors[fact.party] = frozenset(fact.sectors or ())

    def root(self, party: str) -> str:
        """The top of the party's group: follow parent links up (a loop stops where it closes)."""
        found = self._roots.get(party)
        if found is None:
            found = self._roots[party] = self._climb(party)
        return found

    def _climb(self, party: str) -> str:
        seen = {party}
        while (parent := self.parent.get(party)) is not None and parent not in seen:
            seen.add(parent)
            party = parent
        return party

    def in_sector(self, party: str, tag: str) -> bool:
        return tag in self.sectors.get(party, ())


PERIODS = ("month", "quarter", "year")
_MONTHS = {"month": 1, "quarter": 3, "year": 12}


@dataclass(frozen=True, order=True)
class Period:
    """A calendar month, quarter or year, ordered by time; ``start`` counts months since year 0."""

    start: int
    length: int

    @classmethod
    def of(cls, day: date, kind: str) -> Period:
        length = _MONTHS[kind]
        month = day.year * 12 + day.month - 1
        return cls(month - month % length, length)

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


def option_date(query: Query, name: str) -> date | None:
    """A date option, whether the caller passed a ``date`` or its ISO text."""
    value = query.get(name)
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ViewError(f"--{name}: {value!r} is not an ISO date (YYYY-MM-DD)") from None


def required(query: Query, name: str, view: str) -> Any:
    """An option the view cannot answer without."""
    value = query.get(name)
    if value is None or value == "":
        raise ViewError(f"the {view} view needs --{name}")
    return value


def choice(query: Query, name: str, choices: tuple[str, ...], default: str) -> str:
    value = str(query.get(name, default))
    if value not in choices:
        raise ViewError(f"--{name}: {value!r} is not one of {', '.join(choices)}")
    return value
