"""Market data the views need: exchange rates."""

from __future__ import annotations

from decimal import Decimal

from events import fields
from events.base import Fact, fact_class
from events.errors import FactError


@fact_class
class FxRate(Fact):
    """Units of ``quote`` per unit of ``base``, from ``effective`` on."""

    kind = "fx.rate"

    base: str = fields.currency()
    quote: str = fields.currency()
    rate: Decimal = fields.positive()

    def check(self) -> None:
        if self.base == self.quote:
            raise FactError("base and quote must differ", "quote")
