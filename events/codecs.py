"""Field codecs: how one value of a fact is read from, and written to, its interchange form.

Fact classes do not use these directly: they declare fields with ``events.fields``
(``party()``, ``amount()``, ...), and ``events.layout`` builds, dumps and describes whole
records from those declarations, so a new kind needs no parsing code of its own.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, ClassVar

from events.errors import FactError
from events.iso import NO_MONEY, as_code, country_codes, currency_codes
from events.spaces import SPACES

if TYPE_CHECKING:
    from events.catalogue import Catalogue

SLUG_PATTERN = r"^[a-z0-9]+(?:[-_.][a-z0-9]+)*$"
_SLUG = re.compile(SLUG_PATTERN)
MAX_PLACES = 40
"""Amounts and fractions have at most this many digits before and after the point: an exponent of a
million would otherwise be stored digit by digit and make exact arithmetic on it run forever."""
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class Codec:
    """Reads one field value (``parse``), writes it back (``dump``), describes it (``schema``).

    ``plain`` says the parsed value is already its interchange form (text), so writing it
    back needs no call; ``names_parties`` says the value may hold party slugs. Both let the
    per-fact paths skip work for most fields.
    """

    plain = False
    names_parties = False
    is_record = False  # the value is a whole record (an object in JSON), not one scalar
    shared = False
    """Its values repeat from fact to fact (slugs, codes, words): read back from the store they are handed out
    from one table, so the states folded from a million facts hold each once (and pickle it once)."""

    def parse(self, value: Any, catalogue: Catalogue) -> Any:
        raise NotImplementedError

    def dump(self, value: Any) -> Any:
        return value

    def load(self, value: Any, catalogue: Catalogue) -> Any:
        """The parsed value from what ``dump`` wrote, without checking it again (see ``load_record``)."""
        if self.shared and type(value) is str:
            return shared_text(value)
        return value

    def schema(self) -> dict[str, Any]:
        raise NotImplementedError

    def party_paths(self, value: Any, path: str) -> list[tuple[str, str]]:
        """(field path, slug) for each party this value refers to, so errors can point at the field."""
        return []


class ListCell(list[Any]):
    """A list read from a CSV cell written as JSON, which keeps the cell's text: a text field takes the text (a note
    ``[2024]`` is a note, not a list)."""

    __slots__ = ("text",)

    def __init__(self, items: list[Any], text: str) -> None:
        super().__init__(items)
        self.text = text


class DictCell(dict[str, Any]):
    """A mapping read from a CSV cell written as JSON, which keeps the cell's text (see ``ListCell``)."""

    __slots__ = ("text",)

    def __init__(self, items: dict[str, Any], text: str) -> None:
        super().__init__(items)
        self.text = text


class UnreadCell(str):
    """A CSV cell (or a ``--field value``) that starts as JSON does but is JSON beyond the limits (a key given twice,
    nesting too deep, a number too long): text to a text field, which takes any text, and ``error`` to any other
    field, which would have read the JSON (``layout.build``)."""

    def __new__(cls, text: str, error: FactError) -> UnreadCell:
        cell = super().__new__(cls, text)
        cell.error = error
        return cell

    error: FactError


class UnreadRow(dict[str, Any]):
    """A fact's fields read from a CSV row or the command line, one of which at least is an ``UnreadCell``: its
    fields are checked for them before any other (``layout.build``), so the cell's own refusal is the one told."""


def with_unread(fields: dict[str, Any]) -> dict[str, Any]:
    """``fields`` as an ``UnreadRow`` when one of them is an ``UnreadCell``, else as they are."""
    return UnreadRow(fields) if any(type(value) is UnreadCell for value in fields.values()) else fields


def _unseen_end(text: str) -> str:
    """The code point of the invisible character (one ``str.isspace`` counts) that begins or ends ``text``."""
    char = text[0] if text[0].isspace() else text[-1]
    return f"U+{ord(char):04X}"


def describe_value(value: Any) -> str:
    """A value as an error message quotes it, shortened: text as its repr, a number as written (``1E+999999``, not
    Python's ``Decimal('1E+999999')``), lists and mappings of them likewise."""
    text = _as_written(value)
    return text if len(text) <= 40 else text[:37] + "..."


_SHOWN_ITEMS = 8
"""Items of a list or mapping an error message quotes: it is cut at 40 characters anyway."""


def _as_written(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list | tuple):
        more = ", ..." if len(value) > _SHOWN_ITEMS else ""
        return "[" + ", ".join(_as_written(item) for item in value[:_SHOWN_ITEMS]) + more + "]"
    if isinstance(value, dict):
        items = list(value.items())
        more = ", ..." if len(items) > _SHOWN_ITEMS else ""
        return "{" + ", ".join(f"{_as_written(k)}: {_as_written(v)}" for k, v in items[:_SHOWN_ITEMS]) + more + "}"
    return repr(value)


