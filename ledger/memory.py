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
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
