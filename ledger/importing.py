"""Facts from a file or a stream, parsed one at a time, each with its place for error messages.

Files are read as bytes, so a byte that is not UTF-8 is reported on its own line; what the
readers refuse (and why) is in ``events.readers``. Every problem, whatever the input, is a
``RejectedError`` with a one-line message: nothing else escapes, so nothing is ever written.

Reading a large file takes a while, so the readers take an optional ``progress`` callback,
called with ``(done, total)`` now and then (``total`` None when unknown): the command line
draws a bar from it on a terminal, and the core never prints.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator
from typing import IO, Any

from events import Catalogue, FactError
from events.readers import SourceError, line_of, printable, read_facts, sniff
from ledger.appending import Incoming
from ledger.errors import RejectedError
from ledger.progress import PROGRESS_STEP, Progress

STDIN = "<stdin>"


def incoming_from_path(
    catalogue: Catalogue, path: str, fmt: str | None = None, progress: Progress | None = None
) -> Iterator[Incoming]:
    """Parse the file at ``path`` (``-`` for standard input); the first bad fact raises ``RejectedError``.

    The file is opened at once, so a file that cannot be read is refused before anything else is done (a command
    opens no ledger for it, and creates none); its facts are parsed as they are read. ``progress`` hears the line
    reached out of the file's lines (out of None for standard input).
    """
    if path == "-":
        return _from_standard_input(catalogue, fmt, progress)
    try:
        stream = open(path, "rb")  # noqa: SIM115  (closed by the reading, also when the caller stops early)
    except (OSError, ValueError) as error:  # ValueError: a NUL in the name
        raise RejectedError(f"{printable(path, 1000)}: cannot read: {getattr(error, 'strerror', None) or error}") from None
    return _from_file(catalogue, stream, path, fmt, progress)


def _from_standard_input(catalogue: Catalogue, fmt: str | None, progress: Progress | None) -> Iterator[Incoming]:
    stream = standard_input()
    if fmt is None:
        try:
            fmt, stream = sniff(stream, STDIN)
        except SourceError as error:
            raise RejectedError(str(error)) from None
    yield from incoming_from_stream(catalogue, stream, STDIN, fmt, progress)


def _from_file(
    catalogue: Catalogue, stream: IO[bytes], path: str, fmt: str | None, progress: Progress | None
) -> Iterator[Incoming]:
    with stream:
        total = line_count(path) if progress is not None else None
        source: Any = stream
        if fmt is None:  # by the name's extension, or else by the first lines, as from stdin
            try:
                fmt, source = sniff(stream, path)
            except SourceError as error:
                raise RejectedError(str(error)) from None
        yield from incoming_from_stream(catalogue, source, path, fmt, progress, total)


def line_count(path: str) -> int | None:
    """The lines of a regular file (a last line without a newline counts), or None when it cannot be known.

    One quick pass over the bytes: what a progress bar needs as its total. Only a regular file is counted: reading a
    pipe (``import <(cat export.jsonl)``), a FIFO or a device ahead of the reader would drain what the reader needs,
    wait forever for a writer that has gone, or never end (``/dev/zero``).
    """
    if path == "-":
        return None
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
    except (OSError, ValueError):
        return None  # the reader itself reports the problem
    lines, last = 0, b"\n"
    try:
        with open(path, "rb") as stream:
            while chunk := stream.read(1 << 20):
                lines += chunk.count(b"\n")
                last = chunk[-1:]
    except (OSError, ValueError):
        return None  # the reader itself reports the problem
    return lines + (last != b"\n")


def standard_input() -> IO[Any]:
    """Standard input as bytes (as text only when it has no bytes under it); ``RejectedError`` when it is closed."""
    return readable(sys.stdin, STDIN)


def readable(stream: IO[Any] | None, name: str) -> IO[Any]:
    """The bytes under a text stream when it has them, else the stream; ``RejectedError`` if it is closed or absent.

    Python sets ``sys.stdin`` to None when the process starts with its standard input closed
    (``<&-``), and wrappers around it then fail on first use.
    """
    source: IO[Any] | None
    try:
        source = getattr(stream, "buffer", None) or stream
        closed = source is None or getattr(source, "closed", False) or not callable(getattr(source, "read", None))
    except (AttributeError, ValueError):
        source, closed = None, True
    if closed or source is None:
        what = "standard input is closed" if name == STDIN else "the stream is closed"
        raise RejectedError(f"{printable(name, 1000)}: cannot read: {what}")
    return source


def place(name: str, line: int) -> str:
    """``file:line`` for messages, on one line whatever the file is called."""
    return f"{printable(name, 1000)}:{line}"


def incoming_from_stream(
    catalogue: Catalogue,
    stream: IO[Any],
    name: str,
    fmt: str,
    progress: Progress | None = None,
    total: int | None = None,
) -> Iterator[Incoming]:
    """Parse ``stream`` (bytes, or text) in format ``fmt``; ``name`` is the file named in messages.

    ``progress`` hears the line reached (a CSV row or a YAML document spans lines), out of ``total`` lines.
    """
    parse = catalogue.parse
    next_report = 0
    line = 0
    try:
        for line, data in read_facts(stream, name, fmt):
            if progress is not None and line >= next_report:
                progress(line, total)
                next_report = line + PROGRESS_STEP
            try:
                yield Incoming(place(name, line), parse(data))
            except FactError as error:
                kind = data.get("kind")
                where = f" ({printable(kind)})" if isinstance(kind, str) and error.field != "kind" else ""
                raise SourceError(name, line_of(data, error.field, line), error.message + where, error.field) from None
    except SourceError as error:
        raise RejectedError(str(error)) from None
    if progress is not None:
        progress(total or line, total or line)
