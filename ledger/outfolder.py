"""A folder of files written all or nothing: what ``replay --out`` leaves behind.

Each file is first written under a name of this run's own (``.<name>.<random>.partial``), so two
replays into one folder never write, read back (``ledger.answers`` keeps the text it wrote) or
delete each other's text. Once every file is written, they are moved into place together, under
a lock on the folder, so the folder holds one run's set whole: either every file of this run, or,
when a move fails, every file as it was before (those already moved are put back).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path


def partial_file(folder: Path, name: str) -> Path:
    """A new, empty file in ``folder`` for ``name``'s text, named for this run alone."""
    handle, path = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".partial")
    os.close(handle)
    return Path(path)


def put_in_place(moves: Sequence[tuple[Path, Path]]) -> None:
    """Move each written file onto its target, all or none: ``OSError`` (naming the target) leaves every target as it
    was. A target that exists and is not a file (a folder of that name) is refused before anything moves."""
    for _, target in moves:
        if (target.exists() or target.is_symlink()) and not target.is_file():
            raise IsADirectoryError(21, "not a file", str(target))
    folder = moves[0][1].parent if moves else None
    with _locked(folder):
        done: list[tuple[Path, Path | None]] = []
        try:
            for written, target in moves:
                kept = None
                if target.exists():
                    kept = partial_file(target.parent, f"{target.name}.before")
                    _move(target, kept)
                done.append((target, kept))
                _move(written, target)
        except OSError:
            for target, kept in reversed(done):
                with contextlib.suppress(OSError):
                    if kept is not None:
                        kept.replace(target)
                    elif target.exists():
                        target.unlink()
            raise
        for _, kept in done:
            if kept is not None:
                kept.unlink(missing_ok=True)


def _move(source: Path, target: Path) -> None:
    try:
        source.replace(target)
    except OSError as error:
        raise OSError(error.errno, error.strerror, str(target)) from None


@contextlib.contextmanager
def _locked(folder: Path | None) -> Iterator[None]:
    """Hold an exclusive lock on the folder itself (no lock file is left in it) while files move into place; where
    folders cannot be locked (no ``fcntl``, a file system that refuses), the moves go on unlocked."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on POSIX
        yield
        return
    handle = None
    if folder is not None:
        with contextlib.suppress(OSError):
            handle = os.open(folder, os.O_RDONLY)
            fcntl.flock(handle, fcntl.LOCK_EX)
    try:
        yield
    finally:
        if handle is not None:
            os.close(handle)  # closing the descriptor lets the lock go
