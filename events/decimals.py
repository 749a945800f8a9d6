"""Exact decimal arithmetic: a context in which a sum or a difference is exact, or raises.

Facts check their own figures when they are parsed (a round's investors may not add up to more
than the round), and folds and validations add amounts up; both run inside ``exact_decimals``,
so no path rounds money silently, whatever context the caller left in place.
"""

from __future__ import annotations

import decimal
from contextlib import AbstractContextManager

__all__ = ["EXACT_DIGITS", "exact_decimals"]


EXACT_DIGITS = 400
"""Significant digits decimal arithmetic may use: amounts hold at most 40 digits each side of the point
(80 in all), so sums of up to 10**300 amounts stay exact; anything that would round raises instead."""


def exact_decimals() -> AbstractContextManager[decimal.Context]:
    """A decimal context in which every sum, difference and comparison is exact, or raises ``decimal.Inexact``.

    Python's default context keeps 28 significant digits and rounds silently: a balance of
    0.33333333333333333333333333333334 less 0.5 would then never reach zero. Folds and
    validations run inside this context, so a ledger's numbers are exact or refused.
    """
    return decimal.localcontext(_EXACT)  # a copy of it: built once, since this runs for every fact parsed


_EXACT = decimal.Context(
    prec=EXACT_DIGITS,
    traps=[*(signal for signal, on in decimal.Context().traps.items() if on), decimal.Inexact, decimal.Rounded],
)
"""Python's default traps (invalid operation, division by zero, overflow) and every rounding."""
