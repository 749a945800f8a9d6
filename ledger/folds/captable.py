"""Who owns what of each company, exactly: the ownership arithmetic every built-in view shares.

Holdings are exact share counts (``Fraction``) over an exact total, so a company's holders
always sum to exactly 1, however many rounds have diluted them. A sale of more than the
seller holds moves only what it holds, and is reported as a ``Shortfall``: the fold stays
consistent, and validation names the fact.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from events import Fact
from events.funding import RoundClosed, StakeAcquired, StakeDivested
from ledger.exact import Fraction, decimal_places
from ledger.folds.money import FRACTION_PLACES, shown
from ledger.folds.parts import PartedDict, pickled_by_fields
from ledger.records import Recorded

FOUNDERS = "founders"
UNDISCLOSED = "undisclosed"
OWNERSHIP_KINDS = frozenset({"round.closed", "stake.acquired", "stake.divested"})
"""The kinds that change who owns a company."""
OWNERSHIP_FACTS = (RoundClosed, StakeAcquired, StakeDivested)
"""Their fact classes: ``isinstance(fact, OWNERSHIP_FACTS)`` also tells a type checker the fact has a ``company``."""

ZERO = Fraction(0)
ONE = Fraction(1)
POOL_PREFIX = f"{UNDISCLOSED}:"


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
        held, wanted = told_apart(self.held, self.wanted)
        return f"{record.describe()}: {self.holder} holds {held} of {self.company}, cannot {self.verb} {wanted}"


MOST_PLACES = 1_000
"""Places beyond which ``told_apart`` gives a fraction as ``n/d``: no real holding is that close to what was asked."""


def told_apart(first: Fraction, second: Fraction) -> tuple[str, str]:
    """Two different fractions as text that shows them different: each exactly where its decimal ends within the places
    needed (what a fact asked for always does: it was written as a decimal), else rounded to as many places as tell
    them apart, from six up. "holds 0.333333333333 of acme, cannot divest 0.333333333333" said nothing."""
    places = FRACTION_PLACES
    while shown(first, places) == shown(second, places):
        if places >= MOST_PLACES:
            return f"{first.numerator}/{first.denominator}", f"{second.numerator}/{second.denominator}"
        places *= 2
    return _as_decimal(first, places), _as_decimal(second, places)


def _as_decimal(value: Fraction, places: int) -> str:
    ends = decimal_places(value.denominator)
    return shown(value, max(places, ends)) if ends is not None and ends <= MOST_PLACES else shown(value, places)


def is_pool(holder: str) -> bool:
    """A share count kept for a round's unattributed money whose participants were named without amounts."""
    return holder.startswith(POOL_PREFIX)


@pickled_by_fields
@dataclass(eq=False, slots=True)
class Table:
    """One company's holders as share counts plus their total, like a real cap table.

    Counting shares instead of fractions makes a round cost one update per investor rather
    than one per holder: issuing shares dilutes everyone else without touching them. A
    holder's fraction is its shares over the total, exact because both are ``Fraction``.

    The unattributed part of a round that names participants without amounts is counted apart,
    in a *pool* (``undisclosed:N``) that remembers those participants. Every answer shows a pool
    as ``undisclosed`` unless asked to split it equally among its participants, so the split is
    a way of reading the table, never a fact the ledger invents.
    """

    shares: dict[str, Fraction] = field(default_factory=lambda: {FOUNDERS: ONE})
    total: Fraction = ONE
    pools: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def __setstate__(self, state: tuple[None, dict[str, object]]) -> None:
        """Read a table saved before pools existed (a plugin's checkpoint of an older shape) as one without pools."""
        slots = state[1]
        for name, value in slots.items():
            object.__setattr__(self, name, value)
        if "pools" not in slots:
            object.__setattr__(self, "pools", {})

    def count(self, holder: str) -> Fraction:
        """The holder's shares; ``undisclosed`` includes every pool."""
        if holder == UNDISCLOSED and self.pools:
            return sum((n for h, n in self.shares.items() if h == UNDISCLOSED or is_pool(h)), ZERO)
        return self.shares.get(holder, ZERO)

    def fraction(self, holder: str, split: bool = False) -> Fraction:
        if not split or not self.pools:
            return self.count(holder) / self.total
        return self.fractions(split=True).get(holder, ZERO)

    def fractions(self, split: bool = False) -> dict[str, Fraction]:
        """Each holder's fraction; pools shown as ``undisclosed``, or divided equally among their participants."""
        total = self.total
        if not self.pools:
            return {holder: count / total for holder, count in self.shares.items()}
        counts: dict[str, Fraction] = {}
        for holder, count in self.shares.items():
            if is_pool(holder):
                participants = self.pools[holder] if split else (UNDISCLOSED,)
                each = count / len(participants)
                for participant in participants:
                    counts[participant] = counts.get(participant, ZERO) + each
            else:
                counts[holder] = counts.get(holder, ZERO) + count
        return {holder: count / total for holder, count in counts.items()}

    def holders(self) -> Collection[str]:
        """Who holds a positive stake, pools shown as ``undisclosed``."""
        if not self.pools:
            return self.shares.keys()
        return dict.fromkeys(UNDISCLOSED if is_pool(h) else h for h in self.shares).keys()

    def issue(self, holder: str, count: Fraction) -> None:
        if count:
            self.shares[holder] = self.shares.get(holder, ZERO) + count
            self.total += count

    def move(self, seller: str, buyer: str, count: Fraction) -> None:
        """Move ``count`` shares; ``undisclosed`` sells from its own shares and its pools pro rata."""
        if not count:
            return
        if seller == UNDISCLOSED and self.pools:
            held = self.count(UNDISCLOSED)
            for holder in [h for h in self.shares if h == UNDISCLOSED or is_pool(h)]:
                self._take(holder, self.shares[holder] * count / held)
        else:
            self._take(seller, count)
        self.shares[buyer] = self.shares.get(buyer, ZERO) + count

    def _take(self, seller: str, count: Fraction) -> None:
        left = self.shares[seller] - count
        if left:
            self.shares[seller] = left
        else:
            del self.shares[seller]


