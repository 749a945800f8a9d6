"""Equity: rounds, stakes bought and sold, ownership reported by others, valuations."""

from __future__ import annotations

from decimal import Decimal

from events import fields
from events.base import CONSIDERATION, Fact, fact_class, require_one_of, require_with
from events.errors import FactError


@fact_class
class Investment:
    """One investor's part of a round; ``amount`` is None for a participant whose amount was not reported.

    A participant without an amount is still named (the league counts its deal), but no money
    is invented for it: the round's unattributed money stays with ``undisclosed`` unless a view
    is asked to split it among the undisclosed participants.
    """

    party: str = fields.holder()
    amount: Decimal | None = fields.amount(optional=True, doc="left out when not reported")
    lead: bool | None = fields.flag(optional=True)
    consideration: str | None = fields.choice(*CONSIDERATION, optional=True, doc="default cash")

    @property
    def paid_in(self) -> str:
        return self.consideration or "cash"


@fact_class
class RoundClosed(Fact):
    """New shares issued for ``amount``: each investor gets amount / post-money, everyone else is diluted."""

    kind = "round.closed"

    company: str = fields.party()
    round: str = fields.text(doc="label, such as series-b")
    amount: Decimal = fields.positive()
    currency: str = fields.currency()
    pre_money: Decimal | None = fields.amount(optional=True)
    post_money: Decimal | None = fields.positive(optional=True)
    investors: tuple[Investment, ...] = fields.declare(fields.ListOf(fields.Nested(Investment)), default=())

    def check(self) -> None:
        require_one_of(self, "pre_money", "post_money")
        if self.post_money is not None and self.post_money < self.amount:
            raise FactError(f"post-money {self.post_money} is below the round's amount {self.amount}", "post_money")
        attributed = self.attributed
        if attributed > self.amount:
            raise FactError(f"investors' amounts add up to {attributed}, more than the round's {self.amount}", "investors")
        seen: set[tuple[str, str]] = set()
        for index, investment in enumerate(self.investors):
            if (investment.party, investment.paid_in) in seen:
                raise FactError(
                    f"{investment.party!r} is listed twice paying in {investment.paid_in}", f"investors[{index}].party"
                )
            seen.add((investment.party, investment.paid_in))
            if investment.party == self.company:
                raise FactError("a company cannot invest in its own round", f"investors[{index}].party")

    @property
    def attributed(self) -> Decimal:
        """The part of ``amount`` reported against named investors."""
        return sum((i.amount for i in self.investors if i.amount is not None), Decimal(0))

    @property
    def undisclosed_participants(self) -> tuple[str, ...]:
        """Investors named without an amount, each once, in the order given."""
        return tuple(dict.fromkeys(i.party for i in self.investors if i.amount is None))

    @property
    def post(self) -> Decimal:
        return self.post_money if self.post_money is not None else self.amount + (self.pre_money or Decimal(0))


@fact_class
class StakeAcquired(Fact):
    """``holder`` takes ``fraction`` of the company: from ``seller``, or as new shares that dilute everyone."""

    kind = "stake.acquired"

    holder: str = fields.holder()
    company: str = fields.party()
    fraction: Decimal = fields.fraction()
    seller: str | None = fields.holder(optional=True, doc="default: newly issued shares")
    price: Decimal | None = fields.amount(optional=True, doc="total paid")
    currency: str | None = fields.currency(optional=True)
    consideration: str | None = fields.choice(*CONSIDERATION, optional=True, doc="default cash")

    def check(self) -> None:
        require_with(self, "price", "currency")
        if self.holder == self.company:
            raise FactError("a company cannot hold itself", "holder")
        if self.seller == self.holder:
            raise FactError("seller and holder are the same", "seller")
        if self.seller == self.company:
            raise FactError("a company cannot sell a stake in itself here; record a round or new shares", "seller")
        if self.seller is None and self.fraction == 1:
            raise FactError("new shares cannot make up the whole company", "fraction")
        if self.fraction == 0:
            raise FactError("must be more than 0: a stake of nothing is no purchase", "fraction")


@fact_class
class OwnershipAsserted(Fact):
    """A fraction reported by a filing or the press, checked against the computed one."""

    kind = "ownership.asserted"

    holder: str = fields.holder()
    company: str = fields.party()
    fraction: Decimal = fields.fraction()
    tolerance: Decimal = fields.declare(fields.UnitInterval(), default=Decimal("0.005"))


@fact_class
class StakeDivested(Fact):
    """``holder`` sells ``fraction`` of the company, or ``portion`` of its holding ("1" = all)."""

    kind = "stake.divested"

    holder: str = fields.holder()
    company: str = fields.party()
    fraction: Decimal | None = fields.fraction(optional=True, doc="of the company")
    portion: Decimal | None = fields.fraction(optional=True, doc="of the holding; 1 = all of it")
    buyer: str | None = fields.holder(optional=True, doc="default undisclosed")
    proceeds: Decimal | None = fields.amount(optional=True)
    currency: str | None = fields.currency(optional=True)
    reason: str | None = fields.text(optional=True)

    def check(self) -> None:
        require_one_of(self, "fraction", "portion")
        require_with(self, "proceeds", "currency")
        for name in ("fraction", "portion"):
            if getattr(self, name) == 0:
                raise FactError("must be more than 0: a sale of nothing is no sale", name)
        if self.holder == self.company:
            raise FactError("a company cannot hold itself", "holder")
        if self.buyer == self.holder:
            raise FactError("buyer and holder are the same", "buyer")


@fact_class
class ValuationMarked(Fact):
    """The company's value from ``effective`` on (used for implied values)."""

    kind = "valuation.marked"

    company: str = fields.party()
    valuation: Decimal = fields.amount()
    currency: str = fields.currency()
    basis: str | None = fields.text(optional=True)
