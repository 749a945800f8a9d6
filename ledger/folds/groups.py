"""Registered parties as a fold reads them: who belongs to which group (parent links), and sector tags."""

from __future__ import annotations

from events.parties import PartyRegistered


class Parties:
    """Registered parties as far as the fold has read: parent links (groups) and sector tags."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}
        self.sectors: dict[str, frozenset[str]] = {}
        self._roots: dict[str, str] = {}

    def add(self, fact: PartyRegistered) -> None:
        """A later registration of the same slug (or a correction) replaces the earlier one."""
        self._roots.clear()
        if fact.parent:
            self.parent[fact.party] = fact.parent
        else:
            self.parent.pop(fact.party, None)
        self.sectors[fact.party] = frozenset(fact.sectors or ())

    def root(self, party: str) -> str:
        """The top of the party's group: follow parent links up (a loop stops where it closes)."""
        found = self._roots.get(party)
        if found is None:
            found = self._roots[party] = self._climb(party)
        return found

    def _climb(self, party: str) -> str:
        seen = {party}
        while (parent := self.parent.get(party)) is not None and parent not in seen:
            seen.add(parent)
            party = parent
        return party

    def in_sector(self, party: str, tag: str) -> bool:
        return tag in self.sectors.get(party, ())
