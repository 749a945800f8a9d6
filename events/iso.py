"""ISO 4217 currency and ISO 3166 country codes, loaded once on first use.

The code lists come from ``pycountry`` and ``iso_4217`` so that they follow the standards as they
change; they are imported lazily to keep the command line quick to start.

A currency is a code ISO 4217 lists now or listed before (its "historic denominations"): a ledger
records deals of the past, in the money of their day (a 2020 round in Croatian kuna, HRK, replaced
by the euro in 2023), and a code withdrawn after a fact was recorded must not stop that fact's
export from being imported again.
"""

from __future__ import annotations

from functools import cache

from events.spaces import SPACES

NO_MONEY = frozenset({"XXX", "XTS"})
"""ISO 4217's codes for "no currency involved" and for testing: no amount of a deal is in either."""


def as_code(value: object) -> str | None:
    """``value`` as an ISO code is looked up: text of ASCII characters, spaces around dropped, upper-cased; None for
    anything else. Unicode upper-casing would turn letters no code has into one (``"uſd".upper()`` is ``"USD"``)."""
    if not isinstance(value, str):
        return None
    text = value.strip(SPACES)  # typed spaces and line breaks, as every text value
    return text.upper() if text.isascii() else None


@cache
def currency_codes() -> frozenset[str]:
    """Every ISO 4217 alphabetic code, current or withdrawn, but those that name no money (``NO_MONEY``)."""
    import pycountry
    from iso_4217 import Currency

    return (frozenset(c.alpha_3 for c in pycountry.currencies) | frozenset(Currency.__members__)) - NO_MONEY


@cache
def country_codes() -> frozenset[str]:
    import pycountry

    return frozenset(c.alpha_2 for c in pycountry.countries)
