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

SETTLE = timedelta(days=31)
"""How long before a cut the quarter end a fold saves at must lie: a fact up to this late keeps it exact."""
KEEP_ANCHORS = 8
"""Checkpoints at quarter ends kept per view besides the latest ``checkpoints.KEEP`` of any date: two years of them."""


def quarter_end(day: date) -> date:
    """The last day of the quarter ``day`` falls in."""
    month = (day.month - 1) // 3 * 3 + 3
    following = date(day.year + 1, 1, 1) if month == 12 else date(day.year, month + 1, 1)
    return following - timedelta(days=1)


def is_quarter_end(day: date) -> bool:
    return quarter_end(day) == day


def anchor_before(end: date) -> date:
    """The end of the last quarter that ended at least ``SETTLE`` before ``end``."""
    day = end - SETTLE
    return day if is_quarter_end(day) else date(day.year, (day.month - 1) // 3 * 3 + 1, 1) - timedelta(days=1)
