"""Standard output whose failures say they are its own: full, failing, or gone.

A command tells an answer it could not write as one line (``cannot write to standard output``) and
a reader that stopped reading (``| head``) by ending quietly; a plugin's own file, pipe or socket
that fails is the plugin's failure. The same ``OSError`` (``ENOSPC``, ``EPIPE``) comes from either,
so ``tag`` puts standard output on a writer of its own, whose errors are ``StandardOutputError``
(``StandardOutputGone`` for a reader gone, still a ``BrokenPipeError``, which click ends quietly).
"""

from __future__ import annotations

import io
import sys


class StandardOutputError(OSError):
    """Writing standard output failed (a full device, an I/O error): not a file of the command's own."""


class StandardOutputGone(StandardOutputError, BrokenPipeError):
    """The reader of standard output stopped reading (``| head``)."""


class _Writer(io.FileIO):
    """Standard output's file descriptor, whose failed writes say they are standard output's."""

    def write(self, data: object) -> int | None:  # type: ignore[override]
        try:
            return super().write(data)  # type: ignore[arg-type]
        except BrokenPipeError as error:
            raise StandardOutputGone(error.errno, error.strerror) from None
        except OSError as error:
            raise StandardOutputError(error.errno, error.strerror) from None


def tag() -> None:
    """Put ``sys.stdout`` on a ``_Writer`` over the same descriptor, with the same encoding, error handler and line
    buffering; a standard output that is no file (a test's capture, closed) is left as it is."""
    out = sys.stdout
    try:
        descriptor = out.fileno()
        out.flush()
    except (AttributeError, OSError, ValueError):
        return
    buffered = io.BufferedWriter(_Writer(descriptor, "w", closefd=False))
    sys.stdout = io.TextIOWrapper(buffered, encoding=out.encoding, errors=out.errors, line_buffering=bool(out.line_buffering))
