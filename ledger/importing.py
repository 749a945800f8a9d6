"""Facts from a file or a stream, parsed one at a time, each with its place for error messages."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import IO

from events import Catalogue, FactError
from events.readers import SourceError, guess_format, read_facts
from ledger.appending import Incoming
from ledger.errors import RejectedError


def incoming_from_path(catalogue: Catalogue, path: str, fmt: str | None = None) -> Iterator[Incoming]:
    """Parse the file at ``path`` (``-`` for standard input); the first bad fact raises ``RejectedError``."""
    name = "<stdin>" if path == "-" else path
    if path == "-":
        yield from incoming_from_stream(catalogue, sys.stdin, name, fmt or _sniff_stdin())
        return
    try:
        stream = open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115  (a byte-order mark is not data)
    except OSError as error:
        raise RejectedError(f"{path}: cannot read: {error.strerror}") from None
    with stream:
        yield from incoming_from_stream(catalogue, stream, name, fmt or guess_format(path))


def incoming_from_stream(catalogue: Catalogue, stream: IO[str], name: str, fmt: str) -> Iterator[Incoming]:
    parse = catalogue.parse
    try:
        for line, data in read_facts(stream, name, fmt):
            try:
                yield Incoming(f"{name}:{line}", parse(data))
            except FactError as error:
                kind = data.get("kind")
                where = f" ({kind})" if isinstance(kind, str) and error.field != "kind" else ""
                raise RejectedError(str(SourceError(name, line, error.message + where, error.field))) from None
    except SourceError as error:
        raise RejectedError(str(error)) from None
    except UnicodeDecodeError as error:
        raise RejectedError(f"{name}: not UTF-8 text ({error.reason})") from None


def _sniff_stdin() -> str:
    buffer = getattr(sys.stdin, "buffer", None)
    head = buffer.peek(256)[:256].decode("utf-8", "replace") if buffer is not None and hasattr(buffer, "peek") else ""
    return guess_format("-", head)
