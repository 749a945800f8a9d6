"""The base of every fact: the fields all kinds share, and the interchange round trip."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from events import fields, layout
from events.codecs import MAX_KEY_LENGTH
from events.errors import FactError

if TYPE_CHECKING:
    from events.catalogue import Catalogue

CONFIDENCE = ("high", "medium", "low")
CONSIDERATION = ("cash", "credits", "services")

fact_class = dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
"""Decorator for fact classes: frozen (facts never change), keyword-only, compact."""


@fact_class
class Fact:
    """A dated statement about the world. Subclasses set ``kind`` and declare their fields.

    ``effective`` is when it happened (valid time); when it was recorded is kept by the
    ledger, not here, because a fact's content does not depend on when it was written down.
    """

    kind: ClassVar[str] = ""

    effective: date = fields.day(doc="when it happened in the world (ISO date)")
    key: str | None = fields.declare(fields.Text(MAX_KEY_LENGTH), optional=True, doc="idempotency key: the same key is one fact")
    source: str | None = fields.text(optional=True, doc="URL or citation")
    confidence: str | None = fields.choice(*CONFIDENCE, optional=True, doc="how well the source supports it")
    note: str | None = fields.text(optional=True)

    def check(self) -> None:
        """Cross-field rules; raise ``FactError`` naming the field. Single fields are checked by their codec."""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], catalogue: Catalogue) -> Fact:
        return layout.build(cls, data, catalogue, skip=frozenset({"kind"}))

    def to_dict(self) -> dict[str, Any]:
        """The interchange form: ``kind`` first, absent optional fields left out."""
        return {"kind": self.kind, **layout.dump_fields(self)}

    def parties(self) -> list[str]:
        """Every party slug this fact refers to."""
        return [slug for _, slug in layout.party_fields(self)]

    def subjects(self) -> list[str]:
        """What the fact is about, for the ledger's index: its parties, and for some kinds more (an escrow account).

        Everything a fact can change must be reachable through its subjects: validation of a
        batch reads only the facts that share a subject with it.
        """
        return self.parties()

    def party_fields(self) -> list[tuple[str, str]]:
        """(field path, slug) for every party, to name the field when a slug is unknown."""
        return layout.party_fields(self)

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        schema = layout.object_schema(cls, extra={"kind": {"const": cls.kind}})
        schema["required"] = ["kind", *schema["required"]]
        schema["title"] = cls.kind
        if cls.__doc__:
            schema["description"] = " ".join(cls.__doc__.split())
        return schema


def require_one_of(fact: Any, *names: str) -> None:
    """Exactly one of ``names`` must be given."""
    given = [name for name in names if getattr(fact, name) is not None]
    if len(given) != 1:
        raise FactError(f"give exactly one of {' or '.join(names)}", names[0] if not given else given[1])


def require_with(fact: Any, field: str, companion: str) -> None:
    """``companion`` (a currency) must be given when ``field`` (an amount) is."""
    if getattr(fact, field) is not None and getattr(fact, companion) is None:
        raise FactError(f"required when {field} is given", companion)


__all__ = ["CONFIDENCE", "CONSIDERATION", "Decimal", "Fact", "fact_class", "require_one_of", "require_with"]
