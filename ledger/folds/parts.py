"""Containers a checkpoint saves part by part: large states saved and read back in bounded memory.

A fold of a million facts holds millions of small objects: the revenue book an entry for each
grant, consumption and release, the holdings a position and payments for each holder of each
company. Pickle remembers every object it writes, and the arguments it will rebuild it from,
until the whole state is written, and the unpickler remembers what it read until the whole state
is read: saving a 1M-fact revenue book took 384 MiB above the state itself and the holdings 246
MiB (measured), the largest costs in a replay's memory. ``ValueLog`` (a list) and ``PartedDict``
(a dict) pickle themselves in parts of ``PART`` records or items, each a pickle of its own,
compressed, so only one part's worth is remembered at a time. Smaller ones pickle as usual.

The price, and the rule for using them: each part is pickled on its own, so an object reachable
from two parts comes back as two equal objects. That is harmless for immutable values (dates,
strings, numbers, ``Decimal``, ``Fraction``, tuples of them) and wrong for anything a fold
changes later. So:

- a ``ValueLog`` holds immutable records only;
- in a ``PartedDict``, whatever a fold may change under one key belongs to that key alone (a
  ``Position`` under its own (company, holder), a ``Table`` under its own company): never shared
  with another key, nor with anything outside the dict.

The tests walk the folded states of random ledgers to check that rule for every built-in fold,
and run the checkpoint equality property with parts of three.

A checkpoint's parts are read by the same restricted unpickler as the checkpoint itself
(``reading_parts``): a part can build no class its state could not.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import pickle
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from operator import attrgetter
from typing import IO, Any, TypeVar

from events.codecs import shared_text

K = TypeVar("K")
T = TypeVar("T")
V = TypeVar("V")

PART = 4096
"""Records or items per part: enough that a part compresses well, few enough that its pickle memo stays small."""
LEVEL = 1
"""zlib level: a 1M-fact revenue book's parts shrink about threefold in well under a second."""

_READER: ContextVar[Callable[[bytes], Any] | None] = ContextVar("dealledger_part_reader", default=None)


def _pickled(values: list[Any]) -> bytes:
    return zlib.compress(pickle.dumps(values, protocol=5), LEVEL)


def _unpickled(part: bytes) -> Any:
    read = _READER.get()
    if read is None:  # never a plain pickle.loads: an unpickler that allowed this class must not be bypassed
        raise pickle.UnpicklingError("a state saved in parts is read back by a checkpoint (see reading_parts)")
    return read(zlib.decompress(part))


