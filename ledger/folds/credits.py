"""Contract balances: cloud credits (granted, consumed first-in first-out, broken at expiry) and escrow accounts.

Both keep exact ``Decimal`` balances. Asking for more than is there takes only what is there
and reports the shortfall, so the fold stays consistent and validation can name the fact.
Credits can be used up to and including their ``expires`` date; what is left becomes
breakage dated ``expires``, applied before any fact of a later date.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field, fields
from datetime import date
from decimal import Decimal
from operator import attrgetter
from typing import Any

from events.cloud import CreditsConsumed, CreditsGranted, EscrowDeposited, EscrowReleased
from events.codecs import shared_text
from ledger.folds.money import shown
from ledger.folds.parts import PartedDict, ValueLog, pickled_by_fields

ZERO = Decimal(0)

Pool = tuple[str, str, str]
"""(grantor, grantee, currency): consumption draws only on grants with the same three."""


@dataclass(eq=False, slots=True)
class Grant:
    """One ``credits.granted`` fact and what has become of it."""

    fact_id: str
    grantor: str
    grantee: str
    currency: str
    effective: date
    expires: date | None
    amount: Decimal
    consumed: Decimal = ZERO
    expired: Decimal = ZERO

    @property
    def outstanding(self) -> Decimal:
        return self.amount - self.consumed - self.expired


_ROW = attrgetter(*(item.name for item in fields(Grant)))
"""A grant's fields as a tuple, in ``Grant``'s order: how a checkpoint keeps it."""


@dataclass(slots=True)
class Pooled:
    """Running totals of one pool, kept apart from the grants so ``check`` can compare the two."""

    granted: Decimal = ZERO
    consumed: Decimal = ZERO
    expired: Decimal = ZERO


@dataclass
class Credits:
    """Every grant, by pool; consumption draws on the oldest grant first."""

    grants: list[Grant] = field(default_factory=list)
    totals: dict[Pool, Pooled] = field(default_factory=dict)
    _open: dict[Pool, list[Grant]] = field(default_factory=dict)
    """The grants of each pool with credits left, oldest first; a pool whose grants are used up is dropped. Lists, not
    deques: a million-fact ledger has some 28,000 pools of two grants each, and a deque holds a block of 64 (36 MiB
    for them, measured, against about 4 as lists)."""
    _expiring: list[tuple[date, int, Grant]] = field(default_factory=list)

    def __getstate__(self) -> dict[str, Any]:
        """Saved in parts (``ledger.folds.parts``): each grant as a row of its fields, the open pools and the expiry
        queue as numbers of those rows. The grants are shared by all three, so saved as objects they had to be
        pickled in one piece, with every one remembered until the end: about 10 MiB above the state per 100k
        facts (measured), where the rest of the revenue book's state took a few."""
        number = {id(grant): index for index, grant in enumerate(self.grants)}
        return {
            "rows": ValueLog(map(_ROW, self.grants)),
            "totals": PartedDict((pool, (sums.granted, sums.consumed, sums.expired)) for pool, sums in self.totals.items()),
            "open": PartedDict((pool, [number[id(grant)] for grant in grants]) for pool, grants in self._open.items()),
            "expiring": ValueLog((day, order, number[id(grant)]) for day, order, grant in self._expiring),
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        if "rows" not in state:  # saved whole, as before (a plugin's state that holds credits keeps its checkpoints)
            self.__dict__.update(state)
            return
        share = shared_text  # each part of the rows brings its own copies of the slugs and codes it names
        grants = [
            Grant(fact_id, share(grantor), share(grantee), share(currency), *rest)
            for fact_id, grantor, grantee, currency, *rest in state["rows"]
        ]
        self.grants = grants
        self.totals = {pool: Pooled(*sums) for pool, sums in state["totals"].items()}
        self._open = {pool: [grants[index] for index in numbers] for pool, numbers in state["open"].items()}
        self._expiring = [(day, order, grants[index]) for day, order, index in state["expiring"]]

    def grant(self, fact: CreditsGranted, fact_id: str) -> Grant:
        grant = Grant(fact_id, fact.grantor, fact.grantee, fact.currency, fact.effective, fact.expires, fact.amount)
        pool = (fact.grantor, fact.grantee, fact.currency)
        self.grants.append(grant)
        self._open.setdefault(pool, []).append(grant)
        self.totals.setdefault(pool, Pooled()).granted += fact.amount
        if fact.expires is not None:
            heapq.heappush(self._expiring, (fact.expires, len(self.grants), grant))
        return grant

    def outstanding(self, pool: Pool) -> Decimal:
        return sum((grant.outstanding for grant in self._open.get(pool, ())), ZERO)

    def consume(self, fact: CreditsConsumed) -> tuple[list[tuple[Grant, Decimal]], Decimal]:
        """Draw ``amount`` from the pool's grants, oldest first: (grant, amount drawn) pairs and what was missing."""
        pool = (fact.grantor, fact.grantee, fact.currency)
        grants = self._open.get(pool, [])
        wanted = fact.amount
        drawn: list[tuple[Grant, Decimal]] = []
        used_up = 0
        for grant in grants:
            if not wanted:
                break
            take = min(wanted, grant.outstanding)
            if take:
                grant.consumed += take
                wanted -= take
                drawn.append((grant, take))
            if grant.outstanding:
                break
            used_up += 1
        if used_up:
            del grants[:used_up]  # once per fact, however many grants it used up
            if not grants:
                del self._open[pool]
        if drawn:
            self.totals[pool].consumed += fact.amount - wanted
        return drawn, wanted

    def expire_before(self, day: date) -> list[tuple[Grant, Decimal]]:
        """Break what is left of every grant that expired before ``day``: (grant, breakage) pairs."""
        broken: list[tuple[Grant, Decimal]] = []
        while self._expiring and self._expiring[0][0] < day:
            _, _, grant = heapq.heappop(self._expiring)
            left = grant.outstanding
            if left:
                grant.expired += left
                self.totals[(grant.grantor, grant.grantee, grant.currency)].expired += left
                broken.append((grant, left))
        return broken

    def due_through(self, day: date) -> list[tuple[Grant, Decimal]]:
        """What ``expire_before`` would break for grants expiring on or before ``day``, without breaking it."""
        due = sorted(item for item in self._expiring if item[0] <= day)
        return [(grant, grant.outstanding) for _, _, grant in due if grant.outstanding]

    def conservation(self) -> list[tuple[Pool, str]]:
        """Pools whose grants do not add up: consumed + expired + outstanding = granted, none negative."""
        found: dict[Pool, Pooled] = {}
        broken: list[tuple[Pool, str]] = []
        for grant in self.grants:
            pool = (grant.grantor, grant.grantee, grant.currency)
            sums = found.setdefault(pool, Pooled())
            sums.granted += grant.amount
            sums.consumed += grant.consumed
            sums.expired += grant.expired
            if min(grant.consumed, grant.expired, grant.outstanding) < 0:
                broken.append((pool, f"grant {grant.fact_id} has a negative balance"))
        for pool, sums in found.items():
            if sums != self.totals.get(pool):
                broken.append((pool, f"grants add up to {sums}, running totals say {self.totals.get(pool)}"))
        return broken


@pickled_by_fields
@dataclass(eq=False, slots=True)
class Account:
    """One escrow account in one currency; its payer is the beneficiary of the latest deposit."""

    name: str
    currency: str
    beneficiary: str | None = None
    deposited: Decimal = ZERO
    released: Decimal = ZERO

    @property
    def held(self) -> Decimal:
        return self.deposited - self.released


@dataclass
class Escrow:
    """Escrow accounts by (label, currency).

    The accounts are kept in a ``PartedDict`` (saved in parts): ``deposit`` and ``release`` hand back the
    account they changed for the caller to read, and a state must not keep it anywhere else, or a checkpoint
    would bring it back as two accounts (see ``ledger.folds.parts``)."""

    accounts: dict[tuple[str, str], Account] = field(default_factory=PartedDict)
    """Each account belongs to its key alone (nothing else holds it): a checkpoint saves them in parts."""

    def _account(self, name: str, currency: str) -> Account:
        account = self.accounts.get((name, currency))
        if account is None:
            account = self.accounts[(name, currency)] = Account(name, currency)
        return account

    def deposit(self, fact: EscrowDeposited) -> Account:
        account = self._account(fact.account, fact.currency)
        account.deposited += fact.amount
        account.beneficiary = fact.beneficiary
        return account

    def release(self, fact: EscrowReleased) -> tuple[Account, Decimal, Decimal]:
        """Pay out at most what is held: (account, amount paid, amount missing)."""
        account = self._account(fact.account, fact.currency)
        paid = min(fact.amount, max(account.held, ZERO))
        account.released += paid
        return account, paid, fact.amount - paid

    def conservation(self) -> list[tuple[tuple[str, str], str]]:
        """Accounts where released + held = deposited fails to hold with every term non-negative."""
        return [
            (key, f"deposited {shown(account.deposited)}, released {shown(account.released)}, held {shown(account.held)}")
            for key, account in self.accounts.items()
            if min(account.deposited, account.released, account.held) < 0
        ]
