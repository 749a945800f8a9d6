"""Logs of records kept packed: a few bytes a record, where a list holds a Python object for every field.

A fold of a million facts keeps hundreds of thousands of small records (the revenue book an
entry for every grant, consumption and release; the league a line for every investor in every
deal). As named tuples each costs a tuple, a ``Decimal`` and a date or two: about 250 bytes,
most of the memory a replay holds. A ``PackedLog`` keeps each record as one row of fixed
width in a ``bytearray`` (``struct``), with the values that repeat (names, codes, stakes) kept
once in the log's own table of *words*:

- ``DAY`` — a ``date`` or None: its ordinal, 4 bytes;
- ``WORD`` — any immutable value (text, None, a tuple, a ``Fraction``): its index in the
  log's words, 4 bytes;
- ``AMOUNT`` — a ``Decimal`` or None: its coefficient and exponent, 9 bytes, exactly as it was
  (``Decimal("1.50")`` comes back as ``1.50``, not ``1.5``); an amount too wide for 18 digits,
  a negative zero or anything that is not a finite ``Decimal`` is kept as a word instead.

Reading iterates the log and builds each record again, so code that reads a log by iterating it
(``for``, ``len``, as the built-in folds do) reads a ``PackedLog`` as it read a ``ValueLog``;
there is no indexing or slicing, and a log equals only a log of its kind with the same
records. A log pickles as its compressed rows and its words, a handful of objects whatever its
length: checkpoints of packed states are small and load in a fraction of the time.

A packed log is declared once per record type, naming how each field is kept::

    class Payments(PackedLog[Payment], record=Payment, day=DAY, amount=AMOUNT, currency=WORD): ...
"""

from __future__ import annotations

import decimal
import fractions
import struct
import zlib
from collections.abc import Callable, Iterable, Iterator
from datetime import date
from decimal import Decimal
from typing import Any, ClassVar, Generic, NamedTuple, TypeVar

from events.codecs import shared_text
from ledger.exact import EXACT_DIGITS, Fraction
from ledger.folds.parts import LEVEL, Counted

T = TypeVar("T", bound=tuple[Any, ...])

DAY = "day"
"""A ``date`` or None, kept as its ordinal (None as 0)."""
WORD = "word"
"""Any immutable, hashable value, kept once per log and referred to by its index."""
AMOUNT = "amount"
"""A ``Decimal`` or None, kept as coefficient and exponent (or as a word when it does not fit)."""

_FORMATS = {DAY: "i", WORD: "I", AMOUNT: "qb"}
_NO_AMOUNT = 127
"""The exponent that marks an absent amount (None)."""
_WORD_AMOUNT = -128
"""The exponent that marks an amount kept among the words (its coefficient is the word's index)."""
SCAN_UP_TO = 16
"""Words a log finds by scanning them, before it keeps an index of them."""
COMPRESS_FROM = 4096
"""Bytes of rows above which a checkpoint keeps them compressed (``zlib`` at the level parts use)."""
_WIDEST = 2**63
_WIDEST_DIGITS = 20
"""Characters of an amount's text (digits and sign) beyond which it cannot fit a row's coefficient."""
_SCALING = decimal.Context(prec=EXACT_DIGITS, traps=[decimal.Inexact, decimal.Rounded, decimal.InvalidOperation])
"""Moving the point of an amount is exact in this context, whatever the caller's (the default keeps 28 digits)."""


class Layout(NamedTuple):
    """How one record type is packed: the ``struct`` of one row, and the two functions written for it from the
    kinds of its fields (``_writers``): ``pack(record, word, amount)`` gives a row's bytes, ``unpack(rows, words)``
    the records again."""

    row: struct.Struct
    pack: Callable[..., bytes]
    unpack: Callable[[bytes | bytearray, list[Any]], Iterator[Any]]


def _layout(record: type[Any], kinds: dict[str, str]) -> Layout:
    fields = getattr(record, "_fields", None)
    if fields is None:
        raise TypeError(f"{record.__name__} is not a NamedTuple: a packed log keeps named tuples")
    if set(kinds) != set(fields):
        missing, extra = sorted(set(fields) - set(kinds)), sorted(set(kinds) - set(fields))
        raise TypeError(f"packing {record.__name__}: fields without a kind {missing}, kinds for no field {extra}")
    wrong = sorted(name for name, kind in kinds.items() if kind not in _FORMATS)
    if wrong:
        raise TypeError(f"packing {record.__name__}: {wrong} must each be DAY, WORD or AMOUNT")
    ordered = tuple(kinds[name] for name in fields)
    row = struct.Struct("<" + "".join(_FORMATS[kind] for kind in ordered))
    pack, unpack = _writers(record, ordered, row)
    return Layout(row, pack, unpack)


