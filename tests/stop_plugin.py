"""A view and a validation that lose a stop as C code can (``--plugin tests.stop_plugin``), where
``DEALLEDGER_TEST_LOSE`` says: ``fold`` (the first fact folded; the thousandth then stalls), ``party``
(the first party answered; every later one stalls) or ``append`` (while a batch is checked).

A stop is lost when its handler raises inside code that swallows what it raises: an extension
module's import turns it into an ``ImportError``, which the importing module catches. Each stall
lasts until the watchdog ends the process, unless the stop is raised again before it."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Sequence
from typing import Any

from ledger.hookspecs import hookimpl
from ledger.problems import Problem
from ledger.records import Recorded
from ledger.views import Option, Query, View


def lose_a_stop() -> None:
    """Stop this process, and lose the stop as such C code does."""
    with contextlib.suppress(BaseException):
        signal.raise_signal(signal.SIGTERM)  # its handler raises before this returns


def _losing(where: str) -> bool:
    return os.environ.get("DEALLEDGER_TEST_LOSE") == where


class LosesInFold(View[list[int]]):
    """Facts folded; loses a stop at the first, stalls at the thousandth."""

    name = "stop-in-fold"
    help = "Facts folded."
    columns = ("facts",)
    keeps_answers = False

    def initial(self, query: Query) -> list[int]:
        return [0]

    def apply(self, state: list[int], record: Recorded) -> list[int]:
        state[0] += 1
        if _losing("fold") and state[0] == 1:
            lose_a_stop()
        if _losing("fold") and state[0] == 1000:
            time.sleep(120)
        return state

    def rows(self, state: list[int], query: Query) -> list[dict[str, Any]]:
        return [{"facts": state[0]}]


class LosesPerParty(LosesInFold):
    """Facts folded, for each company; loses a stop answering the first, stalls answering the others."""

    name = "stop-per-party"
    options = (Option("company", "the company", kind="party", required=True, replay_over=("company",)),)

    def apply(self, state: list[int], record: Recorded) -> list[int]:
        state[0] += 1
        return state

    def rows(self, state: list[int], query: Query) -> list[dict[str, Any]]:
        if _losing("party"):
            if len(state) == 1:
                state.append(1)  # the first party
                lose_a_stop()
            else:
                time.sleep(120)
        return [{"facts": state[0]}]


@hookimpl
def dealledger_views() -> list[View[Any]]:
    return [LosesInFold(), LosesPerParty()]


@hookimpl
def dealledger_validate(story: Sequence[Recorded], new: Sequence[Recorded]) -> Sequence[Problem]:
    if _losing("append"):
        lose_a_stop()
    return []
