"""From stored facts to the story as told at a moment: corrections applied, effective order.

Two time axes meet here. ``known_at`` cuts by transaction time: facts and corrections known
after it are ignored, so a past answer can be reproduced exactly (a store resolves it to the
last position known then, ``Store.known_position``; ``known`` here cuts records held outside a
store, which carry their recorded time alone). ``as_of`` cuts by valid
time: facts effective after it have not happened yet. Within one effective date, facts apply
in recording order.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Generic, TypeVar

from events.corrections import FactCorrected, FactRetracted
from events.parties import BUILT_IN_HOLDERS, PartyRegistered
from ledger.records import Recorded

CORRECTION_KINDS = ("fact.corrected", "fact.retracted")
T = TypeVar("T")


PREFIX_FROM = 8
"""The shortest id prefix a reference may name a fact by."""


@dataclass(frozen=True)
class Named(Generic[T]):
    """What a reference (a correction's or retraction's ``fact``) could name among some facts: the one with that
    id, the one with that key, and those whose id starts with it.

    One rule reads every reference, wherever its facts come from (``resolve``'s index, the store's index, a batch
    being appended): the id, else the key, else the only id it begins, among the facts (corrections and
    retractions aside) recorded before it. A key that equals another fact's id, or a later fact that shares a
    prefix, cannot change what an earlier reference named.
    """

    by_id: T | None = None
    by_key: T | None = None
    by_prefix: tuple[T, ...] = ()

    def __or__(self, other: Named[T]) -> Named[T]:
        """What the reference could name among both sets of facts."""
        return Named(
            self.by_id if self.by_id is not None else other.by_id,
            self.by_key if self.by_key is not None else other.by_key,
            (*self.by_prefix, *other.by_prefix),
        )

    def chosen(self) -> T | None:
        if self.by_id is not None:
            return self.by_id
        if self.by_key is not None:
            return self.by_key
        return self.by_prefix[0] if len(self.by_prefix) == 1 else None


def may_be_prefix(ref: str) -> bool:
    """Whether ``ref`` could begin a fact id (lower-case hex, ``PREFIX_FROM`` characters or more)."""
    return len(ref) >= PREFIX_FROM and all(c in "0123456789abcdef" for c in ref)


class FactIndex:
    """Find a stored fact by its id, a unique id prefix (8+ characters) or its key."""

    def __init__(self, records: Iterable[Recorded] = ()) -> None:
        self.by_id: dict[str, Recorded] = {}
        self.by_key: dict[str, Recorded] = {}
        self._sorted: list[str] | None = None
        for record in records:
            self.add(record)

    def add(self, record: Recorded) -> None:
        if self._sorted is not None and record.id not in self.by_id:
            insort(self._sorted, record.id)
        self.by_id[record.id] = record
        if record.fact.key is not None:
            self.by_key[record.fact.key] = record

    def find(self, ref: str) -> Recorded | None:
        return self.named(ref).chosen()

    def named(self, ref: str) -> Named[Recorded]:
        by_id, by_key = self.by_id.get(ref), self.by_key.get(ref)
        if by_id is not None or by_key is not None or not may_be_prefix(ref):
            return Named(by_id, by_key)
        # ids in order, so the ids a prefix names sit together: two bisections, not a scan
        if self._sorted is None:
            self._sorted = sorted(self.by_id)
        start = bisect_left(self._sorted, ref)
        matches = [i for i in self._sorted[start : start + 2] if i.startswith(ref)]
        return Named(by_prefix=tuple(self.by_id[i] for i in matches))


def known(records: Sequence[Recorded], known_at: datetime | None) -> Sequence[Recorded]:
    """The records recorded at or before ``known_at`` (records come in recording order): for records outside a store,
    whose recorded time is all they carry (a store's own go by ``Store.known_position``)."""
    if known_at is None:
        return records
    end = len(records)
    while end and records[end - 1].recorded > known_at:
        end -= 1
    return records[:end]


def resolve(records: Sequence[Recorded]) -> list[Recorded]:
    """Apply corrections and retractions; drop them; return the facts in effective order.

    A later correction of the same fact wins over an earlier one; a retraction removes the
    fact for good. The replacement keeps the original's id and recording position.
    """
    if not any(record.fact.kind in CORRECTION_KINDS for record in records):
        return sorted(records, key=effective_order)  # nothing to apply: the common case, kept cheap
    index = FactIndex()
    current: dict[str, Recorded] = {}
    for record in records:
        fact = record.fact
        if isinstance(fact, FactCorrected):
            target = index.find(fact.fact)
            if target is not None and target.id in current:
                current[target.id] = replace(target, fact=fact.replacement, corrected_by=record.id)
        elif isinstance(fact, FactRetracted):
            target = index.find(fact.fact)
            if target is not None:
                current.pop(target.id, None)
        else:
            index.add(record)
            current[record.id] = record
    return sorted(current.values(), key=effective_order)


def registered_parties(story: Iterable[Recorded]) -> set[str]:
    """The slugs registered by the facts of a resolved story, plus the built-in holders."""
    return set(BUILT_IN_HOLDERS) | {r.fact.party for r in story if isinstance(r.fact, PartyRegistered)}


def effective_order(record: Recorded) -> tuple[date, int]:
    return (record.fact.effective, record.seq)


def until(records: Sequence[Recorded], as_of: date | None) -> Sequence[Recorded]:
    """The prefix of effective-ordered records effective on or before ``as_of``."""
    if as_of is None:
        return records
    from bisect import bisect_right

    return records[: bisect_right(records, as_of, key=lambda r: r.fact.effective)]


def story(records: Sequence[Recorded], *, as_of: date | None = None, known_at: datetime | None = None) -> Sequence[Recorded]:
    """The facts a view folds for the moment (as_of, known_at): known, resolved, effective, ordered."""
    return until(resolve(known(records, known_at)), as_of)
