"""Equity views: who owns a company (``ownership``), what an investor holds (``portfolio``), who invests most (``league``).

Also the ownership checks: a sale larger than the holding is rejected when appended (a
back-dated fact is checked against everything after it, because validation folds the whole
story), and ``dealledger check`` compares every ``ownership.asserted`` figure with the fold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, NamedTuple

from events.funding import OwnershipAsserted, RoundClosed, StakeAcquired, StakeDivested, ValuationMarked
from events.markets import FxRate
from events.parties import PartyRegistered
from ledger.exact import Fraction
from ledger.folds.captable import FOUNDERS, OWNERSHIP_KINDS, UNDISCLOSED, ZERO, CapTables
from ledger.folds.groups import Parties
from ledger.folds.money import Money, Number, Rates, fraction_out, money_out, shown
from ledger.hookspecs import hookimpl
from ledger.options import option_date, required
from ledger.problems import Problem
from ledger.records import Recorded
from ledger.views import Option, Query, Row, View

CURRENCY_OPTION = Option("currency", "convert every amount into this currency (ISO 4217)", kind="currency")


class Payment(NamedTuple):
    """Money a holder put into a company, kept with its date so it can be converted at that date."""

    day: date
    amount: Decimal
    currency: str


class Valuation(NamedTuple):
    day: date
    amount: Decimal
    currency: str


@dataclass
class Holdings:
    """The fold behind ``ownership`` and ``portfolio``: cap tables, what each holder paid, valuations, rates."""

    tables: CapTables = field(default_factory=CapTables)
    payments: dict[tuple[str, str], list[Payment]] = field(default_factory=dict)
    valuations: dict[str, Valuation] = field(default_factory=dict)
    rates: Rates = field(default_factory=Rates)

    def apply(self, record: Recorded) -> None:
        fact = record.fact
        if isinstance(fact, FxRate):
            self.rates.add(fact)
            return
        company = getattr(fact, "company", None)
        if company is None:
            return
        if fact.kind in OWNERSHIP_KINDS:
            self.tables.apply(fact)
        if isinstance(fact, RoundClosed):
            self._paid_in_round(fact)
            self.valuations[company] = Valuation(fact.effective, fact.post, fact.currency)
        elif isinstance(fact, StakeAcquired) and fact.price is not None and fact.currency is not None:
            self._pay(company, fact.holder, Payment(fact.effective, fact.price, fact.currency))
        elif isinstance(fact, ValuationMarked):
            self.valuations[company] = Valuation(fact.effective, fact.valuation, fact.currency)

    def _paid_in_round(self, fact: RoundClosed) -> None:
        """Each investor paid its amount (whatever the consideration); the unattributed rest was paid by ``undisclosed``."""
        attributed = Decimal(0)
        for investment in fact.investors:
            attributed += investment.amount
            self._pay(fact.company, investment.party, Payment(fact.effective, investment.amount, fact.currency))
        if fact.amount > attributed:
            self._pay(fact.company, UNDISCLOSED, Payment(fact.effective, fact.amount - attributed, fact.currency))

    def _pay(self, company: str, holder: str, payment: Payment) -> None:
        self.payments.setdefault((company, holder), []).append(payment)

    def invested(self, company: str, holder: str, money: Money) -> dict[str, Number]:
        """What the holder paid for its stake, per currency (a single currency when converting)."""
        totals: dict[str, Number] = {}
        for payment in self.payments.get((company, holder), ()):
            currency = money.currency(payment.currency)
            total: Number = totals.get(currency, money.zero())
            totals[currency] = total + money.value(payment.amount, payment.currency, payment.day)
        return totals


class OwnershipView(View[Holdings]):
    """Who owns a company, and what each holder paid for it."""

    name = "ownership"
    state_version = "2"  # cap tables keep each holder's companies
    help = (
        "Holders of a company and their fractions, with what each paid. A holder who paid in several currencies "
        "gets one row per currency (its fraction repeated). Example: dealledger view ownership --company moonshot-ai"
    )
    columns = ("company", "holder", "fraction", "invested", "currency")
    options = (Option("company", "the company (default: every company, one row per company and holder)", kind="party"),)

    def initial(self, query: Query) -> Holdings:
        return Holdings()

    def subjects(self, query: Query) -> frozenset[str] | None:
        """One company's holders depend only on the facts that name it."""
        company = query.get("company")
        return frozenset({company}) if company else None

    def apply(self, state: Holdings, record: Recorded) -> Holdings:
        state.apply(record)
        return state

    def rows(self, state: Holdings, query: Query) -> list[Row]:
        money = Money(state.rates, None)
        company = query.get("company")
        companies = [company] if company else sorted(state.tables.companies)
        rows: list[Row] = []
        for company in companies:
            holders = sorted(state.tables.holders(company).items(), key=lambda item: (-item[1], item[0]))
            for holder, share in holders:
                for currency, amount in _per_currency(state.invested(company, holder, money), money):
                    rows.append(
                        {
                            "company": company,
                            "holder": holder,
                            "fraction": fraction_out(share),
                            "invested": amount,
                            "currency": currency,
                        }
                    )
        return rows


