"""Field codecs: how one field of a fact is read from, and written to, its interchange form.

Every fact class declares its fields with the helpers at the bottom of this module
(``party()``, ``amount()``, ...). Parsing, serialising and the JSON Schema are all
derived from those declarations, so a new kind needs no parsing code of its own.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from events.errors import FactError, closest
from events.iso import country_codes, currency_codes

if TYPE_CHECKING:
    from events.catalogue import Catalogue

SLUG_PATTERN = r"^[a-z0-9]+(?:[-_.][a-z0-9]+)*$"
_SLUG = re.compile(SLUG_PATTERN)
MAX_PLACES = 40
"""Amounts and fractions have at most this many digits before and after the point: an exponent of a
million would otherwise be stored digit by digit and make exact arithmetic on it run forever."""
R = TypeVar("R")  # a record class built from, or loaded from, its interchange form
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class Codec:
    """Reads one field value (``parse``), writes it back (``dump``), describes it (``schema``).

    ``plain`` says the parsed value is already its interchange form (text), so writing it
    back needs no call; ``names_parties`` says the value may hold party slugs. Both let the
    per-fact paths skip work for most fields.
    """

    plain = False
    names_parties = False

    def parse(self, value: Any, catalogue: Catalogue) -> Any:
        raise NotImplementedError

    def dump(self, value: Any) -> Any:
        return value

    def load(self, value: Any, catalogue: Catalogue) -> Any:
        """The parsed value from what ``dump`` wrote, without checking it again (see ``load_record``)."""
        return value

    def schema(self) -> dict[str, Any]:
        raise NotImplementedError

    def party_paths(self, value: Any, path: str) -> list[tuple[str, str]]:
        """(field path, slug) for each party this value refers to, so errors can point at the field."""
        return []


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class Text(Codec):
    """A non-empty string."""

    plain = True

    def parse(self, value: Any, catalogue: Catalogue) -> str:
        if not isinstance(value, str):
            raise FactError(f"expected text, got {_describe(value)}")
        text: str = value.strip()
        if not text:
            raise FactError("must not be empty")
        return text

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "minLength": 1}


class Slug(Text):
    """A lower-case identifier such as ``nvidia-a800``."""

    def parse(self, value: Any, catalogue: Catalogue) -> str:
        text = super().parse(value, catalogue)
        if not _SLUG.match(text):
            raise FactError(f"{text!r} is not a slug (lower-case letters, digits and single '-', '_' or '.' between them)")
        return text

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "pattern": SLUG_PATTERN}


class PartyRef(Slug):
    """The slug of a party; the ledger checks that it was registered."""

    names_parties = True

    def party_paths(self, value: Any, path: str) -> list[tuple[str, str]]:
        return [(path, value)]


class OneOf(Codec):
    """One word out of a fixed list."""

    plain = True

    def __init__(self, *choices: str) -> None:
        self.choices = choices

    def parse(self, value: Any, catalogue: Catalogue) -> str:
        if value not in self.choices:
            raise FactError(f"expected one of {', '.join(self.choices)}, got {_describe(value)}")
        return str(value)

    def schema(self) -> dict[str, Any]:
        return {"enum": list(self.choices)}


class Boolean(Codec):
    plain = True

    _WORDS: ClassVar[dict[str, bool]] = {
        "true": True,
        "yes": True,
        "on": True,
        "1": True,
        "false": False,
        "no": False,
        "off": False,
        "0": False,
    }

    def parse(self, value: Any, catalogue: Catalogue) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in self._WORDS:
            return self._WORDS[value.strip().lower()]
        raise FactError(f"expected true or false, got {_describe(value)}")

    def schema(self) -> dict[str, Any]:
        return {"type": "boolean"}


class IsoDate(Codec):
    def parse(self, value: Any, catalogue: Catalogue) -> date:
        if isinstance(value, date):
            return value
        if not isinstance(value, str) or not _ISO_DATE.fullmatch(value.strip()):
            raise FactError(f"expected an ISO date YYYY-MM-DD, got {_describe(value)}")
        try:
            return date.fromisoformat(value.strip())
        except ValueError as error:
            raise FactError(f"{value!r} is not a valid date ({error})") from None

    def load(self, value: Any, catalogue: Catalogue) -> date:
        return date.fromisoformat(value)

    def dump(self, value: date) -> str:
        return value.isoformat()

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "format": "date"}


def to_decimal(value: Any) -> Decimal:
    """An exact ``Decimal`` from a decimal string or a number; floats go through their shortest repr."""
    kind = type(value)
    if kind is str:  # the usual case first: this runs for every amount of every fact
        try:
            number = Decimal(value.strip().replace("_", ""))
        except InvalidOperation:
            raise FactError(f"expected a decimal number, got {_describe(value)}") from None
    elif isinstance(value, bool):
        raise FactError(f"expected a decimal number, got {_describe(value)}")
    elif isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip().replace("_", ""))
        except InvalidOperation:
            raise FactError(f"expected a decimal number, got {_describe(value)}") from None
    else:
        raise FactError(f"expected a decimal number, got {_describe(value)}")
    if not number.is_finite():
        raise FactError(f"expected a finite decimal number, got {_describe(value)}")
    too_large = bool(number) and not -MAX_PLACES <= number.adjusted() < MAX_PLACES
    exponent = number.as_tuple().exponent
    if too_large or (isinstance(exponent, int) and -exponent > MAX_PLACES):
        raise FactError(f"{_describe(value)} is out of range: at most {MAX_PLACES} digits before and after the point")
    return number


def plain_decimal(value: Decimal) -> str:
    """A decimal string in positional notation (``1000``, ``0.00000001``; never ``1E+3``), without a negative zero."""
    if value.is_zero():
        value = abs(value)
    return format(value, "f")


class NonNegativeDecimal(Codec):
    """Money or a rate: an exact decimal, never negative."""

    def __init__(self, positive: bool = False) -> None:
        self.positive = positive

    def parse(self, value: Any, catalogue: Catalogue) -> Decimal:
        number = to_decimal(value)
        if number < 0 or (self.positive and number == 0):
            raise FactError(f"must be {'positive' if self.positive else 'zero or more'}, got {value}")
        return number

    def load(self, value: Any, catalogue: Catalogue) -> Decimal:
        return Decimal(value)

    def dump(self, value: Decimal) -> str:
        return plain_decimal(value)

    def schema(self) -> dict[str, Any]:
        return {
            "type": ["string", "number"],
            "pattern": r"^[0-9][0-9_]*(\.[0-9_]+)?([eE][+-]?[0-9]+)?$",
            "description": "exact decimal (a string is preferred)",
        }


class UnitInterval(NonNegativeDecimal):
    """A fraction between 0 and 1 inclusive."""

    def parse(self, value: Any, catalogue: Catalogue) -> Decimal:
        number = super().parse(value, catalogue)
        if number > 1:
            raise FactError(f"must be a fraction between 0 and 1, got {value}")
        return number

    def schema(self) -> dict[str, Any]:
        return {**super().schema(), "description": "exact decimal fraction in [0, 1]"}


class CurrencyCode(Codec):
    plain = True

    def parse(self, value: Any, catalogue: Catalogue) -> str:
        if not isinstance(value, str) or value.strip().upper() not in currency_codes():
            raise FactError(f"{_describe(value)} is not an ISO 4217 currency code")
        return value.strip().upper()

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "pattern": "^[A-Za-z]{3}$", "description": "ISO 4217 code"}


class CountryCode(Codec):
    plain = True

    def parse(self, value: Any, catalogue: Catalogue) -> str:
        if not isinstance(value, str) or value.strip().upper() not in country_codes():
            raise FactError(f"{_describe(value)} is not an ISO 3166 alpha-2 country code")
        return value.strip().upper()

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "pattern": "^[A-Za-z]{2}$", "description": "ISO 3166 alpha-2 code"}


class CountryOrParty(Codec):
    """A country (upper-case ISO code) or a party slug: export bans target either."""

    plain = True
    names_parties = True

    def parse(self, value: Any, catalogue: Catalogue) -> str:
        if isinstance(value, str) and value.strip().isupper():
            return CountryCode().parse(value, catalogue)
        return PartyRef().parse(value, catalogue)

    def party_paths(self, value: Any, path: str) -> list[tuple[str, str]]:
        return [] if value.isupper() else [(path, value)]

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "description": "ISO 3166 alpha-2 code (upper case) or a party slug"}


class ListOf(Codec):
    """A list of values; a string holding ``a;b`` (from CSV) counts as a list too."""

    def __init__(self, item: Codec, min_items: int = 0) -> None:
        self.item = item
        self.min_items = min_items
        self.names_parties = item.names_parties

    def parse(self, value: Any, catalogue: Catalogue) -> tuple[Any, ...]:
        if isinstance(value, str) and not isinstance(self.item, Nested):
            value = [part for part in (p.strip() for p in value.split(";")) if part]
        if not isinstance(value, (list, tuple)):
            raise FactError(f"expected a list, got {_describe(value)}")
        if len(value) < self.min_items:
            raise FactError(f"needs at least {self.min_items} item(s)")
        items = []
        for index, element in enumerate(value):
            try:
                items.append(self.item.parse(element, catalogue))
            except FactError as error:
                raise error.within(f"[{index}]") from None
        return tuple(items)

    def load(self, value: Any, catalogue: Catalogue) -> tuple[Any, ...]:
        load = self.item.load
        return tuple(load(element, catalogue) for element in value)

    def dump(self, value: tuple[Any, ...]) -> list[Any]:
        return [self.item.dump(element) for element in value]

    def party_paths(self, value: Any, path: str) -> list[tuple[str, str]]:
        return [found for i, element in enumerate(value) for found in self.item.party_paths(element, f"{path}[{i}]")]

    def schema(self) -> dict[str, Any]:
        listed = {"type": "array", "items": self.item.schema(), "minItems": self.min_items}
        if isinstance(self.item, Nested):
            return listed
        return {"anyOf": [listed, {"type": "string", "description": "items separated by ';' (as in CSV)"}]}


class Nested(Codec):
    """An embedded record (a dataclass whose fields are declared with these codecs)."""

    names_parties = True

    def __init__(self, record: type) -> None:
        self.record = record

    def parse(self, value: Any, catalogue: Catalogue) -> Any:
        if not isinstance(value, Mapping):
            raise FactError(f"expected an object, got {_describe(value)}")
        return build(self.record, value, catalogue)

    def load(self, value: Any, catalogue: Catalogue) -> Any:
        return load_record(self.record, value, catalogue)

    def dump(self, value: Any) -> dict[str, Any]:
        return dump_fields(value)

    def party_paths(self, value: Any, path: str) -> list[tuple[str, str]]:
        return [(f"{path}.{inner}", slug_) for inner, slug_ in party_fields(value)]

    def schema(self) -> dict[str, Any]:
        return object_schema(self.record)


class AnyFact(Codec):
    """A whole fact of any registered kind (the replacement inside a correction)."""

    names_parties = True

    def parse(self, value: Any, catalogue: Catalogue) -> Any:
        if not isinstance(value, Mapping):
            raise FactError(f"expected a whole fact as an object, got {_describe(value)}")
        return catalogue.parse(value)

    def load(self, value: Any, catalogue: Catalogue) -> Any:
        return catalogue.load(value)

    def dump(self, value: Any) -> dict[str, Any]:
        dumped: dict[str, Any] = value.to_dict()
        return dumped

    def party_paths(self, value: Any, path: str) -> list[tuple[str, str]]:
        return [(f"{path}.{inner}", slug_) for inner, slug_ in party_fields(value)]

    def schema(self) -> dict[str, Any]:
        return {"$ref": "#", "description": "a whole fact"}


# --- declaring fields -------------------------------------------------------------------------

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


# --- building, dumping, describing records ----------------------------------------------------


def codec_fields(record: type) -> list[tuple[str, Codec, bool]]:
    """(name, codec, required) for each declared field of a record class, in declaration order."""
    return _layout(record)[0]


_LAYOUTS: dict[type, tuple[list[tuple[str, Codec, bool]], frozenset[str]]] = {}


def _layout(record: type) -> tuple[list[tuple[str, Codec, bool]], frozenset[str]]:
    """Declared fields and their names, worked out once per class: parsing is on every fact's path."""
    layout = _LAYOUTS.get(record)
    if layout is None:
        declared = [
            (f.name, f.metadata["codec"], f.default is dataclasses.MISSING)
            for f in dataclasses.fields(record)
            if "codec" in f.metadata
        ]
        layout = (declared, frozenset(name for name, _, _ in declared))
        _LAYOUTS[record] = layout
    return layout