class CapTables:
    """Every company's cap table; a holder whose stake reaches 0 is removed from it.

    Its tables are kept in ``PartedDict``s, which a checkpoint saves in parts: a state that
    holds a ``CapTables`` must not keep a ``Table`` (or a holder's set of companies) anywhere
    else too, or the two would come back from a checkpoint as two (see ``ledger.folds.parts``).
    """

    def __init__(self) -> None:
        self.companies: dict[str, Table] = PartedDict()
        self.positions: dict[str, set[str]] = PartedDict()
        """The companies each holder has a stake in (founders only where a table exists), kept as facts fold."""
        self.participations: dict[str, set[str]] = PartedDict()
        """The companies in whose pools each undisclosed participant is named (a stake only when split)."""
        self.last_pool: str | None = None
        """The pool the last round applied opened, if any: the fold that keeps payments files them under it."""

    def __setstate__(self, state: dict[str, object]) -> None:
        """Read cap tables saved before undisclosed participants were kept (a plugin's older checkpoint)."""
        self.__dict__.update(state)
        self.__dict__.setdefault("participations", {})
        self.__dict__.setdefault("last_pool", None)

    def holders(self, company: str, split: bool = False) -> dict[str, Fraction]:
        """Each holder's fraction of the company; before any ownership fact, founders hold it all.

        ``split`` divides each pool of unattributed money equally among the round's participants
        named without an amount; otherwise it stays with ``undisclosed``.
        """
        table = self.companies.get(company)
        return table.fractions(split) if table is not None else {FOUNDERS: ONE}

    def stakeholders(self, company: str) -> Collection[str]:
        """Who holds a positive stake, without computing how much (cheap enough to ask for every fact)."""
        table = self.companies.get(company)
        return table.holders() if table is not None else (FOUNDERS,)

    def holdings(self, holder: str, split: bool = False) -> set[str]:
        """The companies in which ``holder`` holds a positive stake (those with an ownership fact)."""
        held = self.positions.get(holder, set())
        if not split:
            return held
        pooled = {c for c in self.participations.get(holder, ()) if self.held(holder, c, split=True) > 0}
        return held | pooled

    def held(self, holder: str, company: str, split: bool = False) -> Fraction:
        table = self.companies.get(company)
        if table is None:
            return ONE if holder == FOUNDERS else ZERO
        return table.fraction(holder, split)

    def apply(self, fact: Fact) -> Shortfall | None:
        """Change the tables for an ownership fact (other kinds are ignored)."""
        if not isinstance(fact, RoundClosed | StakeAcquired | StakeDivested):
            return None
        table = self.companies.get(fact.company)
        before = set(table.holders()) if table is not None else set()
        shortfall = None
        self.last_pool = None
        if isinstance(fact, RoundClosed):
            self._round(fact)
        elif isinstance(fact, StakeAcquired):
            shortfall = self._acquire(fact)
        else:
            shortfall = self._divest(fact)
        after = set(self.companies[fact.company].holders())
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
            if investment.amount is None:
                continue
            paid = Fraction(investment.amount)
            attributed += paid
            table.issue(investment.party, paid * per_unit)
        rest = (amount - attributed) * per_unit
        participants = fact.undisclosed_participants
        if rest and participants:
            pool = self.last_pool = f"{POOL_PREFIX}{len(table.pools) + 1}"
            table.pools[pool] = participants
            for participant in participants:
                self.participations.setdefault(participant, set()).add(fact.company)
            table.issue(pool, rest)
        else:
            table.issue(UNDISCLOSED, rest)

    def _acquire(self, fact: StakeAcquired) -> Shortfall | None:
        table = self._table(fact.company)
        wanted = Fraction(fact.fraction)
        if fact.seller is None:
            table.issue(fact.holder, wanted * table.total / (ONE - wanted))
            return None
        held = table.count(fact.seller)
        count = wanted * table.total
        table.move(fact.seller, fact.holder, min(count, held))
        return Shortfall(fact.seller, fact.company, held / table.total, wanted, "sell") if count > held else None

    def _divest(self, fact: StakeDivested) -> Shortfall | None:
        table = self._table(fact.company)
        held = table.count(fact.holder)
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
