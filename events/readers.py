"""Reading facts from files, one at a time, with the line each came from.

Files are streamed: a reader yields ``(line, mapping)`` pairs and never holds the whole
file, so a million-fact import does not first sit in memory as text. Numbers are read
as ``Decimal`` (never float), so money stays exact from the first byte: JSON's as they are
parsed, CSV's and YAML's as their text, by the field's codec.

Input is treated as hostile: whatever the bytes, a reader either yields mappings or raises
``SourceError`` naming the file and line, in time and memory that grow with the input's size
and no faster. The limits below make that so; each is far above what any real fact needs.
A stream may give bytes (preferred: a bad byte is then reported on its own line) or text.
"""

from __future__ import annotations

import csv
import io
import json
import re
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import IO, Any

from events.codecs import DictCell, ListCell, UnreadCell, with_unread
from events.errors import FactError
from events.spaces import SPACES

FORMATS = ("jsonl", "yaml", "csv")

MAX_LINE_BYTES = 1 << 20
"""The longest line (1 MiB, line break not counted; characters when the stream is text).

A fact is about 200 bytes and the largest real one (a round with hundreds of investors) a
few KiB. Without a cap, a file with no line break (``/dev/zero``, a 10-million-digit number)
is read whole into memory before anything can be said about it."""

MAX_FACT_BYTES = MAX_LINE_BYTES
"""The most one fact may take as it is kept (1 MiB): its compact UTF-8 JSON, exactly what ``export``
writes under "fact" (``events.layout.interchange_json``), whatever format it came in.

Measured on what is kept rather than on the input, which may be larger (spaces, comments, a
YAML mapping over many lines) or smaller (``1e39`` is kept as 40 digits, defaults are written
out): so every fact the ledger takes can be exported and imported back (``ledger.exchange``
reads a line of this much plus its bounded wrapper). It also bounds the input text of a fact
that spans lines (a CSV row with quoted line breaks, a YAML mapping), and YAML between two
values (a block scalar that never ends, or a megabyte of comments): the parsers would
otherwise gather all of it before saying a word."""

MAX_DEPTH = 32
"""The deepest nesting of lists and objects, counting the fact itself as 1.

The deepest real fact is 4 levels (a correction whose replacement is a round with investors).
Parsing and checking facts recurse once per level; a line of 100,000 ``[`` would otherwise
exhaust Python's recursion limit (about 1,000) and crash instead of being refused."""

MAX_NUMBER_CHARS = 600
"""The longest number literal, in characters (sign, point and exponent included).

Amounts hold at most 40 digits before and after the point, so no field accepts more than
about 90 characters. 600 is below 640, the lowest limit Python may be configured with for
converting text to ``int`` (``sys.set_int_max_str_digits``; 4,300 by default), so no setting
can turn a long number into a crash, and converting it stays cheap."""

SHOWN_CHARS = 200
"""How much of a field name or file name an error message shows; messages show at most 5 times
as much. An error is one line on a terminal, not a copy of the hostile input."""

_BLOCK = 1 << 16
_SNIFF_BYTES = 4096
"""The first read when the format is told from the text: a head of comments is read further, up to
``MAX_LINE_BYTES`` (see ``sniff``)."""


class SourceError(ValueError):
    """Bad input at a place in a file: ``path:line: field: message``.

    The parts are made printable on one line (line breaks and control characters escaped,
    long text cut), since they may quote the input.
    """

    def __init__(self, path: str, line: int | None, message: str, field: str | None = None) -> None:
        self.path = printable(path, limit=5 * SHOWN_CHARS)
        self.line = line
        self.field = printable(field) if field is not None else None
        self.message = printable(message, limit=5 * SHOWN_CHARS)
        place = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{place}: {self.field}: {self.message}" if self.field else f"{place}: {self.message}")


def not_utf8(text: str) -> tuple[str, int] | None:
    """What in ``text`` cannot be written as UTF-8, and where (its first character is 1), or None: a byte that was
    not UTF-8, which Python hands on as a surrogate escape (file names, command lines), or a lone surrogate."""
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        code = ord(text[error.start])
        what = f"byte 0x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"lone surrogate \\u{code:04x}"
        return what, error.start + 1
    return None


