"""Cloud credits and escrow: investment paid as services, or held until spent with the investor."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from events import fields
from events.base import Fact, fact_class
from events.errors import FactError


@fact_class
class CreditsGranted(Fact):
    """Credits a cloud owes its grantee: a contract liability until consumed or expired."""

    kind = "credits.granted"

    grantor: str = fields.party(doc="the cloud provider")
    grantee: str = fields.party()
    amount: Decimal = fields.positive()
    currency: str = fields.currency()
    expires: date | None = fields.day(optional=True)
    round: str | None = fields.text(optional=True, doc="label of the round the credits are part of")

    def check(self) -> None:
        if self.expires is not None and self.expires <= self.effective:
            raise FactError("must be after the grant's effective date", "expires")
        if self.grantor == self.grantee:
            raise FactError("grantor and grantee are the same", "grantee")


@fact_class
class CreditsConsumed(Fact):
    """The grantee spent credits: the grantor recognises revenue."""

    kind = "credits.consumed"

    grantor: str = fields.party()
    grantee: str = fields.party()
    amount: Decimal = fields.positive()
    currency: str = fields.currency()

    def check(self) -> None:
        if self.grantor == self.grantee:
            raise FactError("grantor and grantee are the same", "grantee")


@fact_class
class EscrowDeposited(Fact):
    """Money put in an escrow account for a beneficiary; nobody's revenue yet."""

    kind = "escrow.deposited"

    account: str = fields.text(doc="the account's label")
    depositor: str = fields.party()
    beneficiary: str = fields.party()
    amount: Decimal = fields.positive()
    currency: str = fields.currency()
    purpose: str | None = fields.text(optional=True)

    def subjects(self) -> list[str]:
        return [*self.parties(), escrow_subject(self.account)]

    def check(self) -> None:
        if self.depositor == self.beneficiary:
            raise FactError("depositor and beneficiary are the same", "beneficiary")


@fact_class
class EscrowReleased(Fact):
    """Money paid out of escrow ``to`` a party; a cloud provider paid this way books revenue."""

    kind = "escrow.released"

    account: str = fields.text()
    amount: Decimal = fields.positive()
    currency: str = fields.currency()
    to: str = fields.party(doc="the party paid")
    purpose: str | None = fields.text(optional=True)

    def subjects(self) -> list[str]:
        return [*self.parties(), escrow_subject(self.account)]


@fact_class
class SpendCommitted(Fact):
    """A customer binds itself to spend ``amount`` with a cloud provider: often the other half of an investment.

    When a cloud's group invests in a start-up and the start-up promises to spend on that
    cloud, the promise is what makes the investment come back as revenue; recording it beside
    the round lets the round-trip be read from facts instead of from a note. The commitment is
    not revenue and not a liability of the provider: nothing is recognised until it is spent.
    """

    kind = "spend.committed"

    customer: str = fields.party(doc="the party that committed to spend")
    provider: str = fields.party(doc="the cloud provider the money is to be spent with")
    amount: Decimal = fields.positive(doc="the whole amount committed, over the term")
    currency: str = fields.currency()
    term_end: date | None = fields.day(optional=True, doc="the day by which it is to be spent")
    years: Decimal | None = fields.positive(optional=True, doc="the term in years, when the source gives no end date")
    round: str | None = fields.text(optional=True, doc="label of the investment round it belongs with")

    def check(self) -> None:
        if self.customer == self.provider:
            raise FactError("customer and provider are the same", "provider")
        if self.term_end is not None and self.years is not None:
            raise FactError("give either term_end or years, not both", "years")
        if self.term_end is not None and self.term_end <= self.effective:
            raise FactError("must be after the commitment's effective date", "term_end")


def escrow_subject(account: str) -> str:
    """An escrow account as a subject of the index (party slugs never hold a colon); long labels are hashed to fit."""
    if len(account) > 200:
        import hashlib

        account = hashlib.sha256(account.encode("utf-8")).hexdigest()
    return f"escrow:{account}"


__all__ = ["CreditsConsumed", "CreditsGranted", "EscrowDeposited", "EscrowReleased", "SpendCommitted"]
