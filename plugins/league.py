"""The ``league`` view: investors ranked by the capital they committed, one row per investor and currency.

Amounts in different currencies are never ranked against each other: without ``--currency``
rows are ordered by currency, then by total, and ``rank`` counts within the currency; with
``--currency`` every amount is converted at its own date and one ranking covers everyone.
A participant named without an amount counts as a deal (``undisclosed_deals``) and adds no
money: an investor with no disclosed amount in a currency shows None, never 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, NamedTuple

from events.funding import RoundClosed, StakeAcquired, StakeDivested
from events.markets import FxRate
from events.parties import PartyRegistered
from ledger.folds.captable import FOUNDERS, UNDISCLOSED
from ledger.folds.groups import Parties
from ledger.folds.money import Money, Number, Rates
from ledger.folds.packed import AMOUNT, DAY, WORD, PackedLog
from ledger.options import option_date
from ledger.records import Recorded
from ledger.views import Option, Query, Row, View
from plugins.portfolio import CURRENCY_OPTION, GROUP_OPTION

CONSIDERATIONS = ("cash", "credits", "services")


class Commitment(NamedTuple):
    """One investor's capital in one deal: a round line or a stake bought (``amount`` None when undisclosed)."""

    investor: str
    company: str
    deal: tuple[str, ...]
    day: date
    consideration: str
    amount: Decimal | None
    currency: str | None


class Capital(
    PackedLog[Commitment],
    record=Commitment,
    investor=WORD,
    company=WORD,
    deal=WORD,
    day=DAY,
    consideration=WORD,
    amount=AMOUNT,
    currency=WORD,
):
    """Every commitment, packed (``ledger.folds.packed``)."""


LEAGUE_KINDS = frozenset({RoundClosed.kind, StakeAcquired.kind, StakeDivested.kind, PartyRegistered.kind, FxRate.kind})
"""The kinds the league folds: no other fact can move it."""


@dataclass
class Commitments:
    """The fold behind ``league``: every commitment, kept whole so ``--since``, ``--sector`` and ``--group`` apply at the end.

    Sectors and groups are read when rows are made, so a company's tags and a party's parent
    as they stand at the question's date apply to all its deals.
    """

    capital: Capital = field(default_factory=Capital)
    parties: Parties = field(default_factory=Parties)
    rates: Rates = field(default_factory=Rates)

    def apply(self, record: Recorded) -> None:
        fact = record.fact
        if isinstance(fact, RoundClosed):
            deal: tuple[str, ...] = ("round", record.id)  # each round its own deal, even two with one label
            for investment in fact.investors:
                self._commit(investment.party, fact, deal, investment.paid_in, investment.amount, fact.currency)
        elif isinstance(fact, StakeAcquired):
            deal = ("stake", record.id)
            self._commit(fact.holder, fact, deal, fact.consideration or "cash", fact.price, fact.currency)
        elif isinstance(fact, StakeDivested) and fact.buyer is not None:
            # a sale to a named buyer is the buyer's secondary purchase, at what the seller received
            self._commit(fact.buyer, fact, ("stake", record.id), "cash", fact.proceeds, fact.currency)
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


@dataclass
class Line:
    """One row in the making: the deals, the deals without a disclosed amount, the money by consideration."""

    entities: set[str] = field(default_factory=set)
    deals: set[tuple[str, ...]] = field(default_factory=set)
    undisclosed: set[tuple[str, ...]] = field(default_factory=set)
    split: dict[str, Number] | None = None


class LeagueView(View[Commitments]):
    """Investors ranked by the capital they committed, split by what they paid with."""

    name = "league"
    state_version = "6"  # a round is a deal of its own, named by its fact (two rounds may share a label)
    kinds = LEAGUE_KINDS
    help = (
        "Investors ranked by capital committed in rounds and stake purchases (primary and secondary), split into cash, "
        "credits and services; one row per investor and currency, ranked within the currency, unless --currency "
        "converts and ranks everyone. --group answers for each ultimate parent's group. "
        "Example: dealledger view league --sector ai --since 2023-01-01 --currency USD --group"
    )
    columns = ("investor", "deals", "cash", "credits", "services", "total", "currency", "undisclosed_deals", "rank", "entities")
    options = (
        Option("sector", "only companies registered with this sector tag"),
        Option("since", "only deals effective on or after this date", kind="date"),
        CURRENCY_OPTION,
        GROUP_OPTION,
    )

    def initial(self, query: Query) -> Commitments:
        return Commitments()

    def apply(self, state: Commitments, record: Recorded) -> Commitments:
        state.apply(record)
        return state

    def explains(self, record: Recorded, query: Query) -> bool:
        """Only the kinds the league folds can move it."""
        return record.fact.kind in LEAGUE_KINDS

    def rows(self, state: Commitments, query: Query) -> list[Row]:
        since = option_date(query, "since")
        sector = query.get("sector")
        group = bool(query.get("group", False))
        money = Money(state.rates, query.get("currency"))
        lines: dict[tuple[str, str | None], Line] = {}
        for item in state.capital:
            if (since is not None and item.day < since) or (sector and not state.parties.in_sector(item.company, sector)):
                continue
            investor = state.parties.root(item.investor) if group else item.investor
            currency = money.currency(item.currency) if item.currency else money.target
            line = lines.setdefault((investor, currency), Line())
            line.entities.add(item.investor)
            line.deals.add(item.deal)
            if item.amount is None or item.currency is None:
                line.undisclosed.add(item.deal)
                continue
            split = line.split = line.split if line.split is not None else {}
            split[item.consideration] = split.get(item.consideration, money.zero()) + money.value(
                item.amount, item.currency, item.day
            )
        rows = [self._row(investor, currency, line, money, group) for (investor, currency), line in lines.items()]
        rows.sort(key=_order)
        _rank(rows)
        return rows

    @staticmethod
    def _row(investor: str, currency: str | None, line: Line, money: Money, group: bool) -> Row:
        split = line.split
        if split is None:
            by: dict[str, Decimal | None] = dict.fromkeys(CONSIDERATIONS)
            total = None
        else:
            by = {name: money.out(split.get(name, money.zero())) for name in CONSIDERATIONS}
            total = money.out(sum(split.values(), money.zero()))
        return {
            "investor": investor,
            "deals": len(line.deals),
            **by,
            "total": total,
            "currency": currency,
            "undisclosed_deals": len(line.undisclosed),
            "rank": None,
            "entities": ", ".join(sorted(line.entities)) if group else None,
        }


def _order(row: Row) -> tuple[Any, ...]:
    """By currency (none last), then by total, largest first (undisclosed last), then by investor."""
    total = row["total"]
    return (row["currency"] is None, row["currency"] or "", total is None, -(total or 0), row["investor"])


def _rank(rows: list[Row]) -> None:
    """Competition ranking (1, 2, 2, 4) within each currency, by total; rows without a disclosed total get none."""
    place = start = 0
    previous: tuple[Any, Any] | None = None
    currency: Any = object()
    for index, row in enumerate(rows):
        if row["currency"] != currency:
            currency, start, previous = row["currency"], index, None
        if row["total"] is None:
            continue
        if previous != (row["currency"], row["total"]):
            place = index - start + 1
            previous = (row["currency"], row["total"])
        row["rank"] = place
