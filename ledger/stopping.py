"""Being told to stop: SIGTERM (a stopped container, a supervisor, ``kill``) and Ctrl-C end a command through its
``finally`` blocks, promptly, and never hang in them.

The handler raises where the main thread happens to be, which may be halfway through a library's
bookkeeping (a connection pool between taking its writer's lock and handing the connection
out): a ``finally`` that then goes back to the database can wait on a lock nobody will release.
So, once told to stop, a command does only what leaves files and the ledger whole (partial files
removed; an open transaction rolled back by the database itself) and skips what merely saves
work for later (``told_to_stop``: a replay's checkpoints). And a watchdog outside the interpreter
(``faulthandler``) ends the process with every thread's traceback on stderr if that still takes
longer than ``GRACE`` seconds, less than the ten a supervisor usually waits before SIGKILL.
"""

from __future__ import annotations

import contextlib
import faulthandler
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

GRACE = 8.0
"""Seconds the ``finally`` blocks may take after a stop before the watchdog ends the process (exit status 1)."""

_told: list[int] = []


def told_to_stop() -> bool:
    """Whether this process has been told to stop (by a handler ``install`` put in place)."""
    return bool(_told)


def install() -> None:
    """Handle SIGTERM by raising ``SystemExit(128 + SIGTERM)``, as a shell reports a process it ended, and Ctrl-C
    by raising ``KeyboardInterrupt`` as Python does, each noting the stop first and arming the watchdog. A signal
    this process was started ignoring (a command started in the background by a shell ignores Ctrl-C) stays
    ignored; one somebody else handles is left to them."""
    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _terminated)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _interrupted)
    if sys.unraisablehook is not _redeliver:
        _hooks.append(sys.unraisablehook)
        sys.unraisablehook = _redeliver


_hooks: list[Any] = []
"""The hook ``_redeliver`` stood in for, which it hands every other unraisable exception."""


def _redeliver(unraisable: Any) -> None:
    """A handler runs wherever the main thread is, a finaliser (``__del__``, a database driver freeing a result)
    included, and Python drops an exception raised there with a warning: the stop would be lost while the
    watchdog, armed, ended the process later as if hung. So the stop is raised again at the next call or
    return outside this hook (``sys.setprofile``); should that be inside a finaliser too, it comes back here."""
    if isinstance(unraisable.exc_value, (SystemExit, KeyboardInterrupt)) and _told:
        stop = unraisable.exc_value

        def again(frame: Any, event: str, arg: Any) -> None:
            if frame.f_code is _redeliver.__code__ or frame.f_code is again.__code__:
                return
            sys.setprofile(None)
            raise stop

        sys.setprofile(again)
        return
    _hooks[-1](unraisable)


_window: list[bool] = []
"""One entry per ``held_from_commit`` block open; ``commit_begins`` sets them True: a stop is then held."""
_held: list[BaseException] = []
"""The stop a commit under way holds back, raised when the block ends (or the commit fails)."""


@contextmanager
def held_from_commit() -> Iterator[None]:
    """Inside, once a batch's commit begins (``commit_begins``), a stop waits for the block to end, so a command
    can say the batch it stopped after was stored. Without it, a stop landing in the commit, or right after it,
    ended the command with no word that the batch was in, and a user who tried again stored keyless facts twice."""
    _window.append(False)
    try:
        yield
    finally:
        _window.pop()
        if not any(_window):
            _raise_held()


def commit_begins() -> None:
    """Called by a recorder once a batch's rows are written, just before the database commits them: from here a
    stop is held if a ``held_from_commit`` block is open (else raised at once, as anywhere)."""
    if _window:
        _window[-1] = True


def commit_failed() -> None:
    """The commit did not happen (the batch clashed, the database refused it): a stop it held is raised now."""
    if _window and _window[-1]:
        _window[-1] = False
        _raise_held()


def _raise_held() -> None:
    if _held:
        stop = _held.pop()
        _held.clear()
        raise stop


def _terminated(number: int, frame: Any) -> None:
    _stop(number, SystemExit(128 + number))


def _interrupted(number: int, frame: Any) -> None:
    _stop(number, KeyboardInterrupt())


def _stop(number: int, stop: BaseException) -> None:
    _note(number)
    if _window and _window[-1]:
        _held.append(stop)
        return
    raise stop


def _note(number: int) -> None:
    first = not _told
    _told.append(number)
    if first and sys.stderr is not None:
        with contextlib.suppress(ValueError, OSError, AttributeError):  # stderr without a descriptor: no watchdog
            faulthandler.dump_traceback_later(GRACE, exit=True, file=sys.stderr)
