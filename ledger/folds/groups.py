"""Registered parties as a fold reads them: who belongs to which group (parent links), and sector tags.

A group is a party and everything below it through ``parent`` links; its *ultimate parent* is
the top of the chain. Links change over time (a later registration or a correction of one
replaces the earlier), so a fold asks about groups as they stand at the fact it is folding, and
a view's rows about groups as they stand at the question's date.
"""

from __future__ import annotations

from events.parties import PartyRegistered


class Parties:
    """Registered parties as far as the fold has read: parent links (groups) and sector tags."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}
        self.sectors: dict[str, frozenset[str]] = {}
        self._roots: dict[str, str] = {}
        self._members: dict[str, tuple[str, ...]] = {}  # both caches hold until the next registration

    def __setstate__(self, state: dict[str, object]) -> None:
        """A state saved before the members cache existed still loads (checkpoints are pickles)."""
        self.__dict__.update(state)
        self.__dict__.setdefault("_members", {})

    def add(self, fact: PartyRegistered) -> None:
        """A later registration of the same slug (or a correction) replaces the earlier one."""
        self._roots.clear()
        self._members.clear()
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

    def members(self, top: str) -> list[str]:
        """``top`` and every registered party below it, in slug order (a group answers for all of them)."""
        found = self._members.get(top)
        if found is None:
            found = self._members[top] = tuple(sorted({top, *(party for party in self.sectors if self.within(party, top))}))
        return list(found)

    def within(self, party: str, top: str) -> bool:
        """Whether ``top`` is ``party`` or one of its parents, grandparents..."""
        seen = {party}
        while party != top:
            parent = self.parent.get(party)
            if parent is None or parent in seen:
                return False
            seen.add(parent)
            party = parent
        return True

    def in_sector(self, party: str, tag: str) -> bool:
        return tag in self.sectors.get(party, ())
