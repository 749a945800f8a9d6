"""Who owns what of each company, exactly: the ownership arithmetic every built-in view shares.

Holdings are ``Fraction`` values, so a company's holders always sum to exactly 1, however many
rounds have diluted them. A sale of more than the seller holds moves only what it holds, and
is reported as a ``Shortfall``: the fold stays consistent, and validation names the fact.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from events import Fact
from events.funding import RoundClosed, StakeAcquired, StakeDivested
from ledger.records import Recorded
from plugins.common import shown

FOUNDERS = "founders"
UNDISCLOSED = "undisclosed"
OWNERSHIP_KINDS = frozenset({"round.closed", "stake.acquired", "stake.divested"})
"""The kinds that change who owns a company."""

ZERO = Fraction(0)
ONE = Fraction(1)


@dataclass(frozen=True)
class Shortfall:
    """A holder was asked to give up more of a company than it held; only what it held moved."""

    holder: str
    company: str
    held: Fraction
    wanted: Fraction | None
    """The fraction of the company asked for, or None for a portion of a holding that was nothing."""
    verb: str

    def message(self, record: Recorded) -> str:
        if self.wanted is None:
            return f"{record.describe()}: {self.holder} holds nothing of {self.company}, cannot {self.verb} any of it"
        return (
            f"{record.describe()}: {self.holder} holds {shown(self.held)} of {self.company}, "
            f"cannot {self.verb} {shown(self.wanted)}"
        )


class CapTables:
    """Every company's holders and their fractions; a holder whose fraction reaches 0 is removed."""

    def __init__(self) -> None:
        self.companies: dict[str, dict[str, Fraction]] = {}

    def holders(self, company: str) -> dict[str, Fraction]:
        """The company's holders (do not modify); before any ownership fact, founders hold it all."""
        table = self.companies.get(company)
        return table if table is not None else {FOUNDERS: ONE}

    def held(self, holder: str, company: str) -> Fraction:
        return self.holders(company).get(holder, ZERO)

    def apply(self, fact: Fact) -> Shortfall | None:
        """Change the tables for an ownership fact (other kinds are ignored)."""
        if isinstance(fact, RoundClosed):
            self._round(fact)
        elif isinstance(fact, StakeAcquired):
            return self._acquire(fact)
        elif isinstance(fact, StakeDivested):
            return self._divest(fact)
        return None

    def _table(self, company: str) -> dict[str, Fraction]:
        table = self.companies.get(company)
        if table is None:
            table = self.companies[company] = {FOUNDERS: ONE}
        return table

    def _round(self, fact: RoundClosed) -> None:
        """New shares worth ``amount`` at ``post``: investors get amount/post, everyone else keeps (post-amount)/post."""
        table = self._table(fact.company)
        post = Fraction(fact.post)
        amount = Fraction(fact.amount)
        _dilute(table, (post - amount) / post)
        attributed = ZERO
        for investment in fact.investors:
            paid = Fraction(investment.amount)
            attributed += paid
            _give(table, investment.party, paid / post)
        _give(table, UNDISCLOSED, (amount - attributed) / post)

    def _acquire(self, fact: StakeAcquired) -> Shortfall | None:
        table = self._table(fact.company)
        wanted = Fraction(fact.fraction)
        if fact.seller is None:
            _dilute(table, ONE - wanted)
            _give(table, fact.holder, wanted)
            return None
        held = table.get(fact.seller, ZERO)
        moved = min(wanted, held)
        _take(table, fact.seller, moved)
        _give(table, fact.holder, moved)
        return Shortfall(fact.seller, fact.company, held, wanted, "sell") if wanted > held else None

    def _divest(self, fact: StakeDivested) -> Shortfall | None:
        table = self._table(fact.company)
        held = table.get(fact.holder, ZERO)
        shortfall = None
        if fact.fraction is not None:
            wanted = Fraction(fact.fraction)
            moved = min(wanted, held)
            if wanted > held:
                shortfall = Shortfall(fact.holder, fact.company, held, wanted, "divest")
        else:
            portion = Fraction(fact.portion or 0)
            moved = held * portion
            if held == 0 and portion > 0:
                shortfall = Shortfall(fact.holder, fact.company, held, None, "divest")
        _take(table, fact.holder, moved)
        _give(table, fact.buyer or UNDISCLOSED, moved)
        return shortfall


def _dilute(table: dict[str, Fraction], factor: Fraction) -> None:
    if factor == ONE:
        return
    for holder in list(table):
        share = table[holder] * factor
        if share:
            table[holder] = share
        else:
            del table[holder]


def _give(table: dict[str, Fraction], holder: str, share: Fraction) -> None:
    if share:
        table[holder] = table.get(holder, ZERO) + share


def _take(table: dict[str, Fraction], holder: str, share: Fraction) -> None:
    if not share:
        return
    left = table[holder] - share
    if left:
        table[holder] = left
    else:
        del table[holder]
