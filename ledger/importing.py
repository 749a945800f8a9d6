"""Facts from a file or a stream, parsed one at a time, each with its place for error messages.

Files are read as bytes, so a byte that is not UTF-8 is reported on its own line; what the
readers refuse (and why) is in ``events.readers``. Every problem, whatever the input, is a
``RejectedError`` with a one-line message: nothing else escapes, so nothing is ever written.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import IO, Any

from events import Catalogue, FactError
from events.readers import SourceError, guess_format, printable, read_facts, sniff
from ledger.appending import Incoming
from ledger.errors import RejectedError

STDIN = "<stdin>"


def incoming_from_path(catalogue: Catalogue, path: str, fmt: str | None = None) -> Iterator[Incoming]:
    """Parse the file at ``path`` (``-`` for standard input); the first bad fact raises ``RejectedError``."""
    if path == "-":
        stream = standard_input()
        if fmt is None:
            try:
                fmt, stream = sniff(stream, STDIN)
            except SourceError as error:
                raise RejectedError(str(error)) from None
        yield from incoming_from_stream(catalogue, stream, STDIN, fmt)
        return
    try:
        stream = open(path, "rb")  # noqa: SIM115  (closed below, also when the caller stops early)
    except (OSError, ValueError) as error:  # ValueError: a NUL in the name
        raise RejectedError(f"{printable(path, 1000)}: cannot read: {getattr(error, 'strerror', None) or error}") from None
    with stream:
        yield from incoming_from_stream(catalogue, stream, path, fmt or guess_format(path))


def standard_input() -> IO[Any]:
    """Standard input as bytes (as text only when it has no bytes under it); ``RejectedError`` when it is closed."""
    return readable(sys.stdin, STDIN)


def readable(stream: IO[Any] | None, name: str) -> IO[Any]:
    """The bytes under a text stream when it has them, else the stream; ``RejectedError`` if it is closed or absent.

    Python sets ``sys.stdin`` to None when the process starts with its standard input closed
    (``<&-``), and wrappers around it then fail on first use.
    """
    try:
        source = getattr(stream, "buffer", None) or stream
        closed = source is None or getattr(source, "closed", False) or not callable(getattr(source, "read", None))
    except (AttributeError, ValueError):
        closed = True
    if closed:
        what = "standard input is closed" if name == STDIN else "the stream is closed"
        raise RejectedError(f"{printable(name, 1000)}: cannot read: {what}")
    return source  # type: ignore[return-value]


def place(name: str, line: int) -> str:
    """``file:line`` for messages, on one line whatever the file is called."""
    return f"{printable(name, 1000)}:{line}"


def incoming_from_stream(catalogue: Catalogue, stream: IO[Any], name: str, fmt: str) -> Iterator[Incoming]:
    """Parse ``stream`` (bytes, or text) in format ``fmt``; ``name`` is the file named in messages."""
    parse = catalogue.parse
    try:
        for line, data in read_facts(stream, name, fmt):
            try:
                yield Incoming(place(name, line), parse(data))
            except FactError as error:
                kind = data.get("kind")
                where = f" ({printable(kind)})" if isinstance(kind, str) and error.field != "kind" else ""
                raise SourceError(name, line, error.message + where, error.field) from None
    except SourceError as error:
        raise RejectedError(str(error)) from None
