"""Who owns what of each company, exactly: the ownership arithmetic every built-in view shares.

Holdings are exact share counts (``Fraction``) over an exact total, so a company's holders
always sum to exactly 1, however many rounds have diluted them. A sale of more than the
seller holds moves only what it holds, and is reported as a ``Shortfall``: the fold stays
consistent, and validation names the fact.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from events import Fact
from events.funding import RoundClosed, StakeAcquired, StakeDivested
from ledger.exact import Fraction
from ledger.folds.money import shown
from ledger.records import Recorded

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
        held, wanted = shown(self.held), shown(self.wanted)
        if held == wanted:  # the difference is below six places: show enough to see it
            held, wanted = shown(self.held, 12), shown(self.wanted, 12)
        return f"{record.describe()}: {self.holder} holds {held} of {self.company}, cannot {self.verb} {wanted}"


@dataclass(eq=False, slots=True)
class Table:
    """One company's holders as share counts plus their total, like a real cap table.

    Counting shares instead of fractions makes a round cost one update per investor rather
    than one per holder: issuing shares dilutes everyone else without touching them. A
    holder's fraction is its shares over the total, exact because both are ``Fraction``.
    """

    shares: dict[str, Fraction] = field(default_factory=lambda: {FOUNDERS: ONE})
    total: Fraction = ONE

    def fraction(self, holder: str) -> Fraction:
        return self.shares.get(holder, ZERO) / self.total

    def fractions(self) -> dict[str, Fraction]:
        total = self.total
        return {holder: count / total for holder, count in self.shares.items()}

    def issue(self, holder: str, count: Fraction) -> None:
        if count:
            self.shares[holder] = self.shares.get(holder, ZERO) + count
            self.total += count

    def move(self, seller: str, buyer: str, count: Fraction) -> None:
        if not count:
            return
        left = self.shares[seller] - count
        if left:
            self.shares[seller] = left
        else:
            del self.shares[seller]
        self.shares[buyer] = self.shares.get(buyer, ZERO) + count


class CapTables:
    """Every company's cap table; a holder whose stake reaches 0 is removed from it."""

    def __init__(self) -> None:
        self.companies: dict[str, Table] = {}
        self.positions: dict[str, set[str]] = {}
        """The companies each holder has a stake in (founders only where a table exists), kept as facts fold."""

    def holders(self, company: str) -> dict[str, Fraction]:
        """Each holder's fraction of the company; before any ownership fact, founders hold it all."""
        table = self.companies.get(company)
        return table.fractions() if table is not None else {FOUNDERS: ONE}

    def stakeholders(self, company: str) -> Iterable[str]:
        """Who holds a positive stake, without computing how much (cheap enough to ask for every fact)."""
        table = self.companies.get(company)
        return table.shares.keys() if table is not None else (FOUNDERS,)

    def holdings(self, holder: str) -> set[str]:
        """The companies in which ``holder`` holds a positive stake (those with an ownership fact)."""
        return self.positions.get(holder, set())

    def held(self, holder: str, company: str) -> Fraction:
        table = self.companies.get(company)
        if table is None:
            return ONE if holder == FOUNDERS else ZERO
        return table.fraction(holder)

    def apply(self, fact: Fact) -> Shortfall | None:
        """Change the tables for an ownership fact (other kinds are ignored)."""
        if not isinstance(fact, RoundClosed | StakeAcquired | StakeDivested):
            return None
        table = self.companies.get(fact.company)
        before = set(table.shares) if table is not None else set()
        shortfall = None
        if isinstance(fact, RoundClosed):
            self._round(fact)
        elif isinstance(fact, StakeAcquired):
            shortfall = self._acquire(fact)
        else:
            shortfall = self._divest(fact)
        after = self.companies[fact.company].shares.keys()
        for holder in after - before:
            self.positions.setdefault(holder, set()).add(fact.company)
        for holder in before - after:
            self.positions[holder].discard(fact.company)
        return shortfall

    def _table(self, company: str) -> Table:
        table = self.companies.get(company)
        if table is None:
            table = self.companies[company] = Table()
        return table

    def _round(self, fact: RoundClosed) -> None:
        """New shares for ``amount`` at ``post``: investors get amount/post, everyone else keeps (post-amount)/post.

        With T shares before, the round issues amount x T/(post - amount) shares, so the new
        total is T x post/(post - amount) and each investor's amount/post of it is its own
        amount x T/(post - amount). At a pre-money of 0 the old holders are wiped out.
        """
        table = self._table(fact.company)
        post = Fraction(fact.post)
        amount = Fraction(fact.amount)
        if post == amount:
            table.shares.clear()
            table.total = ZERO
            per_unit = 1 / post
        else:
            per_unit = table.total / (post - amount)
        attributed = ZERO
        for investment in fact.investors:
            paid = Fraction(investment.amount)
            attributed += paid
            table.issue(investment.party, paid * per_unit)
        table.issue(UNDISCLOSED, (amount - attributed) * per_unit)

    def _acquire(self, fact: StakeAcquired) -> Shortfall | None:
        table = self._table(fact.company)
        wanted = Fraction(fact.fraction)
        if fact.seller is None:
            table.issue(fact.holder, wanted * table.total / (ONE - wanted))
            return None
        held = table.shares.get(fact.seller, ZERO)
        count = wanted * table.total
        table.move(fact.seller, fact.holder, min(count, held))
        return Shortfall(fact.seller, fact.company, held / table.total, wanted, "sell") if count > held else None

    def _divest(self, fact: StakeDivested) -> Shortfall | None:
        table = self._table(fact.company)
        held = table.shares.get(fact.holder, ZERO)
        shortfall = None
        if fact.fraction is not None:
            wanted = Fraction(fact.fraction)
            count = wanted * table.total
            if count > held:
                shortfall = Shortfall(fact.holder, fact.company, held / table.total, wanted, "divest")
                count = held
        else:
            portion = Fraction(fact.portion or 0)
            count = held * portion
            if held == 0 and portion > 0:
                shortfall = Shortfall(fact.holder, fact.company, ZERO, None, "divest")
        table.move(fact.holder, fact.buyer or UNDISCLOSED, count)
        return shortfall
