"""Replaying on several cores: the views of different folds answered by different processes at once.

A replay of a large ledger is Python work from end to end (reading and folding the facts, then
answering and writing about a row per fact), so it runs on one core however many there are.
Views of different folds share nothing but the facts they read, so the work splits by fold. The
folds wait in a queue, the one with the most facts to read first; each process takes the next
when it is free, folds it in a pass of its own, answers its views into their files, saves its
checkpoint and lets its state go before it takes another. Each process so holds one fold's state
at a time, where one pass for every fold holds them all at once; the price is that each fold
reads the facts it needs itself.

The other processes are forked (where ``ledger.background`` may fork) and each opens the ledger
afresh by its URL with the same plugins: a fork must never use its parent's database
connections. A worker that fails stops the others from taking more (at their next progress
report), and its error, the same exception, is raised here once each worker has ended or been
stopped: the caller's all-or-nothing rename then writes nothing. Checkpoints are pickled in
place by every worker, not in yet more children: the cores are taken.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import signal
import sys
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, NoReturn

from ledger.background import FORKS
from ledger.errors import LedgerError
from ledger.progress import Progress
from ledger.views import View, fold_name

if TYPE_CHECKING:
    from multiprocessing.sharedctypes import Synchronized

    from ledger.api import Ledger

SHARED_FROM = 50_000
"""Facts in the ledger from which a replay is shared out: below it, a whole replay takes less than a second, about
what forking and opening the store again would add."""
NEVER = 1 << 62
"""``Engine.background_from`` in a worker: checkpoints pickled in place."""
Work = Callable[["Ledger", list[View[Any]], Progress | None], dict[str, int]]
"""Answers views of one fold of a ledger (each view's rows written where the caller wants them): rows by view name."""
_SIGNALS = {signal.SIGINT, signal.SIGTERM}
_POLL = 0.2
_PR_SET_PDEATHSIG = 1
"""Seconds between two progress reports while this process waits for the others."""


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def by_fold(views: Iterable[View[Any]]) -> list[list[View[Any]]]:
    """The views in groups that fold one state each, in the order their folds are first named."""
    groups: dict[str, list[View[Any]]] = {}
    for view in views:
        groups.setdefault(fold_name(view), []).append(view)
    return list(groups.values())


def share_out(
    ledger: Ledger,
    views: Sequence[View[Any]],
    work: Work,
    *,
    as_of: date | None,
    head: int,
    jobs: int,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Every view answered by ``work``, in ``jobs`` processes, fold by fold; in this process alone, in one pass,
    where only one process would work (one job, one fold), the ledger is too small for it to pay
    (``SHARED_FROM``), this platform does not fork, or the store lives in this process's memory."""
    groups = by_fold(views)
    jobs = min(jobs, len(groups))
    if jobs < 2 or not FORKS or head < SHARED_FROM or not ledger.store.backend.shared:
        return work(ledger, list(views), progress)
    weights = [_facts_to_read(ledger, group[0], as_of, head) for group in groups]
    order = sorted(range(len(groups)), key=lambda number: -weights[number])
    return _Sharing(ledger, [groups[number] for number in order], work, progress, sum(weights)).run(jobs)


def _facts_to_read(ledger: Ledger, view: View[Any], as_of: date | None, head: int) -> int:
    """How many facts the fold of ``view`` reads to answer: those of its kinds after its best checkpoint."""
    checkpoint = ledger.engine.checkpoints.usable(view, head, as_of)
    kinds = None if view.kinds is None else frozenset(view.kinds)
    return ledger.store.count_between(checkpoint.cut if checkpoint else None, as_of, head, kinds)


class _Stopped(Exception):
    """Another worker failed: this one stops where it is."""


class _Sharing:
    """One replay's folds shared out: the queue, the count of facts folded by all, and whether to stop."""

    def __init__(self, ledger: Ledger, groups: list[list[View[Any]]], work: Work, progress: Progress | None, total: int):
        from multiprocessing import get_context  # only a shared replay needs it

        context = get_context("fork")
        self.ledger = ledger
        self.groups = groups
        self.work = work
        self.progress = progress
        self.total = total
        self.taken: Synchronized[int] = context.Value("i", 0)
        self.stopped: Synchronized[int] = context.Value("i", 0)
        self.folded: Synchronized[int] = context.Value("q", 0)

    def run(self, jobs: int) -> dict[str, int]:
        engine = self.ledger.engine
        background, engine.background_from = engine.background_from, NEVER
        children: list[_Child] = []
        try:
            children = [child for child in (self._fork() for _ in range(jobs - 1)) if child is not None]
            counts: dict[str, int] = {}
            with contextlib.suppress(_Stopped):  # a child failed: its error is raised below
                counts.update(self._take_all(self.ledger))
            while children:
                counts.update(children[0].outcome(self._show))
                children.pop(0)
            if self.stopped.value:  # pragma: no cover - a worker that stops the others raises its own error above
                raise LedgerError("the replay was stopped")
            if self.progress is not None:
                self.progress(self.folded.value, self.folded.value)  # the true total, now known: the bar ends full
            return counts
        except BaseException:
            self.stopped.value = 1
            raise
        finally:
            engine.background_from = background
            for child in children:
                child.kill()

    def _take_all(self, ledger: Ledger) -> dict[str, int]:
        counts: dict[str, int] = {}
        while (number := self._take()) is not None:
            counts.update(self.work(ledger, self.groups[number], self._counter()))
        return counts

    def _take(self) -> int | None:
        with self.taken.get_lock():
            number = self.taken.value
            if self.stopped.value or number >= len(self.groups):
                return None
            self.taken.value = number + 1
            return number

    def _counter(self) -> Progress:
        """A pass's progress callback: adds the facts it folds to the shared count, shows it (here), and stops the
        pass when another worker has failed."""
        told = 0

        def tell(done: int, total: int | None) -> None:
            nonlocal told
            if done > told:
                with self.folded.get_lock():
                    self.folded.value += done - told
                told = done
            if self.stopped.value:
                raise _Stopped
            self._show()

        return tell

    def _show(self) -> None:
        if self.progress is not None:
            self.progress(min(self.folded.value, self.total), self.total)

    def _fork(self) -> _Child | None:
        """A worker taking folds from the queue; None when no process could be made (the others do its share)."""
        try:
            reading, writing = os.pipe()
        except OSError:
            return None
        pid, parent = -1, os.getpid()
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
        try:
            with warnings.catch_warnings():  # Python 3.12+ warns of a fork beside threads (a database pool's):
                warnings.simplefilter("ignore", DeprecationWarning)  # the child opens connections of its own
                pid = os.fork()
            if pid == 0:  # pragma: no cover - the child: its outcome is read by ``_Child.outcome``
                os.close(reading)
                self._child(writing, blocked, parent)
        except OSError:
            os.close(reading)
            return None
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            if pid != 0:
                os.close(writing)
        return _Child(pid, reading)

    def _child(self, writing: int, mask: Iterable[int], parent: int) -> NoReturn:  # pragma: no cover - runs in the child
        """Work, write the outcome to the pipe, leave: ``os._exit`` runs no finaliser and closes no connection of
        the parent's."""
        code = 1
        try:
            for number in _SIGNALS:
                signal.signal(number, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            _die_with(parent)
            # a thread of the parent's (a progress bar's) may have held the standard streams' locks at the fork:
            sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115 - the child's own, never closed before os._exit
            sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
            self.progress = None  # the parent shows the count
            data = _encoded(self._outcome())
            with os.fdopen(writing, "wb") as pipe:
                pipe.write(data)
            code = 0
        finally:
            os._exit(code)

    def _outcome(self) -> tuple[str, Any]:  # pragma: no cover - runs in the child
        from ledger.api import Ledger

        try:
            with Ledger(self.ledger.store.backend.url, host=self.ledger.host) as own:
                own.engine.background_from = NEVER
                own.engine.save_after = self.ledger.engine.save_after
                return ("done", self._take_all(own))
        except _Stopped:
            return ("stopped", {})
        except BaseException as error:
            self.stopped.value = 1
            return ("failed", error)


def _die_with(parent: int) -> None:  # pragma: no cover - runs in the child
    """End this child when its parent ends (Linux ``PR_SET_PDEATHSIG``), so a killed replay leaves no worker
    writing on; and now, if the parent is already gone."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL))
    if os.getppid() != parent:
        os._exit(1)


def _encoded(outcome: tuple[str, Any]) -> bytes:  # pragma: no cover - runs in the child
    """The outcome's pickle; an error that cannot be pickled goes as its type's name and message."""
    try:
        data = pickle.dumps(outcome)
        pickle.loads(data)  # an exception may pickle and still not build again from its arguments
        return data
    except Exception:
        error = outcome[1]
        return pickle.dumps(("failed", LedgerError(f"{type(error).__name__}: {error}")))


@dataclass
class _Child:
    """A forked worker and the pipe its outcome comes through."""

    pid: int
    reading: int

    def outcome(self, waiting: Callable[[], None]) -> dict[str, int]:
        """The rows the child wrote by view, once it has ended (``waiting`` called meanwhile); its error raised."""
        data = bytearray()
        while True:
            ready, _, _ = select.select([self.reading], [], [], _POLL)
            if not ready:
                waiting()
                continue
            chunk = os.read(self.reading, 1 << 16)
            if not chunk:
                break
            data += chunk
        self._close()
        _, status = os.waitpid(self.pid, 0)
        self.pid = 0
        if not data or os.waitstatus_to_exitcode(status) != 0:
            raise LedgerError(f"a replay worker ended without an answer (exit status {os.waitstatus_to_exitcode(status)})")
        kind, value = pickle.loads(bytes(data))
        if kind == "failed":
            raise value
        return dict(value)

    def kill(self) -> None:
        """Stop the child now, and reap it (its files are the caller's to remove)."""
        if self.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)
            self.pid = 0
        self._close()

    def _close(self) -> None:
        if self.reading >= 0:
            os.close(self.reading)
            self.reading = -1
