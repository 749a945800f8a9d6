"""Every view at one moment: what ``dealledger replay`` writes out.

The facts are read and resolved once; each view then folds the same story. A view whose
options are required (a portfolio needs an investor) cannot be answered without them, so it
is listed with the reason instead of being guessed at.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

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
        missing = [option.name for option in view.options if option.required]
        if missing:
            continue
        query = Query(as_of, known_at, {option.name: option.default for option in view.options})
        answers[name] = (tuple(view.columns), run_view(view, ledger.host.view_providers[name], story, query))
    return answers
