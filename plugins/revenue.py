"""Cloud revenue from investment paid in credits or held in escrow (ASC 606 / IFRS 15), per period.

Nothing is revenue when credits are granted or money is deposited: a grant is a contract
liability (``deferred``) until the grantee consumes it (``recognized``) or it expires
(``breakage``); escrow becomes the provider's revenue only when released to it, and what the
provider's group still holds in escrow is shown beside the revenue (``escrow_held``). The part
paid by companies the provider's own group holds a stake in is shown as ``from_investees``,
because that revenue is, in substance, the group's investment coming back.

Translated into another currency (``--currency``), the contract liability stays at the rate of
the day the credits were granted (ASC 830 / IFRIC 22: the date of the advance consideration),
revenue is translated at the rate of the day it is recognised, and the difference between the
two is its own column, ``fx_difference``, so that deferred + recognized + breakage +
fx_difference always adds up to the consideration at the rates of its own dates.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

from events import Fact
from events.cloud import CreditsConsumed, CreditsGranted, EscrowDeposited, EscrowReleased, SpendCommitted
from events.funding import RoundClosed, StakeAcquired, StakeDivested
from events.markets import FxRate
from events.parties import PartyRegistered
from ledger.errors import OptionError
from ledger.exact import Fraction
from ledger.folds.captable import FOUNDERS, OWNERSHIP_FACTS, OWNERSHIP_KINDS, UNDISCLOSED, CapTables
from ledger.folds.credits import Credits, Escrow, Grant
from ledger.folds.groups import Parties
from ledger.folds.money import Money, Number, Rates, shown
from ledger.folds.packed import AMOUNT, DAY, WORD, PackedLog, packed
from ledger.folds.parts import PartedDict
from ledger.folds.periods import PERIODS, Period
from ledger.hookspecs import hookimpl
from ledger.options import choice, required
from ledger.problems import Problem
from ledger.records import Recorded
from ledger.views import Option, Query, Row, View

NO_STAKE = Fraction(0)


class Entry(NamedTuple):
    """One movement in a provider's books: ``granted``, ``consumed``, ``released`` or ``breakage``.

    ``payer`` is the company the amount comes from (the grantee of credits, the beneficiary of
    an escrow account); ``group`` is the provider's group (its top parent) and ``stake`` the
    part of the payer that group held, both as they stood when the amount moved: the entry is
    from an investee when that stake is above the view's threshold. ``origin`` is the day the
    consideration was received (the grant's date for consumption and breakage), whose rate
    the contract liability keeps.
    """

    day: date
    kind: str
    amount: Decimal
    currency: str
    payer: str | None = None
    group: str = ""
    stake: Fraction = NO_STAKE
    origin: date | None = None

    @property
    def received(self) -> date:
        """The day the consideration behind this amount was received: the rate its liability is kept at."""
        return self.origin or self.day


class EntryLog(
    PackedLog[Entry],
    record=Entry,
    day=DAY,
    kind=WORD,
    amount=AMOUNT,
    currency=WORD,
    payer=WORD,
    group=WORD,
    stake=WORD,
    origin=DAY,
):
    """A provider's entries, packed (``ledger.folds.packed``): the revenue book's largest part."""


class EscrowMove(NamedTuple):
    """Money into (``deposited``) or out of (``released``) an escrow account, or its balance handed on
    to a new beneficiary (``reassigned-out`` of the old one, ``reassigned-in`` to the new one).

    ``beneficiary`` is the company the money is held for. Which groups an account belongs to (every
    group that has paid into it) is kept beside the moves, in ``RevenueBook.accounts_of``.
    """

    day: date
    kind: str
    account: str
    currency: str
    amount: Decimal
    beneficiary: str | None
    to: str | None = None

    @property
    def change(self) -> Decimal:
        """How the move changes what is held for ``beneficiary``."""
        return -self.amount if self.kind in ("released", "reassigned-out") else self.amount


class EscrowMoveLog(
    PackedLog[EscrowMove],
    record=EscrowMove,
    day=DAY,
    kind=WORD,
    account=WORD,
    currency=WORD,
    amount=AMOUNT,
    beneficiary=WORD,
    to=WORD,
):
    """An escrow account's movements, packed."""


class Invested(NamedTuple):
    """One investor's money into a company (a round's part, or a stake bought); ``amount`` None when undisclosed.

    Kept under the investor's group as it stood that day (``RevenueBook.investments``)."""

    day: date
    company: str
    consideration: str
    amount: Decimal | None
    currency: str | None


class InvestedLog(PackedLog[Invested], record=Invested, day=DAY, company=WORD, consideration=WORD, amount=AMOUNT, currency=WORD):
    """A group's investments, packed."""


class Committed(NamedTuple):
    """A company's commitment to spend with a provider, kept under the provider's group as it stood that day."""

    day: date
    company: str
    amount: Decimal
    currency: str


class CommittedLog(PackedLog[Committed], record=Committed, day=DAY, company=WORD, amount=AMOUNT, currency=WORD):
    """A provider group's commitments, packed."""


BOOK_KINDS = frozenset(
    {
        CreditsGranted.kind,
        CreditsConsumed.kind,
        EscrowDeposited.kind,
        EscrowReleased.kind,
        SpendCommitted.kind,
        PartyRegistered.kind,
        FxRate.kind,
        *OWNERSHIP_KINDS,
    }
)
"""The kinds the revenue book folds. Any later fact only moves the date the story reached (grants expire by it,
and without ``--as-of`` the rows run to it): that comes through ``reach``."""


@dataclass
class RevenueBook:
    """The fold behind ``revenue`` and ``roundtrip`` (every provider at once), and behind the credit and escrow checks.

    It keeps every grant and escrow account (consumption and releases must be checked against
    all of them), and, when ``books`` is set, every provider's entries and every escrow
    movement with what tells an investee: cap tables and parent links as they stood when each
    amount moved.
    """

    books: bool = True
    credits: Credits = field(default_factory=Credits)
    escrow: Escrow = field(default_factory=Escrow)
    tables: CapTables = field(default_factory=CapTables)
    parties: Parties = field(default_factory=Parties)
    rates: Rates = field(default_factory=Rates)
    entries: dict[str, EntryLog] = field(default_factory=PartedDict)
    escrow_moves: dict[tuple[str, str], EscrowMoveLog] = field(default_factory=PartedDict)
    """Every movement by escrow account (label, currency): a provider's rows read only its group's accounts."""
    accounts_of: dict[str, set[tuple[str, str]]] = field(default_factory=PartedDict)
    """The escrow accounts each group (as it stood at the deposit) has paid into."""
    investments: dict[str, InvestedLog] = field(default_factory=PartedDict)
    """Money into companies by the investor's group as it stood: what ``roundtrip`` sets beside the revenue."""
    commitments: dict[str, CommittedLog] = field(default_factory=PartedDict)
    problems: list[Problem] = field(default_factory=list)
    last_day: date | None = None
    stakes: dict[str, dict[str, Fraction]] = field(default_factory=PartedDict)
    """``stake`` answers by company and group, until the company's table or a parent link changes."""

    def apply(self, record: Recorded) -> None:
        fact = record.fact
        self.reach(fact.effective)
        if isinstance(fact, CreditsGranted):
            self.credits.grant(fact, record.id)
            self._book(fact.grantor, Entry(fact.effective, "granted", fact.amount, fact.currency, fact.grantee))
        elif isinstance(fact, CreditsConsumed):
            self._consumed(record, fact)
        elif isinstance(fact, EscrowDeposited):
            self._deposited(fact)
        elif isinstance(fact, EscrowReleased):
            self._released(record, fact)
        elif not self.books:
            return
        elif isinstance(fact, OWNERSHIP_FACTS):
            self.tables.apply(fact)
            self.stakes.pop(fact.company, None)
            self._invested(fact)
        elif isinstance(fact, SpendCommitted):
            group = self.parties.root(fact.provider)
            commitment = Committed(fact.effective, fact.customer, fact.amount, fact.currency)
            packed(self.commitments, group, CommittedLog).append(commitment)
        elif isinstance(fact, PartyRegistered):
            if self.parties.add(fact):
                self.stakes.clear()
        elif isinstance(fact, FxRate):
            self.rates.add(fact)

    def reach(self, day: date) -> None:
        """The story has gone on to ``day``: the grants that expired before it are broken (their breakage booked)."""
        if self.last_day is None or day > self.last_day:
            for grant, left in self.credits.expire_before(day):
                self._broken(grant, left)
            self.last_day = day

    def _invested(self, fact: Fact) -> None:
        root = self.parties.root
        if isinstance(fact, RoundClosed):
            for investment in fact.investors:
                amount: Decimal | None = investment.amount
                group = root(investment.party)
                made = Invested(fact.effective, fact.company, investment.paid_in, amount, fact.currency)
                packed(self.investments, group, InvestedLog).append(made)
        elif isinstance(fact, StakeAcquired):
            paid_in = fact.consideration or "cash"
            group = root(fact.holder)
            made = Invested(fact.effective, fact.company, paid_in, fact.price, fact.currency)
            packed(self.investments, group, InvestedLog).append(made)
        elif isinstance(fact, StakeDivested) and fact.buyer is not None and fact.buyer not in (UNDISCLOSED, FOUNDERS):
            # a sale to a named buyer is the buyer's purchase, at what the seller received
            made = Invested(fact.effective, fact.company, "cash", fact.proceeds, fact.currency)
            packed(self.investments, root(fact.buyer), InvestedLog).append(made)

    def _book(self, provider: str, entry: Entry) -> None:
        if self.books:
            packed(self.entries, provider, EntryLog).append(entry)

    def _consumed(self, record: Recorded, fact: CreditsConsumed) -> None:
        drawn, missing = self.credits.consume(fact)
        if missing:
            had = fact.amount - missing
            self.problems.append(
                Problem(
                    f"{record.describe()}: {fact.grantee} has {shown(had)} {fact.currency} of {fact.grantor} credits "
                    f"outstanding, cannot consume {shown(fact.amount)}",
                    (record.id,),
                )
            )
        if self.books:
            # One entry per grant drawn on: each keeps the rate of its own grant's date.
            for grant, taken in drawn:
                entry = self._paid(fact.effective, "consumed", taken, fact.currency, fact.grantor, fact.grantee)
                self._book(fact.grantor, entry._replace(origin=grant.effective))

    def _deposited(self, fact: EscrowDeposited) -> None:
        before = self.escrow.accounts.get((fact.account, fact.currency))
        previous, held = (before.beneficiary, before.held) if before is not None else (None, Decimal(0))
        self.escrow.deposit(fact)
        if not self.books:
            return
        account = (fact.account, fact.currency)
        moves = packed(self.escrow_moves, account, EscrowMoveLog)
        if previous is not None and previous != fact.beneficiary and held > 0:
            moves.append(EscrowMove(fact.effective, "reassigned-out", fact.account, fact.currency, held, previous))
            moves.append(EscrowMove(fact.effective, "reassigned-in", fact.account, fact.currency, held, fact.beneficiary))
        group = self.parties.root(fact.depositor)
        moves.append(EscrowMove(fact.effective, "deposited", fact.account, fact.currency, fact.amount, fact.beneficiary))
        self.accounts_of.setdefault(group, set()).add(account)

    def _released(self, record: Recorded, fact: EscrowReleased) -> None:
        account, paid, missing = self.escrow.release(fact)
        if missing:
            self.problems.append(
                Problem(
                    f"{record.describe()}: escrow account {fact.account!r} holds {shown(paid)} {fact.currency}, "
                    f"cannot release {shown(fact.amount)}",
                    (record.id,),
                )
            )
        if paid and self.books:
            move = EscrowMove(fact.effective, "released", fact.account, fact.currency, paid, account.beneficiary, to=fact.to)
            packed(self.escrow_moves, (fact.account, fact.currency), EscrowMoveLog).append(move)
            self._book(fact.to, self._paid(fact.effective, "released", paid, fact.currency, fact.to, account.beneficiary))

    def _broken(self, grant: Grant, left: Decimal) -> None:
        if grant.expires is not None:
            self._book(grant.grantor, breakage(grant, left))

    def _paid(self, day: date, kind: str, amount: Decimal, currency: str, provider: str, payer: str | None) -> Entry:
        """Revenue paid by ``payer``, with the provider's group and the part of the payer that group held then."""
        group = self.parties.root(provider)
        return Entry(day, kind, amount, currency, payer, group, self.stake(group, payer) if payer else NO_STAKE)

    def stake(self, group: str, company: str) -> Fraction:
        """The part of ``company`` held by the parties of ``group`` together, as the tables stand."""
        known = self.stakes.setdefault(company, {})
        held = known.get(group)
        if held is None:
            held = known[group] = self._stake(group, company)
        return held

    def _stake(self, group: str, company: str) -> Fraction:
        """``stake`` worked out: the sum of what each holder whose group is ``group`` holds in ``company``.

        Every such holder is among the group's members (it is below the group through parent links), so when the
        group has fewer members than the company has holders (a cloud's group is a handful of parties, a company has
        dozens), only the members that hold a stake are asked their group."""
        root, tables = self.parties.root, self.tables
        holders = tables.stakeholders(company)
        members = self.parties.group_of(group)
        if len(members) < len(holders):
            holders = [member for member in members if member in holders]
        held = NO_STAKE
        for holder in holders:
            if root(holder) == group:
                held += tables.held(holder, company)
        return held

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
            breakage(grant, left)
            for grant, left in self.credits.due_through(day)
            if grant.grantor == provider and grant.expires is not None
        ]

    def group_accounts(self, group: str) -> set[tuple[str, str]]:
        """The escrow accounts (label, currency) the parties of ``group`` have paid into."""
        return self.accounts_of.get(group, set())

    def group_moves(self, group: str) -> list[EscrowMove]:
        """Every movement of the escrow accounts the parties of ``group`` have paid into, account by account."""
        return [move for account in sorted(self.group_accounts(group)) for move in self.escrow_moves[account]]


