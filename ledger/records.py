"""A fact as the ledger holds it: the user's fact plus what the store adds (id, position, recorded time)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from events import Fact


@dataclass(frozen=True, slots=True)
class Recorded:
    """One stored fact.

    ``seq`` is its position in the ledger (recording order, 1-based); ``recorded`` is the UTC
    time of the batch that stored it (transaction time). When a correction has replaced the
    fact, ``fact`` is the replacement and ``corrected_by`` the correction's id: the record
    keeps the original's id and place so that history still reads in the order it was told.
    """

    id: str
    seq: int
    recorded: datetime
    fact: Fact
    corrected_by: str | None = None

    @property
    def kind(self) -> str:
        return self.fact.kind

    @property
    def key(self) -> str | None:
        return self.fact.key

    @property
    def effective(self) -> date:
        return self.fact.effective

    @property
    def ref(self) -> str:
        """How a message names this fact: its key when it has one, else its id."""
        return f"{self.fact.key!r}" if self.fact.key else f"#{self.id[:12]}"

    def describe(self) -> str:
        return f"{self.kind} {self.ref} of {self.effective.isoformat()}"


_new = object.__new__
_SET_ID, _SET_SEQ, _SET_RECORDED, _SET_FACT, _SET_CORRECTED_BY = (
    Recorded.__dict__[name].__set__ for name in ("id", "seq", "recorded", "fact", "corrected_by")
)


def read_back(id: str, seq: int, recorded: datetime, fact: Fact) -> Recorded:
    """``Recorded(id, seq, recorded, fact)`` for a fact read from the store, slot by slot: the frozen class's
    ``__init__`` sets each field through ``object.__setattr__``, a cost paid for every fact a replay reads."""
    record = _new(Recorded)
    _SET_ID(record, id)
    _SET_SEQ(record, seq)
    _SET_RECORDED(record, recorded)
    _SET_FACT(record, fact)
    _SET_CORRECTED_BY(record, None)
    return record
