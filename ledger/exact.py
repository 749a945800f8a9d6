"""Exact rational numbers for folds: ``Fraction`` from quicktions.

quicktions is a compiled implementation of the standard ``fractions.Fraction``, with the same
API and the same exact results, about ten times faster (measured: one multiply and add 1.1 µs
against 13.9 µs). Ownership arithmetic runs on every round, sale and query, so views import
``Fraction`` from here. It compares, hashes and mixes with ``fractions.Fraction`` exactly.
"""

from __future__ import annotations

from quicktions import Fraction

__all__ = ["Fraction"]
