"""A folder of files written all or nothing: what ``replay --out`` leaves behind.

Each file is first written under a name of this run's own (``.<name>.<random>.partial``, with
the mode the umask gives any new file), so two replays into one folder never write, read back
(``ledger.answers`` keeps the text it wrote) or delete each other's text. Once every file is
written, they are moved into place together, under a lock on the folder, so the folder holds one
run's set whole: either every file of this run or, when a move fails or the run is interrupted,
every file as it was before. Each move is one atomic rename: a reader never finds a file missing.

A run killed outright (``kill -9``, the out-of-memory killer) cannot remove its files, and a
million-fact replay's are a hundred megabytes. So every file of a run's own is held under a shared
lock (``flock``) from the moment it is made until it is moved or removed, and the next run into the
folder removes the ``.partial`` files no one holds (``sweep``): the lock goes with the process that
held it, however it ended, while a run still writing keeps its files.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import shutil
import stat
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import ModuleType

from ledger.stopping import raise_lost_stop

fcntl: ModuleType | None
try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX: no file is locked, none is swept, moves go on unlocked
    fcntl = None

LOCK_WAIT = 5.0
"""Seconds to wait for the folder's lock. Another replay holds it only while it renames its files (milliseconds);
a holder for longer is something else (``flock <folder> <command>`` around this very command), and the files are
then moved without it."""
_ATTEMPTS = 100
"""Random names tried for a new file before giving up (each taken one means another file of that name exists)."""


SWEEP_AFTER = 2.0
"""Seconds a ``.partial`` file no one holds must have gone unchanged before ``sweep`` removes it: a new file is made
and then locked, and in that instant it is held by no one."""
_HELD_LONG: set[tuple[int, int]] = set()
"""Folders (inode, device) whose lock this process waited ``LOCK_WAIT`` for in vain (``_locked``)."""
_HELD: dict[Path, int] = {}
"""This process's own files, each with the descriptor that holds its lock."""


def partial_file(folder: Path, name: str) -> Path:
    """A new, empty file in ``folder`` for ``name``'s text, named for this run alone and held (see the module's
    docstring) until ``let_go``."""
    return _new_name(folder, name, lambda path: _hold(path, os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)))


def let_go(path: Path) -> None:
    """Remove one of this run's files, if it is still there, and let its lock go."""
    path.unlink(missing_ok=True)
    _release(path)


def sweep(folder: Path) -> list[Path]:
    """Remove the ``.partial`` files in ``folder`` that no running process holds (left by a run that was killed),
    under the folder's lock; the files removed. Nothing that cannot be read or locked is touched."""
    removed: list[Path] = []
    with _locked(folder), contextlib.suppress(OSError):
        candidates = [path for path in folder.iterdir() if _OURS.fullmatch(path.name)]
        removed = [path for path in candidates if path not in _HELD and _remove_if_stale(path)]
    return removed


_OURS = re.compile(r"\..+\.[0-9a-f]{8}\.partial")
"""The names ``_new_name`` gives (``.<name>.<8 hex digits>.partial``): the only files ``sweep`` may remove."""


def _remove_if_stale(path: Path) -> bool:
    """Remove ``path`` when no one holds it and it has not changed for ``SWEEP_AFTER`` seconds: whether it was."""
    if fcntl is None:  # pragma: no cover - whether a run holds it cannot be told
        return False
    try:
        handle = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)  # never waits on a FIFO
    except OSError:
        return False
    try:
        status = os.fstat(handle)
        if not stat.S_ISREG(status.st_mode) or time.time() - status.st_mtime < SWEEP_AFTER:
            return False
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # held: a run still writing it
            return False
        path.unlink()
        return True
    except OSError:
        return False
    finally:
        os.close(handle)


def _hold(path: Path, handle: int) -> None:
    """Keep ``handle`` open with a shared lock on it, so ``sweep`` in another run leaves the file alone."""
    if fcntl is not None:
        with contextlib.suppress(OSError):  # pragma: no cover - no locks here: the file is only not swept
            fcntl.flock(handle, fcntl.LOCK_SH)
    _HELD[path] = handle


def _release(path: Path) -> None:
    handle = _HELD.pop(path, None)
    if handle is not None:
        with contextlib.suppress(OSError):
            os.close(handle)


