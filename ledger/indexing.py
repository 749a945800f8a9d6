"""What the index holds for each fact: its subjects, and its *touch*, the earliest date it can change.

A fact changes the story from its effective date on, for the parties it names. A correction
changes it from the earliest date the corrected fact has ever stood at (its own date, every earlier replacement's,
and the new replacement's), for every party any version of it named; a retraction likewise. A checkpoint folded up to date E stays
exact until a fact whose touch is on or before E is recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING

from events.corrections import FactCorrected, FactRetracted
from ledger.persistence import IndexRow
from ledger.records import Recorded

if TYPE_CHECKING:
    from ledger.store import Store


class _Targets:
    """The facts corrections name, and every date each has stood at, from the store and the batch so far."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.by_ref: dict[str, Recorded] = {}
        self.dates: dict[str, set[date]] = {}
        self.subjects: dict[str, set[str]] = {}
        self._loaded = False

    def add(self, record: Recorded) -> None:
        self.by_ref[record.id] = record
        if record.fact.key is not None:
            self.by_ref[record.fact.key] = record

    def find(self, ref: str) -> Recorded | None:
        found = self.by_ref.get(ref)
        if found is None:
            entry = self.store.entry(ref)
            if entry is not None:
                found = next(iter(self.store.at_positions([entry.position])), None)
                if found is not None:
                    self.add(found)
        return found

    def history(self, target: Recorded) -> tuple[set[date], set[str]]:
        """Every date the target has stood at and every subject it has named, through all its corrections."""
        if not self._loaded:
            self._loaded = True
            for correction in self.store.of_kinds(["fact.corrected"], self.store.head().position):
                self.corrected(correction)
        dates = {target.fact.effective, *self.dates.get(target.id, ())}
        return dates, {*target.fact.subjects(), *self.subjects.get(target.id, ())}

    def corrected(self, correction: Recorded) -> None:
        fact = correction.fact
        assert isinstance(fact, FactCorrected)
        target = self.find(fact.fact)
        if target is not None:
            self.dates.setdefault(target.id, set()).add(fact.replacement.effective)
            self.subjects.setdefault(target.id, set()).update(fact.replacement.subjects())


def index_rows(batch: Sequence[Recorded], store: Store) -> list[IndexRow]:
    """Index rows for a batch about to be stored (targets are looked up in the batch first, then the store)."""
    from ledger.store import to_us

    targets = _Targets(store)
    rows: list[IndexRow] = []
    for record in batch:
        fact = record.fact
        touch = fact.effective
        subjects = set(fact.subjects())
        if isinstance(fact, FactCorrected | FactRetracted):
            target = targets.find(fact.fact)
            if target is not None:
                dates, named = targets.history(target)
                subjects.update(named)  # a question about any party it ever named must see this change
                touch = min(touch, *dates)
            if isinstance(fact, FactCorrected):
                touch = min(touch, fact.replacement.effective)
                subjects.update(fact.replacement.subjects())
                targets.corrected(record)
        targets.add(record)
        rows.append(
            IndexRow(
                record.seq,
                record.id,
                fact.key,
                fact.kind,
                fact.effective.isoformat(),
                touch.isoformat(),
                to_us(record.recorded),
                tuple(sorted(subjects)),
            )
        )
    return rows