def printable(text: str, limit: int = SHOWN_CHARS) -> str:
    """``text`` fit for a one-line message: control characters and line breaks escaped, cut to ``limit``."""
    text = text[: limit + 1]
    if not text.isprintable():
        text = "".join(char if char.isprintable() else ascii(char)[1:-1] for char in text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def format_of_name(path: str) -> str | None:
    """The interchange format a file name's extension tells, or None."""
    lowered = path.lower()
    if lowered.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if lowered.endswith((".yaml", ".yml")):
        return "yaml"
    if lowered.endswith(".csv"):
        return "csv"
    return None


def guess_format(path: str, head: str = "") -> str:
    """The interchange format from a file name, or from the first line that is not blank or a comment."""
    named = format_of_name(path)
    if named is not None:
        return named
    lines = [line.strip() for line in head.lstrip("\ufeff").splitlines()]
    stripped = "\n".join(line for line in lines if line and not line.startswith("#"))
    if stripped.startswith("{"):
        return "jsonl"
    first_line = stripped.split("\n", 1)[0]
    if "," in first_line and "kind" in first_line and ":" not in first_line:
        return "csv"
    return "yaml"


def read_facts(stream: IO[Any], path: str, fmt: str, longest_line: int = MAX_LINE_BYTES) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line, mapping)`` for each fact in ``stream``; ``SourceError`` on malformed text.

    ``stream`` gives bytes (UTF-8; a leading byte-order mark is skipped) or text. ``longest_line``
    is the most one line may hold: an exported line may hold more than a fact's input line, as it
    wraps a fact of up to ``MAX_FACT_BYTES`` (``ledger.exchange``).
    """
    if fmt == "jsonl":
        return _read_jsonl(stream, path, longest_line)
    if fmt == "csv":
        return _read_csv(stream, path, longest_line)
    if fmt == "yaml":
        return _read_yaml(stream, path, longest_line)
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


_CONTENT = re.compile(r"(?:\A|(?<=[\r\n]))[^\S\r\n]*[^\s#]")
"""The first character of the first line that is neither blank nor a comment."""
_LINE_BREAK = re.compile(r"[\r\n]")


def sniff(stream: IO[Any], path: str) -> tuple[str, Any]:
    """The format of a stream whose name does not tell it (stdin, a file without an extension), and a stream
    that still gives every byte.

    The text tells the format by its first line that is neither blank nor a comment, however far
    down: a file may open with a long licence or note, and a guess from comments alone took JSON
    Lines for YAML. What is read to find that line is handed on to the reader (a pipe cannot be
    read twice), so it is held in memory, and only up to ``MAX_LINE_BYTES``: a stream with nothing
    but comments and blank lines that far is refused, since its format cannot be told.
    """
    named = format_of_name(path)
    if named is not None:
        return named, stream
    head = _read_head(stream, path, _SNIFF_BYTES) or b""
    while True:
        text = (head.decode("utf-8", "replace") if isinstance(head, bytes) else head).lstrip("\ufeff")
        content = _CONTENT.search(text)
        if content is not None and _LINE_BREAK.search(text, content.end()):
            break  # the first content line is whole
        room = MAX_LINE_BYTES - len(head)
        more = _read_head(stream, path, min(_BLOCK, room)) if room > 0 else None
        if not more:  # the stream ended, or the look-ahead is full
            if content is None and room <= 0:
                raise _no_content(head, path)
            break
        head += more
    return guess_format(path, text), _Replayed(head, stream)


def _read_head(stream: IO[Any], path: str, size: int) -> Any:
    """``size`` bytes (characters from a text stream), fewer only at the end: the head is looked through again
    after each read, so a stream that gives a few bytes a read (a raw pipe) must not make that quadratic."""
    pieces = []
    wanted = size
    try:
        while wanted > 0 and (piece := stream.read(wanted)):
            pieces.append(piece)
            wanted -= len(piece)
    except (OSError, ValueError) as error:
        raise SourceError(path, 1, f"cannot read: {_reason(error)}") from None
    return pieces[0][:0].join(pieces) if pieces else None


def _no_content(head: Any, path: str) -> SourceError:
    """A look-ahead full of nothing but comments and blank lines, named by the line it stopped in."""
    crlf, cr, newline = (b"\r\n", b"\r", b"\n") if isinstance(head, bytes) else ("\r\n", "\r", "\n")
    number = head.count(newline) + head.count(cr) - head.count(crlf) + 1
    message = (
        f"only comments and blank lines in the first {MAX_LINE_BYTES:,} bytes, so the format cannot be told; "
        "give it (jsonl, yaml or csv)"
    )
    return SourceError(path, number, message)


class _Replayed:
    """A stream whose first bytes were already read (to guess its format), giving them again first."""

    def __init__(self, head: Any, rest: IO[Any]) -> None:
        self._head = head
        self._rest = rest

    def read(self, size: int = -1) -> Any:
        if self._head:
            head, self._head = self._head, self._head[:0]
            return head
        return self._rest.read(size)


# --- lines ----------------------------------------------------------------------------------------------------------

_YAML_ONLY_BREAKS = ("\x85", "\u2028", "\u2029")
"""What YAML takes as line breaks besides those of a file's lines (``_lines``)."""
_TEXT_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")


def _reason(error: BaseException) -> str:
    return getattr(error, "strerror", None) or str(error) or type(error).__name__


