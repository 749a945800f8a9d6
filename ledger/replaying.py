"""Every view at one moment: what ``dealledger replay`` writes out.

The facts are read and resolved once; each view then folds the same story. A view with a
required party option (a portfolio needs an investor) is answered once per registered party
of the types its option names, with that party as the first column.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from ledger.records import Recorded
from ledger.views import Query

if TYPE_CHECKING:
    from ledger.api import Ledger


Answer = tuple[tuple[str, ...], list[dict[str, Any]]]
"""A view's columns and rows."""


def replay_all(ledger: Ledger, as_of: date | None, known_at: datetime | None) -> dict[str, Answer]:
    from ledger.api import run_view

    story = ledger.story(as_of, known_at)
    answers: dict[str, Answer] = {}
    for name, view in sorted(ledger.host.views.items()):
        plugin = ledger.host.view_providers[name]
        defaults = {option.name: option.default for option in view.options}
        required = [option for option in view.options if option.required]
        if not required:
            answers[name] = (tuple(view.columns), run_view(view, plugin, story, Query(as_of, known_at, defaults)))
            continue
        if len(required) > 1 or not required[0].replay_over:
            continue
        option = required[0]
        rows: list[dict[str, Any]] = []
        for party in parties_of_type(story, option.replay_over):
            query = Query(as_of, known_at, {**defaults, option.name: party})
            rows.extend({option.name: party, **row} for row in run_view(view, plugin, story, query))
        answers[name] = ((option.name, *view.columns), rows)
    return answers


def parties_of_type(story: Sequence[Recorded], types: tuple[str, ...]) -> list[str]:
    """Registered parties of the given types, in slug order."""
    return sorted({r.fact.party for r in story if r.kind == "party.registered" and r.fact.type in types})  # type: ignore[attr-defined]
