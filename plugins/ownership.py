"""Equity views: who owns a company (``ownership``); the built-in plugin that also serves ``portfolio``, ``league`` and ``gains``.

Each view lives in its own module (``plugins.portfolio``, ``plugins.league``,
``plugins.gains``, folding ``plugins.holdings``); this module registers them and holds the
ownership checks: a sale larger than the holding is rejected when appended (a back-dated fact
is checked against everything after it, because validation folds the whole story), and
``dealledger check`` compares every ``ownership.asserted`` figure with the fold.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

from events.funding import OwnershipAsserted, StakeAcquired, StakeDivested
from events.parties import BUILT_IN_HOLDERS
from ledger.errors import OptionError
from ledger.exact import Fraction, decimal_places
from ledger.folds.captable import OWNERSHIP_FACTS, ZERO, CapTables
from ledger.folds.money import Money, Number, shown
from ledger.hookspecs import hookimpl
from ledger.problems import Problem
from ledger.records import Recorded
from ledger.views import Option, Query, Row, View
from plugins.gains import GainsView
from plugins.holdings import Holdings, HoldingsView, money_cell
from plugins.league import LeagueView
from plugins.portfolio import SPLIT_OPTION, PortfolioView


class OwnershipView(HoldingsView):
    """Who owns a company, and what each holder paid for it."""

    name = "ownership"
    help = (
        "Holders of a company and their exact fractions, with what each paid. A holder who paid in several currencies "
        "gets one row per currency (its fraction repeated). --split-undisclosed divides a round's unattributed money "
        "equally among the participants named without an amount. Example: dealledger view ownership --company moonshot-ai"
    )
    columns = ("company", "holder", "fraction", "invested", "currency")
    options = (
        Option("company", "the company (default: every company, one row per company and holder)", kind="party"),
        SPLIT_OPTION,
    )

    def subjects(self, query: Query) -> frozenset[str] | None:
        """One company's holders depend only on the facts that name it."""
        company = _company(query)
        return frozenset({company}) if company else None

    def rows(self, state: Holdings, query: Query) -> Iterator[Row]:
        """Made one by one: every company's holders at 1M facts are 179,000 rows, 72 MiB held as a list (measured)."""
        money = Money(state.rates, None)
        split = bool(query.get("split_undisclosed", False))
        company = _company(query)
        companies = [company] if company else sorted(state.tables.companies)
        for company in companies:
            holders = sorted(state.tables.holders(company, split).items(), key=lambda item: (-item[1], item[0]))
            for holder, share in holders:
                paid = _paid(state, company, holder, money, split)
                currencies: list[str | None] = [*sorted(paid)] or [None]
                for currency in currencies:
                    yield {
                        "company": company,
                        "holder": holder,
                        "fraction": share,
                        "invested": money_cell(paid[currency], money) if currency else None,
                        "currency": currency,
                    }


def _company(query: Query) -> str | None:
    """``--company``, which a built-in holder is not: it holds shares of companies, and "founders hold all of
    founders" answered nothing that was asked."""
    company: str | None = query.get("company")
    if company in BUILT_IN_HOLDERS:
        raise OptionError(f"--company: {company!r} is a built-in holder of shares, not a company")
    return company


def _paid(state: Holdings, company: str, holder: str, money: Money, split: bool) -> dict[str, Number]:
    """What the holder paid, per currency: ``undisclosed`` includes its pools unless they are split among participants."""
    totals: dict[str, Number] = {}
    table = state.tables.companies.get(company)
    pools = list(table.pools) if table is not None else []
    payers = [holder, *pools] if holder == "undisclosed" and not split else [holder]
    for payer in payers:
        for currency, amount in state.invested(company, payer, money).items():
            totals[currency] = totals.get(currency, Decimal(0)) + amount
    if split:
        for currency, amount in state.pooled(company, holder, money).items():
            totals[currency] = Fraction(totals.get(currency, Fraction(0))) + amount
    return totals


