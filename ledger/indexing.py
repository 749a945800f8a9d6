"""What the index holds for each fact: its subjects, and its *touch*, the earliest date it can change.

A fact changes the story from its effective date on, for the parties it names. A correction
changes it from the earliest date the corrected fact has ever stood at (its own date, every earlier replacement's,
and the new replacement's), for every party any version of it named; a retraction likewise. A checkpoint folded up to date E stays
exact until a fact whose touch is on or before E is recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from functools import lru_cache
from typing import TYPE_CHECKING

from events import Fact
from events.corrections import FactCorrected, FactRetracted
from ledger.persistence import IndexRow
from ledger.records import Recorded
from ledger.timeline import CORRECTION_KINDS, FactIndex

if TYPE_CHECKING:
    from ledger.store import Store


class _Targets:
    """The facts corrections name, and every date each has stood at, from the store and the batch so far."""

    def __init__(self, store: Store, upto: int) -> None:
        self.store = store
        self.upto = upto
        self.batch = FactIndex()
        self.dates: dict[str, set[date]] = {}
        self.subjects: dict[str, set[str]] = {}
        self._loaded = False

    def turn_to(self, upto: int) -> None:
        """Go on to a batch stored after ``upto``, keeping what the corrections so far say of their targets: for the
        stored facts read a page at a time from the first, where nothing before the first page is to be loaded."""
        self.upto, self.batch, self._loaded = upto, FactIndex(), True

    def add(self, record: Recorded) -> None:
        if record.kind not in CORRECTION_KINDS:
            self.batch.add(record)

    def find(self, ref: str) -> Recorded | None:
        return self.store.target(ref, self.upto, self.batch)

    def history(self, target: Recorded) -> tuple[set[date], set[str]]:
        """Every date the target has stood at and every subject it has named, through all its corrections."""
        if not self._loaded:
            self._loaded = True
            stored = {record.seq: record for record in self.store.of_kinds(["fact.corrected"], self.upto)}
            for seq, named in self.store.targets(stored.values()).items():
                self._replaced(named, stored[seq].fact)
        dates = {target.fact.effective, *self.dates.get(target.id, ())}
        return dates, {*target.fact.subjects(), *self.subjects.get(target.id, ())}

    def corrected(self, correction: Recorded) -> None:
        target = self.find(correction.fact.fact)  # type: ignore[attr-defined]
        if target is not None:
            self._replaced(target, correction.fact)

    def _replaced(self, target: Recorded, correction: Fact) -> None:
        assert isinstance(correction, FactCorrected)
        self.dates.setdefault(target.id, set()).add(correction.replacement.effective)
        self.subjects.setdefault(target.id, set()).update(correction.replacement.subjects())


_iso = lru_cache(maxsize=100_000)(date.isoformat)
"""Each day's ISO text, made once (274 years of days kept): a million-fact batch's index rows hold two for each fact,
of a few thousand days."""


def index_rows(batch: Sequence[Recorded], store: Store, targets: _Targets | None = None) -> list[IndexRow]:
    """Index rows for a batch about to be stored (targets are looked up in the batch first, then the store)."""
    from ledger.store import to_us

    targets = targets or _Targets(store, batch[0].seq - 1 if batch else 0)
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
                _iso(fact.effective),
                _iso(touch),
                to_us(record.recorded),
                tuple(sorted(subjects)),
            )
        )
    return rows


def index_rows_from_the_first(store: Store) -> Callable[[Sequence[Recorded]], list[IndexRow]]:
    """``index_rows`` for the stored facts a page at a time, in order from the first (``Store.verify``): where each
    page would read every earlier correction from the store again (a million facts checked in 92 s), what they say
    of their targets is carried from page to page."""
    targets = _Targets(store, 0)
    targets.turn_to(0)  # nothing is stored before the first page: the history grows as the pages come

    def rows(page: Sequence[Recorded]) -> list[IndexRow]:
        if page:
            targets.turn_to(page[0].seq - 1)
        return index_rows(page, store, targets)

    return rows