def _lines(stream: IO[Any], path: str, longest: int) -> Iterator[tuple[int, str]]:
    """``(number, text)`` for each physical line, its line break kept (``\\n``, ``\\r\\n`` or ``\\r``).

    Every line is checked before it is handed on: at most ``longest`` long, valid
    UTF-8, without NUL characters. Reading stops at the first bad line. Blocks are checked
    whole (the usual case, at C speed) and only a block that fails is gone through line by
    line to say where.
    """
    number = 0
    carry: Any = None  # the start of a line the next block continues
    while True:
        try:
            block = stream.read(_BLOCK)
        except UnicodeDecodeError as error:  # a text stream decoding for itself: the line is approximate
            raise SourceError(path, number + 1, f"not UTF-8 ({error.reason})", "text") from None
        except (OSError, ValueError) as error:
            raise SourceError(path, number + 1, f"cannot read: {_reason(error)}") from None
        if not block:
            if carry:
                yield number + 1, _checked(carry, path, number + 1, longest)
            return
        if carry:
            block = carry + block
        binary = isinstance(block, bytes)
        newline, cr = (b"\n", b"\r") if binary else ("\n", "\r")
        # complete lines end with "\n", or with a "\r" that is not the block's last character (its "\n" may follow)
        end = max(block.rfind(newline), block.rfind(cr, 0, len(block) - 1)) + 1
        whole, carry = block[:end], block[end:] or None
        if whole:
            text = _valid_text(whole, number == 0, longest)
            if text is not None:
                for line in io.StringIO(text, newline=""):  # splits at "\n", "\r\n" and "\r", as bytes.splitlines
                    number += 1
                    yield number, line
            else:
                for piece in whole.splitlines(keepends=True) if binary else _TEXT_LINE.findall(whole):
                    number += 1
                    yield number, _checked(piece, path, number, longest)
        if carry is not None and len(carry) > longest + 1:
            raise _too_long(path, number + 1, longest)


def _valid_text(whole: Any, first: bool, longest: int) -> str | None:
    """Complete lines as text when nothing is wrong with any of them (none too long), else None."""
    if len(whole) > longest:
        return None
    if isinstance(whole, bytes):
        if b"\x00" in whole or (first and whole.startswith((b"\xff\xfe", b"\xfe\xff"))):
            return None
        try:
            text = whole.decode("utf-8")
        except UnicodeDecodeError:
            return None
    else:
        text = whole
        if "\x00" in text:
            return None
        if not text.isascii():
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                return None
    return text[1:] if first and text.startswith("\ufeff") else text


def _too_long(path: str, number: int, longest: int) -> SourceError:
    return SourceError(path, number, f"longer than {longest:,} bytes, the most one line may hold", "line")


def _checked(piece: Any, path: str, number: int, longest: int) -> str:
    """One line as text, or ``SourceError`` saying why it cannot be read."""
    content = piece.rstrip(b"\r\n" if isinstance(piece, bytes) else "\r\n")
    if len(content) > longest:
        raise _too_long(path, number, longest)
    if isinstance(piece, bytes):
        if number == 1 and piece.startswith((b"\xff\xfe", b"\xfe\xff")):
            message = "not UTF-8 but UTF-16 (it starts with a UTF-16 byte-order mark); save it as UTF-8"
            raise SourceError(path, number, message, "text")
        if b"\x00" in piece:
            column = len(piece[: piece.index(b"\x00")].decode("utf-8", "replace")) + 1
            raise SourceError(path, number, f"a NUL byte at column {column}; is this a binary or UTF-16 file?", "text")
        try:
            text = piece.decode("utf-8")
        except UnicodeDecodeError as error:
            column = len(piece[: error.start].decode("utf-8", "replace")) + 1
            byte = piece[error.start]
            raise SourceError(path, number, f"not UTF-8: byte 0x{byte:02x} at column {column} ({error.reason})", "text") from None
    else:
        text = piece
        if "\x00" in text:
            raise SourceError(path, number, f"a NUL character at column {text.index(chr(0)) + 1}", "text")
        found = not_utf8(text)
        if found is not None:
            what, column = found
            raise SourceError(path, number, f"not UTF-8: {what} at column {column}", "text")
    if number == 1 and text.startswith("\ufeff"):
        text = text[1:]  # a byte-order mark is not data
    return text


# --- values ---------------------------------------------------------------------------------------------------------


def _text_problem(text: str) -> str | None:
    """Why a decoded string cannot be stored (an escape may give what raw bytes cannot), or None."""
    if "\x00" in text:
        return "holds a NUL character (\\u0000), which text may not"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as error:
            return f"holds a lone surrogate \\u{ord(text[error.start]):04x}, which is not a character"
    return None


