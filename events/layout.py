"""Records whose fields are declared with codecs: build one from its interchange mapping, dump it back,
list the parties it names, describe it as JSON Schema.

Every path here works from the field declarations (``events.fields``), worked out once per
class, because parsing and writing are on every fact's path.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

from events.codecs import Codec, PartyRef, Text, UnreadCell, UnreadRow, describe_value
from events.errors import FactError, did_you_mean
from events.readers import MAX_FACT_BYTES

if TYPE_CHECKING:
    from events.catalogue import Catalogue

R = TypeVar("R")  # a record class built from, or loaded from, its interchange form


class Nested(Codec):
    """An embedded record (a dataclass whose fields are declared with ``events.fields``)."""

    names_parties = True
    is_record = True

    def __init__(self, record: type) -> None:
        self.record = record

    def parse(self, value: Any, catalogue: Catalogue) -> Any:
        if not isinstance(value, Mapping):
            raise FactError(f"expected an object, got {describe_value(value)}")
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
            raise FactError(f"expected a whole fact as an object, got {describe_value(value)}")
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
        raise FactError(f"unknown field{did_you_mean(unknown, names, listing='known fields')}", unknown)
    if type(data) is UnreadRow:
        _refuse_unread(declared, data)
    values: dict[str, Any] = {}
    for name, codec, required in declared:
        raw = data.get(name)
        if raw is None:
            if required:
                raise FactError("missing required field", name)
            continue
        if isinstance(raw, str) and not raw:
            # Given, but empty: never "absent", whose meaning differs (no seller means new shares, no key means
            # no idempotency). Readers that have no null (a blank CSV cell) leave the field out themselves.
            raise FactError("must not be empty", name)
        if type(raw) is UnreadCell:  # a cell of JSON beyond the limits, which free text takes as text
            raw = str(raw)
        try:
            values[name] = codec.parse(raw, catalogue)
        except FactError as error:
            raise error.within(name) from None
    instance = record(**values)
    check = getattr(instance, "check", None)
    if check is not None:
        check()
    to_dict = getattr(instance, "to_dict", None)
    if to_dict is not None and _may_be_too_large(data):  # a whole fact (a nested record is measured with its fact)
        _check_size(to_dict())
    return instance


def _refuse_unread(declared: list[tuple[str, Codec, bool]], data: Mapping[str, Any]) -> None:
    """Raise the refusal of the first cell of JSON beyond the limits (``codecs.UnreadCell``) given to a field that is
    not free text: such a field would have read the JSON, and what was wrong with it is what to tell first."""
    for name, codec, _ in declared:
        raw = data.get(name)
        if type(raw) is UnreadCell and type(codec) is not Text:
            raise raw.error


GROWTH_PER_VALUE = 84
"""The most one value grows from its input to what is kept: a number written ``1e39`` or ``0E-40`` is kept as up to
40 digits on each side of the point, with its sign, point and quotes. Text never grows (it is only stripped, and
codes and slugs are ASCII); dates are kept as written."""
ROOM_FOR_DEFAULTS = 4096
"""Bytes a fact's defaults may add as it is kept (fields left out of the input and written out with their value)."""


