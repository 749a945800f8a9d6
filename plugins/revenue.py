"""Cloud revenue from investment paid in credits or held in escrow (ASC 606 / IFRS 15), per period.

Nothing is revenue when credits are granted or money is deposited: a grant is a contract
liability (``deferred``) until the grantee consumes it (``recognized``) or it expires
(``breakage``); escrow becomes the provider's revenue only when released to it. The part
paid by companies the provider's own group holds a stake in is shown as ``from_investees``,
because that revenue is, in substance, the group's investment coming back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, NamedTuple

from events.cloud import CreditsConsumed, CreditsGranted, EscrowDeposited, EscrowReleased
from events.markets import FxRate
from events.parties import PartyRegistered
from ledger.folds.captable import OWNERSHIP_KINDS, CapTables
from ledger.folds.credits import Credits, Escrow, Grant
from ledger.folds.groups import Parties
from ledger.folds.money import Money, Number, Rates
from ledger.folds.periods import PERIODS, Period
from ledger.hookspecs import hookimpl
from ledger.options import choice, required
from ledger.problems import Problem
from ledger.records import Recorded
from ledger.views import Option, Query, Row, View


class Entry(NamedTuple):
    """One movement in a provider's books: ``granted``, ``consumed``, ``released`` or ``breakage``.

    ``group`` is the provider's group (its top parent) and ``payer_groups`` the groups holding
    a stake in the payer, both as they stood when the amount moved: the entry is from an
    investee when the two meet.
    """

    day: date
    kind: str
    amount: Decimal
    currency: str
    group: str = ""
    payer_groups: frozenset[str] = frozenset()

    @property
    def from_investee(self) -> bool:
        return self.group in self.payer_groups


@dataclass
class RevenueBook:
    """The fold behind ``revenue`` (every provider at once), and behind the credit and escrow checks.

    It keeps every grant and escrow account (consumption and releases must be checked against
    all of them), and, when ``books`` is set, every provider's entries with what tells an
    investee: cap tables and parent links as they stood when each amount was recognised.
    """

    books: bool = True
    credits: Credits = field(default_factory=Credits)
    escrow: Escrow = field(default_factory=Escrow)
    tables: CapTables = field(default_factory=CapTables)
    parties: Parties = field(default_factory=Parties)
    rates: Rates = field(default_factory=Rates)
    entries: dict[str, list[Entry]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    last_day: date | None = None

    def apply(self, record: Recorded) -> None:
        fact = record.fact
        if self.last_day is None or fact.effective > self.last_day:
            for grant, left in self.credits.expire_before(fact.effective):
                self._broken(grant, left)
            self.last_day = fact.effective
        if isinstance(fact, CreditsGranted):
            self.credits.grant(fact, record.id)
            self._book(fact.grantor, Entry(fact.effective, "granted", fact.amount, fact.currency))
        elif isinstance(fact, CreditsConsumed):
            self._consumed(record, fact)
        elif isinstance(fact, EscrowDeposited):
            self.escrow.deposit(fact)
        elif isinstance(fact, EscrowReleased):
            self._released(record, fact)
        elif not self.books:
            return
        elif fact.kind in OWNERSHIP_KINDS:
            self.tables.apply(fact)
        elif isinstance(fact, PartyRegistered):
            self.parties.add(fact)
        elif isinstance(fact, FxRate):
            self.rates.add(fact)

    def _book(self, provider: str, entry: Entry) -> None:
        if self.books:
            self.entries.setdefault(provider, []).append(entry)

    def _consumed(self, record: Recorded, fact: CreditsConsumed) -> None:
        drawn, missing = self.credits.consume(fact)
        if missing:
            had = fact.amount - missing
            self.problems.append(
                Problem(
                    f"{record.describe()}: {fact.grantee} has {had} {fact.currency} of {fact.grantor} credits outstanding, "
                    f"cannot consume {fact.amount}",
                    (record.id,),
                )
            )
        if drawn and self.books:
            used = fact.amount - missing
            self._book(fact.grantor, self._paid(fact.effective, "consumed", used, fact.currency, fact.grantor, fact.grantee))

    def _released(self, record: Recorded, fact: EscrowReleased) -> None:
        account, paid, missing = self.escrow.release(fact)
        if missing:
            self.problems.append(
                Problem(
                    f"{record.describe()}: escrow account {fact.account!r} holds {paid} {fact.currency}, "
                    f"cannot release {fact.amount}",
                    (record.id,),
                )
            )
        if paid and self.books:
            self._book(fact.to, self._paid(fact.effective, "released", paid, fact.currency, fact.to, account.beneficiary))

    def _broken(self, grant: Grant, left: Decimal) -> None:
        if grant.expires is not None:
            self._book(grant.grantor, Entry(grant.expires, "breakage", left, grant.currency))

    def _paid(self, day: date, kind: str, amount: Decimal, currency: str, provider: str, payer: str | None) -> Entry:
        """Revenue paid by ``payer``, with the groups that held a stake in it then (everyone under a top parent)."""
        holders = frozenset(self.parties.root(holder) for holder in self.tables.stakeholders(payer)) if payer else frozenset()
        return Entry(day, kind, amount, currency, self.parties.root(provider), holders)

    def horizon(self, provider: str) -> date:
        """The last date the facts speak of: the last fact's, or a later expiry of one of the provider's grants."""
        assert self.last_day is not None
        expiries = [
            grant.expires
            for grant in self.credits.grants
            if grant.grantor == provider and grant.expires is not None and grant.outstanding
        ]
        return max([self.last_day, *expiries])

    def breakage_through(self, provider: str, day: date) -> list[Entry]:
        """The provider's breakage of grants expiring from the last fact's date to ``day`` (not yet folded)."""
        return [
            Entry(grant.expires, "breakage", left, grant.currency)
            for grant, left in self.credits.due_through(day)
            if grant.grantor == provider and grant.expires is not None
        ]


RECOGNIZED, BREAKAGE, FROM_INVESTEES = range(3)
LIABILITY = {"granted": 1, "consumed": -1, "breakage": -1}
"""How each kind of entry moves the contract liability (deferred revenue); a release never does."""


class Flows:
    """One output currency's totals per period: recognized, breakage, from_investees (deferred is a balance)."""

    def __init__(self, money: Money) -> None:
        self.money = money
        self.periods: dict[Period, list[Number]] = {}

    def at(self, period: Period) -> list[Number]:
        sums = self.periods.get(period)
        if sums is None:
            sums = self.periods[period] = [self.money.zero()] * 3
        return sums


