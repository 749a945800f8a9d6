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
        self.children: dict[str, set[str]] = {}
        self.sectors: dict[str, frozenset[str]] = {}
        self._roots: dict[str, str] = {}
        self._members: dict[str, tuple[str, ...]] = {}  # both caches hold until a parent link changes

    def __setstate__(self, state: dict[str, object]) -> None:
        """A state saved before the members cache and the children index existed still loads (checkpoints are pickles)."""
        self.__dict__.update(state)
        self.__dict__.setdefault("_members", {})
        if "children" not in state:
            self.children = {}
            for child, parent in self.parent.items():
                self.children.setdefault(parent, set()).add(child)

    def add(self, fact: PartyRegistered) -> bool:
        """A later registration of the same slug (or a correction) replaces the earlier one.

        Returns whether the party's parent link changed: only then can any group's members change.
        """
        self.sectors[fact.party] = frozenset(fact.sectors or ())
        before, after = self.parent.get(fact.party), fact.parent or None
        if before == after:
            return False
        self._roots.clear()
        self._members.clear()
        if before is not None:
            self.children[before].discard(fact.party)
        if after is None:
            del self.parent[fact.party]
        else:
            self.parent[fact.party] = after
            self.children.setdefault(after, set()).add(fact.party)
        return True

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
        return list(self.group_of(top))

    def group_of(self, top: str) -> tuple[str, ...]:
        """``members`` as kept until a parent link changes (not copied: a fold may ask for every fact)."""
        found = self._members.get(top)
        if found is None:
            below, waiting = {top}, [top]
            while waiting:  # down the children links: the parties whose chain of parents passes through top
                for child in self.children.get(waiting.pop(), ()):
                    if child not in below:
                        below.add(child)
                        waiting.append(child)
            found = self._members[top] = tuple(sorted(below))
        return found

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
