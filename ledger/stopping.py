"""Being told to stop: SIGTERM (a stopped container, a supervisor, ``kill``) and Ctrl-C end a command through its
``finally`` blocks, promptly, and never hang in them.

The handler raises where the main thread happens to be, which may be halfway through a library's
bookkeeping (a connection pool between taking its writer's lock and handing the connection
out): a ``finally`` that then goes back to the database can wait on a lock nobody will release.
So, once told to stop, a command does only what leaves files and the ledger whole (partial files
removed; an open transaction rolled back by the database itself) and skips what merely saves
work for later (``told_to_stop``: a replay's checkpoints, the states a child is still pickling).
And a watchdog outside the interpreter (``faulthandler``) ends the process with every thread's
traceback on stderr if that still takes longer than ``GRACE`` seconds, less than the ten a
supervisor usually waits before SIGKILL.

Once a batch's commit has begun, a stop comes too late to stop anything: it is held
(``held_from_commit``), the command says what it stored and ends as it would have.

A stop raised where C code runs Python code can be lost: an extension module that imports another
while it initialises turns the error into an ``ImportError``, which the module importing it
catches (``xml.etree`` falls back to its Python parser), and the command went on as if never told.
So a stop raised is remembered, and raised again (``raise_lost_stop``) where the command next
passes a point it passes often (facts folded, parties answered) or is about to make its work
final (a batch's commit, files moved into place): the command still ends through its ``finally``
blocks, where before the watchdog ended it, later, with its partial files left behind.
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
_hooks: list[Any] = []
"""The hook ``_redeliver`` stood in for, which it hands every other unraisable exception."""


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


def _redeliver(unraisable: Any) -> None:
    """A handler runs wherever the main thread is, a finaliser (``__del__``, a database driver freeing a result)
    included, and Python drops an exception raised there with a warning: the stop would be lost while the
    watchdog, armed, ended the process later as if hung. So the stop is raised again at the next call or
    return outside this hook (``sys.setprofile``, which a profiler running then gives up); should that be inside
    a finaliser too, it comes back here. Not once the interpreter is ending (the command is over, and each
    ``atexit`` callback left would be cut short in turn): the usual hook tells it then."""
    stop = unraisable.exc_value
    if isinstance(stop, (SystemExit, KeyboardInterrupt)) and _told and not sys.is_finalizing() and _in_main(unraisable):

        def again(frame: Any, event: str, arg: Any) -> None:
            if frame.f_code is _redeliver.__code__ or frame.f_code is again.__code__:
                return
            sys.setprofile(None)
            raise stop

        sys.setprofile(again)
        return
    _hooks[-1](unraisable)


def _in_main(unraisable: Any) -> bool:
    """Whether the exception was dropped while the program still runs, not by an ``atexit`` callback."""
    return "atexit" not in str(getattr(unraisable, "err_msg", "") or "")


_depth = 0
"""How many ``held_from_commit`` blocks are open."""
_committing = False
"""Whether a batch's commit has begun inside them (``commit_begins``): a stop is then held, not raised."""
_held: list[BaseException] = []
"""The stop held back while a commit is under way."""
_raised: list[BaseException] = []
"""The stops raised so far (not those held): one that never ended the command is raised again."""


@contextmanager
def held_from_commit() -> Iterator[None]:
    """Inside, once a batch's commit begins (``commit_begins``), a stop is held: the batch is stored whatever comes,
    so the command goes on to say so and ends as it would have, the stop noted on stderr. Without it, a stop landing
    in the commit, or right after it, ended the command with no word that the batch was in (or with "Aborted!"),
    and a user who tried again stored keyless facts twice. Should the commit fail instead, the stop is raised there
    (``commit_failed``)."""
    global _depth, _committing
    try:
        _depth += 1
        yield
    finally:
        _depth -= 1
        if _depth == 0:
            _committing = False
            if _held:
                _held.clear()
                _tell("stopped after the batch was stored: the command finished first")


def commit_begins() -> None:
    """Called by a recorder once a batch's rows are written, just before the database commits them: from here a
    stop is held if a ``held_from_commit`` block is open (else raised at once, as anywhere). A stop raised earlier
    and lost is raised now, so the batch is not committed."""
    global _committing
    raise_lost_stop()
    if _depth:
        _committing = True


def commit_failed() -> None:
    """The commit did not happen (the batch clashed, the database refused it): a stop it held is raised now."""
    global _committing
    _committing = False
    if _held:
        stop = _held.pop()
        _held.clear()
        _arm_watchdog()
        _raised.append(stop)
        raise stop


def raise_lost_stop() -> None:
    """Raise again the stop this process was told, if it was raised and lost (see the module's docstring): not
    while it is still on its way out (being handled, or the cause of what is), nor for a stop held through a
    commit, which lets the command finish."""
    if _raised and not _stopping_now():
        stop = _raised[-1]
        raise type(stop)(*stop.args)


def forget_stops() -> None:
    """The command is over: a host that goes on running (one that called ``cli.run`` and caught its ``SystemExit``)
    has no stop left to be raised again. (It is still told to stop, ``told_to_stop``: a replay generator closed
    later, at the interpreter's end, must not start saving its checkpoints then.)"""
    _raised.clear()


def _stopping_now() -> bool:
    """Whether the exception being handled here is a stop, or was raised while one was."""
    error = sys.exc_info()[1]
    while error is not None:
        if isinstance(error, SystemExit | KeyboardInterrupt):
            return True
        error = error.__context__
    return False


def _terminated(number: int, frame: Any) -> None:
    _stop(number, SystemExit(128 + number))


def _interrupted(number: int, frame: Any) -> None:
    _stop(number, KeyboardInterrupt())


def _stop(number: int, stop: BaseException) -> None:
    _told.append(number)
    if _committing:
        _held.append(stop)  # no watchdog: the commit and the line after it take what they take
        return
    _arm_watchdog()
    _raised.append(stop)
    raise stop


_armed: list[bool] = []


def _arm_watchdog() -> None:
    """Once, at the first stop raised: a second Ctrl-C does not put the deadline off."""
    if not _armed and sys.stderr is not None:
        _armed.append(True)
        with contextlib.suppress(ValueError, OSError, AttributeError):  # stderr without a descriptor: no watchdog
            faulthandler.dump_traceback_later(GRACE, exit=True, file=sys.stderr)


def _tell(message: str) -> None:
    with contextlib.suppress(OSError, ValueError, AttributeError):
        print(f"dealledger: {message}", file=sys.stderr, flush=True)
