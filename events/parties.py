"""Who appears in the ledger: parties (companies, investors, clouds, regulators...)."""

from __future__ import annotations

from events import fields
from events.base import Fact, fact_class
from events.codecs import BUILT_IN_HOLDERS

PARTY_TYPES = ("company", "investor", "cloud", "regulator", "government", "other")
__all__ = ["BUILT_IN_HOLDERS", "PARTY_TYPES", "PartyRegistered"]


@fact_class
class PartyRegistered(Fact):
    """A party the other facts may name by its slug."""

    kind = "party.registered"

    party: str = fields.declare(fields.PartyRef(built_ins=True), doc="the slug other facts use")  # check() says why not
    name: str = fields.text()
    type: str = fields.choice(*PARTY_TYPES)
    jurisdiction: str | None = fields.country(optional=True)
    parent: str | None = fields.party(optional=True, doc="the group the party belongs to")
    aliases: tuple[str, ...] | None = fields.declare(fields.ListOf(fields.Slug()), optional=True)
    sectors: tuple[str, ...] | None = fields.declare(fields.ListOf(fields.Slug()), optional=True, doc="tags such as ai")

    def check(self) -> None:
        from events.errors import FactError

        if self.party in BUILT_IN_HOLDERS:
            raise FactError(f"{self.party!r} is a built-in holder and cannot be registered", "party")
        if self.parent == self.party:
            raise FactError("a party cannot be its own parent", "parent")