def breakage(grant: Grant, left: Decimal) -> Entry:
    """What was left of a grant on its expiry date, recognised then; its liability was kept at the grant's rate."""
    assert grant.expires is not None
    return Entry(grant.expires, "breakage", left, grant.currency, grant.grantee, origin=grant.effective)


def investee_threshold(query: Query) -> Fraction:
    """``--investee-threshold``: the stake the provider's group must hold, above which a payer is its investee."""
    value = query.get("investee_threshold", "0")
    try:
        threshold = Decimal(str(value).strip())
    except InvalidOperation:
        threshold = Decimal("NaN")
    if not threshold.is_finite() or not 0 <= threshold < 1:
        raise OptionError(f"--investee-threshold: {value!r} is not a fraction from 0 up to (but not including) 1, such as 0.2")
    return Fraction(threshold)


@dataclass
class Sheet:
    """One output currency's figures for one period: flows, and the change in the contract liability."""

    recognized: Number
    breakage: Number
    fx_difference: Number
    from_investees: Number
    liability: Number


class Sheets:
    """One output currency's sheets by period."""

    def __init__(self, money: Money) -> None:
        self.money = money
        self.periods: dict[Period, Sheet] = {}

    def at(self, period: Period) -> Sheet:
        sheet = self.periods.get(period)
        if sheet is None:
            zero = self.money.zero()
            sheet = self.periods[period] = Sheet(zero, zero, zero, zero, zero)
        return sheet


