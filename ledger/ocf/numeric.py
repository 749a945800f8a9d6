"""Exact numbers in OCF's own terms: its ``Numeric`` strings and the share count that keeps them exact.

OCF writes every number as a ``Numeric``: a fixed-point string with at most ten decimal
places. The ledger's ownership is exact rationals and its money exact decimals of up to forty
places, so each conversion here either is exact or raises ``OcfError``, with one exception
that says so where it happens: a price per share (a quotient) with no short decimal form.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from decimal import Decimal

from ledger.exact import Fraction
from ledger.ocf.errors import OcfError

PLACES = 10
"""Decimal places OCF's Numeric pattern accepts (``^[+-]?[0-9]+(\\.[0-9]{1,10})?$``)."""

UNKNOWN_PRICE = {"amount": "0", "currency": "XXX"}
"""The share price of shares whose price the ledger does not record (founders', shares taken without a
price): OCF requires one, and ISO 4217 ``XXX`` means "no currency involved", so 0 XXX cannot pass for a price."""


def places(value: Fraction) -> int | None:
    """How many decimal places write ``value`` exactly, or None when its decimal expansion never ends."""
    denominator = value.denominator
    twos = fives = 0
    while denominator % 2 == 0:
        denominator //= 2
        twos += 1
    while denominator % 5 == 0:
        denominator //= 5
        fives += 1
    return max(twos, fives) if denominator == 1 else None


def numeric(value: Fraction | Decimal | int, what: str) -> str:
    """``value`` as an OCF Numeric string, exactly, or an ``OcfError`` naming ``what``."""
    exact = Fraction(value)
    digits = places(exact)
    if digits is None or digits > PLACES:
        shown = format(value, "f") if isinstance(value, Decimal) else f"{exact.numerator}/{exact.denominator}"
        raise OcfError(f"{what}: {shown} has no exact decimal form of at most {PLACES} places, which OCF's Numeric requires")
    scaled = exact * 10**digits
    assert scaled.denominator == 1
    sign = "-" if scaled < 0 else ""
    text = str(abs(scaled.numerator)).rjust(digits + 1, "0")
    return f"{sign}{text[: len(text) - digits]}.{text[len(text) - digits :]}" if digits else f"{sign}{text}"


def monetary(amount: Decimal | Fraction, currency: str, what: str) -> dict[str, str]:
    """An OCF Monetary: the exact amount as a Numeric string, with its ISO 4217 currency."""
    return {"amount": numeric(amount, what), "currency": currency}


def share_scale(quantities: Iterable[Fraction]) -> Fraction:
    """How many notional OCF shares one unit of the ledger's share count becomes: the least that makes every count whole.

    The ledger counts shares as exact rationals (founders start with 1). Multiplying every
    count by the least common multiple of their denominators over the greatest common divisor
    of their numerators makes each one a whole number, keeps every ratio, and keeps the
    numbers as small as whole numbers can be.
    """
    counts = [q for q in quantities if q]
    if not counts:
        return Fraction(1)
    return Fraction(math.lcm(*(q.denominator for q in counts)), math.gcd(*(q.numerator for q in counts)))


def share_price(paid: Decimal, shares: Fraction, currency: str, what: str) -> tuple[dict[str, str], str | None]:
    """The price of one share as an OCF Monetary, and a note when it had to be rounded.

    ``paid / shares`` is exact as a fraction but may have no finite decimal form (100 for 3
    shares), which OCF's Numeric cannot hold. It is then rounded half-to-even to ten places, the
    most OCF takes, and the note says so and gives the exact fraction; the amount paid itself
    is always written exactly (``cost_basis``), so nothing is lost.
    """
    exact = Fraction(paid) / shares
    digits = places(exact)
    if digits is not None and digits <= PLACES:
        return monetary(exact, currency, what), None
    near = Fraction(round(exact * 10**PLACES), 10**PLACES)
    price = f"{paid} {currency} / {shares} shares = {exact.numerator}/{exact.denominator} {currency}"
    if near == 0 and exact != 0:  # 0 in a real currency would pass for a price: written as an unknown one instead
        note = (
            f"share_price is {price}, below OCF's {PLACES} decimal places: written 0 XXX (ISO 4217: no currency), "
            "as an unknown price is; cost_basis is the exact amount paid"
        )
        return dict(UNKNOWN_PRICE), note
    note = f"share_price is {price}, rounded half-to-even to OCF's {PLACES} decimal places; cost_basis is the exact amount paid"
    return monetary(near, currency, what), note