def _check_value(value: Any, path: str, line: int | None, depth: int = 1, where: str | None = None) -> None:
    """Refuse nesting deeper than ``MAX_DEPTH`` and text that cannot be stored, naming the field. Not recursive."""
    stack = [(value, depth, where)]
    while stack:
        item, level, at = stack.pop()
        if isinstance(item, str):
            problem = _text_problem(item)
            if problem:
                raise SourceError(path, line, problem, at or "text")
        elif isinstance(item, dict | list):
            if level > MAX_DEPTH:
                raise SourceError(path, line, f"nested deeper than {MAX_DEPTH} levels of lists and objects", at or "nesting")
            if isinstance(item, dict):
                for name, inner in item.items():
                    problem = _text_problem(name)
                    if problem:
                        raise SourceError(path, line, f"a field name {problem}", at or "text")
                    stack.append((inner, level + 1, f"{at}.{name}" if at else name))
            else:
                stack.extend((inner, level + 1, f"{at or ''}[{index}]") for index, inner in enumerate(item))


class DuplicateFieldError(ValueError):
    """A fact names the same field twice: which value was meant cannot be known."""


class _NumberTooLong(ValueError):
    pass


def _no_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    mapping = dict(pairs)
    if len(mapping) != len(pairs):
        seen: set[str] = set()
        repeated = next(name for name, _ in pairs if name in seen or _remember(seen, name))
        raise DuplicateFieldError(repeated)
    return mapping


def _remember(seen: set[str], name: str) -> bool:
    """Add ``name`` to ``seen``; False, so a search for the first repeated name goes on."""
    seen.add(name)
    return False


class _Pairs(list[tuple[str, Any]]):
    """An object's fields in the order given, repeats kept: to find where a field is repeated."""


def _repeated_at(text: str) -> str | None:
    """The path of the first field given twice (``investors[1].amount``), in the order the decoder finished the
    objects: an object's inner ones before it. None when it cannot be told (the text is read again, so only once
    it is known to hold a repeat)."""

    def walk(value: Any, at: str) -> str | None:
        if isinstance(value, _Pairs):
            for name, inner in value:
                found = walk(inner, f"{at}.{name}" if at else name)
                if found is not None:
                    return found
            names = [name for name, _ in value]
            repeated = next((name for n, name in enumerate(names) if name in names[:n]), None)
            return None if repeated is None else (f"{at}.{repeated}" if at else repeated)
        if isinstance(value, list):
            for index, inner in enumerate(value):
                found = walk(inner, f"{at}[{index}]")
                if found is not None:
                    return found
        return None

    try:
        return walk(json.JSONDecoder(object_pairs_hook=_Pairs, parse_float=str, parse_int=str).decode(text), "")
    except (ValueError, RecursionError):
        return None


class _Refused(str):
    """A number's text the decoder refused, kept in place of its value to find the field it stood in."""


def _refused_at(text: str, refused: Callable[[str], bool]) -> str | None:
    """The path (``investors[1].amount``) of the first number whose text ``refused`` refuses, or None when it
    cannot be told (the text is read again, so only once it is known to hold such a number)."""

    def keep(number: str) -> Any:
        return _Refused(number) if refused(number) else None

    def walk(value: Any, at: str) -> str | None:
        if isinstance(value, _Refused):
            return at
        inner = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        for key, item in inner:
            found = walk(item, (f"{at}.{key}" if at else key) if isinstance(key, str) else f"{at}[{key}]")
            if found is not None:
                return found
        return None

    try:
        return walk(json.JSONDecoder(parse_float=keep, parse_int=keep).decode(text), "") or None
    except (ValueError, RecursionError):
        return None


def _out_of_range(number: str) -> bool:
    try:
        Decimal(number)
    except ArithmeticError:
        return True
    return False


