"""Where along the effective-date axis a fold leaves a checkpoint on its way: a quarter end before its cut.

A checkpoint at a question's cut stops serving as soon as a fact dated on or before that cut
arrives, and facts are often recorded days or weeks after the day they are effective (a round
announced after it closed, a fine published late). Without a checkpoint further back, such a
fact sends the next answer back to the first fact. So a fold that passes the end of the last
quarter that ended at least ``SETTLE`` before its cut also saves its state there
(``Engine.states``): a fact back-dated by up to a month, or more, then costs the facts after
that quarter's end, not the whole ledger. Quarter ends are also the days reports are asked
about, so a question ``--as-of`` a quarter end starts from one exactly.

Each anchor costs one more pickle of the state as it stood then (a million-fact replay: about
8 s on 50, measured), so a pass saves one: the quarter end it needs most. A later pass that
starts before a quarter end and passes it saves that one too, so the anchors follow the ledger.
"""

from __future__ import annotations

from datetime import date, timedelta

from ledger.folds.periods import Period

SETTLE = timedelta(days=31)
"""How long before a cut the quarter end a fold saves at must lie: a fact up to this late keeps it exact."""
KEEP_ANCHORS = 8
"""Checkpoints at quarter ends kept per view besides the latest ``checkpoints.KEEP`` of any date: two years of them."""


def is_quarter_end(day: date) -> bool:
    return Period.of(day, "quarter").last_day == day


def anchor_before(end: date) -> date | None:
    """The end of the last quarter that ended at least ``SETTLE`` before ``end``; None in the first months of
    the calendar, where there is none (a registration dated 0001-01-01 to say "always")."""
    try:
        day = end - SETTLE
        quarter = Period.of(day, "quarter")
        return day if quarter.last_day == day else Period(quarter.start - quarter.length, quarter.length).last_day
    except (OverflowError, ValueError):
        return None
