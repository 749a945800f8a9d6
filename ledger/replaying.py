"""Every view at one moment: what ``dealledger replay`` writes out.

All views fold in one pass over the facts (each from its own best checkpoint), and each view
is folded once: a view with a required party option (a portfolio needs an investor) answers
every registered party of the types its option names from that one state, with the party as
the first column.

The pass over the facts is what takes time on a large ledger, so ``replay_all`` takes an
optional ``progress`` callback told ``(facts folded, facts known)``; it never prints.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from events.parties import PartyRegistered
from ledger.engine import answer
from ledger.exact import exact_decimals
from ledger.progress import Progress
from ledger.records import Recorded
from ledger.views import Query, View

if TYPE_CHECKING:
    from ledger.api import Ledger


Answer = tuple[tuple[str, ...], list[dict[str, Any]]]
"""A view's columns and rows."""


def replay_all(
    ledger: Ledger, as_of: date | None, known_at: datetime | None, progress: Progress | None = None
) -> dict[str, Answer]:
    views = [view for _, view in sorted(ledger.host.views.items()) if _replayable(view)]
    states = ledger.states(views, as_of, known_at, progress)
    with exact_decimals():
        return _answers(ledger, views, states, as_of, known_at)


def _answers(
    ledger: Ledger, views: list[View[Any]], states: list[Any], as_of: date | None, known_at: datetime | None
) -> dict[str, Answer]:
    registrations = ledger.registrations(as_of, known_at)
    answers: dict[str, Answer] = {}
    for view, state in zip(views, states, strict=True):
        plugin = ledger.host.view_providers[view.name]
        defaults = {option.name: option.default for option in view.options}
        required = [option for option in view.options if option.required]
        if not required:
            answers[view.name] = (tuple(view.columns), answer(view, plugin, state, Query(as_of, known_at, defaults)))
            continue
        option = required[0]
        rows: list[dict[str, Any]] = []
        for party in parties_of_type(registrations, option.replay_over):
            query = Query(as_of, known_at, {**defaults, option.name: party})
            rows.extend({option.name: party, **row} for row in answer(view, plugin, state, query))
        answers[view.name] = ((option.name, *view.columns), rows)
    return answers


def _replayable(view: View[Any]) -> bool:
    """A view with one required party option that names the party types to go over, or none required."""
    required = [option for option in view.options if option.required]
    return not required or (len(required) == 1 and bool(required[0].replay_over))


def parties_of_type(story: Sequence[Recorded], types: tuple[str, ...]) -> list[str]:
    """Registered parties of the given types, in slug order."""
    return sorted({r.fact.party for r in story if isinstance(r.fact, PartyRegistered) and r.fact.type in types})