def translate(entries: Iterable[Entry], money: Money, length: str, threshold: Fraction) -> dict[str, Sheets]:
    """Every entry into its output currency's sheet for its period.

    Granted credits raise the liability at the grant date's rate; consumption and breakage
    lower it by the same amount at that same rate, while the revenue they recognise is
    translated at the rate of their own date; the difference is ``fx_difference``. In the
    contract's own currency both rates are 1 and the difference is always zero.
    """
    sheets: dict[str, Sheets] = {}
    for entry in entries:
        sheet = sheets.setdefault(money.currency(entry.currency), Sheets(money)).at(Period.of(entry.day, length))
        at_receipt = money.value(entry.amount, entry.currency, entry.received)
        if entry.kind == "granted":
            sheet.liability += at_receipt
            continue
        earned = money.value(entry.amount, entry.currency, entry.day)
        if entry.kind in ("consumed", "breakage"):
            sheet.liability -= at_receipt
            sheet.fx_difference += at_receipt - earned
        if entry.kind == "breakage":
            sheet.breakage += earned
            continue
        sheet.recognized += earned
        if entry.stake > threshold:
            sheet.from_investees += earned
    return sheets


def held_changes(book: RevenueBook, group: str, length: str) -> dict[str, dict[Period, Decimal]]:
    """How what the group's escrow accounts hold changes, per account currency and period."""
    changes: dict[str, dict[Period, Decimal]] = {}
    for move in book.group_moves(group):
        if move.kind in ("deposited", "released"):
            native = changes.setdefault(move.currency, {})
            period = Period.of(move.day, length)
            native[period] = native.get(period, Decimal(0)) + move.change
    return changes


