"""Replaying on several cores: the views of different folds answered by different processes at once.

A replay of a large ledger is Python work from end to end (reading and folding the facts, then
answering and writing about a row per fact), so it runs on one core however many there are.
Views of different folds share nothing but the facts they read, so the work splits by fold. Each
fold is folded by a worker process of its own, which folds it in a pass of its own, answers its
views into their files, saves its checkpoint and ends; the price is that each fold reads the facts
it needs itself. This process folds nothing: it starts ``jobs`` workers, the folds with the most
facts to read first, starts the next as each one ends, shows the progress and gathers the
outcomes.

A worker ends with its fold because letting a state go does not give its memory back (the
interpreter keeps each megabyte arena a single small object still lives in): a process that went
on to the regulatory timeline after the holdings of a million facts still held 250 MiB for a
state of a few, beside the state another process was folding. Each worker is forked from this
process, which holds no state, so it starts small.

The workers are forked (where ``ledger.background`` may fork) and each opens the ledger afresh by
its URL with the same plugins: a fork must never use its parent's database connections. A worker
that fails stops the others (at their next progress report) and no other is started; its error,
the same exception, is raised here at once: the caller's all-or-nothing rename then writes
nothing. Checkpoints are pickled in place by every worker, not in yet more children: the cores
are taken.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import selectors
import signal
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, NoReturn

from ledger.background import FORKS, fork_holding_signals, signals_held
from ledger.errors import LedgerError
from ledger.progress import Progress
from ledger.stopping import raise_lost_stop
from ledger.views import View, fold_name

if TYPE_CHECKING:
    from ledger.api import Ledger

SHARED_FROM = 50_000
"""Facts in the ledger from which a replay is shared out: below it, a whole replay takes less than a second, about
what forking and opening the store again would add."""
NEVER = 1 << 62
"""``Engine.background_from`` in a worker: checkpoints pickled in place."""
Work = Callable[["Ledger", list[View[Any]], Progress | None], dict[str, int]]
"""Answers views of one fold of a ledger (each view's rows written where the caller wants them): rows by view name."""
_POLL = 0.2
"""Seconds between two progress reports while this process waits for the others."""
_PR_SET_PDEATHSIG = 1
"""Linux's ``prctl`` option: the signal a process gets when its parent ends."""


def cores() -> int:
    """The cores this process may run on: those it may be scheduled on, and no more than its container's CPU quota
    allows (a container limited to two CPUs on a 64-core host would otherwise start a worker per fold)."""
    try:
        available = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        available = os.cpu_count() or 1
    quota = cpu_quota(_read_text)
    return available if quota is None else max(1, min(available, quota))


def cpu_quota(read: Callable[[str], str | None]) -> int | None:
    """The whole CPUs this process's cgroup quota allows, rounded up (cgroup v2 ``cpu.max``, v1 ``cpu.cfs_quota_us``
    over ``cpu.cfs_period_us``); None without a quota. ``read`` gives a file's text, or None where it cannot."""
    groups = read("/proc/self/cgroup") or ""
    for line in groups.splitlines():
        number, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        path = path.strip().rstrip("/")
        if number == "0" and not controllers:  # v2: one hierarchy
            text = read(f"/sys/fs/cgroup{path}/cpu.max")
            if text is not None:
                quota, _, period = text.strip().partition(" ")
                return _ratio(quota, period)
        elif "cpu" in controllers.split(","):  # v1: the cpu controller's own hierarchy
            for mount in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
                microseconds = read(f"/sys/fs/cgroup/{mount}{path}/cpu.cfs_quota_us")
                per = read(f"/sys/fs/cgroup/{mount}{path}/cpu.cfs_period_us")
                if microseconds is not None and per is not None:
                    return _ratio(microseconds.strip(), per.strip())
    return None


def _ratio(quota: str, period: str) -> int | None:
    if not (quota.isdigit() and period.isdigit()) or int(period) == 0:  # "max", -1: no quota
        return None
    return -(-int(quota) // int(period))


def _read_text(path: str) -> str | None:
    try:
        with open(path) as found:
            return found.read()
    except OSError:
        return None


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
    (``SHARED_FROM``), this platform does not fork, the store lives in this process's memory, or no memory can
    be shared with a child."""
    groups = by_fold(views)
    jobs = min(jobs, len(groups))
    if jobs < 2 or not FORKS or head < SHARED_FROM or not ledger.store.backend.shared:
        return work(ledger, list(views), progress)
    weights = _facts_to_read(ledger, [group[0] for group in groups], as_of, head)
    order = sorted(range(len(groups)), key=lambda number: -weights[number])
    try:
        sharing = _Sharing(ledger, [groups[n] for n in order], [weights[n] for n in order], work, progress, head, jobs)
    except OSError:  # no pipe or shared memory here (a sandbox): one process does it all
        return work(ledger, list(views), progress)
    return sharing.run()


def _facts_to_read(ledger: Ledger, views: Sequence[View[Any]], as_of: date | None, head: int) -> list[int]:
    """How many facts the fold of each view reads to answer: those of its kinds after its best checkpoint. Counted
    by kind once for each checkpoint date among them (a replay from scratch: once for all)."""
    by_cut: dict[date | None, dict[str, int]] = {}
    counts: list[int] = []
    for view in views:
        checkpoint = ledger.engine.checkpoints.usable(view, head, as_of)
        cut = checkpoint.cut if checkpoint else None
        kinds = by_cut.get(cut)
        if kinds is None:
            kinds = by_cut[cut] = ledger.store.count_by_kind(cut, as_of, head)
        counts.append(sum(kinds.values()) if view.kinds is None else sum(kinds.get(kind, 0) for kind in view.kinds))
    return counts


class _Stopped(Exception):
    """Another worker failed: this one stops where it is."""


class _Sharing:
    """One replay's folds, each folded by a worker of its own, no more than ``jobs`` at once.

    Nothing shared takes a lock, so a worker killed at any moment can leave no other waiting: each
    fold's worker counts the facts it folds in the fold's own slot of ``folded``, and ``stopped`` is
    one word."""

    def __init__(
        self,
        ledger: Ledger,
        groups: list[list[View[Any]]],
        weights: list[int],
        work: Work,
        progress: Progress | None,
        head: int,
        jobs: int,
    ):
        from multiprocessing.sharedctypes import RawArray, RawValue  # only a shared replay needs them

        self.ledger = ledger
        self.groups = groups
        self.weights = weights
        self.work = work
        self.progress = progress
        self.head = head
        self.head_hash = ledger.store.hash_at(head)
        self.jobs = jobs
        self.started = 0
        """The folds handed out so far, in order (the heaviest first)."""
        self.stopped = RawValue("i", 0)
        self.folded = RawArray("q", len(groups))
        self.children: list[_Child] = []

    def run(self) -> dict[str, int]:
        engine = self.ledger.engine
        background, engine.background_from = engine.background_from, NEVER
        try:
            counts = self._outcomes()
            self._tell_total()
            return counts
        except BaseException:
            self.stopped.value = 1
            raise
        finally:
            engine.background_from = background
            with signals_held():  # every worker stopped and reaped, even if Ctrl-C comes again meanwhile
                for child in self.children:
                    child.kill()

    def _start_next(self) -> dict[str, int]:
        """Fork a worker for the next fold; where none can be forked, fold it here (rows by view, then)."""
        number = self.started
        self.started += 1
        if self._fork(number):
            return {}
        with contextlib.suppress(_Stopped):  # a worker failed: its error is raised by ``_outcomes``
            return self.work(self.ledger, self.groups[number], self._counter(number))
        return {}

    def _counter(self, number: int) -> Progress:
        """A fold's progress callback: adds the facts it folds to this worker's count (at most the fold's weight: a
        fold loaded from a checkpoint reports the whole ledger), shows the sum (here), and stops the fold when
        another worker has failed."""
        told = 0
        most = self.weights[number]

        def tell(done: int, total: int | None) -> None:
            nonlocal told
            done = min(done, most)
            if done > told:
                self.folded[number] += done - told
                told = done
            if self.stopped.value:
                raise _Stopped
            self._show()

        return tell

    def _show(self) -> None:
        """The facts folded by all workers out of those they will fold: a fact read by two folds counts twice, so the
        total can exceed the ledger's size."""
        if self.progress is not None:
            self.progress(min(sum(self.folded), sum(self.weights)), sum(self.weights))

    def _tell_total(self) -> None:
        if self.progress is not None:
            done = sum(self.folded)
            self.progress(done, done)  # the true total, now known: the bar ends full

    def _outcomes(self) -> dict[str, int]:
        """Every fold's rows by view: workers started while fewer than ``jobs`` are at work (a fold whose worker
        cannot be forked is folded here meanwhile), each one's rows read as it ends, the progress shown meanwhile;
        the first failure raised at once (``run`` then stops the others), and no fold started after one."""
        counts: dict[str, int] = {}
        watched = 0  # the workers watched so far (the list only grows)
        with selectors.DefaultSelector() as waiting:
            while True:
                raise_lost_stop()  # this process folds nothing: a stop it lost is raised here (``ledger.stopping``)
                while len(waiting.get_map()) < self.jobs and self.started < len(self.groups) and not self.stopped.value:
                    counts.update(self._start_next())
                    for child in self.children[watched:]:
                        waiting.register(child.reading, selectors.EVENT_READ, child)
                    watched = len(self.children)
                if not waiting.get_map():
                    return counts
                for key, _ in waiting.select(_POLL):
                    child = key.data
                    if child.read():
                        waiting.unregister(child.reading)
                        counts.update(child.outcome())
                self._show()

    def _fork(self, number: int) -> bool:
        """A worker for fold ``number``, tracked at once (``run`` stops it whatever happens next); False when no
        process can be made."""
        try:
            reading, writing = os.pipe()
        except OSError:
            return False
        parent = os.getpid()

        def tracked(pid: int) -> None:
            self.children.append(_Child(pid, reading))
            os.close(writing)  # the child's end: the pipe ends when the child does

        try:
            pid = fork_holding_signals(tracked)
        except OSError:
            os.close(reading)
            os.close(writing)
            return False
        if pid == 0:  # pragma: no cover - the child: its outcome is read by ``_Child.outcome``
            os.close(reading)
            self._child(writing, parent, number)
        return True

    def _child(self, writing: int, parent: int, number: int) -> NoReturn:  # pragma: no cover - runs in the child
        """Work, write the outcome to the pipe, leave: ``os._exit`` runs no finaliser and closes no connection of
        the parent's (so the streams are flushed here)."""
        code = 1
        try:
            _die_with(parent)
            # a thread of the parent's (a progress bar's) may have held the standard streams' locks at the fork
            sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115 - the child's own
            sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
            self.progress = None  # the parent shows the count
            self.children = []  # the parent's to stop, not this child's
            data = _encoded(self._outcome(number))
            with os.fdopen(writing, "wb") as pipe:
                pipe.write(data)
            code = 0
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)

    def _outcome(self, number: int) -> tuple[str, Any]:  # pragma: no cover - runs in the child
        from ledger.api import Ledger

        try:
            if self.stopped.value:
                return ("stopped", {})
            with Ledger(self.ledger.store.backend.with_pool_size(WORKER_CONNECTIONS), host=self.ledger.host) as own:
                own.engine.background_from = NEVER
                own.engine.save_after = self.ledger.engine.save_after
                if own.store.hash_at(self.head) != self.head_hash:
                    raise LedgerError(f"a replay worker found another ledger at {own.store.backend.safe_url}")
                return ("done", self.work(own, self.groups[number], self._counter(number)))
        except _Stopped:
            return ("stopped", {})
        except BaseException as error:
            self.stopped.value = 1
            return ("failed", error)


WORKER_CONNECTIONS = 1
"""Connections a worker keeps open to a PostgreSQL store (the library's default is five; more are opened only while
one is busy): it reads a page at a time, and a replay shared between many cores should not take five per core."""


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
    data: bytearray = field(default_factory=bytearray)

    def read(self) -> bool:
        """Read what the child has written so far; True once it has closed the pipe (ended)."""
        chunk = os.read(self.reading, 1 << 16)
        self.data += chunk
        return not chunk

    def outcome(self) -> dict[str, int]:
        """The rows the child wrote by view, once it has ended; its error raised."""
        self._close()
        try:
            _, status = os.waitpid(self.pid, 0)
            self.pid = 0  # reaped: its pid may be another process's from now on, never to be killed
            code: int | None = os.waitstatus_to_exitcode(status)
        except ChildProcessError:  # reaped elsewhere (SIGCHLD ignored by an embedding program): its pipe tells
            self.pid, code = 0, None
        if not self.data or code not in (0, None):
            raise LedgerError(f"a replay worker ended without an answer (exit status {code})")
        try:
            kind, value = pickle.loads(bytes(self.data))
        except Exception:  # cut short (a worker reaped elsewhere tells nothing of how it ended)
            raise LedgerError("a replay worker ended without a whole answer") from None
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
