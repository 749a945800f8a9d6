"""Mistakes are fixed by new facts; the original stays stored, unchanged."""

from __future__ import annotations

from events import fields
from events.base import Fact, fact_class


@fact_class
class FactCorrected(Fact):
    """From now on, read ``replacement`` wherever the fact ``fact`` (its id or key) stood."""

    kind = "fact.corrected"

    fact: str = fields.text(doc="id or key of the fact replaced")
    replacement: Fact = fields.declare(fields.AnyFact(), doc="a whole fact of the same kind")

    def check(self) -> None:
        from events.errors import FactError

        if self.replacement.kind in ("fact.corrected", "fact.retracted"):
            raise FactError("a correction cannot replace a correction or retraction", "replacement.kind")


@fact_class
class FactRetracted(Fact):
    """The fact ``fact`` (id or key) should never have been recorded."""

    kind = "fact.retracted"

    fact: str = fields.text(doc="id or key of the fact withdrawn")
    reason: str = fields.text()
