"""Hypothesis strategies for facts in their interchange form (section 3 of the design).

Every strategy here draws *valid*, JSON-ready dicts: money and fractions are decimal strings,
dates are ISO strings, currencies and countries are upper-case codes, text is already stripped.
Each dict parses with ``events.Catalogue().parse`` and respects every cross-field rule of the
fact classes' ``check()`` methods, so tests can build on them without filtering.

The dicts are also *canonical*: ``Catalogue().parse(d).to_dict()`` gives back every key of ``d``
with the same value (it may add defaulted fields such as ``tolerance`` or ``investors``).

Typical use::

    from tests.strategies import SLUGS, fact_dicts, registrations

    @given(fact_dicts("round.closed"))
    def test_something(data): ...

Parties are drawn from a small fixed pool (``SLUGS`` by default) so that generated facts refer
to each other; ``registrations()`` gives the ``party.registered`` facts that register a pool.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from hypothesis import strategies as st

from events.catalogue import BUILT_IN_KINDS
from events.parties import BUILT_IN_HOLDERS, PARTY_TYPES

SLUGS: tuple[str, ...] = (
    "alibaba",
    "alibaba-cloud",
    "moonshot-ai",
    "tencent",
    "meituan",
    "zhipu",
    "minimax",
    "01-ai",
    "xiaohongshu",
    "us-bis",
    "samr",
)
"""The default pool of party slugs used by generated facts (none of them a built-in holder)."""

CURRENCIES: tuple[str, ...] = ("USD", "CNY", "EUR", "HKD", "JPY", "GBP", "SGD")
"""ISO 4217 codes drawn for money fields."""

COUNTRIES: tuple[str, ...] = ("CN", "US", "NL", "JP", "KR", "TW", "SG", "DE")
"""ISO 3166 alpha-2 codes drawn for jurisdictions and export-ban targets."""

ITEMS: tuple[str, ...] = ("nvidia-a800", "nvidia-h800", "nvidia-a100", "nvidia-h100", "asml-euv", "hbm3")
"""Item slugs for export bans."""

SECTORS: tuple[str, ...] = ("ai", "cloud", "internet", "e-commerce", "chips", "social")
"""Sector tags for party registrations."""

KINDS: tuple[str, ...] = tuple(kind.kind for kind in BUILT_IN_KINDS)
"""Every built-in kind name, in catalogue order."""

CORRECTABLE_KINDS: tuple[str, ...] = tuple(k for k in KINDS if k not in ("fact.corrected", "fact.retracted"))
"""The kinds a ``fact.corrected`` may carry as its replacement."""

MIN_DATE = date(2000, 1, 1)
MAX_DATE = date(2030, 12, 31)

Pool = Sequence[str] | st.SearchStrategy[str]

party_slugs: st.SearchStrategy[str] = st.sampled_from(SLUGS)
"""One slug out of ``SLUGS``."""

dates: st.SearchStrategy[date] = st.dates(min_value=MIN_DATE, max_value=MAX_DATE)
"""Effective dates, 2000-01-01 to 2030-12-31, as ``date`` objects."""

iso_dates: st.SearchStrategy[str] = dates.map(date.isoformat)
"""Effective dates as ISO strings."""

currencies: st.SearchStrategy[str] = st.sampled_from(CURRENCIES)
"""An ISO 4217 currency code (upper case)."""

countries: st.SearchStrategy[str] = st.sampled_from(COUNTRIES)
"""An ISO 3166 alpha-2 country code (upper case)."""

_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -_.,:/()'&阿里巴巴月之暗面腾讯é"
"""Characters for free text: no brackets or braces (a CSV cell starting with one is read as JSON), no ';'."""

texts: st.SearchStrategy[str] = st.text(alphabet=_ALPHABET, min_size=1, max_size=30).map(lambda s: s.strip() or "x")
"""Non-empty text, already stripped (the form ``Text`` fields keep)."""


@st.composite
def slugs(draw: st.DrawFn) -> str:
    """A slug: lower-case letters and digits with single ``-``, ``_`` or ``.`` between them."""
    part = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=6)
    parts = draw(st.lists(part, min_size=1, max_size=3))
    out = parts[0]
    for text in parts[1:]:
        out += draw(st.sampled_from("-_.")) + text
    return out


def _as_decimal(value: str | int | Decimal) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def decimal_strings(
    min_value: str | int | Decimal = 0, max_value: str | int | Decimal = 10**12, places: int = 2
) -> st.SearchStrategy[str]:
    """Decimal strings in [min_value, max_value] with 0 to ``places`` digits after the point.

    Written positionally (``"1000"``, ``"0.05"``; never ``"1E+3"``), which is the form
    ``to_dict()`` writes back, so the strings survive a round trip unchanged.
    """
    low, high = _as_decimal(min_value), _as_decimal(max_value)
    if low > high:
        raise ValueError(f"empty range [{low}, {high}]")

    def with_places(digits: int) -> st.SearchStrategy[str]:
        scale = Decimal(10) ** digits
        lo = int((low * scale).to_integral_value(rounding=ROUND_CEILING))
        hi = int((high * scale).to_integral_value(rounding=ROUND_FLOOR))
        if lo > hi:  # no number with this many places in the range: fall back to the bounds themselves
            return st.sampled_from(sorted({format(low, "f"), format(high, "f")}))
        return st.integers(lo, hi).map(lambda n: format(Decimal(n).scaleb(-digits), "f"))

    return st.integers(0, places).flatmap(with_places)


def fractions(places: int = 4, max_value: str | int | Decimal = 1, *, positive: bool = False) -> st.SearchStrategy[str]:
    """Decimal strings in [0, max_value] (max_value at most 1): fractions of a company or a holding; at least one in
    the last place when ``positive`` (a stake bought or sold)."""
    return decimal_strings(Decimal(1).scaleb(-places) if positive else 0, max_value, places)


def money(positive: bool = True, max_value: str | int | Decimal = 10**11) -> st.SearchStrategy[str]:
    """An amount of money as a decimal string with up to two places; at least 0.01 when ``positive``."""
    return decimal_strings("0.01" if positive else 0, max_value, 2)


def _distinct(draw: st.DrawFn, pool: Pool, count: int, named: Sequence[int] | None = None) -> list[str]:
    """``count`` different slugs out of ``pool`` (a sequence of slugs or a strategy of slugs). Those at the positions
    ``named`` (all of them by default) are never a built-in holder: only a holder, a seller, a buyer or a round's
    investor may be ``founders`` or ``undisclosed``. A built-in drawn there trades places with a slug drawn for a
    holder's place, else with one left in the pool, so a pool without built-in holders draws exactly as before."""
    if isinstance(pool, st.SearchStrategy):
        return draw(st.lists(pool, min_size=count, max_size=count, unique=True))  # slugs(): never a built-in holder
    if len(pool) < count:
        raise ValueError(f"the party pool needs at least {count} distinct slugs, has {len(pool)}")
    order = list(draw(st.permutations(list(pool))))
    chosen, spare = order[:count], [slug for slug in order[count:] if slug not in BUILT_IN_HOLDERS]
    fixed = range(count) if named is None else named
    for at in fixed:
        if chosen[at] in BUILT_IN_HOLDERS:
            swap = next((n for n, slug in enumerate(chosen) if n not in fixed and slug not in BUILT_IN_HOLDERS), None)
            if swap is not None:
                chosen[at], chosen[swap] = chosen[swap], chosen[at]
            elif spare:
                chosen[at] = spare.pop(0)
            else:
                raise ValueError("the party pool needs slugs that are not built-in holders")
    return chosen