def build(record: type[R], data: Mapping[str, Any], catalogue: Catalogue, skip: frozenset[str] = frozenset()) -> R:
    """An instance of ``record`` from its interchange mapping: every field checked, unknown fields refused."""
    declared, names = _layout(record)
    if not names.issuperset(data.keys() - skip):
        unknown = next(name for name in data if name not in names and name not in skip)
        raise FactError(f"unknown field{_suggest(unknown, set(names))}", unknown)
    values: dict[str, Any] = {}
    for name, codec, required in declared:
        raw = data.get(name)
        if raw is None or (type(raw) is str and not raw):
            if required:
                raise FactError("missing required field", name)
            continue
        try:
            values[name] = codec.parse(raw, catalogue)
        except FactError as error:
            raise error.within(name) from None
    instance = record(**values)
    check = getattr(instance, "check", None)
    if check is not None:
        check()
    return instance


_LOADERS: dict[type, list[tuple[str, Codec | None]]] = {}


def load_record(record: type[R], data: Mapping[str, Any], catalogue: Catalogue) -> R:
    """An instance of ``record`` from the interchange form ``dump_fields`` wrote, trusted: nothing is checked again.

    Stored facts were checked field by field when appended, and the hash chain shows whether
    they changed since, so reading them back need not pay for parsing again (about four times
    faster than ``build``). Never use it on input from outside the store.
    """
    loaders = _LOADERS.get(record)
    if loaders is None:
        loaders = _LOADERS[record] = [(name, None if codec.plain else codec) for name, codec, _ in codec_fields(record)]
    values: dict[str, Any] = {}
    for name, codec in loaders:
        value = data.get(name)
        if value is not None:
            values[name] = value if codec is None else codec.load(value, catalogue)
    return record(**values)