def _may_be_too_large(data: Mapping[str, Any]) -> bool:
    """Whether the fact built from ``data`` could take more than ``MAX_FACT_BYTES`` as kept: its input as compact JSON,
    each value in it grown by the most a value can grow (a value takes two bytes of the input at least, with its
    separator), and its defaults. Nearly every fact is a few hundred bytes and far from it, and is then not measured
    exactly (which took 3.8 µs a fact, 4% of a bulk append)."""
    try:
        size = len(orjson.dumps(data))
    except (TypeError, orjson.JSONEncodeError):  # input orjson cannot write (an integer past 64 bits): measured exactly
        return True
    return size * (1 + GROWTH_PER_VALUE // 2) + ROOM_FOR_DEFAULTS > MAX_FACT_BYTES


def interchange_json(mapping: Mapping[str, Any]) -> bytes:
    """An interchange mapping as compact UTF-8 JSON: a fact as the store keeps it and ``export`` writes it.

    The one encoding both are written in (orjson, as the store's transcoder; byte for byte what
    ``json.dumps(mapping, ensure_ascii=False, separators=(",", ":"))`` writes), so the size a fact is
    held to when it is appended is the size of the "fact" in its exported line.
    """
    return orjson.dumps(mapping)


def _check_size(fact: Mapping[str, Any]) -> None:
    """Refuse a fact larger than ``MAX_FACT_BYTES`` as stored, naming its largest field.

    Measured on what is kept, not on the input: a fact may grow from its input (``1e39`` is kept as
    40 digits, defaults are written out, a YAML mapping or CSV row may span many lines) or shrink
    (spaces, comments). Bounding what is kept is what lets every accepted fact be exported and
    imported back.
    """
    size = len(interchange_json(fact))
    if size > MAX_FACT_BYTES:
        largest = max(fact, key=lambda name: len(interchange_json(fact[name])))
        message = f"the fact would take {size:,} bytes as stored, more than the {MAX_FACT_BYTES:,} one fact may hold"
        raise FactError(message, largest)


_Slot = tuple[str, "Codec | None", Any, Any]
"""How ``load_record`` fills one field: its name, its codec (None where the stored value is used as is), the
slot's setter, and its default (``dataclasses.MISSING`` when it has none)."""
_SLOTS: dict[type, list[_Slot] | None] = {}


def load_record(record: type[R], data: Mapping[str, Any], catalogue: Catalogue) -> R:
    """An instance of ``record`` from the interchange form ``dump_fields`` wrote, trusted: nothing is checked again.

    Stored facts were checked field by field when appended, and the hash chain shows whether
    they changed since, so reading them back need not pay for parsing again (about four times
    faster than ``build``). Never use it on input from outside the store.

    A frozen class with slots (every ``fact_class``) is filled slot by slot, through the slots'
    own setters: a frozen dataclass's ``__init__`` sets each field through
    ``object.__setattr__``, which made it a third of reading a million facts (measured). Any
    other class (one with its own ``__init__``, ``__new__`` or ``__post_init__``, a default
    factory, or no slots) is built by calling it.
    """
    try:
        slots = _SLOTS[record]
    except KeyError:
        slots = _SLOTS[record] = _slots_of(record)
    if slots is None:
        return _called(record, data, catalogue)
    instance = _new(record)
    for name, codec, setter, default in slots:
        value = data.get(name)
        if value is None:
            if default is _MISSING:
                raise TypeError(f"{record.__name__}: missing required field {name!r}")
            value = default
        elif codec is not None:
            value = codec.load(value, catalogue)
        setter(instance, value)
    return instance


_new = object.__new__
_MISSING = dataclasses.MISSING


def _slots_of(record: type) -> list[_Slot] | None:
    """Each field's way in, when every field is a plain slot with at most a plain default; else None."""
    if not dataclasses.is_dataclass(record) or hasattr(record, "__post_init__") or not _generated_init(record):
        return None
    declared = {name: codec for name, codec, _ in codec_fields(record)}
    slots: list[_Slot] = []
    for field in dataclasses.fields(record):
        slot = getattr(record, field.name, None)
        if field.name not in declared or not isinstance(slot, types.MemberDescriptorType):
            return None
        if field.default_factory is not _MISSING:
            return None
        codec = declared[field.name]
        slots.append((field.name, None if codec.plain and not codec.shared else codec, slot.__set__, field.default))
    return slots


def _generated_init(record: type) -> bool:
    """Whether making ``record`` runs only what ``dataclass`` wrote: no ``__new__`` or ``__init__`` of its own."""
    init = vars(record).get("__init__")
    code = getattr(init, "__code__", None)
    own_new = "__new__" in vars(record) or any("__new__" in vars(base) for base in record.__mro__[1:-1])
    return not own_new and code is not None and code.co_filename == "<string>"


_LOADERS: dict[type, list[tuple[str, Codec | None]]] = {}


def _called(record: type[R], data: Mapping[str, Any], catalogue: Catalogue) -> R:
    """``load_record`` for a class that must be called to be made."""
    loaders = _LOADERS.get(record)
    if loaders is None:
        loaders = _LOADERS[record] = [
            (name, None if codec.plain and not codec.shared else codec) for name, codec, _ in codec_fields(record)
        ]
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