def _maybe(draw: st.DrawFn, strategy: st.SearchStrategy[Any]) -> Any:
    """A value from ``strategy``, or None (left out of the dict)."""
    return draw(st.none() | strategy)


def _put(target: dict[str, Any], **values: Any) -> dict[str, Any]:
    """Set the fields whose value is not None (absent optional fields stay out)."""
    target.update({name: value for name, value in values.items() if value is not None})
    return target


# --- one builder per kind: (draw, pool, effective) -> the kind's own fields --------------------------------------


def _party_registered(draw: st.DrawFn, pool: Pool, effective: date) -> dict[str, Any]:
    if isinstance(pool, st.SearchStrategy):
        party, parent = _distinct(draw, pool, 2)
    else:
        registrable = [slug for slug in pool if slug not in BUILT_IN_HOLDERS]
        party, parent = _distinct(draw, registrable, 2)
    return _put(
        {"party": party, "name": draw(texts), "type": draw(st.sampled_from(PARTY_TYPES))},
        jurisdiction=_maybe(draw, countries),
        parent=parent if draw(st.booleans()) else None,
        aliases=_maybe(draw, st.lists(slugs(), max_size=3)),
        sectors=_maybe(draw, st.lists(st.sampled_from(SECTORS), max_size=3, unique=True)),
    )