class RevenueView(View[RevenueBook]):
    """A provider's revenue per period: recognised, breakage, deferred, and how much came from its own investees."""

    name = "revenue"
    state_version = "2"  # cap tables keep each holder's companies
    help = (
        "Revenue a cloud provider recognises from credits consumed and escrow released to it, breakage of expired "
        "credits, credits still deferred at period end, and the part paid by companies its group holds stakes in. "
        "Example: dealledger view revenue --provider alibaba-cloud --period quarter --as-of 2024-09-30"
    )
    columns = ("period", "recognized", "breakage", "deferred", "from_investees", "currency")
    options = (
        Option("provider", "the cloud provider", kind="party", required=True, replay_over=("cloud",)),
        Option("period", "length of each row's period", kind="choice", choices=PERIODS, default="quarter"),
        Option("currency", "convert every amount into this currency (ISO 4217)", kind="currency"),
    )

    def initial(self, query: Query) -> RevenueBook:
        return RevenueBook()

    def apply(self, state: RevenueBook, record: Recorded) -> RevenueBook:
        state.apply(record)
        return state

    def rows(self, state: RevenueBook, query: Query) -> list[Row]:
        provider = required(query, "provider", self.name)
        length = choice(query, "period", PERIODS, "quarter")
        if state.last_day is None:
            return []
        # Without --as-of the view runs to the last date the facts speak of: the last fact, or a
        # later expiry of the provider's open grants (its breakage is known already). With --as-of
        # it runs to that date, quiet periods included: a year-end shows its deferred balance.
        through = query.as_of or state.horizon(provider)
        money = Money(state.rates, query.get("currency"))
        flows: dict[str, Flows] = {}
        changes: dict[str, dict[Period, Decimal]] = {}
        for entry in [*state.entries.get(provider, ()), *state.breakage_through(provider, through)]:
            period = Period.of(entry.day, length)
            sums = flows.setdefault(money.currency(entry.currency), Flows(money)).at(period)
            if entry.kind in LIABILITY:
                native = changes.setdefault(entry.currency, {})
                native[period] = native.get(period, Decimal(0)) + LIABILITY[entry.kind] * entry.amount
            if entry.kind == "granted":
                continue
            value = money.value(entry.amount, entry.currency, entry.day)
            if entry.kind == "breakage":
                sums[BREAKAGE] += value
            else:
                sums[RECOGNIZED] += value
                if entry.from_investee:
                    sums[FROM_INVESTEES] += value
        last = Period.of(through, length)
        rows: list[tuple[Period, str, Row]] = []
        for currency, book in flows.items():
            sources = [source for source in changes if money.currency(source) == currency]
            balances = dict.fromkeys(sources, Decimal(0))
            for period in min(book.periods).span(last):
                recognized, breakage, from_investees = book.at(period)
                at = min(period.last_day, through)
                deferred: Number = money.zero()
                for source in sources:
                    balances[source] += changes[source].get(period, Decimal(0))
                    if balances[source]:
                        deferred += money.value(balances[source], source, at)
                row = {
                    "period": period.label,
                    "recognized": money.out(recognized),
                    "breakage": money.out(breakage),
                    "deferred": money.out(deferred),
                    "from_investees": money.out(from_investees),
                    "currency": currency,
                }
                rows.append((period, currency, row))
        rows.sort(key=lambda item: (item[0], item[1]))
        return [row for _, _, row in rows]


@hookimpl
def dealledger_views() -> list[View[Any]]:
    return [RevenueView()]


ACCOUNT_KINDS = frozenset({"credits.granted", "credits.consumed", "escrow.deposited", "escrow.released"})
"""The kinds that move credits or escrow: the only ones validation needs to fold."""


@hookimpl
def dealledger_validate(story: Sequence[Recorded], new: Sequence[Recorded]) -> list[Problem]:
    """Credits consumed beyond what the grantee has outstanding, escrow released beyond what the account holds."""
    if not any(record.kind in ACCOUNT_KINDS or record.kind in ("fact.corrected", "fact.retracted") for record in new):
        return []
    book = RevenueBook(books=False)
    for record in story:
        if record.kind in ACCOUNT_KINDS:
            book.apply(record)
    return book.problems


@hookimpl
def dealledger_check(story: Sequence[Recorded]) -> list[Problem]:
    """The validation problems, plus conservation of every grant and escrow account."""
    book = RevenueBook(books=False)
    for record in story:
        book.apply(record)
    problems = list(book.problems)
    for (grantor, grantee, currency), message in book.credits.conservation():
        problems.append(Problem(f"credits of {grantor} to {grantee} in {currency}: {message}"))
    for (account, currency), message in book.escrow.conservation():
        problems.append(Problem(f"escrow account {account!r} in {currency}: {message}"))
    return problems
