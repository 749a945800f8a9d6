"""What governments and regulators do: export bans, penalties, divestment orders."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from events import fields
from events.base import Fact, fact_class
from events.errors import FactError


@fact_class
class ExportBanImposed(Fact):
    """Exports of ``items`` to ``targets`` are banned until lifted."""

    kind = "export.ban_imposed"

    rule: str = fields.text(doc="the rule's label")
    authority: str = fields.party()
    items: tuple[str, ...] = fields.declare(fields.ListOf(fields.Slug(), min_items=1), doc="item slugs, such as nvidia-a800")
    targets: tuple[str, ...] = fields.declare(
        fields.ListOf(fields.CountryOrParty(), min_items=1), doc="ISO country codes or parties"
    )


@fact_class
class ExportBanLifted(Fact):
    """The ban ``rule`` by ``authority`` no longer applies from ``effective`` on."""

    kind = "export.ban_lifted"

    rule: str = fields.text()
    authority: str = fields.party()


@fact_class
class PenaltyImposed(Fact):
    """A one-off fine on ``target``."""

    kind = "penalty.imposed"

    authority: str = fields.party()
    target: str = fields.party()
    amount: Decimal = fields.positive()
    currency: str = fields.currency()
    reason: str | None = fields.text(optional=True)

    def check(self) -> None:
        if self.authority == self.target:
            raise FactError("authority and target are the same", "target")


@fact_class
class DivestmentOrdered(Fact):
    """``target`` must sell its stakes (in ``companies``, or all) by ``deadline``."""

    kind = "divestment.ordered"

    authority: str = fields.party()
    target: str = fields.party()
    companies: tuple[str, ...] | None = fields.parties(optional=True)
    deadline: date = fields.day()

    def check(self) -> None:
        if self.deadline < self.effective:
            raise FactError("the deadline is before the order itself", "deadline")