def _fx_rate(draw: st.DrawFn, pool: Pool, effective: date) -> dict[str, Any]:
    base, quote = draw(st.permutations(list(CURRENCIES)))[:2]
    return {"base": base, "quote": quote, "rate": draw(decimal_strings("0.000001", 10000, 6))}


def _round_closed(draw: st.DrawFn, pool: Pool, effective: date) -> dict[str, Any]:
    count = draw(st.integers(0, 3))
    company, *investors = _distinct(draw, pool, count + 1, named=[0])
    amount_cents = draw(st.integers(1, 10**13))
    amount = _cents(amount_cents)
    shares: list[int] = [draw(st.integers(0, amount_cents // max(count, 1))) for _ in investors]
    if bool(shares) and draw(st.booleans()):  # sometimes attribute the whole round, to the cent
        shares[-1] = amount_cents - sum(shares[:-1])
    fact: dict[str, Any] = {"company": company, "round": draw(texts), "amount": amount, "currency": draw(currencies)}
    if draw(st.booleans()):
        fact["pre_money"] = _cents(draw(st.integers(0, 10**14)))
    else:
        fact["post_money"] = _cents(amount_cents + draw(st.integers(0, 10**14)))
    if bool(investors) or draw(st.booleans()):
        fact["investors"] = [
            _put(
                {"party": party},
                amount=None if draw(st.integers(0, 3)) == 0 else _cents(share),  # now and then named without an amount
                lead=_maybe(draw, st.booleans()),
                consideration=_maybe(draw, st.sampled_from(("cash", "credits", "services"))),
            )
            for party, share in zip(investors, shares, strict=True)
        ]
    return fact


def _cents(cents: int) -> str:
    return format(Decimal(cents).scaleb(-2), "f")


def _stake_acquired(draw: st.DrawFn, pool: Pool, effective: date) -> dict[str, Any]:
    holder, company, seller = _distinct(draw, pool, 3, named=[1])
    sold = draw(st.booleans())
    fraction = draw(fractions(6, positive=True) if sold else fractions(6, max_value="0.999999", positive=True))  # never all new
    price = _maybe(draw, money(positive=False))
    return _put(
        {"holder": holder, "company": company, "fraction": fraction},
        seller=seller if sold else None,
        price=price,
        currency=draw(currencies) if price is not None or draw(st.booleans()) else None,
        consideration=_maybe(draw, st.sampled_from(("cash", "credits", "services"))),
    )


def _ownership_asserted(draw: st.DrawFn, pool: Pool, effective: date) -> dict[str, Any]:
    holder, company = _distinct(draw, pool, 2, named=[1])
    return _put(
        {"holder": holder, "company": company, "fraction": draw(fractions(6))},
        tolerance=_maybe(draw, fractions(4, max_value="0.05")),
    )


def _stake_divested(draw: st.DrawFn, pool: Pool, effective: date) -> dict[str, Any]:
    holder, company, buyer = _distinct(draw, pool, 3, named=[1])
    which = draw(st.sampled_from(("fraction", "portion")))
    proceeds = _maybe(draw, money(positive=False))
    return _put(
        {"holder": holder, "company": company, which: draw(fractions(6, positive=True))},
        buyer=buyer if draw(st.booleans()) else None,
        proceeds=proceeds,
        currency=draw(currencies) if proceeds is not None or draw(st.booleans()) else None,
        reason=_maybe(draw, texts),
    )


def _valuation_marked(draw: st.DrawFn, pool: Pool, effective: date) -> dict[str, Any]:
    (company,) = _distinct(draw, pool, 1)
    return _put(
        {"company": company, "valuation": draw(money(positive=False, max_value=10**13)), "currency": draw(currencies)},
        basis=_maybe(draw, texts),
    )


def _credits_granted(draw: st.DrawFn, pool: Pool, effective: date) -> dict[str, Any]:
    grantor, grantee = _distinct(draw, pool, 2)
    expires = effective + timedelta(days=draw(st.integers(1, 3 * 366))) if draw(st.booleans()) else None
    return _put(
        {"grantor": grantor, "grantee": grantee, "amount": draw(money()), "currency": draw(currencies)},
        expires=expires.isoformat() if expires else None,
        round=_maybe(draw, texts),
    )


def _spend_committed(draw: st.DrawFn, pool: Pool, effective: date) -> dict[str, Any]:
    customer, provider = _distinct(draw, pool, 2)
    term = draw(st.sampled_from(("years", "term_end", None)))
    term_end = effective + timedelta(days=draw(st.integers(1, 10 * 366))) if term == "term_end" else None
    return _put(
        {"customer": customer, "provider": provider, "amount": draw(money()), "currency": draw(currencies)},
        years=str(draw(st.integers(1, 10))) if term == "years" else None,
        term_end=term_end.isoformat() if term_end else None,
        round=_maybe(draw, texts),
    )


def _credits_consumed(draw: st.DrawFn, pool: Pool, effective: date) -> dict[str, Any]:
    grantor, grantee = _distinct(draw, pool, 2)
    return {"grantor": grantor, "grantee": grantee, "amount": draw(money()), "currency": draw(currencies)}


def _escrow_deposited(draw: st.DrawFn, pool: Pool, effective: date) -> dict[str, Any]:
    depositor, beneficiary = _distinct(draw, pool, 2)
    return _put(
        {
            "account": draw(texts),
            "depositor": depositor,
            "beneficiary": beneficiary,
            "amount": draw(money()),
            "currency": draw(currencies),
        },
        purpose=_maybe(draw, texts),
    )


def _escrow_released(draw: st.DrawFn, pool: Pool, effective: date) -> dict[str, Any]:
    (to,) = _distinct(draw, pool, 1)
    return _put(
        {"account": draw(texts), "amount": draw(money()), "currency": draw(currencies), "to": to},
        purpose=_maybe(draw, texts),
    )


def _export_ban_imposed(draw: st.DrawFn, pool: Pool, effective: date) -> dict[str, Any]:
    authority, *party_targets = _distinct(draw, pool, 3)
    country_targets = draw(st.lists(countries, max_size=3, unique=True))
    targets = country_targets + party_targets[: draw(st.integers(0 if country_targets else 1, 2))]
    return {
        "rule": draw(texts),
        "authority": authority,
        "items": draw(st.lists(st.sampled_from(ITEMS), min_size=1, max_size=4, unique=True)),
        "targets": draw(st.permutations(targets)),
    }


def _export_ban_lifted(draw: st.DrawFn, pool: Pool, effective: date) -> dict[str, Any]:
    (authority,) = _distinct(draw, pool, 1)
    return {"rule": draw(texts), "authority": authority}


def _penalty_imposed(draw: st.DrawFn, pool: Pool, effective: date) -> dict[str, Any]:
    authority, target = _distinct(draw, pool, 2)
    return _put(
        {"authority": authority, "target": target, "amount": draw(money()), "currency": draw(currencies)},
        reason=_maybe(draw, texts),
    )


def _divestment_ordered(draw: st.DrawFn, pool: Pool, effective: date) -> dict[str, Any]:
    authority, target, *companies = _distinct(draw, pool, 4)
    deadline = effective + timedelta(days=draw(st.integers(0, 3 * 366)))
    return _put(
        {"authority": authority, "target": target, "deadline": deadline.isoformat()},
        companies=companies[: draw(st.integers(0, 2))] if draw(st.booleans()) else None,
    )


def _fact_corrected(draw: st.DrawFn, pool: Pool, effective: date) -> dict[str, Any]:
    replaced = draw(st.sampled_from(CORRECTABLE_KINDS))
    return {"fact": draw(fact_refs), "replacement": draw(fact_dicts(replaced, parties=pool))}


def _fact_retracted(draw: st.DrawFn, pool: Pool, effective: date) -> dict[str, Any]:
    return {"fact": draw(fact_refs), "reason": draw(texts)}


fact_refs: st.SearchStrategy[str] = st.one_of(
    slugs().map(lambda s: f"key-{s}"),
    st.uuids().map(str),
)
"""What ``fact.corrected`` / ``fact.retracted`` name: a user's key or a stored fact's id."""

_BUILDERS: dict[str, Callable[[st.DrawFn, Pool, date], dict[str, Any]]] = {
    "party.registered": _party_registered,
    "fx.rate": _fx_rate,
    "round.closed": _round_closed,
    "stake.acquired": _stake_acquired,
    "ownership.asserted": _ownership_asserted,
    "stake.divested": _stake_divested,
    "valuation.marked": _valuation_marked,
    "credits.granted": _credits_granted,
    "credits.consumed": _credits_consumed,
    "escrow.deposited": _escrow_deposited,
    "escrow.released": _escrow_released,
    "spend.committed": _spend_committed,
    "export.ban_imposed": _export_ban_imposed,
    "export.ban_lifted": _export_ban_lifted,
    "penalty.imposed": _penalty_imposed,
    "divestment.ordered": _divestment_ordered,
    "fact.corrected": _fact_corrected,
    "fact.retracted": _fact_retracted,
}


@st.composite
def _one_kind(draw: st.DrawFn, kind: str, parties: Pool, effective: st.SearchStrategy[date]) -> dict[str, Any]:
    day = draw(effective)
    fact: dict[str, Any] = {"kind": kind, "effective": day.isoformat()}
    _put(
        fact,
        key=_maybe(draw, slugs().map(lambda s: f"k-{s}")),
        source=_maybe(draw, slugs().map(lambda s: f"https://example.org/{s}")),
        confidence=_maybe(draw, st.sampled_from(("high", "medium", "low"))),
        note=_maybe(draw, texts),
    )
    fact.update(_BUILDERS[kind](draw, parties, day))
    return fact


def fact_dicts(
    kind: str | None = None, parties: Pool = SLUGS, effective: st.SearchStrategy[date] = dates
) -> st.SearchStrategy[dict[str, Any]]:
    """Valid interchange dicts of ``kind``, or of any built-in kind when ``kind`` is None.

    ``parties`` is the pool of party slugs the facts refer to: a sequence (at least four
    slugs, none of them ``founders`` or ``undisclosed`` if ``party.registered`` is drawn)
    or a strategy of slugs. ``effective`` draws the ``effective`` dates (``date`` objects);
    a correction's replacement draws its own date from the same strategy.
    """
    if kind is None:
        return st.sampled_from(KINDS).flatmap(lambda name: _one_kind(name, parties, effective))
    if kind not in _BUILDERS:
        raise ValueError(f"no strategy for kind {kind!r}; known: {', '.join(KINDS)}")
    return _one_kind(kind, parties, effective)


def registrations(parties: Sequence[str] = SLUGS, effective: str = "2000-01-01") -> list[dict[str, Any]]:
    """``party.registered`` dicts for every slug of ``parties`` (skipping built-in holders), all on ``effective``."""
    return [
        {"kind": "party.registered", "effective": effective, "party": slug, "name": slug.replace("-", " "), "type": "other"}
        for slug in parties
        if slug not in BUILT_IN_HOLDERS
    ]


__all__ = [
    "COUNTRIES",
    "CURRENCIES",
    "ITEMS",
    "KINDS",
    "SLUGS",
    "countries",
    "currencies",
    "dates",
    "decimal_strings",
    "fact_dicts",
    "fact_refs",
    "fractions",
    "iso_dates",
    "money",
    "party_slugs",
    "registrations",
    "slugs",
    "texts",
]
