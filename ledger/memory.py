"""Pausing Python's cyclic garbage collector while a batch builds many long-lived objects.

Parsing, validating and storing a large batch creates hundreds of thousands of objects that
all stay alive. The collector keeps scanning them, to find no cycles: about a quarter of an
append's time (measured with ``bench/append.py``). Reference counting still frees everything
as usual while paused; the collector runs again when the batch is done.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """No collector passes inside; afterwards, what was built here counts as old.

    Everything made while paused sits in the youngest generation, so the first pass after the
    pause would walk all of it (a million-fact fold's states: 2.8 s of a replay, measured).
    ``gc.freeze`` then ``gc.unfreeze`` hands it to the oldest generation without walking it;
    it is still collected there, with the rest of the long-lived objects.
    """
    was_enabled = gc.isenabled()
    with collector_off():
        try:
            yield
        finally:
            if was_enabled:
                gc.freeze()
                gc.unfreeze()


@contextmanager
def heap_frozen() -> Iterator[None]:
    """Keep the collector off everything alive now (folded states) while answering from it.

    Answering a million-fact ledger's views creates millions of short-lived rows; each of the
    collector's passes would otherwise walk the states too (28 % of a 1M-fact replay, measured).
    ``gc.freeze`` sets them aside in O(1) and ``gc.unfreeze`` hands them back afterwards.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def frozen_too() -> None:
    """Inside ``heap_frozen``: set aside, too, what was built since (a state loaded while answering).

    ``collector_paused`` around that load handed everything back to the collector on its way out;
    this sets it all aside again until ``heap_frozen`` ends."""
    gc.freeze()


@contextmanager
def collector_off() -> Iterator[None]:
    """No collector passes inside, and nothing handed on afterwards: for work that builds many objects which
    all die with it (pickling a state keeps each object's reduction alive until it ends; the passes would
    walk them all, again and again: 18.9 s of a 1M-fact replay's 86, measured, against about 10 without).
    Safe inside ``heap_frozen``, which ``collector_paused`` would undo."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
