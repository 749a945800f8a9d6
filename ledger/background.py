"""Pickling large states in a forked child while this process goes on answering.

Saving the checkpoints of a million-fact replay pickles about 80 MB of states, some 8 s of a
cold replay's 55, and a pass that also leaves a quarter-end checkpoint on its way
(``ledger.anchors``) pickles them twice. Pickling holds the interpreter, so a thread would not
help; a forked child gets a copy-on-write snapshot of the states as they stand, pickles them on
the other core, and copies each state's value (``ledger.checkpoints.spooled``) into a spool file a
piece at a time, while the parent folds on or answers the views. The parent writes the rows
itself once the child is done, each value straight from the spool (``Pickling.collect``): the
child never touches the parent's database connections, which must not cross a fork.

The price is memory outside this process: the child copies the pages it touches, about the
size of the states it pickles (a cold million-fact replay: measured in the README). So a child
is forked only where the memory left holds a copy of this process for it and for each child
still running, and one more (``room_for_a_child``): a small machine pickles in place. Only
Linux forks here (``os.fork`` elsewhere is missing or unsafe with system frameworks);
everywhere else, and for small states, the caller pickles in place.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import IO, Any

from ledger.persistence.blobs import Spooled

Encoder = Callable[[], AbstractContextManager[Spooled]]
"""Pickles one state: its value (``ledger.persistence.blobs.Spooled``), to read while the context is open."""
FORKS = sys.platform == "linux" and hasattr(os, "fork")
"""Whether states may be pickled in a child process here."""
_LENGTH = 8
"""Bytes of the length written before each state's outcome in the spool."""
_PICKLED, _FAILED = b"P", b"F"
"""What follows a length in the spool: a state's bytes, or why it could not be pickled (UTF-8)."""
_SIGNALS = {signal.SIGINT, signal.SIGTERM}


@dataclass
class Pickling:
    """A child pickling states into ``spool``; ``collect`` waits for it and reads them back."""

    pid: int
    spool: IO[bytes]
    count: int
    status: int | None = None
    """The child's wait status, once seen (``done``, ``collect``)."""

    def done(self) -> bool:
        """Whether the child has ended (and ``collect`` will not wait)."""
        return self.status is not None or self._wait(os.WNOHANG)

    def _wait(self, options: int) -> bool:
        try:
            pid, status = os.waitpid(self.pid, options)
        except ChildProcessError:  # reaped elsewhere (SIGCHLD ignored by an embedding program): its outcome is lost
            pid, status = self.pid, -1
        if pid == 0:
            return False
        self.status = status
        return True

    def stop(self) -> None:
        """End the child unfinished (its outcome is not wanted) and let its spool go."""
        if self.status is None:
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGKILL)
            self._wait(0)
        self.spool.close()

    def collect(self) -> Iterator[Spooled | str] | None:
        """Each state's value, or why it could not be pickled, in the order given, one at a time; None when the
        child did not finish (killed, interrupted, out of space) or was collected before. A value is a stretch of
        the spool, to read before taking the next (the spool is closed after the last)."""
        if self.status is None and not self.spool.closed:
            self._wait(0)
        status = self.status
        if self.spool.closed or status is None or status < 0 or os.waitstatus_to_exitcode(status) != 0:
            self.spool.close()
            return None
        self.spool.seek(0)
        return self._read()

    def _read(self) -> Iterator[Spooled | str]:
        with self.spool:
            end = self.spool.seek(0, os.SEEK_END)
            at = 0
            for _ in range(self.count):
                self.spool.seek(at)
                kind = self.spool.read(1)
                size = int.from_bytes(self.spool.read(_LENGTH), "big")
                start = at + 1 + _LENGTH
                if kind not in (_PICKLED, _FAILED) or start + size > end:
                    return
                at = start + size
                if kind == _PICKLED:
                    yield Spooled([(self.spool, start, size)])
                else:
                    self.spool.seek(start)
                    yield self.spool.read(size).decode("utf-8", "replace")


def room_for_a_child(running: int = 0) -> bool:
    """Whether the memory this process may still take holds a copy of it for the new child and one for each of the
    ``running`` ones, with one more to spare: a child copies the pages it touches, about the states it pickles.
    Counted from ``MemAvailable`` and, inside a container, from the cgroup's own limit (``memory.max`` less
    ``memory.current``), whichever is less."""
    try:
        resident = _resident()
        available = _meminfo_available()
    except (OSError, ValueError, IndexError):
        return False
    limit = _cgroup_room()
    if limit is not None:
        available = min(available, limit)
    return available >= (2 + running) * resident


def _resident() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _meminfo_available() -> int:
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    raise ValueError("no MemAvailable in /proc/meminfo")


def _cgroup_room() -> int | None:
    """What the cgroup (v2) this process runs in still allows, or None without a limit."""
    try:
        with open("/proc/self/cgroup") as cgroup:
            path = next(line.split(":", 2)[2].strip() for line in cgroup if line.startswith("0::"))
        folder = f"/sys/fs/cgroup{path}".rstrip("/")
        with open(f"{folder}/memory.max") as most, open(f"{folder}/memory.current") as used:
            limit = most.read().strip()
            return None if limit == "max" else int(limit) - int(used.read().strip())
    except (OSError, ValueError, StopIteration):
        return None


