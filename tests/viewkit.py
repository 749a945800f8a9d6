"""Ledgers written inline in a test, as interchange dicts, folded through a view without any store.

Record ``n`` (1-based) gets id ``f{n}``, position ``n`` and a recorded time ``n`` seconds after
``RECORDED``, so tests can name facts and cut by ``known_at`` without a clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from events import Catalogue
from ledger.records import Recorded
from ledger.timeline import story
from ledger.views import Query, Row, View, fold

RECORDED = datetime(2025, 1, 1, tzinfo=UTC)
_CATALOGUE = Catalogue()


def records(facts: Iterable[Mapping[str, Any]], *, start: int = 1) -> list[Recorded]:
    """Parse each dict into a recorded fact, in recording order."""
    return [Recorded(f"f{n}", n, RECORDED + timedelta(seconds=n), _CATALOGUE.parse(fact)) for n, fact in enumerate(facts, start)]


def recorded_at(n: int) -> datetime:
    """When record ``n`` was recorded: for ``known_at`` cuts."""
    return RECORDED + timedelta(seconds=n)


def rows(
    view: View[Any],
    facts: Sequence[Mapping[str, Any]] | Sequence[Recorded],
    *,
    as_of: date | None = None,
    known_at: datetime | None = None,
    **options: Any,
) -> list[Row]:
    """The view's rows for the ledger ``facts`` at (as_of, known_at), with the view's ``options``."""
    ledger = list(facts) if facts and isinstance(facts[0], Recorded) else records(facts)  # type: ignore[arg-type]
    query = Query(as_of=as_of, known_at=known_at, options=options)
    state = fold(view, story(ledger, as_of=as_of, known_at=known_at), query)
    return list(view.rows(state, query))


def party(slug: str, type: str = "company", **fields: Any) -> dict[str, Any]:
    """A ``party.registered`` dict dated early enough for any test."""
    return {"kind": "party.registered", "effective": "2000-01-01", "party": slug, "name": slug.title(), "type": type, **fields}