def _short_int(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise _NumberTooLong(text)
    return int(text)


def _short_decimal(text: str) -> Decimal:
    if len(text) > MAX_NUMBER_CHARS:
        raise _NumberTooLong(text)
    return Decimal(text)


_DECODER = json.JSONDecoder(parse_float=Decimal, object_pairs_hook=_no_repeats)
_CAREFUL_DECODER = json.JSONDecoder(parse_float=_short_decimal, parse_int=_short_int, object_pairs_hook=_no_repeats)
_LONG_RUN = re.compile(rf"[-+.0-9eE]{{{MAX_NUMBER_CHARS + 1},}}")  # maybe a long number, maybe text
_JSON_SPACE = re.compile(r"[ \t\n\r]*")
_RISKY_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")  # may decode to a NUL or a lone surrogate


def decode_json(text: str, path: str, line: int | None, field: str | None = None) -> Any:
    """One JSON value from stripped text, within the limits; ``json.JSONDecodeError`` when it is not JSON.

    ``SourceError`` (naming ``path``, ``line`` and ``field``) when it is JSON beyond the limits:
    too deep, a number too long or out of range, a NUL or a lone surrogate in its text.
    """
    decoder = _CAREFUL_DECODER if len(text) > MAX_NUMBER_CHARS and _LONG_RUN.search(text) else _DECODER
    try:
        # ``decode`` without its Python-level wrapping, which costs as much as the scan of a short line
        try:
            value, end = decoder.scan_once(text, 0)  # type: ignore[attr-defined]  # the C scanner json.decode uses
        except StopIteration as stop:
            raise json.JSONDecodeError("Expecting value", text, stop.value) from None
        if end != len(text):  # ``text`` is stripped: anything after the value is more data
            space = _JSON_SPACE.match(text, end)  # always matches: it may be empty
            raise json.JSONDecodeError("Extra data", text, space.end() if space else end)
    except DuplicateFieldError as error:
        at = _repeated_at(text) or str(error)
        where = (field + at if at.startswith("[") else f"{field}.{at}") if field else at
        raise SourceError(path, line, "the field is given twice", where) from None
    except RecursionError:
        raise SourceError(path, line, f"nested deeper than {MAX_DEPTH} levels of lists and objects", field or "nesting") from None
    except _NumberTooLong as error:
        column = text.find(str(error)) + 1
        message = f"a number longer than {MAX_NUMBER_CHARS} characters" + (f" at column {column}" if column else "")
        found = _refused_at(text, lambda number: len(number) > MAX_NUMBER_CHARS)
        raise SourceError(path, line, message, _within(field, found) or "number") from None
    except ArithmeticError:  # Decimal refuses an exponent beyond its range (1e99999999999999999999)
        found = _refused_at(text, _out_of_range)
        raise SourceError(path, line, "a number out of any range", _within(field, found) or "number") from None
    if text.count("[") + text.count("{") > MAX_DEPTH or ("\\u" in text and _RISKY_ESCAPE.search(text)):
        _check_value(value, path, line, where=field)
    return value


def _within(field: str | None, where: str | None) -> str | None:
    """The path ``where`` found inside the value of ``field`` (a CSV cell holding JSON), or either alone."""
    if field and where:
        return field + where if where.startswith("[") else f"{field}.{where}"
    return field or where


# --- JSON Lines -----------------------------------------------------------------------------------------------------


def _read_jsonl(stream: IO[Any], path: str, longest_line: int) -> Iterator[tuple[int, dict[str, Any]]]:
    lines = _lines(stream, path, longest_line)
    for number, line in lines:
        text = line.strip()
        if text.startswith("\ufeff"):  # files joined with cat keep each one's byte-order mark
            text = text[1:].strip()
        if not text or text.startswith("#"):
            continue
        try:
            value = decode_json(text, path, number)
        except json.JSONDecodeError as error:
            problem = error.msg.removesuffix(" at")  # "Unterminated string starting at" names its column itself
            hint = _spread(text, _more(lines)) if problem != "Unterminated string starting" else _cut(_more(lines))
            raise SourceError(path, number, f"not valid JSON ({problem} at column {error.colno}){hint}") from None
        if not isinstance(value, dict):
            raise SourceError(path, number, f"each line must be one JSON object (a fact){_spread(text, True)}")
        yield number, value


def _more(lines: Iterator[tuple[int, str]]) -> bool:
    """Whether anything but blank lines follows in the file (a line that cannot be read counts as something)."""
    try:
        return any(line.strip() for _, line in lines)
    except SourceError:
        return True


def _spread(text: str, more: bool) -> str:
    """What to add to the error of a line that opens a JSON array, or a fact written over many lines: valid JSON,
    but not JSON Lines, one fact a line. An object left open on the file's last line is a file cut short instead."""
    if text.startswith("["):
        return "; a file holds one fact a line (JSON Lines): jq -c '.[]' writes an array's facts so"
    if text.startswith("{") and not text.endswith("}"):
        return "; a file holds one fact a line (JSON Lines): jq -c . writes each fact on one line" if more else _cut(more)
    return ""


def _cut(more: bool) -> str:
    """What to add to the error of a line that stops inside a fact: on the file's last line, that the file may have
    been cut short (a copy or a download that did not finish). A text never spans lines in JSON, so a line that
    stops inside one is no fact written over many lines."""
    return "" if more else "; the file ends inside this fact: was it cut short?"


# --- CSV ------------------------------------------------------------------------------------------------------------


def cell_value(text: str, path: str, line: int | None, field: str) -> Any:
    """A CSV cell, or a ``--field value`` of the command line: nested lists and objects may be written as JSON. Only
    typed spaces are taken off its ends: a field refuses any other invisible character there (``events.spaces``)."""
    stripped = text.strip(SPACES)
    if stripped[:1] in ("[", "{"):
        try:
            decoded = decode_json(stripped, path, line, field)
        except json.JSONDecodeError:
            return stripped  # text that merely starts with a bracket, such as "[Beta] Corp"
        except SourceError as error:  # JSON the limits refuse: still text to a text field (a note "{a: 1, a: 2}")
            return UnreadCell(stripped, FactError(error.message, error.field))
        if isinstance(decoded, list):
            return ListCell(decoded, stripped)  # a text field takes the text it was read from
        if isinstance(decoded, dict):
            return DictCell(decoded, stripped)
    return stripped


def _read_csv(stream: IO[Any], path: str, longest_line: int) -> Iterator[tuple[int, dict[str, Any]]]:
    """A header naming the fields (``kind`` among them), then one fact per row; blank cells are absent.

    One cell is held to the csv module's ``field_size_limit`` (128 KiB unless changed), one row
    to ``MAX_FACT_BYTES`` whatever that limit is, so a quote that is never closed cannot make
    the module gather the rest of the file.
    """
    lines = _lines(stream, path, longest_line)
    row_start = 1
    size = 0

    def feed() -> Iterator[str]:
        nonlocal size
        for _, text in lines:
            size += len(text)
            if size > MAX_FACT_BYTES:
                raise SourceError(path, row_start, f"longer than {MAX_FACT_BYTES:,} bytes, the most one row may hold", "row")
            yield text

    reader = csv.reader(feed(), strict=True)  # a quote never closed is an error, not a cell holding the rest of the file

    def next_row() -> list[str] | None:
        nonlocal row_start, size
        row_start, size = reader.line_num + 1, 0
        return next(reader, None)

    try:
        header = next_row()
        while header is not None and (not header or header[0].lstrip("\ufeff").startswith("#")):
            header = next_row()  # blank or comment lines before the header
        if header is None:
            return
        header_line = row_start
        header = [name.strip().lstrip("\ufeff") for name in header]
        if "kind" not in header:
            raise SourceError(path, header_line, "the header has no 'kind' column")
        repeated = sorted(name for name, count in Counter(header).items() if count > 1 and name)
        if repeated:
            raise SourceError(path, header_line, f"the header names {', '.join(repeated)} more than once")
        while True:
            row = next_row()
            if row is None:
                return
            if not row:  # a blank line
                continue
            # the row starts on the first line not yet read (blank lines before it were skipped above)
            start = row_start
            if len(row) > len(header):
                raise SourceError(path, start, f"more cells than the header's {len(header)} columns")
            fact = {
                name: cell_value(value, path, start, name)
                for name, value in zip(header, row, strict=False)
                if value.strip(SPACES) != ""  # blank; an invisible character is a value, which its field refuses
            }
            if "" in fact:  # a value under a column the header leaves unnamed (a trailing comma's empty column is fine)
                column = next(
                    n for n, (name, value) in enumerate(zip(header, row, strict=False), 1) if not name and value.strip(SPACES)
                )
                raise SourceError(
                    path, start, f"column {column} holds a value but has no name in the header (line {header_line})"
                )
            if fact:
                yield start, with_unread(fact)
    except csv.Error as error:  # such as a cell longer than csv.field_size_limit
        raise SourceError(path, row_start, f"not valid CSV ({error})") from None


# --- YAML -----------------------------------------------------------------------------------------------------------

_OCTAL = re.compile(r"[-+]?0[0-9_]*[0-9]")
"""An integer YAML 1.1 reads as octal (``017`` is 15 there, 17 to a reader of decimals): refused, not guessed."""
_YAML_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
"""How YAML writes null: a value tagged ``!!null`` that is none of them was given, and is refused, not dropped."""
_YAML_TAGS = frozenset(f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "timestamp", "seq", "map"))
"""The tags a fact may carry, written or implied. Others (``!!python/object``, ``!!binary``, ``!mine``) mean
something facts cannot hold, and are refused rather than silently read as text."""