class Text(Codec):
    """A non-empty string; at most ``max_length`` characters where a limit is set (what the ledger's index holds)."""

    plain = True
    max_length: int | None = None

    def __init__(self, max_length: int | None = None) -> None:
        if max_length is not None:
            self.max_length = max_length

    def parse(self, value: Any, catalogue: Catalogue) -> str:
        if isinstance(value, ListCell | DictCell):
            value = value.text
        if not isinstance(value, str):
            raise FactError(f"expected text, got {describe_value(value)}")
        text: str = value.strip(SPACES)
        if not text:
            raise FactError("must not be empty")
        if text[0].isspace() or text[-1].isspace():  # on every text field of every fact: no more than this
            raise FactError(f"begins or ends with an invisible character ({_unseen_end(text)}); remove it")
        if self.max_length is not None and len(text) > self.max_length:
            raise FactError(f"longer than {self.max_length} characters ({len(text):,})")
        return text

    def schema(self) -> dict[str, Any]:
        found: dict[str, Any] = {"type": "string", "minLength": 1}
        if self.max_length is not None:
            found["maxLength"] = self.max_length
        return found


MAX_SLUG_LENGTH = 200
"""Characters a slug may have: the index keeps each party a fact names (``subject``, 255 characters on PostgreSQL,
where a longer one was refused only when the batch was written, naming no fact)."""
MAX_KEY_LENGTH = 500
"""Characters a fact's key may have: keys are indexed as they are, and PostgreSQL refuses an index entry past 2,704
bytes (500 characters take at most 2,000 in UTF-8). Both limits hold on every backend, so any ledger moves to any."""


class Slug(Text):
    """A lower-case identifier such as ``nvidia-a800``."""

    shared = True
    max_length = MAX_SLUG_LENGTH

    def parse(self, value: Any, catalogue: Catalogue) -> str:
        text = super().parse(value, catalogue)
        if not _SLUG.match(text):
            raise FactError(  # !a: a look-alike letter shows as its code, not as the letter it mimics
                f"{text!a} is not a slug (lower-case letters, digits and single '-', '_' or '.' between them)"
            )
        return shared_text(text)  # a batch of a million facts names a few thousand parties: each kept once

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "pattern": SLUG_PATTERN, "maxLength": MAX_SLUG_LENGTH}


BUILT_IN_HOLDERS = ("founders", "undisclosed")
"""Holders that need no registration: who held a company before the ledger knew, and unreported holders."""


class PartyRef(Slug):
    """The slug of a party; the ledger checks that it was registered. A built-in holder is no party: it may hold
    shares (``built_ins``: a holder, a seller, a buyer, a round's investor), and is never a company, a parent, a
    provider or an authority."""

    names_parties = True

    def __init__(self, *, built_ins: bool = False) -> None:
        self.built_ins = built_ins

    def parse(self, value: Any, catalogue: Catalogue) -> str:
        text = super().parse(value, catalogue)
        if text in BUILT_IN_HOLDERS and not self.built_ins:
            raise FactError(f"{text!r} is a built-in holder of shares, not a party that can be named here")
        return text

    def schema(self) -> dict[str, Any]:
        found = super().schema()
        return found if self.built_ins else {**found, "not": {"enum": list(BUILT_IN_HOLDERS)}}

    def party_paths(self, value: Any, path: str) -> list[tuple[str, str]]:
        return [(path, value)]


class OneOf(Codec):
    """One word out of a fixed list."""

    plain = True
    shared = True

    def __init__(self, *choices: str) -> None:
        self.choices = choices

    def parse(self, value: Any, catalogue: Catalogue) -> str:
        if isinstance(value, str):
            value = value.strip(SPACES)
        if value not in self.choices:
            raise FactError(f"expected one of {', '.join(self.choices)}, got {describe_value(value)}")
        return shared_text(str(value))

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
        word = value.strip(SPACES).lower() if isinstance(value, str) else None
        if word in self._WORDS:
            return self._WORDS[word]
        raise FactError(f"expected true or false, got {describe_value(value)}")

    def schema(self) -> dict[str, Any]:
        return {"type": "boolean"}


TEXTS_SHARED = 1_000_000
"""Slugs, codes and words read back from the store kept to be handed out again (a table of our own rather
than ``sys.intern``, whose strings some Python versions never free)."""
_TEXTS: dict[str, str] = {}


def shared_text(text: str) -> str:
    """The one object this process hands out for ``text`` (``text`` itself the first time, and once the table is full)."""
    return _TEXTS.get(text) or (_TEXTS.setdefault(text, text) if len(_TEXTS) < TEXTS_SHARED else text)


DAYS_SHARED = 100_000
"""Dates read back from the store kept to be handed out again (274 years of days): a million facts'
states hold each date once."""
_DAYS: dict[str, date] = {}


class IsoDate(Codec):
    def parse(self, value: Any, catalogue: Catalogue) -> date:
        if isinstance(value, date):
            return value
        text = value.strip(SPACES) if isinstance(value, str) else None
        if text is None or not _ISO_DATE.fullmatch(text):
            raise FactError(f"expected an ISO date YYYY-MM-DD, got {describe_value(value)}")
        try:
            return self.load(text, catalogue)  # one object per day, as a read hands out
        except ValueError as error:
            raise FactError(f"{value!r} is not a valid date ({error})") from None

    def load(self, value: Any, catalogue: Catalogue) -> date:
        day = _DAYS.get(value)
        if day is None:
            day = date.fromisoformat(value)
            if len(_DAYS) < DAYS_SHARED:
                _DAYS[value] = day
        return day

    def dump(self, value: date) -> str:
        return value.isoformat()

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "format": "date"}


