"""Rows to text: an aligned table for people, JSON and CSV for programs.

The rule for numbers, in one place, so that no reader ever sees a float or a silently
rounded figure:

- **JSON and CSV are exact.** A ``Decimal`` is written in full, never in exponent notation
  (``1E+3`` is written ``1000``, ``1.50`` stays ``1.50``). A ``Fraction`` whose decimal
  expansion terminates is written as that decimal in full (``21/64`` is ``0.328125``);
  any other is written as its exact ratio (``53/165``). Both are strings in JSON, so
  ``ledger.exact.parse_fraction(text)`` (or ``Decimal(text)`` for a decimal) reads back exactly the number
  the view answered.
- **Tables are for reading.** Money and other ``Decimal`` values are shown as given; a
  ``Fraction`` is shown as a decimal with six places, rounded half to even (``53/165`` is
  ``0.321212``). Numbers are right-aligned.

Plain text is the table when the output is piped; on a terminal the same table is drawn by
``rich`` (imported only then).
"""

from __future__ import annotations

import csv
import fractions
import io
import itertools
import json
import pickle
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from operator import call
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO
from unicodedata import combining, east_asian_width

from ledger.exact import Fraction, decimal_places

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

TABLE_PLACES = 6
"""Places a table shows for a fraction (JSON and CSV write it exactly)."""

FRACTIONS = (Fraction, fractions.Fraction)


