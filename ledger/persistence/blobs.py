"""Large values (a checkpoint's state) stored and read back a piece at a time.

A million-fact revenue book's checkpoint is about 29 MB. Read into one ``bytes`` to be stored,
it is held once as those bytes and once more by the driver, which copies a parameter before it
binds it (SQLite's ``SQLITE_TRANSIENT``), on top of the state itself and its pickling: the peak
of a replay's largest process. Read back whole, it is held beside the state it is unpickled
into. So a value to store is a ``Spooled``: pieces (byte strings, and spans of the temporary
files it was pickled into) with its size and digest, which a backend able to write a blob in
pieces (SQLite: ``zeroblob`` and incremental blob I/O) writes a megabyte at a time; the others
take it whole. A value read back is a ``Stored``: read by place, so the unpickler takes a piece
when it reaches it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from typing import IO, Protocol

CHUNK = 1 << 20
"""Bytes a blob is written, read or hashed at a time."""


class Spooled:
    """A value to store, made of byte strings and stretches of open files, ``(file, start, length)``, in order."""

    def __init__(self, pieces: Sequence[bytes | tuple[IO[bytes], int, int]]) -> None:
        if not all(type(piece) is bytes or (type(piece) is tuple and len(piece) == 3) for piece in pieces):
            raise TypeError("a spooled value is made of bytes and (file, start, length) stretches")
        self.pieces = pieces
        self.size = sum(len(piece) if isinstance(piece, bytes) else piece[2] for piece in pieces)

    @classmethod
    def of(cls, data: bytes) -> Spooled:
        return cls([data])

    def chunks(self) -> Iterator[bytes]:
        """The value in pieces of at most ``CHUNK`` bytes (a byte string as it is)."""
        for piece in self.pieces:
            if isinstance(piece, bytes):
                yield piece
                continue
            file, start, left = piece
            file.seek(start)
            while left:
                chunk = file.read(min(left, CHUNK))
                if not chunk:
                    raise OSError(f"a spool file ended {left} bytes early")
                left -= len(chunk)
                yield chunk

    def digest(self) -> str:
        """The SHA-256 of the value, hex."""
        hashed = hashlib.sha256()
        for chunk in self.chunks():
            hashed.update(chunk)
        return hashed.hexdigest()

    def whole(self) -> bytes | bytearray:
        """The value in one buffer, read straight into it (a join would hold the chunks and the whole)."""
        if len(self.pieces) == 1 and isinstance(self.pieces[0], bytes):
            return self.pieces[0]
        value = bytearray(self.size)
        into = memoryview(value)
        at = 0
        for piece in self.pieces:
            if isinstance(piece, bytes):
                into[at : at + len(piece)] = piece
                at += len(piece)
                continue
            file, start, left = piece
            file.seek(start)
            while left:
                read = file.readinto(into[at : at + left])  # type: ignore[attr-defined]  # a binary file reads into a buffer
                if not read:
                    raise OSError(f"a spool file ended {left} bytes early")
                at, left = at + read, left - read
        return value


class Stored(Protocol):
    """A stored value read by place."""

    size: int

    def read(self, offset: int, length: int) -> bytes:
        """``length`` bytes from ``offset`` (fewer only past the end)."""


class InMemory:
    """A stored value read whole by a backend that cannot read one in pieces."""

    def __init__(self, data: bytes | bytearray) -> None:
        self.data = memoryview(data)
        self.size = len(data)

    def read(self, offset: int, length: int) -> bytes:
        return bytes(self.data[offset : offset + length])


def digest_of(stored: Stored) -> str:
    """The SHA-256 of a stored value, hex, read a ``CHUNK`` at a time."""
    hashed = hashlib.sha256()
    for offset in range(0, stored.size, CHUNK):
        hashed.update(stored.read(offset, CHUNK))
    return hashed.hexdigest()
