"""Where along the effective-date axis a fold leaves checkpoints on its way: the quarter ends before its cut.

A checkpoint at a question's cut stops serving as soon as a fact dated on or before that cut
arrives, and facts are often recorded days or weeks after the day they are effective (a round
announced after it closed, a fine published late). Without checkpoints further back, such a fact
sends the next answer back to the first fact. So a fold that passes the end of one of the last
``QUARTERS`` quarters before its cut also saves its state there (``Engine.states``): a fact
back-dated into the current or the previous quarter then costs the facts after that quarter's
end, not the whole ledger. Quarter ends are also the days reports are asked about, so a
question ``--as-of`` a quarter end starts from one exactly.

Each anchor costs one more pickle of the state as it stood then, paid once: a later pass starts
from the latest anchor still exact and saves only the quarter ends it passes and lacks.
"""

from __future__ import annotations

from datetime import date, timedelta

QUARTERS = 2
"""Quarter ends before the cut a fold saves its state at."""
KEEP_ANCHORS = 8
"""Checkpoints at quarter ends kept per view besides the latest ``checkpoints.KEEP`` of any date: two years of them."""


def quarter_end(day: date) -> date:
    """The last day of the quarter ``day`` falls in."""
    month = (day.month - 1) // 3 * 3 + 3
    following = date(day.year + 1, 1, 1) if month == 12 else date(day.year, month + 1, 1)
    return following - timedelta(days=1)


def is_quarter_end(day: date) -> bool:
    return quarter_end(day) == day


def anchors_before(cut: date, count: int = QUARTERS) -> list[date]:
    """The ends of the ``count`` quarters before the one ``cut`` falls in, earliest first."""
    found: list[date] = []
    day = cut
    for _ in range(count):
        day = date(day.year, (day.month - 1) // 3 * 3 + 1, 1) - timedelta(days=1)  # the day before its quarter
        found.append(day)
    return found[::-1]