class PortfolioView(View[Holdings]):
    """What one investor holds, what it paid and what its stakes are worth at the latest valuations."""

    name = "portfolio"
    state_version = "2"  # cap tables keep each holder's companies
    help = (
        "An investor's stakes: fraction, amount invested, and implied value (fraction x the company's latest valuation "
        "or round post-money, in implied_currency); one row per currency paid in unless --currency converts. "
        "Example: dealledger view portfolio --investor alibaba --currency USD"
    )
    columns = ("company", "fraction", "invested", "currency", "implied_value", "implied_currency")
    options = (
        Option("investor", "the investor", kind="party", required=True, replay_over=("investor", "company", "cloud", "other")),
        CURRENCY_OPTION,
    )

    def initial(self, query: Query) -> Holdings:
        return Holdings()

    def apply(self, state: Holdings, record: Recorded) -> Holdings:
        state.apply(record)
        return state

    def rows(self, state: Holdings, query: Query) -> list[Row]:
        investor = required(query, "investor", self.name)
        money = Money(state.rates, query.get("currency"))
        rows: list[Row] = []
        for company in sorted(state.tables.holdings(investor)):
            share = state.tables.held(investor, company)
            value, value_currency = self._implied(state, company, share, money)
            for currency, amount in _per_currency(state.invested(company, investor, money), money):
                rows.append(
                    {
                        "company": company,
                        "fraction": fraction_out(share),
                        "invested": amount,
                        "currency": currency,
                        "implied_value": value,
                        "implied_currency": value_currency,
                    }
                )
        return rows

    @staticmethod
    def _implied(state: Holdings, company: str, share: Fraction, money: Money) -> tuple[Decimal | None, str | None]:
        """The stake at the company's latest valuation, converted at that valuation's date when asked."""
        valuation = state.valuations.get(company)
        if valuation is None:
            return None, None
        worth = Fraction(money.value(valuation.amount, valuation.currency, valuation.day)) * share
        return money_out(worth), money.currency(valuation.currency)


def _per_currency(totals: dict[str, Number], money: Money) -> list[tuple[str | None, Decimal | None]]:
    """(currency, amount) pairs for rows: one per currency paid in, or a single empty pair when nothing was paid."""
    if not totals:
        return [(None, None)]
    return [(currency, money.out(totals[currency])) for currency in sorted(totals)]


class Commitment(NamedTuple):
    """One investor's capital in one deal: a round line or a stake bought (``amount`` None when unpriced)."""

    investor: str
    company: str
    deal: tuple[str, ...]
    day: date
    consideration: str
    amount: Decimal | None
    currency: str | None