INVESTEE_THRESHOLD = Option(
    "investee_threshold",
    "count a payer as an investee only when the provider's group holds more than this fraction of it (default 0: any stake)",
)


class RevenueBookView(View[RevenueBook]):
    """A view over ``RevenueBook`` (revenue, roundtrip): one fold for both."""

    fold_name = "revenue-book"
    kinds = BOOK_KINDS
    state_version = "13"  # a named buyer's purchase in a divestment is its group's investment

    def initial(self, query: Query) -> RevenueBook:
        return RevenueBook()

    def apply(self, state: RevenueBook, record: Recorded) -> RevenueBook:
        state.apply(record)
        return state

    def reach(self, state: RevenueBook, day: date) -> RevenueBook:
        state.reach(day)
        return state


class RevenueView(RevenueBookView):
    """A provider's revenue per period: recognised, breakage, deferred, and how much came from its own investees."""

    name = "revenue"
    help = (
        "Revenue a cloud provider recognises from credits consumed and escrow released to it, breakage of expired "
        "credits, credits still deferred and escrow its group still holds at period end, the part paid by companies "
        "its group holds stakes in, and, with --currency, the translation difference. "
        "Example: dealledger view revenue --provider alibaba-cloud --period quarter --as-of 2024-09-30"
    )
    columns = ("period", "recognized", "breakage", "deferred", "from_investees", "currency", "fx_difference", "escrow_held")
    options = (
        Option("provider", "the cloud provider", kind="party", required=True, replay_over=("cloud",)),
        Option("period", "length of each row's period", kind="choice", choices=PERIODS, default="quarter"),
        Option("currency", "convert every amount into this currency (ISO 4217)", kind="currency"),
        INVESTEE_THRESHOLD,
    )

    def explains(self, record: Recorded, query: Query) -> bool:
        """Another provider's credits never move this provider's rows, nor do kinds the book does not fold.

        Without ``--as-of`` the rows run to the last fact's date, so then any fact can add a period.
        """
        fact = record.fact
        if query.as_of is None:
            return True
        if isinstance(fact, (CreditsGranted, CreditsConsumed)):
            return bool(fact.grantor == query.get("provider"))
        return isinstance(fact, (EscrowDeposited, EscrowReleased, PartyRegistered, FxRate)) or fact.kind in OWNERSHIP_KINDS

    def rows(self, state: RevenueBook, query: Query) -> list[Row]:
        provider = required(query, "provider", self.name)
        length = choice(query, "period", PERIODS, "quarter")
        threshold = investee_threshold(query)
        if state.last_day is None:
            return []
        # Without --as-of the view runs to the last date the facts speak of: the last fact, or a
        # later expiry of the provider's open grants (its breakage is known already). With --as-of
        # it runs to that date, quiet periods included: a year-end shows its deferred balance.
        through = query.as_of or state.horizon(provider)
        money = Money(state.rates, query.get("currency"))
        entries = [*state.entries.get(provider, ()), *state.breakage_through(provider, through)]
        sheets = translate(entries, money, length, threshold)
        held = held_changes(state, state.parties.root(provider), length)
        for source, changes in held.items():
            book = sheets.setdefault(money.currency(source), Sheets(money))
            for period in changes:
                book.at(period)
        last = Period.of(through, length)
        rows: list[tuple[Period, str, Row]] = []
        for currency, book in sheets.items():
            sources = [source for source in held if money.currency(source) == currency]
            balances = dict.fromkeys(sources, Decimal(0))
            deferred: Number = money.zero()
            for period in min(book.periods).span(last):
                sheet = book.at(period)
                deferred += sheet.liability
                # Cash held in escrow is a monetary balance: translated at the rate of the period's end.
                at = min(period.last_day, through)
                escrow_held: Number = money.zero()
                for source in sources:
                    balances[source] += held[source].get(period, Decimal(0))
                    if balances[source]:
                        escrow_held += money.value(balances[source], source, at)
                row = {
                    "period": period.label,
                    "recognized": money.out(sheet.recognized),
                    "breakage": money.out(sheet.breakage),
                    "deferred": money.out(deferred),
                    "from_investees": money.out(sheet.from_investees),
                    "currency": currency,
                    "fx_difference": money.out(sheet.fx_difference),
                    "escrow_held": money.out(escrow_held),
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
    """The validation problems, conservation of every grant and escrow account, and credits promised against granted."""
    book = RevenueBook(books=False)
    for record in story:
        book.apply(record)
    problems = list(book.problems)
    for (grantor, grantee, currency), message in book.credits.conservation():
        problems.append(Problem(f"credits of {grantor} to {grantee} in {currency}: {message}"))
    for (account, currency), message in book.escrow.conservation():
        problems.append(Problem(f"escrow account {account!r} in {currency}: {message}"))
    problems.extend(reconcile_round_credits(story))
    return problems


@dataclass
class Promise:
    """Credits one group promised a company in rounds of one label, and the credits its clouds granted for them."""

    rounds: list[Recorded] = field(default_factory=list)
    grants: list[Recorded] = field(default_factory=list)
    promised: dict[str, Decimal] = field(default_factory=dict)
    granted: dict[str, Decimal] = field(default_factory=dict)
    undisclosed: bool = False


def reconcile_round_credits(story: Sequence[Recorded]) -> list[Problem]:
    """Credits an investor's group promised in a round (``consideration: credits``) against the
    ``credits.granted`` facts of the same group's clouds that name that round, per currency.

    A round is matched by the grantee (its company) and the label (``round``); grants without a
    round label are never matched. A promised amount left undisclosed cannot be compared and is
    not reported.
    """
    parties = Parties()
    for record in story:
        if isinstance(record.fact, PartyRegistered):
            parties.add(record.fact)
    promises: dict[tuple[str, str, str], Promise] = {}
    for record in story:
        fact = record.fact
        if isinstance(fact, RoundClosed):
            for investment in fact.investors:
                if investment.paid_in != "credits":
                    continue
                promise = promises.setdefault((fact.company, fact.round, parties.root(investment.party)), Promise())
                if not promise.rounds or promise.rounds[-1] is not record:
                    promise.rounds.append(record)
                amount: Decimal | None = investment.amount
                if amount is None:
                    promise.undisclosed = True
                else:
                    promise.promised[fact.currency] = promise.promised.get(fact.currency, Decimal(0)) + amount
        elif isinstance(fact, CreditsGranted) and fact.round is not None:
            promise = promises.setdefault((fact.grantee, fact.round, parties.root(fact.grantor)), Promise())
            promise.grants.append(record)
            promise.granted[fact.currency] = promise.granted.get(fact.currency, Decimal(0)) + fact.amount
    problems: list[Problem] = []
    for (company, label, group), promise in promises.items():
        if promise.undisclosed:
            continue
        ids = tuple(record.id for record in [*promise.rounds, *promise.grants])
        for currency in sorted({*promise.promised, *promise.granted}):
            promised = promise.promised.get(currency, Decimal(0))
            granted = promise.granted.get(currency, Decimal(0))
            if promised == granted:
                continue
            gap = f"shortfall {shown(promised - granted)}" if promised > granted else f"excess {shown(granted - promised)}"
            if promise.rounds:
                where = ", ".join(record.describe() for record in promise.rounds)
                message = (
                    f"{where}: {group}'s group promised {shown(promised)} {currency} of credits to {company} in round {label!r}, "
                    f"its clouds granted {shown(granted)} {currency} for it ({gap} {currency})"
                )
            else:
                where = ", ".join(record.describe() for record in promise.grants)
                message = (
                    f"{where}: {group}'s group granted {shown(granted)} {currency} of credits to {company} for round {label!r}, "
                    f"which promises no credits from it ({gap} {currency})"
                )
            problems.append(Problem(message, ids))
    return problems