def pickle_apart(encoders: Sequence[Encoder], running: int = 0) -> Pickling | None:
    """Run each encoder in a forked child (``fork_holding_signals``), its value written to a spool file; None where
    this platform does not fork, the memory has no room for the child's copy (``room_for_a_child``), or no spool or
    child could be made, and the caller then encodes in place."""
    if not FORKS or not room_for_a_child(running):
        return None
    try:
        spool = tempfile.TemporaryFile()  # noqa: SIM115 - it outlives this call: ``collect`` closes it
    except OSError:  # no usable temporary folder: pickle in place, which can do without one
        return None
    made: list[Pickling] = []
    try:
        pid = fork_holding_signals(lambda pid: made.append(Pickling(pid, spool, len(encoders))))
    except OSError:  # out of processes or memory: pickle here, as without a fork
        spool.close()
        return None
    except BaseException:  # interrupted just after the fork: the child's work is not wanted, nor left running
        for pickling in made:
            pickling.stop()
        raise
    if pid == 0:  # pragma: no cover - the child; its outcome is read by ``collect``
        _child(encoders, spool)
    return made[0]


def fork_holding_signals(in_parent: Callable[[int], None]) -> int:
    """``os.fork``, never interrupted halfway by SIGINT or SIGTERM: the child gets 0 and must leave by ``os._exit``;
    here ``in_parent(pid)`` runs first (what must not be lost, the child's pid, a pipe end to close, belongs in
    it), and a Ctrl-C that came meanwhile is raised after it. ``OSError`` when no process can be made.

    The signals are held (``signals_held``), so this process's own handlers, or ``finally`` blocks, never run in
    the child, which sets each signal back to what it was before the handlers it inherits (the default, killing
    it at once; or ignored, when this process ignores it, as a command started in the background by a shell
    ignores Ctrl-C)."""
    for_child = {n: signal.SIG_IGN if signal.getsignal(n) == signal.SIG_IGN else signal.SIG_DFL for n in _SIGNALS}
    with signals_held() as holding:
        with warnings.catch_warnings():  # Python 3.12+ warns of a fork beside threads (a database pool's):
            warnings.simplefilter("ignore", DeprecationWarning)  # the child touches none of theirs
            pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            holding.in_child = True
            try:
                for number, handler in for_child.items():
                    signal.signal(number, handler)
            except BaseException:
                os._exit(1)  # never back into the parent's code
        else:
            in_parent(pid)
        return pid


@dataclass
class _Holding:
    in_child: bool = False
    """Set in a child forked while the signals were held: it neither restores its parent's handlers nor raises what
    they noted (the mask alone is set back, so a signal that came ends it at once)."""


@contextlib.contextmanager
def signals_held() -> Iterator[_Holding]:
    """SIGINT and SIGTERM held while the block runs, then each that came raised once, to the handler it was meant for:
    for what must not be cut halfway, a fork, or stopping and reaping every worker (a second Ctrl-C while the first
    was being handled had left the rest running, for a caller that goes on).

    The signals are blocked in this thread and, where this is the main thread, held by handlers that only note
    them (another thread, a progress bar's, may be the one the system hands a signal to)."""
    before = {number: signal.getsignal(number) for number in _SIGNALS}
    noted: list[int] = []
    held = _hold(before, noted)
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
    holding = _Holding()
    try:
        yield holding
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)  # in a child: a signal that came ends it here
        if held and not holding.in_child:
            for kept in held:
                signal.signal(kept, before[kept])
            for came in dict.fromkeys(noted):  # each once, to the handler it was meant for
                signal.raise_signal(came)


def _hold(before: dict[signal.Signals, Any], noted: list[int]) -> list[signal.Signals]:
    """Put handlers that only note a signal in place of this process's own (or the default) for the signals it does
    not ignore; the signals held. None where handlers cannot be set (not the main thread: the mask alone holds)."""
    held = [number for number, handler in before.items() if handler != signal.SIG_IGN and handler is not None]
    try:
        for number in held:
            signal.signal(number, lambda number, frame: noted.append(number))
    except ValueError:  # not the main thread
        for number in held:
            with contextlib.suppress(ValueError):
                signal.signal(number, before[number])
        return []
    return held


def _child(encoders: Sequence[Encoder], spool: IO[bytes]) -> None:
    """Pickle, write, leave: ``os._exit`` runs no finaliser, flushes no inherited buffer and closes no connection
    the parent still uses. A state that cannot be pickled is told in the spool; anything else (a full disk, a
    signal) ends the child with nothing told, and nothing is saved."""
    code = 1
    try:
        gc.disable()  # a collection would walk, and so copy, every page of the parent's heap
        for encode in encoders:
            with contextlib.ExitStack() as held:
                try:
                    value = held.enter_context(encode())  # pickled here, into files of the child's own
                except Exception as error:  # the state's own failure: the parent warns and saves the others
                    told = f"{type(error).__name__}: {error}".encode()
                    spool.write(_FAILED + len(told).to_bytes(_LENGTH, "big") + told)
                    continue
                spool.write(_PICKLED + value.size.to_bytes(_LENGTH, "big"))
                for chunk in value.chunks():  # a piece at a time: the child never holds the whole value
                    spool.write(chunk)
        spool.flush()
        code = 0
    finally:
        os._exit(code)