def _writers(record: type[Any], kinds: tuple[str, ...], row: struct.Struct) -> tuple[Callable[..., bytes], Any]:
    """A pack and an unpack function for one layout, written out field by field (as ``namedtuple`` writes its
    class): a loop over the kinds cost 3.4 µs a record to pack and 2.4 µs to read back, these about a third."""
    packed: list[str] = []
    raw: list[str] = []
    built: list[str] = []
    for number, kind in enumerate(kinds):
        name = f"f{number}"
        if kind == DAY:
            packed.append(f"ordinal({name})")
            raw.append(name)
            built.append(f"days.get({name}) or day({name})")
        elif kind == WORD:
            packed.append(f"word({name})")
            raw.append(name)
            built.append(f"words[{name}]")
        else:
            packed.append(f"*amount({name})")
            raw.extend([f"{name}c", f"{name}e"])
            built.append(f"amount_in({name}c, {name}e, words)")
    fields = ", ".join(f"f{number}" for number in range(len(kinds)))
    source = (
        f"def pack(record, word, amount):\n"
        f"    {fields}, = record\n"
        f"    return row_pack({', '.join(packed)})\n"
        f"def unpack(rows, words):\n"
        f"    for {', '.join(raw)}, in iter_unpack(rows):\n"
        f"        yield new(record, ({', '.join(built)},))\n"
    )
    scope: dict[str, Any] = {
        "row_pack": row.pack,
        "iter_unpack": row.iter_unpack,
        "new": tuple.__new__,
        "record": record,
        "days": _DAYS,
        "day": _day,
        "ordinal": _ordinal,
        "amount_in": _amount_in,
    }
    exec(source, scope)  # the source above is built from the kinds alone, never from data
    return scope["pack"], scope["unpack"]


_DAYS: dict[int, date] = {}


def _day(ordinal: int) -> date | None:
    """The date of an ordinal, one object per day (a state's records share their days)."""
    if not ordinal:
        return None
    day = _DAYS.get(ordinal)
    if day is None:
        day = _DAYS[ordinal] = date.fromordinal(ordinal)
    return day


def _ordinal(day: date | None) -> int:
    """A day's ordinal, 0 for None; anything else (a ``datetime`` would come back as its date) is refused."""
    if type(day) is date:
        return day.toordinal()
    if day is None:
        return 0
    raise TypeError(f"a DAY field holds a date or None, not {type(day).__name__} {day!r}")


_CANONICAL = frozenset({str, int, bool, date, type(None), Fraction, fractions.Fraction})
"""Types whose equal values always print the same: their values (beside their type) tell words apart."""


def _word_key(value: Any) -> Any:
    """What tells two words apart. Equal values of different types (``1``, ``True``, ``Fraction(1)``) or that print
    differently (``Decimal("1.0")`` and ``Decimal("1.00")``, ``0.0`` and ``-0.0``) must stay two words: text is
    told by itself, other canonical values and tuples by their types and values, floats by their bits, anything
    else by its type and repr."""
    kind = type(value)
    if kind is str:
        return value
    if kind in _CANONICAL:
        return (kind, value)
    if kind is tuple:
        return (kind, tuple(_word_key(item) for item in value))
    if kind is float:
        return (kind, struct.pack("<d", value))
    return (kind, repr(value))


def _amount_parts(value: Decimal) -> tuple[int, int] | None:
    """The coefficient and exponent of a finite ``Decimal`` when both fit a row, else None. Read off its text, which
    is exact and the fastest way in (0.3 µs where ``as_tuple`` and ``scaleb`` take 0.6)."""
    whole, _, places = str(value).partition(".")
    if len(whole) + len(places) > _WIDEST_DIGITS:  # too wide for a row however it is written (and for int() past 4,300)
        return None
    try:
        coefficient = int(whole + places)
        exponent = -len(places)
    except ValueError:  # scientific notation (1E+3, 1.5E-7), or not finite
        sign, digits, power = value.as_tuple()
        if type(power) is not int or len(digits) > _WIDEST_DIGITS:
            return None
        coefficient, exponent = int("".join(map(str, digits))) * (-1 if sign else 1), power
    if not (_WORD_AMOUNT < exponent < _NO_AMOUNT and -_WIDEST <= coefficient < _WIDEST):
        return None
    if not coefficient and value.is_signed():  # a negative zero: the coefficient alone would lose its sign
        return None
    return coefficient, exponent


