"""One company's ownership facts as share movements: issued, transferred, cancelled.

OCF describes a cap table as transactions on securities, while the ledger folds facts into
share counts (``CapTables``). Rather than repeat that arithmetic, this module folds the
company's facts through ``CapTables`` itself and reads each fact's effect off the table,
before and after, so the export cannot drift from the ``ownership`` view. Counts are in the
ledger's own unit (founders start with 1); ``ledger.ocf.numeric`` scales them to whole shares.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from events.funding import RoundClosed, StakeAcquired, StakeDivested
from ledger.exact import Fraction
from ledger.folds.captable import FOUNDERS, ONE, OWNERSHIP_FACTS, UNDISCLOSED, ZERO, CapTables
from ledger.records import Recorded

COMMON = "common"
"""The class of founders' shares and of new shares taken outside a round; each round has a class of its own."""


@dataclass(frozen=True)
class Issued:
    """New shares for ``holder``; ``paid`` (in ``currency``) is None when the ledger records no price."""

    day: date
    record: Recorded | None
    """The fact that issued them; None for the founders' shares held before the ledger's first fact."""
    holder: str
    count: Fraction
    stock_class: str
    """``COMMON`` or the id of the round's fact."""
    paid: Decimal | None = None
    currency: str | None = None
    consideration: str | None = None


@dataclass(frozen=True)
class Moved:
    """Shares passed from ``seller`` to ``buyer``, for ``price`` when the fact gives one."""

    day: date
    record: Recorded
    seller: str
    buyer: str
    count: Fraction
    price: Decimal | None = None
    currency: str | None = None


@dataclass(frozen=True)
class Cancelled:
    """Every share of ``holder`` gone without payment: a round at a pre-money of 0 wipes out existing holders."""

    day: date
    record: Recorded
    holder: str
    count: Fraction


Movement = Issued | Moved | Cancelled


def ownership_records(story: Iterable[Recorded], company: str) -> list[Recorded]:
    """The facts that change who owns ``company``, in the story's (effective) order."""
    return [r for r in story if isinstance(r.fact, OWNERSHIP_FACTS) and r.fact.company == company]


def movements(records: Iterable[Recorded], company: str, founded: date) -> tuple[list[Movement], CapTables]:
    """The share movements of ``company``'s ownership facts, after the founders' shares dated ``founded``.

    Returns the fold as well, so callers can compare the movements' end state with the view's.
    """
    tables = CapTables()
    moves: list[Movement] = [Issued(founded, None, FOUNDERS, ONE, COMMON)]
    for record in records:
        before = _counts(tables, company)
        tables.apply(record.fact)
        after = _counts(tables, company)
        found = _effect(record, before, after)
        _check(record, before, after, found)
        moves.extend(found)
    return moves, tables


def _counts(tables: CapTables, company: str) -> dict[str, Fraction]:
    """Each holder's share count as the views show holders (a round's pool counted as ``undisclosed``)."""
    table = tables.companies.get(company)
    if table is None:
        return {FOUNDERS: ONE}
    return {holder: fraction * table.total for holder, fraction in table.fractions().items() if fraction}


def _effect(record: Recorded, before: dict[str, Fraction], after: dict[str, Fraction]) -> list[Movement]:
    fact = record.fact
    day = record.effective
    total_before, total_after = sum(before.values(), ZERO), sum(after.values(), ZERO)
    if isinstance(fact, RoundClosed):
        moves: list[Movement] = []
        wiped = fact.post == fact.amount
        if wiped:
            moves.extend(Cancelled(day, record, holder, count) for holder, count in before.items())
        per_unit = (total_after - (ZERO if wiped else total_before)) / Fraction(fact.amount)
        attributed = Decimal(0)
        for investment in fact.investors:
            if investment.amount is None:  # named without an amount: its money is in the unattributed rest
                continue
            attributed += investment.amount
            count = Fraction(investment.amount) * per_unit
            paid_in = investment.paid_in
            moves.append(Issued(day, record, investment.party, count, record.id, investment.amount, fact.currency, paid_in))
        if fact.amount > attributed:
            rest = fact.amount - attributed
            moves.append(Issued(day, record, UNDISCLOSED, Fraction(rest) * per_unit, record.id, rest, fact.currency, "cash"))
        return [m for m in moves if m.count]
    if isinstance(fact, StakeAcquired):
        if fact.seller is not None:
            return _moved(record, fact.seller, fact.holder, before, after, fact.price, fact.currency)
        count = total_after - total_before
        return [Issued(day, record, fact.holder, count, COMMON, fact.price, fact.currency, fact.consideration or "cash")]
    if isinstance(fact, StakeDivested):
        buyer = fact.buyer or UNDISCLOSED
        return _moved(record, fact.holder, buyer, before, after, fact.proceeds, fact.currency)
    return []


def _moved(
    record: Recorded,
    seller: str,
    buyer: str,
    before: dict[str, Fraction],
    after: dict[str, Fraction],
    price: Decimal | None,
    currency: str | None,
) -> list[Movement]:
    """What the fold took from the seller (never more than it held) went to the buyer."""
    count = before.get(seller, ZERO) - after.get(seller, ZERO)
    return [Moved(record.effective, record, seller, buyer, count, price, currency)] if count else []


def _check(record: Recorded, before: dict[str, Fraction], after: dict[str, Fraction], found: list[Movement]) -> None:
    """The movements must account for the fold's change exactly, holder by holder, or the export is wrong."""
    expected = {holder: count for holder, count in before.items()}
    for move in found:
        if isinstance(move, Issued):
            expected[move.holder] = expected.get(move.holder, ZERO) + move.count
        elif isinstance(move, Moved):
            expected[move.seller] -= move.count
            expected[move.buyer] = expected.get(move.buyer, ZERO) + move.count
        else:
            expected[move.holder] -= move.count
    if {h: c for h, c in expected.items() if c} != after:
        raise AssertionError(f"{record.describe()}: share movements do not match the cap table fold")
