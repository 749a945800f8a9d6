"""Exact numbers out of a fold, and money in one currency or many: rounding, exchange rates, totals.

Views keep money as exact ``Decimal`` and fractions as exact ``Fraction`` while folding, and
round only when a row is produced, so no rounding error ever accumulates across facts.
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import date
from decimal import Decimal
from functools import cache
from typing import TypeAlias

from events.markets import FxRate
from ledger.errors import ViewError
from ledger.exact import Fraction, decimal_places

FRACTION_PLACES = 6
"""Fractions are shown with six decimal places: a millionth of a company is below any reported figure."""

MONEY_PLACES = 2
"""The places of derived money whose decimal form never ends, in a currency ISO 4217 gives no minor unit (gold, say)."""
EXACT_MONEY_PLACES = 80
"""Derived money (converted amounts, implied values) is shown exactly when its decimal form ends within this many
places: twice the most a recorded amount or rate may have, so an amount converted into its own currency, or at a
recorded rate, and any sum of such, always does. A value that ends only further on (a stake halved a hundred
times, times a valuation) is rounded as an endless one is: the bound keeps a row's text finite and readable."""

Number: TypeAlias = Decimal | Fraction


def rounded(value: Fraction, places: int) -> Decimal:
    """``value`` rounded half-to-even to ``places`` decimals, without passing through a float."""
    scaled = round(value * 10**places)  # Fraction.__round__ rounds half to even (ROUND_HALF_EVEN)
    return Decimal(f"{scaled}E{-places}")  # from text: exact in any decimal context, and no tuple of digits to build


def fraction_out(value: Fraction) -> Decimal:
    """A fraction as a row shows it: six places."""
    return rounded(value, FRACTION_PLACES)


def money_out(value: Number, currency: str | None = None) -> Decimal:
    """Money as a row shows it: recorded sums as they are; a derived amount exactly when its decimal form ends (with
    at least the currency's minor units of places: ``2769000000.00`` USD, ``1.001`` KWD), else rounded half to even
    to those minor units (an amount converted at the inverse of a recorded rate, a third of a valuation)."""
    if isinstance(value, Decimal):
        return value
    places = minor_units(currency)
    ends = decimal_places(value.denominator)
    if ends is not None and ends <= EXACT_MONEY_PLACES:
        return rounded(value, max(ends, places))  # no digit is lost: the value ends within these places
    return rounded(value, places)


@cache
def minor_units(currency: str | None) -> int:
    """The places ISO 4217 gives ``currency`` (2 for USD, 0 for JPY, 3 for KWD); ``MONEY_PLACES`` where it gives none."""
    if currency is None:
        return MONEY_PLACES
    from iso_4217 import Currency  # imported only when a derived amount is shown

    found = Currency.__members__.get(currency)
    exponent = getattr(found, "subunit_exp", None)
    return exponent if isinstance(exponent, int) else MONEY_PLACES


def shown(value: Number, places: int = FRACTION_PLACES) -> str:
    """A number for a message: ``places`` decimals at most, no trailing zeros, never in exponent form. The zeros are
    cut from the text: ``normalize`` would round to the context's precision (28 digits by default)."""
    number = rounded(value, places) if isinstance(value, Fraction) else value
    text = format(number, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


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
        """``total`` as a row shows it, in the question's currency."""
        return money_out(total, self.target)
