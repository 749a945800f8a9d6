"""Progress of long work (reading a file, folding a ledger), told to whoever shows it.

The core never prints: a long-running function takes an optional ``Progress`` callback and
calls it with ``(done, total)``; the command line turns that into a bar on a terminal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from ledger.stopping import raise_lost_stop

Progress = Callable[[int, int | None], None]
"""Told ``(done, total)`` as work advances; ``total`` is None while unknown."""

PROGRESS_STEP = 500
"""Items between two reports: often enough for a bar, rarely enough to cost nothing."""

Item = TypeVar("Item")


def counted(items: Iterable[Item], progress: Progress | None, total: int | None = None) -> Iterator[Item]:
    """``items`` unchanged, telling ``progress`` how many have passed (every ``PROGRESS_STEP``, and at the end).

    Every ``PROGRESS_STEP`` items, too, a stop this process was told and lost is raised again (``ledger.stopping``):
    the long passes over the facts, and over a replay's rows, all go through here."""
    done = 0
    if progress is not None:
        progress(0, total)
    for item in items:
        yield item
        done += 1
        if done % PROGRESS_STEP == 0:
            raise_lost_stop()
            if progress is not None:
                progress(done, total)
    if progress is not None:
        progress(done, done)  # the true total, now known: the bar ends full