@hookimpl
def dealledger_views() -> list[View[Any]]:
    return [OwnershipView(), PortfolioView(), LeagueView(), GainsView()]


@hookimpl
def dealledger_validate(story: Sequence[Recorded], new: Sequence[Recorded]) -> list[Problem]:
    """A sale or divestment of more than the holder held at its date (the whole story is folded, so back-dating is caught).

    Only a sale can take more than there is, so only companies with a sale in their story can
    have a problem, and only those the batch touches can have a new one: the others are not
    replayed at all.
    """
    companies = _with_sales(story) & _touched(new)
    if not companies:
        return []
    return _replay([r for r in story if getattr(r.fact, "company", None) in companies], check=False)


def _with_sales(story: Sequence[Recorded]) -> set[str]:
    return {
        r.fact.company
        for r in story
        if isinstance(r.fact, StakeDivested) or (isinstance(r.fact, StakeAcquired) and r.fact.seller is not None)
    }


def _touched(new: Sequence[Recorded]) -> set[str] | _Everything:
    """Companies whose ownership story the batch changes; a correction or retraction may change any."""
    touched: set[str] = set()
    for record in new:
        if record.kind in ("fact.corrected", "fact.retracted"):
            return _Everything()
        if isinstance(record.fact, OWNERSHIP_FACTS):
            touched.add(record.fact.company)
    return touched


class _Everything:
    """The set of all companies, for ``&``."""

    def __rand__(self, other: set[str]) -> set[str]:
        return other


@hookimpl
def dealledger_check(story: Sequence[Recorded]) -> list[Problem]:
    """Sales beyond holdings, ``ownership.asserted`` figures the fold disagrees with, and the ownership invariants."""
    return _replay(story, check=True)


def _replay(story: Sequence[Recorded], *, check: bool) -> list[Problem]:
    tables = CapTables()
    problems: list[Problem] = []
    for record in story:
        fact = record.fact
        if isinstance(fact, OWNERSHIP_FACTS):
            shortfall = tables.apply(fact)
            if shortfall is not None:
                problems.append(Problem(shortfall.message(record), (record.id,)))
            if check:
                problems.extend(_invariants(tables, fact.company, record))
        elif check and isinstance(fact, OwnershipAsserted):
            computed = tables.held(fact.holder, fact.company)
            if abs(computed - Fraction(fact.fraction)) > Fraction(fact.tolerance):
                problems.append(
                    Problem(
                        f"{record.describe()}: {fact.holder} holds {_held_text(computed, fact.fraction, fact.tolerance)} "
                        f"of {fact.company} by the ledger, asserted {shown(fact.fraction, 40)} "
                        f"(tolerance {shown(fact.tolerance, 40)})",
                        (record.id,),
                    )
                )
    return problems


def _held_text(computed: Fraction, asserted: Decimal, tolerance: Decimal) -> str:
    """The ledger's stake beside an assertion: two places more than the assertion and its tolerance are written
    with (six at least), so the gap shows however fine they are, and the exact fraction where that is not all."""
    written = max(-int(value.as_tuple().exponent) for value in (asserted, tolerance))
    places = max(6, written + 2)
    text = shown(computed, places)
    ends = decimal_places(computed.denominator)
    return text if ends is not None and ends <= places else f"{text}... ({computed.numerator}/{computed.denominator})"


def _invariants(tables: CapTables, company: str, record: Recorded) -> list[Problem]:
    """Ownership sums to exactly 1 and nobody holds a negative stake, after every ownership fact."""
    table = tables.companies[company]
    problems = []
    counted = sum(table.shares.values(), ZERO)
    if counted != table.total:
        message = f"after {record.describe()}: ownership of {company} sums to {counted / table.total}, not 1"
        problems.append(Problem(message, (record.id,)))
    negative = sorted(holder for holder, count in table.shares.items() if count < 0)
    if negative:
        message = f"after {record.describe()}: negative holdings in {company}: {', '.join(negative)}"
        problems.append(Problem(message, (record.id,)))
    return problems