def put_in_place(moves: Sequence[tuple[Path, Path]]) -> None:
    """Move each written file onto its target, all or none: ``OSError`` (naming the target), or an interruption,
    leaves every target as it was. A target that is a folder is refused before anything moves, and so is a stop
    this process was told and lost (``ledger.stopping``): the files are final once moved."""
    raise_lost_stop()
    for _, target in moves:
        if target.is_dir():
            raise IsADirectoryError(21, "a folder is in the way", str(target))
        if target.exists() and not target.is_file():  # a device, a pipe, a socket (through a link, too: /dev/stdout)
            reason = "not a regular file (a device, a pipe or a socket), which no file may replace"
            raise OSError(errno.EINVAL, reason, str(target))
    kept: list[tuple[Path, Path | None]] = []  # (target, its earlier text kept aside, or None when it had none)
    moved = 0
    with _locked(moves[0][1].parent if moves else None):
        try:
            for written, target in moves:
                kept.append((target, _keep_aside(target)))
                _replace(written, target)
                _release(written)
                moved += 1
        except BaseException:
            for target, before in reversed(kept[:moved]):
                with contextlib.suppress(OSError):
                    if before is not None:
                        os.replace(before, target)
                    else:
                        target.unlink(missing_ok=True)
            raise
        finally:
            for _, before in kept:
                if before is not None:
                    with contextlib.suppress(OSError):
                        let_go(before)


def _keep_aside(target: Path) -> Path | None:
    """A second name for the target's present text (a hard link, else a copy), so it can be put back; None when
    there is no such file (a dangling link in its place is simply replaced)."""
    if not target.is_file():
        return None

    def link(path: Path) -> None:
        try:
            os.link(target, path)
        except FileExistsError:
            raise
        except OSError:  # a file system without hard links, or a file another user owns (protected hard links)
            shutil.copy2(target, path)
        try:
            _hold(path, os.open(path, os.O_RDONLY))
        except OSError:
            path.unlink(missing_ok=True)  # a text that cannot be held is not kept: nothing is left behind
            raise

    try:
        return _new_name(target.parent, f"{target.name}.before", link)
    except OSError as error:
        # the file is there but its text cannot be kept to put back should a later move fail: all or none
        # cannot be promised, so nothing moves; say why, not merely that it cannot be written
        reason = f"its earlier text cannot be kept to put back ({error.strerror or error})"
        raise OSError(error.errno, reason, str(target)) from None


def _replace(source: Path, target: Path) -> None:
    try:
        os.replace(source, target)
    except OSError as error:
        raise OSError(error.errno, error.strerror, str(target)) from None


def _new_name(folder: Path, name: str, make: Callable[[Path], None]) -> Path:
    """``make(path)`` at a new random name beside ``name`` in ``folder``; ``make`` raises ``FileExistsError`` when
    the name is taken, and another is tried."""
    for _ in range(_ATTEMPTS):
        path = folder / f".{name}.{secrets.token_hex(4)}.partial"
        try:
            make(path)
        except FileExistsError:
            continue
        return path
    raise FileExistsError(17, "no free name", str(folder / name))


@contextlib.contextmanager
def _locked(folder: Path | None) -> Iterator[None]:
    """Hold an exclusive lock on the folder itself (no lock file is left in it) while files move into place, waiting
    for it at most ``LOCK_WAIT``; where folders cannot be locked (no ``fcntl``, a file system that refuses) or the
    lock is held longer, the moves go on without it. A folder whose lock was held past the wait once is not waited
    for again by this process: its holder is no other run (``flock <folder> <command>`` around this very one), and
    a command that sweeps and then moves waited twice."""
    handle = None
    if folder is not None and fcntl is not None:
        with contextlib.suppress(OSError):
            handle = os.open(folder, os.O_RDONLY)
            key = os.fstat(handle)[:2]  # (inode, device): the folder however it was named
            deadline = time.monotonic() + (0 if key in _HELD_LONG else LOCK_WAIT)
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        _HELD_LONG.add(key)
                        break
                    time.sleep(0.05)
    try:
        yield
    finally:
        if handle is not None:
            os.close(handle)  # closing the descriptor lets the lock go
