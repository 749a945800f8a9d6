"""Exact rational numbers for folds: ``Fraction`` from quicktions.

quicktions is a compiled implementation of the standard ``fractions.Fraction``, with the same
API and the same exact results, about ten times faster (measured: one multiply and add 1.1 µs
against 13.9 µs). Ownership arithmetic runs on every round, sale and query, so views import
``Fraction`` from here. It compares, hashes and mixes with ``fractions.Fraction`` exactly.
"""

from __future__ import annotations

import decimal
from contextlib import AbstractContextManager

from quicktions import Fraction

__all__ = ["EXACT_DIGITS", "Fraction", "exact_decimals"]


EXACT_DIGITS = 400
"""Significant digits decimal arithmetic may use: amounts hold at most 40 digits each side of the point
(80 in all), so sums of up to 10**300 amounts stay exact; anything that would round raises instead."""


def exact_decimals() -> AbstractContextManager[decimal.Context]:
    """A decimal context in which every sum, difference and comparison is exact, or raises ``decimal.Inexact``.

    Python's default context keeps 28 significant digits and rounds silently: a balance of
    0.33333333333333333333333333333334 less 0.5 would then never reach zero. Folds and
    validations run inside this context, so a ledger's numbers are exact or refused.
    """
    traps = dict(decimal.Context().traps)  # every signal, with the default traps (invalid, division by zero, overflow)
    traps.update({decimal.Inexact: True, decimal.Rounded: True})
    return decimal.localcontext(prec=EXACT_DIGITS, traps=traps)