def _read_yaml(stream: IO[Any], path: str, longest_line: int) -> Iterator[tuple[int, dict[str, Any]]]:
    """A YAML list of facts, or one fact per document (``---``); numbers stay exact.

    Read event by event, so a fact is built only from what it says: aliases (``*name``) are
    refused, which rules out "billion laughs" (a few hundred bytes whose aliases expand to
    gigabytes), and each fact is checked against the limits as it is read.
    """
    events = _YamlEvents(stream, path, longest_line)
    yaml = events.yaml
    events.next()  # the start of the stream
    while not isinstance(events.next(), yaml.StreamEndEvent):  # the start of a document
        event = events.next()
        if isinstance(event, yaml.SequenceStartEvent):
            events.tag(event, "tag:yaml.org,2002:seq", None)
            while not isinstance(event := events.next(), yaml.SequenceEndEvent):
                yield events.fact(event)
        elif not (isinstance(event, yaml.ScalarEvent) and events.scalar(event, None) is None):
            yield events.fact(event)  # an empty document (``---`` with nothing after it) holds no fact
        events.next()  # the end of the document


_YAML_REFUSES = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff]")
"""Characters YAML does not allow in a stream (control characters; NUL and surrogates never get this far): every
character outside YAML's printable set (tab, line feed, carriage return, U+0020-U+007E, U+0085, U+00A0-U+D7FF,
U+E000-U+FFFD, U+10000-U+10FFFF), written as what it leaves out: written as that set negated, the expression
took 8.7 ms to compile, on every command that reads facts, YAML or not."""


