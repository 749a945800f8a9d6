"""Views that test ``replay --out`` (``--plugin tests.replay_plugin``): one declares no columns, one fails
when ``DEALLEDGER_TEST_FAIL`` is set, stalls when ``DEALLEDGER_TEST_STALL`` is, and when
``DEALLEDGER_TEST_SWALLOW`` is, stops its own process and loses the stop as C code can."""

from __future__ import annotations

import os
import time
from typing import Any

from ledger.hookspecs import hookimpl
from ledger.records import Recorded
from ledger.views import Query, View
from tests.stop_plugin import lose_a_stop


class KindCount(View[dict[str, int]]):
    """Facts per kind; its columns are the rows' own (none declared)."""

    name = "kind-count"
    help = "Facts per kind."

    def initial(self, query: Query) -> dict[str, int]:
        return {}

    def apply(self, state: dict[str, int], record: Recorded) -> dict[str, int]:
        state[record.kind] = state.get(record.kind, 0) + 1
        return state

    def rows(self, state: dict[str, int], query: Query) -> list[dict[str, Any]]:
        return [{"kind": kind, "facts": count} for kind, count in sorted(state.items())]


class Fragile(KindCount):
    """The same rows, unless told to fail (after the views before it in name order have been answered)."""

    name = "zz-fragile"
    columns = ("kind", "facts")
    keeps_answers = False  # its rows read the environment, not only its state

    def rows(self, state: dict[str, int], query: Query) -> list[dict[str, Any]]:
        if os.environ.get("DEALLEDGER_TEST_FAIL"):
            raise RuntimeError("told to fail")
        if os.environ.get("DEALLEDGER_TEST_STALL"):
            time.sleep(120)  # until the test stops the replay
        if os.environ.get("DEALLEDGER_TEST_SWALLOW"):
            lose_a_stop()
        return super().rows(state, query)


@hookimpl
def dealledger_views() -> list[View[Any]]:
    return [KindCount(), Fragile()]
