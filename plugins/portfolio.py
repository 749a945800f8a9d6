"""The ``portfolio`` view: what an investor (or its whole group) holds, what it paid, kept, sold and gained.

Exited positions stay, with fraction 0, so a sale's proceeds and gain are never lost from sight.
With ``--group`` the answer is for the ultimate parent's whole group as it stands at the
question's date: one consolidated row per company naming the entities that hold it
(``held_by``), or one row per entity with ``--by-entity``.
"""

from __future__ import annotations

from decimal import Decimal

from ledger.exact import Fraction
from ledger.folds.money import Money, Number, money_out
from ledger.options import required
from ledger.views import Option, Query, Row
from plugins.holdings import Holdings, HoldingsView, money_cell

CURRENCY_OPTION = Option("currency", "convert every amount into this currency (ISO 4217)", kind="currency")
GROUP_OPTION = Option("group", "answer for the ultimate parent's whole group (parent links of party.registered)", kind="flag")
SPLIT_OPTION = Option(
    "split_undisclosed",
    "divide a round's unattributed money equally among the participants named without an amount",
    kind="flag",
)


class PortfolioView(HoldingsView):
    """What one investor holds, what it paid, kept and sold, and what its stakes are worth at the latest valuations."""

    name = "portfolio"
    help = (
        "An investor's stakes, exited ones included (fraction 0): fraction, amount invested, cost still held, "
        "proceeds and realised gain of sales, implied value (fraction x the latest valuation or round post-money); "
        "one row per currency unless --currency converts. --group answers for the ultimate parent's group. "
        "Example: dealledger view portfolio --investor alibaba --group --currency USD"
    )
    columns = (
        "company",
        "fraction",
        "invested",
        "currency",
        "implied_value",
        "implied_currency",
        "cost",
        "proceeds",
        "realised_gain",
        "held_by",
    )
    options = (
        Option("investor", "the investor", kind="party", required=True, replay_over=("investor", "company", "cloud", "other")),
        CURRENCY_OPTION,
        GROUP_OPTION,
        Option("by_entity", "with --group: one row per entity of the group instead of one per company", kind="flag"),
        SPLIT_OPTION,
    )

    def rows(self, state: Holdings, query: Query) -> list[Row]:
        investor = required(query, "investor", self.name)
        money = Money(state.rates, query.get("currency"))
        split = bool(query.get("split_undisclosed", False))
        if not query.get("group", False):
            return self._answer(state, [investor], money, split)
        entities = state.parties.members(state.parties.root(investor))
        if query.get("by_entity", False):
            return [row for entity in entities for row in self._answer(state, [entity], money, split)]
        return self._answer(state, entities, money, split)

    def _answer(self, state: Holdings, holders: list[str], money: Money, split: bool) -> list[Row]:
        """Rows for ``holders`` taken together, one company after another."""
        return [
            row for company in self._companies(state, holders, split) for row in self._rows(state, company, holders, money, split)
        ]

    @staticmethod
    def _companies(state: Holdings, holders: list[str], split: bool) -> list[str]:
        found: set[str] = set()
        for holder in holders:
            found |= state.tables.holdings(holder, split) | state.companies_of.get(holder, set())
        return sorted(found)

    def _rows(self, state: Holdings, company: str, holders: list[str], money: Money, split: bool) -> list[Row]:
        """One row per currency for ``holders`` together in ``company`` (a single holder, or a whole group)."""
        held = [state.tables.held(holder, company, split) for holder in holders]
        share = sum(held, Fraction(0))
        holding = [holder for holder, part in zip(holders, held, strict=True) if part > 0]
        exited = [holder for holder in holders if holder not in holding and company in state.companies_of.get(holder, set())]
        involved = [holder for holder in holders if holder in holding or holder in exited]  # money of exits counts too
        invested: dict[str, Number] = {}
        kept: dict[str, Number] | None = {}
        proceeds: dict[str, Number] = {}
        gains: dict[str, Number | None] = {}
        for holder in involved:
            _add(invested, state.invested(company, holder, money))
            if split:
                _add(invested, state.pooled(company, holder, money))
            cost = state.kept_cost(company, holder, money)
            if split and state.tables.held(holder, company, True) != state.tables.held(holder, company):
                cost = None  # a share of a pool is a reading, not a purchase: what it cost stays unknown
            kept = None if cost is None or kept is None else _add(kept, cost)
            for disposal in state.sales.get((company, holder), ()):
                figures = state.figures(disposal, money)
                if figures.currency is None:
                    continue
                if figures.proceeds is not None:
                    proceeds[figures.currency] = proceeds.get(figures.currency, Fraction(0)) + figures.proceeds
                so_far = gains.get(figures.currency, Fraction(0))
                gains[figures.currency] = None if so_far is None or figures.gain is None else so_far + figures.gain
        value, value_currency = _implied(state, company, share, money)
        currencies: list[str | None] = [*sorted({*invested, *(kept or {}), *proceeds, *gains})] or [None]
        return [
            {
                "company": company,
                "fraction": share,
                "invested": money_cell(invested.get(currency), money) if currency else None,
                "currency": currency,
                "implied_value": value,
                "implied_currency": value_currency,
                "cost": None if kept is None or currency is None else money_cell(kept.get(currency, Fraction(0)), money),
                "proceeds": money_cell(proceeds.get(currency), money) if currency else None,
                "realised_gain": money_cell(gains.get(currency), money) if currency else None,
                "held_by": ", ".join(holding or exited),
            }
            for currency in currencies
        ]


def _add(totals: dict[str, Number], more: dict[str, Number]) -> dict[str, Number]:
    for currency, amount in more.items():
        totals[currency] = Fraction(totals.get(currency, Fraction(0))) + Fraction(amount)
    return totals


def _implied(state: Holdings, company: str, share: Fraction, money: Money) -> tuple[Decimal | None, str | None]:
    """The stake at the company's latest valuation, converted at that valuation's date when asked."""
    valuation = state.valuations.get(company)
    if valuation is None:
        return None, None
    worth = Fraction(money.value(valuation.amount, valuation.currency, valuation.day)) * share
    currency = money.currency(valuation.currency)
    return money_out(worth, currency), currency