@dataclass
class Commitments:
    """The fold behind ``league``: every commitment, kept whole so ``--since`` and ``--sector`` filter at the end.

    Sectors are read when rows are made, so a company's tags apply to all its deals, also
    those recorded before it was (re)registered.
    """

    capital: list[Commitment] = field(default_factory=list)
    parties: Parties = field(default_factory=Parties)
    rates: Rates = field(default_factory=Rates)

    def apply(self, record: Recorded) -> None:
        fact = record.fact
        if isinstance(fact, RoundClosed):
            deal: tuple[str, ...] = ("round", fact.company, fact.round)
            for investment in fact.investors:
                self._commit(investment.party, fact, deal, investment.paid_in, investment.amount, fact.currency)
        elif isinstance(fact, StakeAcquired):
            deal = ("stake", record.id)
            self._commit(fact.holder, fact, deal, fact.consideration or "cash", fact.price, fact.currency)
        elif isinstance(fact, PartyRegistered):
            self.parties.add(fact)
        elif isinstance(fact, FxRate):
            self.rates.add(fact)

    def _commit(
        self, investor: str, fact: Any, deal: tuple[str, ...], consideration: str, amount: Decimal | None, currency: str | None
    ) -> None:
        if investor in (FOUNDERS, UNDISCLOSED):
            return
        self.capital.append(Commitment(investor, fact.company, deal, fact.effective, consideration, amount, currency))


class LeagueView(View[Commitments]):
    """Investors ranked by the capital they committed, split by what they paid with."""

    name = "league"
    help = (
        "Investors ranked by capital committed in rounds and stake purchases (primary and secondary), split into cash, "
        "credits and services; one row per investor and currency unless --currency converts. "
        "Example: dealledger view league --sector ai --since 2023-01-01 --currency USD"
    )
    columns = ("investor", "deals", "cash", "credits", "services", "total", "currency")
    options = (
        Option("sector", "only companies registered with this sector tag"),
        Option("since", "only deals effective on or after this date", kind="date"),
        CURRENCY_OPTION,
    )

    def initial(self, query: Query) -> Commitments:
        return Commitments()

    def apply(self, state: Commitments, record: Recorded) -> Commitments:
        state.apply(record)
        return state

    def rows(self, state: Commitments, query: Query) -> list[Row]:
        since = option_date(query, "since")
        sector = query.get("sector")
        money = Money(state.rates, query.get("currency"))
        deals: dict[str, set[tuple[str, ...]]] = {}
        totals: dict[tuple[str, str | None], dict[str, Number]] = {}
        for item in state.capital:
            if (since is not None and item.day < since) or (sector and not state.parties.in_sector(item.company, sector)):
                continue
            deals.setdefault(item.investor, set()).add(item.deal)
            if item.amount is None or item.currency is None:
                continue
            split = totals.setdefault((item.investor, money.currency(item.currency)), {})
            so_far: Number = split.get(item.consideration, money.zero())
            split[item.consideration] = so_far + money.value(item.amount, item.currency, item.day)
        for investor in deals:
            if not any(key[0] == investor for key in totals):
                totals[(investor, money.target)] = {}
        rows = [
            self._row(investor, currency, len(deals[investor]), split, money) for (investor, currency), split in totals.items()
        ]
        rows.sort(key=lambda row: (-row["total"], row["investor"], row["currency"] or ""))
        return rows

    @staticmethod
    def _row(investor: str, currency: str | None, deals: int, split: dict[str, Number], money: Money) -> Row:
        by = {name: money.out(split.get(name, money.zero())) for name in ("cash", "credits", "services")}
        total = money.out(sum(split.values(), money.zero()))
        return {"investor": investor, "deals": deals, **by, "total": total, "currency": currency}


@hookimpl
def dealledger_views() -> list[View[Any]]:
    return [OwnershipView(), PortfolioView(), LeagueView()]


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
        if record.kind in OWNERSHIP_KINDS:
            touched.add(record.fact.company)  # type: ignore[attr-defined]
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
        if fact.kind in OWNERSHIP_KINDS:
            shortfall = tables.apply(fact)
            if shortfall is not None:
                problems.append(Problem(shortfall.message(record), (record.id,)))
            if check:
                problems.extend(_invariants(tables, fact.company, record))  # type: ignore[attr-defined]
        elif check and isinstance(fact, OwnershipAsserted):
            computed = tables.held(fact.holder, fact.company)
            if abs(computed - Fraction(fact.fraction)) > Fraction(fact.tolerance):
                problems.append(
                    Problem(
                        f"{record.describe()}: {fact.holder} holds {shown(computed)} of {fact.company} by the ledger, "
                        f"asserted {shown(fact.fraction)} (tolerance {shown(fact.tolerance)})",
                        (record.id,),
                    )
                )
    return problems


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