_WRITERS: dict[type, tuple[list[tuple[str, Codec | None]], list[tuple[str, Codec]]]] = {}


def _writers(record: type) -> tuple[list[tuple[str, Codec | None]], list[tuple[str, Codec]]]:
    """Per class, once: each field with its codec (None where the value is written as is), and the party fields."""
    writers = _WRITERS.get(record)
    if writers is None:
        declared = codec_fields(record)
        writers = (
            [(name, None if codec.plain else codec) for name, codec, _ in declared],
            [(name, codec) for name, codec, _ in declared if codec.names_parties],
        )
        _WRITERS[record] = writers
    return writers


def dump_fields(instance: Any) -> dict[str, Any]:
    """The interchange mapping of a record, leaving out absent optional fields."""
    out: dict[str, Any] = {}
    for name, codec in _writers(type(instance))[0]:
        value = getattr(instance, name)
        if value is not None:
            out[name] = value if codec is None else codec.dump(value)
    return out


def party_fields(instance: Any) -> list[tuple[str, str]]:
    """(field path, slug) for every party a record refers to."""
    found: list[tuple[str, str]] = []
    for name, codec in _writers(type(instance))[1]:
        value = getattr(instance, name)
        if value is None:
            continue
        if type(codec) is PartyRef:
            found.append((name, value))
        else:
            found.extend(codec.party_paths(value, name))
    return found


def object_schema(record: type, extra: Mapping[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    properties: dict[str, Any] = dict(extra or {})
    required: list[str] = []
    for f in dataclasses.fields(record):
        if "codec" not in f.metadata:
            continue
        schema = dict(f.metadata["codec"].schema())
        if f.metadata.get("doc"):
            schema["description"] = f.metadata["doc"]
        properties[f.name] = schema
        if f.default is dataclasses.MISSING:
            required.append(f.name)
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


def _suggest(name: str, known: set[str]) -> str:
    close = closest(name, known)
    return f" (did you mean {close!r}?)" if close else f" (known fields: {', '.join(sorted(known))})"