def to_decimal(value: Any) -> Decimal:
    """An exact ``Decimal`` from a decimal string or a number; floats go through their shortest repr."""
    kind = type(value)
    if kind is str:  # the usual case first: this runs for every amount of every fact
        number = _from_text(value)
    elif isinstance(value, bool):
        raise FactError(f"expected a decimal number, got {describe_value(value)}")
    elif isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))
    elif isinstance(value, str):
        number = _from_text(value)
    else:
        raise FactError(f"expected a decimal number, got {describe_value(value)}")
    if not number.is_finite():
        raise FactError(f"expected a finite decimal number, got {describe_value(value)}")
    too_large = bool(number) and not -MAX_PLACES <= number.adjusted() < MAX_PLACES
    exponent = number.as_tuple().exponent
    if too_large or (isinstance(exponent, int) and -exponent > MAX_PLACES):
        raise _out_of_range(value)
    return number


_DECIMAL_GRAMMAR = r"[0-9]+(?:_[0-9]+)*(?:\.[0-9]+(?:_[0-9]+)*)?(?:[eE][+-]?[0-9]+)?"
"""A decimal as the schema writes it (``NonNegativeDecimal.schema``) and the parser reads it: ASCII digits, an
underscore only between two of them, a point only between digits, an optional exponent."""
_DECIMAL_TEXT = re.compile(rf"[ \t\r\n]*-?{_DECIMAL_GRAMMAR}[ \t\r\n]*")
"""The text ``_from_text`` reads: the grammar, with a sign the codec then judges and spaces around."""
_NOT_FINITE = re.compile(r"[ \t\r\n]*[+-]?(?:s?nan|inf|infinity)[ \t\r\n]*", re.IGNORECASE)
"""What ``Decimal`` reads as no number, read only to be refused as not finite."""


def _from_text(value: str) -> Decimal:
    """A decimal written as the schema allows: ``Decimal`` alone would also take other scripts' digits ("١٢",
    "１２"), "+5", ".5", "5." and, once underscores were dropped, "_1_" or "1_e_3", none of which the schema allows
    nor a reader would expect to be money."""
    if _DECIMAL_TEXT.fullmatch(value) or _NOT_FINITE.fullmatch(value):
        try:
            return Decimal(value.strip(SPACES).replace("_", ""))
        except InvalidOperation:  # an exponent past what any decimal can hold
            raise _out_of_range(value) from None
    raise FactError(f"expected a decimal number, got {describe_value(value)}")


def _out_of_range(value: Any) -> FactError:
    return FactError(f"{describe_value(value)} is out of range: at most {MAX_PLACES} digits before and after the point")


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
        """Text and numbers as the parser takes them; a positive amount's text holds a digit other than 0 before
        any exponent (the schema cannot weigh text further: the parser's range checks still apply)."""
        nonzero = r"(?=[^eE]*[1-9])" if self.positive else ""
        return {
            "type": ["string", "number"],
            "pattern": rf"^{nonzero}{_DECIMAL_GRAMMAR}$",
            ("exclusiveMinimum" if self.positive else "minimum"): 0,
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
        return {**super().schema(), "maximum": 1, "description": "exact decimal fraction in [0, 1]"}


class CurrencyCode(Codec):
    plain = True
    shared = True

    def parse(self, value: Any, catalogue: Catalogue) -> str:
        code = as_code(value)
        if code in NO_MONEY:
            raise FactError(f"{describe_value(value)} is ISO 4217's code for no currency or for testing, not money's")
        if code not in currency_codes():
            raise FactError(f"{describe_value(value)} is not an ISO 4217 currency code")
        return shared_text(code)

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "pattern": "^[A-Za-z]{3}$", "description": "ISO 4217 code"}


class CountryCode(Codec):
    plain = True
    shared = True

    def parse(self, value: Any, catalogue: Catalogue) -> str:
        code = as_code(value)
        if code is None or code not in country_codes():
            raise FactError(f"{describe_value(value)} is not an ISO 3166 alpha-2 country code")
        return shared_text(code)

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "pattern": "^[A-Za-z]{2}$", "description": "ISO 3166 alpha-2 code"}


class CountryOrParty(Codec):
    """A country (upper-case ISO code) or a party slug: export bans target either."""

    plain = True
    shared = True
    names_parties = True

    def parse(self, value: Any, catalogue: Catalogue) -> str:
        if isinstance(value, str) and value.strip(SPACES).isupper():
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
        if isinstance(value, str) and not self.item.is_record:
            value = [part for part in (p.strip(SPACES) for p in value.split(";")) if part]
        if not isinstance(value, (list, tuple)):
            raise FactError(f"expected a list, got {describe_value(value)}")
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
        if self.item.is_record:
            return listed
        return {"anyOf": [listed, {"type": "string", "description": "items separated by ';' (as in CSV)"}]}
