"""ISO 4217 currency and ISO 3166 country codes, loaded once on first use.

The code lists come from ``pycountry`` so that they follow the standards as they
change; it is imported lazily to keep the command line quick to start.
"""

from __future__ import annotations

from functools import cache


@cache
def currency_codes() -> frozenset[str]:
    import pycountry

    return frozenset(c.alpha_3 for c in pycountry.currencies)


@cache
def country_codes() -> frozenset[str]:
    import pycountry

    return frozenset(c.alpha_2 for c in pycountry.countries)