class ValueLog(list[T]):
    """An append-only list of immutable records, pickled in compressed parts once longer than ``PART``."""

    __slots__ = ()

    def parts(self) -> Iterator[list[T]] | None:
        """The records in parts of ``PART``, made one at a time; None when there are no more than one part's worth."""
        size = PART
        if len(self) <= size:
            return None
        return (self[start : start + size] for start in range(0, len(self), size))

    def __reduce__(self) -> tuple[Any, ...]:
        parts = self.parts()
        if parts is None:
            return (type(self), (), None, iter(self))
        return (type(self), (), [_pickled(part) for part in parts])

    def __setstate__(self, parts: list[bytes]) -> None:
        for part in parts:
            self.extend(_unpickled(part))

    def __copy__(self) -> ValueLog[T]:
        return type(self)(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> ValueLog[T]:
        return type(self)(self)  # the records are immutable: sharing them is copying them


class PartedDict(dict[K, V]):
    """A dict whose items are pickled in compressed parts of about ``PART`` records (a value that is a list, dict
    or set counts its length); what a fold may change under one key must belong to that key alone (see the
    module's docstring)."""

    __slots__ = ()

    def parts(self) -> Iterator[list[tuple[K, V]]] | None:
        """The items in parts of about ``PART`` records (``_weighed``); None when they make one part or none."""
        parts = _weighed(self.items())
        first, second = next(parts, []), next(parts, None)
        if second is None:
            return None
        return itertools.chain((first, second), parts)

    def __reduce__(self) -> tuple[Any, ...]:
        parts = self.parts()
        if parts is None:
            return (type(self), (), None, None, iter(self.items()))
        return (type(self), (), [_pickled(part) for part in parts])

    def __setstate__(self, parts: list[bytes]) -> None:
        for part in parts:
            self.update(_shared_items(_unpickled(part)))

    def __copy__(self) -> PartedDict[K, V]:
        return type(self)(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> PartedDict[K, V]:
        copied: PartedDict[K, V] = type(self)()
        memo[id(self)] = copied
        for key, value in self.items():
            copied[copy.deepcopy(key, memo)] = copy.deepcopy(value, memo)
        return copied


PARTED = (ValueLog, PartedDict)
"""The containers saved in parts."""


def spool_parts(container: ValueLog[Any] | PartedDict[Any, Any], side: IO[bytes]) -> tuple[tuple[int, int], ...] | None:
    """Write each part of ``container`` to ``side``, pickled and compressed, as soon as it is made (never all of them
    at once): where each went, as (offset, length); None for a container of one part or none (pickled whole).

    A checkpoint's pickler keeps every object it has written until the end, the parts' bytes included, so parts
    handed back by ``__reduce__`` were all held at once (25 of the 29 MB of a 1M-fact revenue book, measured)."""
    parts = container.parts()
    if parts is None:
        return None
    spans = []
    for part in parts:
        data = _pickled(part)
        spans.append((side.tell(), len(data)))
        side.write(data)
    return tuple(spans)


def from_parts(kind: type[Any], parts: Iterable[bytes]) -> Any:
    """A container of ``kind`` (one of ``PARTED``) read back from its parts, each read when it is reached."""
    container = kind()
    container.__setstate__(parts)
    return container


class Counted:
    """A base for a value that holds many records itself (a packed log): a ``PartedDict`` weighs it by its length,
    as it weighs a list, so a part holds about ``PART`` records, not ``PART`` logs of a hundred records each (the
    revenue book's entries came in two parts of 2,000 logs, each pickled whole: 30 MiB at once, measured)."""

    __slots__ = ()

    def __len__(self) -> int:
        raise NotImplementedError


_CONTAINERS = (list, dict, set, frozenset, Counted)


def _shared_items(items: list[tuple[Any, Any]]) -> Iterator[tuple[Any, Any]]:
    """A part's items with the slugs of their keys, and of values that are sets of them, handed out as the ones the
    store's reads hand out (``shared_text``). Each part is unpickled alone, so without this every part brings its own
    copy of each slug it names: a 1M-fact ledger's holdings read back from a checkpoint held 25 MiB of copies
    (measured) that the same state folded from the facts does not."""
    share = shared_text
    for key, value in items:
        kind = type(key)
        if kind is str:
            key = share(key)
        elif kind is tuple:
            key = tuple([share(part) if type(part) is str else part for part in key])
        kind = type(value)
        if (kind is set or kind is frozenset) and value:
            value = kind([share(part) if type(part) is str else part for part in value])
        else:
            for name in _TEXT_FIELDS.get(kind, ()):  # a record of a ``pickled_by_fields`` class that names parties
                text = getattr(value, name)
                if type(text) is str:
                    object.__setattr__(value, name, share(text))  # a frozen record too
        yield key, value


def _weighed(items: Iterable[tuple[K, V]]) -> Iterator[list[tuple[K, V]]]:
    """The items in parts of about ``PART`` records, a value that is a container counting its length: a dict of a
    few thousand logs of a hundred entries each (the revenue book's entries by provider) is parted by its
    entries, not by its few keys. (One loop, no call per item: this runs over every item of every save.)"""
    part: list[tuple[K, V]] = []
    weight = 0
    size = PART
    containers = _CONTAINERS
    for item in items:
        part.append(item)
        value = item[1]
        weight += len(value) + 1 if isinstance(value, containers) else 2
        if weight >= size:
            yield part
            part, weight = [], 0
    if part:
        yield part


C = TypeVar("C", bound=type)
_TEXT_FIELDS: dict[type, tuple[str, ...]] = {}
"""The fields of each ``pickled_by_fields`` class that hold text, so ``_shared_items`` can share their slugs."""
_TEXT_TYPES = (str, "str", "str | None")


def pickled_by_fields(cls: C) -> C:
    """Class decorator for a dataclass with slots that a fold's state holds by the hundred thousand (a holder's lots
    and positions, cap tables, escrow accounts): pickled as its class and the values of its fields, read back by
    calling the class with them.

    A class with slots otherwise pickles as a dict of its slots' names and values, one dict built and written per
    object, and is read back one ``setattr`` at a time: a million-fact ledger's holdings took 2.2 s to pickle
    and 3.5 s to read back, against 1.3 s and 1.7 s this way (measured). A checkpoint saved the other way still
    reads back as before. Every field must be a positional argument of the class's own ``__init__``, which must
    do nothing but set them (no ``__post_init__``)."""
    if not dataclasses.is_dataclass(cls) or "__slots__" not in vars(cls) or hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__}: pickled_by_fields is for dataclasses with slots and no __post_init__")
    names = [item.name for item in dataclasses.fields(cls)]
    if any(not item.init or item.kw_only for item in dataclasses.fields(cls)):
        raise TypeError(f"{cls.__name__}: every field must be a positional argument of __init__")
    values = attrgetter(*names) if len(names) > 1 else (lambda instance: (getattr(instance, names[0]),))
    _TEXT_FIELDS[cls] = tuple(item.name for item in dataclasses.fields(cls) if item.type in _TEXT_TYPES)

    def __reduce_ex__(self: Any, protocol: Any) -> Any:
        if type(self) is not cls:  # a subclass may have fields of its own: pickled the usual way
            return object.__reduce_ex__(self, protocol)
        return (cls, values(self))

    cls.__reduce_ex__ = __reduce_ex__  # type: ignore[method-assign]
    return cls


@contextmanager
def reading_parts(read: Callable[[bytes], Any]) -> Iterator[None]:
    """Read every part unpickled inside with ``read`` (the unpickler restricted to a state's classes)."""
    token = _READER.set(read)
    try:
        yield
    finally:
        _READER.reset(token)