def exact_text(value: Decimal | Fraction | fractions.Fraction) -> str:
    """The exact decimal text of a number, or ``n/d`` for a fraction whose decimal never ends."""
    if isinstance(value, Decimal):
        return _decimal_text(value)
    numerator, denominator = value.numerator, value.denominator
    if denominator == 1:
        return str(numerator)
    places = decimal_places(denominator)
    if places is None:
        return f"{numerator}/{denominator}"
    return _point(numerator * 10**places // denominator, places)  # denominator divides 10**places: a whole quotient


def table_text(value: Fraction | fractions.Fraction) -> str:
    """A fraction as a decimal of ``TABLE_PLACES`` places, rounded half to even (``round`` on a Fraction is)."""
    return _point(round(value * 10**TABLE_PLACES), TABLE_PLACES)


def _point(scaled: int, places: int) -> str:
    """``scaled / 10**places`` as decimal text, with exactly ``places`` digits after the point."""
    sign = "-" if scaled < 0 else ""
    digits = str(abs(scaled)).rjust(places + 1, "0")
    return f"{sign}{digits[:-places]}.{digits[-places:]}" if places else f"{sign}{digits}"


def plain(value: Any) -> Any:
    """A JSON-ready value: numbers (exact) and dates as strings, tuples as lists."""
    if isinstance(value, (Decimal, *FRACTIONS)):
        return exact_text(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def _decimal_text(value: Decimal) -> str:
    """A Decimal in full: ``str`` unless it chose exponent notation (``1E+3``), then ``format(value, "f")``; ``str``
    takes a fifth of the time of ``format``, which a million-row answer would call millions of times."""
    text = str(value)
    return text if "E" not in text else format(value, "f")


_EXACT_CELLS: dict[type, Callable[[Any], str]] = {
    str: str,
    int: str,
    type(None): "".format,  # "" whatever it is given: a C call
    bool: lambda value: "yes" if value else "no",
    Decimal: _decimal_text,
    Fraction: exact_text,
    fractions.Fraction: exact_text,
    date: date.isoformat,
    datetime: datetime.isoformat,
}
"""How ``cell`` writes each plain type exactly, looked up by type: a million-row answer is mostly these."""


def cell(value: Any, *, exact: bool = True) -> str:
    """One value as text: exact for CSV, fractions at six places for a table (``exact=False``)."""
    write = _EXACT_CELLS.get(type(value))
    if write is not None and (exact or type(value) not in FRACTIONS):
        return write(value)
    if not exact and isinstance(value, FRACTIONS):
        return table_text(value)
    if isinstance(value, (list, tuple)):
        return ";".join(cell(v, exact=exact) for v in value)
    if isinstance(value, dict):
        return json.dumps(plain(value), separators=(",", ":"))
    return str(plain(value))


def as_json(rows: Sequence[dict[str, Any]]) -> str:
    out = io.StringIO()
    write_json(out, rows)
    return out.getvalue()


def as_csv(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    out = io.StringIO()
    write_csv(out, rows, columns)
    return out.getvalue()


def write_json(out: TextIO, rows: Iterable[dict[str, Any]]) -> int:
    """Write ``rows`` as one JSON array, a row at a time (the same text as ``json.dumps(..., indent=2)``); the count."""
    count = 0
    for row in rows:
        text = json.dumps(plain(row), indent=2, ensure_ascii=False).replace("\n", "\n  ")
        out.write(f"{',' if count else '['}\n  {text}")
        count += 1
    out.write("\n]\n" if count else "[]\n")
    return count


def write_csv(out: TextIO, rows: Iterable[dict[str, Any]], columns: Sequence[str]) -> int:
    """Write a header and ``rows`` as CSV, a row at a time, so no answer has to be held whole as text; the count.

    A 1M-fact replay writes 13 million cells, so each row's cells are made by C loops: the row's
    types pick (once per combination of types) a tuple of writers, one per column, and
    ``map(call, writers, values)`` applies them. The text is the one ``cell`` writes.
    """
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    write_row = writer.writerow
    names = tuple(columns)
    plans: dict[tuple[type, ...], tuple[Callable[[Any], str], ...]] = {}
    count = 0
    for row in rows:
        values = row.values() if tuple(row) == names else [row.get(name) for name in names]
        types = tuple(map(type, values))
        plan = plans.get(types)
        if plan is None:
            plan = plans[types] = tuple(_EXACT_CELLS.get(kind, cell) for kind in types)
        cells = list(map(call, plan, values))
        if "\r" in "".join(cells):
            out.write(_quoted_row(cells))
        else:
            write_row(cells)
        count += 1
    return count


def _quoted_row(cells: list[str]) -> str:
    """A row with a carriage return in a value: a writer ending lines with ``\r\n`` quotes such a value (one
    ending them with ``\n`` would leave it bare, and a reader would split the row there)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(cells)
    return buffer.getvalue()[:-2] + "\n"


def as_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """Plain aligned text: what a pipe, a file or a test reads (``write_table`` to a string)."""
    out = io.StringIO()
    write_table(out, rows, columns)
    return out.getvalue()


def rich_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> Table:
    """The same table for a terminal: ``rich`` draws it, numbers right-aligned, the header styled."""
    from rich.table import Table
    from rich.text import Text

    numeric = numeric_columns(rows, columns)
    table = Table(header_style="bold cyan", show_edge=False, pad_edge=False)
    for name, num in zip(columns, numeric, strict=True):
        table.add_column(Text(terminal_safe(name)), justify="right" if num else "left", overflow="fold")
    for row in rows:  # Text, not str: a name such as "[Beta] Corp" is data, not rich markup; escaped: not commands
        table.add_row(*(Text(terminal_safe(cell(row.get(name), exact=False))) for name in columns))
    return table


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str], console: Console) -> None:
    """Draw ``rows`` on ``console`` (``(no rows)`` when there are none, as in plain text)."""
    if not rows:
        console.print("(no rows)", markup=False, highlight=False)
        return
    console.print(rich_table(rows, columns))


def numeric_columns(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> list[bool]:
    """For each column, whether every value it holds is a number (those are right-aligned)."""
    return [all(_is_number(row.get(name)) for row in rows if row.get(name) is not None) for name in columns]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, Decimal, *FRACTIONS)) and not isinstance(value, bool)


SPOOLED_ROWS = 10_000
"""Rows of cell texts a table keeps in memory at a time while it measures the widths (``write_table``)."""


def write_table(out: TextIO, rows: Iterable[dict[str, Any]], columns: Sequence[str]) -> int:
    """The text of ``as_table`` written as the rows come (only ``columns``): the count.

    A table needs the width of every row before its first line, but not every row in memory:
    the rows' cell texts go to a temporary file, ``SPOOLED_ROWS`` at a time, while the widths
    are measured, and are read back to be padded. A million-fact replay's 600,000 round-trip
    rows took 1.3 GB more as a table than as CSV when held whole.
    """
    widths = [_width(name) for name in columns]
    numeric = [True] * len(columns)
    count = 0
    with _Spool() as spool:
        batch: list[list[str]] = []
        for row in rows:
            values = [row.get(name) for name in columns]
            texts = [_one_line(cell(value, exact=False)) for value in values]
            for at, (value, text) in enumerate(zip(values, texts, strict=True)):
                width = _width(text)
                if width > widths[at]:
                    widths[at] = width
                if numeric[at] and value is not None and not _is_number(value):
                    numeric[at] = False
            batch.append(texts)
            count += 1
            if len(batch) >= SPOOLED_ROWS:
                spool.add(batch)
                batch = []
        if not count:
            out.write("(no rows)\n")
            return 0
        out.write("  ".join(_padded(name, w, False) for name, w in zip(columns, widths, strict=True)).rstrip() + "\n")
        out.write("  ".join("-" * w for w in widths) + "\n")
        for held in itertools.chain(spool.read_back(), [batch]):
            for texts in held:
                parts = [_padded(t, w, num) for t, w, num in zip(texts, widths, numeric, strict=True)]
                out.write("  ".join(parts).rstrip() + "\n")
    return count


_TERMINAL_ESCAPES = {code: f"\\x{code:02x}" for code in (*range(32), *range(127, 160)) if code not in (9, 10)} | {
    code: f"\\u{code:04x}" for code in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))
}
"""Characters a terminal would obey rather than show: ESC begins a sequence that clears the screen or recolours it
(C1 codes too), a carriage return writes over the start of the line, and the bidirectional overrides and isolates
(U+202A to U+202E, U+2066 to U+2069) reorder what follows. Each is shown escaped; tabs and line feeds stay (CSV ends
its lines with a line feed alone)."""


_ESCAPES = {**_TERMINAL_ESCAPES, 9: "\\t", 10: "\\n", 13: "\\r", 0x2028: "\\u2028", 0x2029: "\\u2029"}
"""Control characters as a plain table shows them: escaped, so that every row stays one line (a name or a note may
hold a line break: C0 and C1 codes, U+0085 NEL among them, and the line and paragraph separators U+2028 and U+2029,
where any program splitting lines as Unicode does would break the row), and the bidirectional overrides and
isolates, which would reorder the columns after them: what a terminal is kept from obeying, and the line breaks."""


def terminal_safe(text: str) -> str:
    """``text`` to print on a terminal: a stored note cannot move the cursor or clear the screen. Text for a pipe or a
    file is written as it is (CSV and JSON are exact)."""
    return text.translate(_TERMINAL_ESCAPES)


def _one_line(text: str) -> str:
    return text if text.isprintable() else text.translate(_ESCAPES)


def _width(text: str) -> int:
    """Columns the text takes on a terminal: wide (East Asian) characters take two, combining marks none."""
    if text.isascii():
        return len(text)
    return sum(0 if combining(c) else 2 if east_asian_width(c) in "WF" else 1 for c in text)


def _padded(text: str, width: int, right: bool) -> str:
    space = " " * (width - _width(text))
    return space + text if right else text + space


class _Spool:
    """Batches of cell texts for ``write_table``: in a temporary file, opened with the first batch (a short table
    never opens one), or kept in memory where no temporary file can be written."""

    def __init__(self) -> None:
        self.file: BinaryIO | None = None
        self.kept: list[list[list[str]]] = []
        self.batches = 0

    def __enter__(self) -> _Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.file is not None:
            self.file.close()

    def add(self, batch: list[list[str]]) -> None:
        if not self.batches:
            try:
                self.file = tempfile.TemporaryFile()  # noqa: SIM115  # closed by __exit__
            except OSError:
                self.file = None
        if self.file is None:
            self.kept.append(batch)
        else:
            pickle.dump(batch, self.file, protocol=pickle.HIGHEST_PROTOCOL)
        self.batches += 1

    def read_back(self) -> Iterator[list[list[str]]]:
        """The batches in the order added, one at a time."""
        if self.file is None:
            yield from self.kept
            return
        self.file.seek(0)
        for _ in range(self.batches):
            yield pickle.load(self.file)  # this process's own temporary file, written above


def write_rows(out: TextIO, rows: Iterable[dict[str, Any]], fmt: str, columns: Sequence[str] | None) -> int:
    """Write rows in ``fmt`` as they come (a table spools them to measure its widths first); the count.

    ``columns`` None: not every column is known before the rows (a view that declares none), so
    they are all read first.
    """
    if fmt == "json":
        return write_json(out, rows)
    if columns is not None:
        return write_csv(out, rows, columns) if fmt == "csv" else write_table(out, rows, columns)
    held = list(rows)
    names = column_names(held, columns)
    out.write(as_csv(held, names) if fmt == "csv" else as_table(held, names))
    return len(held)


def column_names(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None) -> list[str]:
    """The declared columns, then any other a row holds, in order of appearance."""
    names = list(columns or [])
    for row in rows:
        names.extend(name for name in row if name not in names)
    return names
