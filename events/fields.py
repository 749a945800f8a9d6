"""Field declarations for fact classes: ``party()``, ``amount()``, ``day()``, ...

A fact class is a dataclass whose fields are declared here; each declaration carries the codec
that reads, writes and describes the field's value (``events.codecs``). The codec classes are
re-exported so a declaration can compose them: ``declare(ListOf(Nested(Investment)))``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from events.codecs import (
    Boolean,
    Codec,
    CountryCode,
    CountryOrParty,
    CurrencyCode,
    IsoDate,
    ListOf,
    NonNegativeDecimal,
    OneOf,
    PartyRef,
    Slug,
    Text,
    UnitInterval,
)
from events.layout import AnyFact, Nested

__all__ = [
    "AnyFact",
    "Boolean",
    "Codec",
    "CountryCode",
    "CountryOrParty",
    "CurrencyCode",
    "IsoDate",
    "ListOf",
    "Nested",
    "NonNegativeDecimal",
    "OneOf",
    "PartyRef",
    "Slug",
    "Text",
    "UnitInterval",
    "amount",
    "choice",
    "country",
    "currency",
    "day",
    "declare",
    "flag",
    "fraction",
    "parties",
    "party",
    "positive",
    "slug",
    "text",
]

_REQUIRED = dataclasses.MISSING


def declare(codec: Codec, *, optional: bool = False, default: Any = _REQUIRED, doc: str = "") -> Any:
    """A dataclass field read and written by ``codec``."""
    metadata = {"codec": codec, "doc": doc}
    if optional or default is not _REQUIRED:
        return dataclasses.field(default=None if default is _REQUIRED else default, metadata=metadata)
    return dataclasses.field(metadata=metadata)


def text(**kw: Any) -> Any:
    return declare(Text(), **kw)


def slug(**kw: Any) -> Any:
    return declare(Slug(), **kw)


def party(**kw: Any) -> Any:
    return declare(PartyRef(), **kw)


def holder(**kw: Any) -> Any:
    """A party that holds shares, or a built-in holder (``founders``, ``undisclosed``)."""
    return declare(PartyRef(built_ins=True), **kw)


def parties(**kw: Any) -> Any:
    return declare(ListOf(PartyRef()), **kw)


def amount(**kw: Any) -> Any:
    return declare(NonNegativeDecimal(), **kw)


def positive(**kw: Any) -> Any:
    return declare(NonNegativeDecimal(positive=True), **kw)


def fraction(**kw: Any) -> Any:
    return declare(UnitInterval(), **kw)


def currency(**kw: Any) -> Any:
    return declare(CurrencyCode(), **kw)


def country(**kw: Any) -> Any:
    return declare(CountryCode(), **kw)


def day(**kw: Any) -> Any:
    return declare(IsoDate(), **kw)


def choice(*choices: str, **kw: Any) -> Any:
    return declare(OneOf(*choices), **kw)


def flag(**kw: Any) -> Any:
    return declare(Boolean(), **kw)