class PackedLog(Counted, Generic[T]):
    """An append-only log of named tuples of one type, packed (see the module's docstring). Subclass it once per
    record type, with the record type and the kind of each field as class keywords."""

    __slots__ = ("_index", "_rows", "_words")
    layout: ClassVar[Layout]

    def __init_subclass__(cls, record: type[Any] | None = None, **kinds: str) -> None:
        super().__init_subclass__()
        if record is not None:
            cls.layout = _layout(record, kinds)
        elif kinds:
            raise TypeError(f"{cls.__name__}: name the record type (record=...) with the kinds of its fields")

    def __init__(self, records: Iterable[T] = ()) -> None:
        if not hasattr(type(self), "layout"):
            raise TypeError(f"{type(self).__name__} names no record type: subclass PackedLog with record=... and its kinds")
        self._rows = bytearray()
        self._words: list[Any] = []
        self._index: dict[Any, int] | None = None
        self.extend(records)

    def append(self, record: T) -> None:
        self._rows += self.layout.pack(record, self._word, self._amount)

    def extend(self, records: Iterable[T]) -> None:
        for record in records:
            self.append(record)

    def _word(self, value: Any) -> int:
        index = self._index
        if index is None:
            words = self._words
            if len(words) < SCAN_UP_TO and type(value) in _CANONICAL:
                # few words, and a value told apart by its type and value: found without an index (an escrow
                # account's log names a few parties; an index of them would take more than its rows)
                try:
                    number = words.index(value)
                except ValueError:
                    words.append(value)
                    return len(words) - 1
                if type(words[number]) is type(value):  # not 1 for True, nor a text subclass claiming to equal it
                    return number
            # built once the words outgrow a scan, and again after a checkpoint is read: it is never saved
            index = self._index = {_word_key(word): number for number, word in enumerate(words)}
        key = value if type(value) is str else _word_key(value)
        found = index.get(key)
        if found is None:
            found = index[key] = len(self._words)
            self._words.append(value)
        return found

    def _amount(self, value: Any) -> tuple[int, int]:
        if value is None:
            return 0, _NO_AMOUNT
        parts = _amount_parts(value) if type(value) is Decimal else None
        return parts if parts is not None else (self._word(value), _WORD_AMOUNT)

    def __iter__(self) -> Iterator[T]:
        # from a copy of the rows: reading holds their buffer, which a bytearray being read cannot grow past, and
        # a fold may append to a log another of its loops is still reading
        return self.layout.unpack(bytes(self._rows), self._words)

    def __len__(self) -> int:
        return len(self._rows) // self.layout.row.size

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]  # it changes as it grows

    def __repr__(self) -> str:
        return f"{type(self).__name__}({list(self)!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        rows = bytes(self._rows)
        if len(rows) > COMPRESS_FROM:  # rows of dates and small indices shrink several times over
            return (type(self), (), (zlib.compress(rows, LEVEL), list(self._words), True))
        return (type(self), (), (rows, list(self._words), False))

    def __setstate__(self, state: tuple[bytes, list[Any]] | tuple[bytes, list[Any], bool]) -> None:
        rows, words, *compressed = state  # states saved before rows were compressed have two items
        if compressed and compressed[0]:
            rows = zlib.decompress(rows)
        if len(rows) % self.layout.row.size:
            raise ValueError(f"{type(self).__name__}: {len(rows)} bytes are not whole rows of {self.layout.row.size}")
        self._rows = bytearray(rows)
        self._words = [shared_text(word) if type(word) is str else word for word in words]  # one object per slug
        self._index = None


def _amount_in(coefficient: int, exponent: int, words: list[Any]) -> Any:
    if exponent == _NO_AMOUNT:
        return None
    if exponent == _WORD_AMOUNT:
        return words[coefficient]
    return Decimal(coefficient).scaleb(exponent, _SCALING)


def packed(logs: dict[Any, Any], key: Any, kind: type[PackedLog[Any]]) -> Any:
    """The log of ``kind`` kept under ``key``, started empty the first time."""
    log = logs.get(key)
    if log is None:
        log = logs[key] = kind()
    return log
