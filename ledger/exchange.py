"""Export and import: a ledger as JSON Lines that reproduces it exactly, ids, recorded and known times included.

Each line is one stored fact in recording order: ``{"seq", "of", "id", "recorded", "known", "fact"}``,
``of`` the position of the export's last fact, ``known`` the moment its batch became part of the ledger
(what ``--known-at`` goes by), the fact in its interchange form, written as the store keeps it.
Importing such a file into an empty ledger gives the same facts with the same ids, effective, recorded
and known times, in the same order, so ``--known-at`` answers there as here; importing it again changes
nothing. Facts are checked exactly as appended ones are. An export cut short, even at a line's end, is
refused: its last line is not the one ``of`` names. A line without ``known`` (an export made before
batches were kept) is known from its recorded time, as that version answered; one without ``of`` (made
before exports said where they end) cannot tell a cut at a line's end.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import IO, Any

from events import Catalogue, FactError
from events.layout import interchange_json
from events.readers import MAX_FACT_BYTES, SourceError, read_facts
from ledger.appending import Incoming
from ledger.appending import fact_id as id_of
from ledger.errors import RejectedError
from ledger.importing import place, readable
from ledger.progress import Progress, counted
from ledger.records import Recorded

FIELDS = ("seq", "of", "id", "recorded", "known", "fact")
OPTIONAL = frozenset({"of", "known"})
"""Fields an exported line may leave out (one written before they existed)."""

_LINE = '{{"seq":{},"of":{},"id":"{}","recorded":"{}","known":"{}","fact":{}}}\n'
"""An exported line. Its positions, hex id and ISO 8601 times are JSON as they are; the fact is written by
``interchange_json``, so it takes the bytes ``MAX_FACT_BYTES`` measured when it was appended."""

_LATEST = datetime.max.replace(tzinfo=UTC).isoformat()
WRAPPER_BYTES = len(_LINE.format(2**63 - 1, 2**63 - 1, "f" * 32, _LATEST, _LATEST, "")) - 1
"""The most an exported line holds besides its fact (189 bytes): two positions of at most 19 digits (the
store's positions are 64-bit integers), a 32-digit id, and a recorded and a known time in UTC to the microsecond."""

MAX_EXPORT_LINE_BYTES = MAX_FACT_BYTES + WRAPPER_BYTES
"""The longest line ``import`` reads: the largest fact the ledger takes, in its wrapper. An input line
is held to ``MAX_LINE_BYTES``, but a fact that filled one comes out of ``export`` longer by its wrapper,
and must still come back in."""


def export_lines(
    records: Sequence[Recorded], known: Callable[[Recorded], datetime], progress: Progress | None = None
) -> Iterator[str]:
    """One line per stored fact, each naming the position of the last (``of``), ``known`` giving its batch's known
    time (``Store.known_times``); ``progress`` (optional) hears ``(lines written, facts to write)``."""
    last = records[-1].seq if records else 0
    for record in counted(records, progress, len(records)):
        fact = interchange_json(record.fact.to_dict()).decode()
        yield _LINE.format(record.seq, last, record.id, record.recorded.isoformat(), known(record).isoformat(), fact)


def import_stream(catalogue: Catalogue, stream: IO[Any], name: str) -> Iterator[Incoming]:
    """Exported lines back into facts that keep their ids and recorded times.

    A text stream is read through the bytes under it when it has them (an export is UTF-8),
    so a bad byte is reported on its own line; every problem is a one-line ``RejectedError``.
    """
    source = readable(stream, name)
    previous: int | None = None
    end: object = _UNSAID  # the last position the first line names (``of``), which every line must name
    line = 0
    try:
        for line, data in read_facts(source, name, "jsonl", MAX_EXPORT_LINE_BYTES):
            item = _incoming(catalogue, data, name, line)
            seq = data["seq"]
            if not isinstance(seq, int) or isinstance(seq, bool) or (previous is not None and seq != previous + 1):
                expected = "a whole number" if previous is None else str(previous + 1)
                message = f"expected {expected}, got {_shown(seq)}: the export is out of order or incomplete"
                raise SourceError(name, line, message, "seq")
            end = _end_named(data, end, seq, name, line)
            previous = seq
            yield item
        if end is not _UNSAID and end is not None and previous != end:
            message = f"the export ends at #{previous}, where its lines say it holds up to #{end}: it was cut short"
            raise SourceError(name, line, message, "of")
    except SourceError as error:
        raise RejectedError(str(error)) from None


_UNSAID = object()
"""What ``import_stream`` knows of an export's end before its first line."""


def _end_named(data: dict[str, Any], end: object, seq: int, name: str, line: int) -> int | None:
    """The export's last position as this line names it (``of``), the same as the first line's; None for an export
    whose lines name none (made before they did)."""
    if "of" not in data:
        named = None
    else:
        named = data["of"]
        if not isinstance(named, int) or isinstance(named, bool) or named < seq:
            raise SourceError(name, line, f"expected the position of the export's last fact, got {_shown(named)}", "of")
    if end is not _UNSAID and named != end:
        this = "names no end" if named is None else f"names #{named} as the export's end"
        first = "named none" if end is None else f"said #{end}"
        raise SourceError(name, line, f"{this}, where its first line {first}", "of")
    return named


def _recorded(value: Any, name: str, line: int, field: str = "recorded") -> datetime:
    """A recorded (or known) time as the ledger keeps it: in UTC, to the microsecond, from 1970 on.

    Another offset is the same moment, so it is turned into UTC, as every append records: the stored bytes,
    and so the hash chain, are then those of the ledger it was exported from. A finer fraction of a second,
    or a moment before 1970, could not be kept as it is: each is refused rather than rounded or broken."""
    try:
        recorded = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        recorded = None
    if recorded is None or recorded.tzinfo is None:
        raise SourceError(name, line, f"expected an ISO 8601 time with its UTC offset, got {_shown(value)}", field)
    fraction = _FRACTION.search(value)
    if fraction is not None and len(fraction.group(1)) > 6:
        raise SourceError(name, line, f"{_shown(value)} is finer than a microsecond, the most a {field} time keeps", field)
    try:
        recorded = recorded.astimezone(UTC)
    except OverflowError:
        raise SourceError(name, line, f"{_shown(value)} is out of range in UTC", field) from None
    if recorded < EPOCH:
        raise SourceError(name, line, f"{_shown(value)} is before 1970-01-01T00:00:00Z, when {field} times start", field)
    return recorded


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FRACTION = re.compile(r"[0-9][Tt ][0-9:]+[.,]([0-9]+)")
"""The fraction of a second in an ISO 8601 time."""


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _incoming(catalogue: Catalogue, data: dict[str, Any], name: str, line: int) -> Incoming:
    if not set(FIELDS) - OPTIONAL <= set(data) <= set(FIELDS):
        got = ", ".join(data) if data else "none"
        fields = ", ".join(f"{field} (optional)" if field in OPTIONAL else field for field in FIELDS)
        raise SourceError(name, line, f"an exported line has exactly the fields {fields}; got {got}")
    fact_id = data["id"]
    if not (isinstance(fact_id, str) and len(fact_id) == 32 and all(c in "0123456789abcdef" for c in fact_id)):
        raise SourceError(name, line, f"expected 32 lower-case hex digits, got {_shown(fact_id)}", "id")
    recorded = _recorded(data["recorded"], name, line)
    known = _recorded(data["known"], name, line, "known") if "known" in data else None
    if not isinstance(data["fact"], dict):
        raise SourceError(name, line, "expected an object", "fact")
    try:
        fact = catalogue.parse(data["fact"])
    except FactError as error:
        raise SourceError(name, line, error.message, f"fact.{error.field}" if error.field else "fact") from None
    if fact.key and fact_id != id_of(fact):  # a key gives one id in every ledger: another would take a key's id later
        raise SourceError(name, line, f"{fact_id} is not the id of key {fact.key!r} (that is {id_of(fact)})", "id")
    seq = data["seq"] if isinstance(data["seq"], int) and not isinstance(data["seq"], bool) else None
    return Incoming(place(name, line), fact, id=fact_id, recorded=recorded, seq=seq, known=known)
