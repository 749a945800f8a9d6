"""The fold behind ``ownership``, ``portfolio`` and ``gains``: cap tables, what each holder paid and kept, what it sold.

Cost follows the shares. A sale of part of a holding relieves that part of every payment
still kept (``cost x sold / held``, an exact ``Fraction``), so cost relieved plus cost kept is
always exactly what was paid. Each sale is kept as a ``Disposal`` with its proceeds; gains are
worked out when rows are asked for, because the currency they are shown in is the question's.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from operator import attrgetter
from typing import NamedTuple

from events.funding import RoundClosed, StakeAcquired, StakeDivested, ValuationMarked
from events.markets import FxRate
from events.parties import PartyRegistered
from ledger.errors import ViewError
from ledger.exact import Fraction, decimal_places
from ledger.folds.captable import FOUNDERS, OWNERSHIP_FACTS, OWNERSHIP_KINDS, UNDISCLOSED, ZERO, CapTables, is_pool
from ledger.folds.groups import Parties
from ledger.folds.money import Money, Number, Rates
from ledger.folds.parts import PartedDict, pickled_by_fields
from ledger.records import Recorded
from ledger.views import Query, View

ONE = Fraction(1)
HOLDINGS_KINDS = frozenset({FxRate.kind, PartyRegistered.kind, ValuationMarked.kind, *OWNERSHIP_KINDS})
"""The kinds the holdings fold reads: every other fact leaves it as it was (so the host need not read them)."""


class Payment(NamedTuple):
    """Money a holder put into a company, kept with its date so it can be converted at that date."""

    day: date
    amount: Decimal
    currency: str


class Valuation(NamedTuple):
    day: date
    amount: Decimal
    currency: str


@pickled_by_fields
@dataclass(eq=False, slots=True)
class Lot:
    """One payment for part of a position, and the part of it the holder still keeps after its sales."""

    payment: Payment
    kept: Fraction = ONE


@pickled_by_fields
@dataclass(eq=False, slots=True)
class Position:
    """A holder's cost in one company: its lots, and whether some of the shares it holds came without a reported price
    (until it sells them all: sales relieve every lot in proportion, so only a full sale leaves none of them)."""

    lots: list[Lot] = field(default_factory=list)
    unpriced: bool = False


class Disposal(NamedTuple):
    """One sale by a holder (or its shares cancelled for nothing by a round at a pre-money of 0): the part of its
    holding sold, the cost it relieved, what it brought."""

    day: date
    holder: str
    company: str
    sold: Fraction
    """The part of the holding sold, exactly (1 = all of it)."""
    relieved: tuple[tuple[Payment, Fraction], ...]
    """(payment, part of that payment's amount relieved by this sale)."""
    priced: bool
    """False when some of the shares sold had no reported cost: relieved cost and gain are then unknown."""
    proceeds: Decimal | None
    currency: str | None


class Figures(NamedTuple):
    """A disposal's money in one currency: proceeds, cost relieved and realised gain (None when unknown)."""

    currency: str | None
    proceeds: Number | None
    relieved: Number | None
    gain: Number | None


@dataclass
class Holdings:
    """Cap tables, payments, cost lots and disposals per (company, holder), valuations, rates and groups.

    Each payment is listed once: as a lot of its holder's position, or, when it is the
    unattributed rest of a round (paid by its pool or ``undisclosed``), in ``unattributed``. A
    checkpoint saves each dict in parts of its own, and the parts come back apart, so a payment
    listed in two of them would come back as two (see ``ledger.folds.parts``); a disposal's
    ``relieved`` refers to its lots' payments, and those do come back as copies (they are
    immutable: memory, not meaning)."""

    tables: CapTables = field(default_factory=CapTables)
    positions: dict[tuple[str, str], Position] = field(default_factory=PartedDict)
    unattributed: dict[tuple[str, str], list[Payment]] = field(default_factory=PartedDict)
    """Payments that are no lot of a position: the unattributed rest of a round, by (company, pool or undisclosed)."""
    sales: dict[tuple[str, str], list[Disposal]] = field(default_factory=PartedDict)
    """The disposals by (company, holder), so a portfolio row reads only its own."""
    companies_of: dict[str, set[str]] = field(default_factory=PartedDict)
    """Every company a holder ever paid into or sold out of: exited positions stay in the portfolio."""
    valuations: dict[str, Valuation] = field(default_factory=dict)
    rates: Rates = field(default_factory=Rates)
    parties: Parties = field(default_factory=Parties)

    @staticmethod
    def folds(record: Recorded) -> bool:
        """Whether ``apply`` does anything with this fact: every other kind leaves the holdings as they were."""
        return record.fact.kind in HOLDINGS_KINDS

    def apply(self, record: Recorded) -> None:
        fact = record.fact
        if isinstance(fact, FxRate):
            self.rates.add(fact)
            return
        if isinstance(fact, PartyRegistered):
            self.parties.add(fact)
            return
        if isinstance(fact, ValuationMarked):
            self.valuations[fact.company] = Valuation(fact.effective, fact.valuation, fact.currency)
            return
        if not isinstance(fact, OWNERSHIP_FACTS):
            return
        seller = _seller(fact)
        before = self.tables.held(seller, fact.company) if seller else ZERO
        # a round at a pre-money of 0 cancels every share before it: each holder's cost is then written off
        wiped = isinstance(fact, RoundClosed) and fact.post == fact.amount
        cancelled = [h for h in self.tables.stakeholders(fact.company) if self.tables.held(h, fact.company)] if wiped else []
        self.tables.apply(fact)
        if isinstance(fact, RoundClosed):
            for holder in cancelled:
                self._sold(fact.effective, holder, fact.company, ONE, Decimal(0), fact.currency)
            self._paid_in_round(fact)
            self.valuations[fact.company] = Valuation(fact.effective, fact.post, fact.currency)
        proceeds, currency = _proceeds(fact)  # what a buyer paid is what its seller received
        if (buyer := _buyer(fact)) is not None:
            paid = Payment(fact.effective, proceeds, currency) if proceeds is not None and currency else None
            self._bought(fact.company, buyer, paid)
        if seller and before:
            after = self.tables.held(seller, fact.company)
            self._sold(fact.effective, seller, fact.company, (before - after) / before, proceeds, currency)

    def _paid_in_round(self, fact: RoundClosed) -> None:
        """Each investor paid its amount; the unattributed rest was paid by ``undisclosed`` (or its round's pool)."""
        for investment in fact.investors:
            if investment.amount is not None:
                self._bought(fact.company, investment.party, Payment(fact.effective, investment.amount, fact.currency))
        rest = fact.amount - fact.attributed
        if rest > 0:
            payer = self.tables.last_pool or UNDISCLOSED
            self.unattributed.setdefault((fact.company, payer), []).append(Payment(fact.effective, rest, fact.currency))

    def _bought(self, company: str, holder: str, payment: Payment | None) -> None:
        position = self.positions.setdefault((company, holder), Position())
        if payment is None:
            position.unpriced = True
        else:
            position.lots.append(Lot(payment))
        self.companies_of.setdefault(holder, set()).add(company)

    def payments(self, company: str, holder: str) -> list[Payment]:
        """What the holder paid into the company, by date: its lots' payments and any unattributed rest it paid
        (only ``undisclosed`` has both), so the first missing rate a conversion names is the earliest."""
        position = self.positions.get((company, holder))
        lots = [lot.payment for lot in position.lots] if position is not None else []
        rest = self.unattributed.get((company, holder))
        return list(heapq.merge(lots, rest, key=attrgetter("day"))) if rest else lots

    def _sold(self, day: date, holder: str, company: str, sold: Fraction, proceeds: Decimal | None, currency: str | None) -> None:
        if holder in (FOUNDERS, UNDISCLOSED) or is_pool(holder) or not sold:
            return
        position = self.positions.setdefault((company, holder), Position(unpriced=True))
        relieved = []
        for lot in position.lots:
            if lot.kept:  # a lot sold before relieves nothing, and needs no rate to say so
                part = lot.kept * sold
                relieved.append((lot.payment, part))
                lot.kept -= part
        disposal = Disposal(day, holder, company, sold, tuple(relieved), not position.unpriced, proceeds, currency)
        if sold == 1:  # every share sold, those without a price too: shares bought later start a known cost
            position.unpriced = False
        self.sales.setdefault((company, holder), []).append(disposal)
        self.companies_of.setdefault(holder, set()).add(company)

    def disposals_of(self, holders: set[str]) -> list[Disposal]:
        """The sales by these holders, read through ``sales`` so a question costs its own sales, not every one."""
        return [
            disposal
            for holder in sorted(holders)  # in a fixed order: the first missing rate an error names is always the same
            for company in sorted(self.companies_of.get(holder, ()))
            for disposal in self.sales.get((company, holder), ())
        ]

    def invested(self, company: str, holder: str, money: Money) -> dict[str, Number]:
        """What the holder paid for its stake, per currency (a single currency when converting)."""
        totals: dict[str, Number] = {}
        for payment in self.payments(company, holder):
            currency = money.currency(payment.currency)
            total: Number = totals.get(currency, money.zero())
            totals[currency] = total + money.value(payment.amount, payment.currency, payment.day)
        return totals

    def pooled(self, company: str, holder: str, money: Money) -> dict[str, Number]:
        """The holder's equal share of the unattributed money of each pool of the company naming it."""
        table = self.tables.companies.get(company)
        totals: dict[str, Number] = {}
        for pool, participants in table.pools.items() if table is not None else ():
            if holder not in participants:
                continue
            for currency, amount in self.invested(company, pool, money).items():
                totals[currency] = totals.get(currency, Fraction(0)) + Fraction(amount) / len(participants)
        return totals

    def kept_cost(self, company: str, holder: str, money: Money) -> dict[str, Number] | None:
        """The cost of the shares still held, per currency; None when some shares had no reported price."""
        position = self.positions.get((company, holder))
        if position is None or position.unpriced:
            return None
        totals: dict[str, Number] = {}
        for lot in position.lots:
            if lot.kept:
                payment = lot.payment
                currency = money.currency(payment.currency)
                value = Fraction(money.value(payment.amount, payment.currency, payment.day)) * lot.kept
                totals[currency] = totals.get(currency, Fraction(0)) + value
        return totals

    def figures(self, disposal: Disposal, money: Money) -> Figures:
        """A disposal's proceeds, relieved cost and gain in the question's currency, or in the proceeds' currency.

        Without ``--currency``, cost paid in another currency than the proceeds is converted at
        the sale date; with no rate for that date the gain is left unknown (None). With
        ``--currency`` every amount is converted at its own date (cost when paid, proceeds when
        received), and a missing rate is an error naming the pair.
        """
        currencies = {payment.currency for payment, _ in disposal.relieved}
        currency = money.target or disposal.currency or (next(iter(currencies)) if len(currencies) == 1 else None)
        proceeds: Number | None = None
        if disposal.proceeds is not None and disposal.currency is not None:
            proceeds = Fraction(money.value(disposal.proceeds, disposal.currency, disposal.day))
        relieved: Number | None = None
        if disposal.priced and currency is not None:
            try:
                relieved = sum(
                    (self._relieved_in(payment, part, currency, disposal.day, money) for payment, part in disposal.relieved),
                    Fraction(0),
                )
            except ViewError:
                if money.target:
                    raise
                relieved = None
        gain = proceeds - relieved if proceeds is not None and relieved is not None else None
        return Figures(currency, proceeds, relieved, gain)

    def _relieved_in(self, payment: Payment, part: Fraction, currency: str, day: date, money: Money) -> Fraction:
        if money.target:
            return Fraction(money.value(payment.amount, payment.currency, payment.day)) * part
        return self.rates.convert(payment.amount, payment.currency, currency, day) * part


def _seller(fact: object) -> str | None:
    if isinstance(fact, StakeDivested):
        return fact.holder
    if isinstance(fact, StakeAcquired):
        return fact.seller
    return None


def _buyer(fact: object) -> str | None:
    """Who bought a stake: the holder that acquired it, or a divestment's named buyer (a sale to a named buyer is
    the buyer's purchase)."""
    if isinstance(fact, StakeAcquired):
        return fact.holder
    if isinstance(fact, StakeDivested) and fact.buyer != UNDISCLOSED:
        return fact.buyer
    return None


def _proceeds(fact: object) -> tuple[Decimal | None, str | None]:
    if isinstance(fact, StakeDivested):
        return fact.proceeds, fact.currency
    if isinstance(fact, StakeAcquired):
        return fact.price, fact.currency
    return None, None


def money_cell(value: Number | None, money: Money) -> Decimal | Fraction | None:
    """Money for a row: converted amounts as ``money_out`` shows derived money (exact when they end), others exact."""
    if value is None:
        return None
    return money.out(value) if money.target else exact_money(value)


def exact_money(value: Number | None) -> Decimal | Fraction | None:
    """Money for a row without rounding: a ``Decimal`` when the value has a finite decimal form, else the exact ``Fraction``."""
    if value is None or isinstance(value, Decimal):
        return value
    places = decimal_places(value.denominator)
    if places is None:
        return value
    scaled = value.numerator * 10**places // value.denominator  # the denominator divides 10**places: a whole quotient
    return Decimal(f"{scaled}E-{places}")  # from text: exact in any decimal context


class HoldingsView(View[Holdings]):
    """A view over ``Holdings`` (ownership, portfolio, gains): one fold, which only some kinds move, folded once for all three."""

    fold_name = "holdings"
    kinds = HOLDINGS_KINDS
    state_version = "9"  # a named buyer's purchase priced; lots sold out relieve nothing; a full sale ends "unpriced";
    # shares cancelled by a round at a pre-money of 0 are written off

    def initial(self, query: Query) -> Holdings:
        return Holdings()

    def apply(self, state: Holdings, record: Recorded) -> Holdings:
        state.apply(record)
        return state

    def explains(self, record: Recorded, query: Query) -> bool:
        return Holdings.folds(record)
