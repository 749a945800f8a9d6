"""Pickling large states in a forked child while this process goes on answering.

Saving the checkpoints of a million-fact replay pickles about 80 MB of states, some 8 s of a
cold replay's 55, and a pass that also leaves a quarter-end checkpoint on its way
(``ledger.anchors``) pickles them twice. Pickling holds the interpreter, so a thread would not
help; a forked child gets a copy-on-write snapshot of the states as they stand, pickles them on
the other core, and writes the bytes to a spool file, while the parent folds on or answers the
views. The parent writes the rows itself once the child is done (``Pickling.collect``): the
child never touches the parent's database connections, which must not cross a fork.

The price is memory outside this process: the child copies the pages it touches (about the
size of the states it pickles). Only Linux forks here (``os.fork`` elsewhere is missing or
unsafe with system frameworks); everywhere else, and for small states, the caller pickles in
place.
"""

from __future__ import annotations

import gc
import os
import sys
import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO

FORKS = sys.platform == "linux" and hasattr(os, "fork")
"""Whether states may be pickled in a child process here."""
_LENGTH = 8
"""Bytes of the length written before each pickled state in the spool."""


@dataclass
class Pickling:
    """A child pickling states into ``spool``; ``collect`` waits for it and reads them back."""

    pid: int
    spool: IO[bytes]
    count: int
    status: int | None = None
    """The child's wait status, once ``done`` has seen it end."""

    def done(self) -> bool:
        """Whether the child has ended (and ``collect`` will not wait)."""
        if self.status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid == 0:
                return False
            self.status = status
        return True

    def collect(self) -> list[bytes] | None:
        """The pickled states, in the order given, or None when the child failed (nothing is then saved)."""
        try:
            status = self.status if self.status is not None else os.waitpid(self.pid, 0)[1]
            if os.waitstatus_to_exitcode(status) != 0:
                return None
            self.spool.seek(0)
            found: list[bytes] = []
            for _ in range(self.count):
                size = int.from_bytes(self.spool.read(_LENGTH), "big")
                data = self.spool.read(size)
                if len(data) != size:
                    return None
                found.append(data)
            return found
        finally:
            self.spool.close()


def pickle_apart(encoders: Sequence[Callable[[], bytes]]) -> Pickling | None:
    """Run each encoder in a forked child, its bytes written to a spool file; None where this platform does not
    fork (or the fork failed), and the caller then encodes in place."""
    if not FORKS:
        return None
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - it outlives this call: ``collect`` closes it
    try:
        with warnings.catch_warnings():  # Python 3.12+ warns of a fork beside threads (a database pool's):
            warnings.simplefilter("ignore", DeprecationWarning)  # the child pickles and leaves, touching none of theirs
            pid = os.fork()
    except OSError:  # out of processes or memory: pickle here, as without a fork
        spool.close()
        return None
    if pid == 0:  # pragma: no cover - the child; its outcome is read by ``collect``
        _child(encoders, spool)
    return Pickling(pid, spool, len(encoders))


def _child(encoders: Sequence[Callable[[], bytes]], spool: IO[bytes]) -> None:
    """Pickle, write, leave: ``os._exit`` runs no finaliser, flushes no inherited buffer and closes no connection
    the parent still uses. Any failure (an unpicklable state, a full disk, Ctrl-C) exits non-zero."""
    code = 1
    try:
        gc.disable()  # a collection would walk, and so copy, every page of the parent's heap
        for encode in encoders:
            data = encode()
            spool.write(len(data).to_bytes(_LENGTH, "big"))
            spool.write(data)
        spool.flush()
        code = 0
    finally:
        os._exit(code)