class WithLines(dict[str, Any]):
    """A fact read from a format whose facts span lines (YAML), with the line each of its fields begins on
    (``lines``: ``investors[0].amount`` -> 7), so an error found in a field names that field's line (``line_of``)."""

    __slots__ = ("lines",)

    def __init__(self, fields: dict[str, Any], lines: dict[str, int]) -> None:
        super().__init__(fields)
        self.lines = lines


def line_of(data: Any, field: str | None, line: int) -> int:
    """The line of ``field`` in a fact read with its fields' lines (``WithLines``): the field's own, or that of the
    nearest field holding it (a field missing from ``investors[0]`` is told on that investor's line); ``line``
    (the fact's) otherwise."""
    lines: dict[str, int] | None = data.lines if isinstance(data, WithLines) else None
    while field and lines is not None:
        if field in lines:
            return lines[field]
        cut = max(field.rfind("."), field.rfind("["))
        field = field[:cut] if cut > 0 else None
    return line


class _YamlEvents:
    """The parser's events for one stream, fed line by line through ``_lines``, and facts built from them.

    What the parser holds is bounded too: no fact, and no stretch of input between two events
    (a block scalar that never ends), may take more than ``MAX_FACT_BYTES``.
    """

    def __init__(self, stream: IO[Any], path: str, longest_line: int) -> None:
        import yaml

        self.yaml = yaml
        self.path = path
        self._lines = _lines(stream, path, longest_line)
        self._failed: SourceError | None = None
        self._line = 0  # the last line handed to the parser
        self._fed = 0  # characters handed to the parser
        self._since = 0  # ``_fed`` when the current fact began, or at the last event outside a fact
        self._since_line = 1  # where that was
        self._in_fact = False
        self._field_lines: dict[str, int] = {}  # the line of each field of the fact being read
        self._inner_breaks: list[int] = []
        """The parser's lines (from 0) that begin within a line of the file: YAML also breaks lines at U+0085,
        U+2028 and U+2029, which a file's lines (``_lines``) do not, so a mark past them names the file's line."""
        loader_class = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        self.loader = loader_class(self)  # type: ignore[arg-type]  # a stream of events, which the loader only hands to its parser

    def read(self, size: int) -> str:
        """The parser's input, a line at a time; a bad line ends the input and is reported by ``next``."""
        if self._failed is not None:
            return ""
        try:
            for number, text in self._lines:
                self._line = number
                refused = _YAML_REFUSES.search(text)
                if refused:  # found here, it is reported with its line and column
                    char = ascii(refused.group())[1:-1]
                    message = f"a control character {char} at column {refused.start() + 1}, which YAML does not allow"
                    raise SourceError(self.path, number, message, "text")
                self._fed += len(text)
                if not text.isascii():
                    self._note_inner_breaks(number, text)
                if self._fed - self._since > MAX_FACT_BYTES + MAX_LINE_BYTES:  # a line's worth of read-ahead allowed
                    what = "fact" if self._in_fact else "value"
                    message = f"longer than {MAX_FACT_BYTES:,} bytes, the most one {what} may hold"
                    raise SourceError(self.path, self._since_line, message, what)
                if text:
                    return text
        except SourceError as error:
            self._failed = error
        return ""

    def _note_inner_breaks(self, number: int, text: str) -> None:
        inner = sum(text.count(mark) for mark in _YAML_ONLY_BREAKS)
        first = number - 1 + len(self._inner_breaks)  # the parser's line (from 0) at which this line of the file begins
        self._inner_breaks.extend(range(first + 1, first + 1 + inner))

    def _physical(self, parsed: int) -> int:
        """The file's line (from 1) of the parser's line ``parsed`` (from 0)."""
        return parsed + 1 - bisect_right(self._inner_breaks, parsed)

    def next(self) -> Any:
        try:
            event = self.loader.get_event()
        except self.yaml.YAMLError as error:
            if self._failed is not None:
                raise self._failed from None
            mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
            line = self._physical(mark.line) if mark is not None else self._line
            raise SourceError(self.path, line, f"not valid YAML ({getattr(error, 'problem', None) or error})") from None
        if self._failed is not None:
            raise self._failed
        if event is None:  # past the end: cannot happen after a stream's end event, but never loop on it
            raise SourceError(self.path, self._line, "not valid YAML (it ends early)")
        if not self._in_fact:
            self._since, self._since_line = self._fed, self._physical(event.end_mark.line)
        return event

    def fact(self, event: Any) -> tuple[int, dict[str, Any]]:
        line = self._physical(event.start_mark.line)
        if isinstance(event, self.yaml.AliasEvent):
            self.value(event, 1, None)  # refused
        if not isinstance(event, self.yaml.MappingStartEvent):
            raise SourceError(self.path, line, "each fact must be a mapping of fields")
        self._in_fact, self._since_line = True, line
        self._field_lines = {}
        mapping = self.value(event, 1, None)
        self._in_fact = False
        return line, WithLines(mapping, self._field_lines)

    def value(self, event: Any, depth: int, where: str | None) -> Any:
        yaml = self.yaml
        line = self._physical(event.start_mark.line)
        if isinstance(event, yaml.AliasEvent):
            message = f"YAML aliases (*{event.anchor}) are not accepted; write the value out in full"
            raise SourceError(self.path, line, message, where or "alias")
        if isinstance(event, yaml.ScalarEvent):
            return self.scalar(event, where)
        if depth > MAX_DEPTH:
            raise SourceError(self.path, line, f"nested deeper than {MAX_DEPTH} levels of lists and mappings", where or "nesting")
        if isinstance(event, yaml.SequenceStartEvent):
            self.tag(event, "tag:yaml.org,2002:seq", where)
            items: list[Any] = []
            while not isinstance(item := self.next(), yaml.SequenceEndEvent):
                path = f"{where or ''}[{len(items)}]"
                self._field_lines[path] = self._physical(item.start_mark.line)
                items.append(self.value(item, depth + 1, path))
            return items
        self.tag(event, "tag:yaml.org,2002:map", where)
        mapping: dict[str, Any] = {}
        while not isinstance(key := self.next(), yaml.MappingEndEvent):
            key_line = self._physical(key.start_mark.line)
            if isinstance(key, yaml.AliasEvent):
                self.value(key, depth + 1, where)  # refused
            if not isinstance(key, yaml.ScalarEvent):
                raise SourceError(self.path, key_line, "a field name must be plain text", where)
            self.tag(key, None, where)
            name = key.value
            problem = _text_problem(name)
            if problem:
                raise SourceError(self.path, key_line, f"a field name {problem}", where or "text")
            path = f"{where}.{name}" if where else name
            if name in mapping:
                raise SourceError(self.path, key_line, "the field is given twice", path)
            self._field_lines[path] = key_line
            mapping[name] = self.value(self.next(), depth + 1, path)
        return mapping

    def tag(self, event: Any, implied: str | None, where: str | None) -> str:
        """The tag of a node: as written (one of ``_YAML_TAGS``), else as the plain text implies."""
        tag: str | None = event.tag
        if tag is None or tag == "!":
            if implied is not None:
                return implied
            resolved: str = self.loader.resolve(self.yaml.ScalarNode, event.value, event.implicit)
            return resolved
        if tag not in _YAML_TAGS:
            shown = "!!" + tag.removeprefix("tag:yaml.org,2002:") if tag.startswith("tag:yaml.org,2002:") else tag
            raise SourceError(
                self.path, self._physical(event.start_mark.line), f"the YAML tag {shown} is not accepted", where or "tag"
            )
        return tag

    def scalar(self, event: Any, where: str | None) -> Any:
        """A plain value as written, null as None. Numbers too are handed on as their text, which the field's codec
        reads by the rules it reads a CSV cell by: YAML's own reading would take ``1__0``, ``.5``, ``+5``, ``1e3``
        as an integer, or other scripts' digits behind a ``!!int`` tag, where JSON and CSV refuse them."""
        tag = self.tag(event, None, where)
        value: str = event.value
        line = self._physical(event.start_mark.line)
        problem = _text_problem(value)
        if problem:
            raise SourceError(self.path, line, problem, where or "text")
        if tag.endswith((":int", ":float")):
            if len(value) > MAX_NUMBER_CHARS:
                raise SourceError(self.path, line, f"longer than {MAX_NUMBER_CHARS} characters", where or "number")
            if tag.endswith(":int") and _OCTAL.match(value):
                message = f"{value} has a leading zero, which YAML reads as octal; write it without, or quote it"
                raise SourceError(self.path, line, message, where or "number")
            return value  # 0x1F, 1:30, .inf, 1__0: the field's codec says what is wrong with it
        if tag.endswith(":null"):
            if value not in _YAML_NULLS:  # !!null "important": a value given, which null would throw away
                raise SourceError(self.path, line, f"{value!r} is tagged !!null, which would drop it", where or "null")
            return None
        # Booleans are kept as written: YAML 1.1 reads NO (Norway) and yes as booleans; the field's codec decides.
        return value
