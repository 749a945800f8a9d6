"""The fact store: an eventsourcing application whose one event stream is the ledger, and its index.

Every fact is one ``FactRecorded`` event in a single stream; its version is the fact's
position. That stream's version is also the optimistic lock: two writers who read the same
head both try to store the next version, the database keeps one, and the loser re-reads,
re-validates and tries again. One ``insert_events`` call is one transaction, so a batch is
stored whole or not at all, with its index rows (``ledger.persistence``) in the same
transaction.

Reads go through the index: by position, by subject (a party or an escrow account), by kind,
or along the effective-date axis, so a question reads the facts it needs rather than the
whole ledger. Stored facts are decoded on a trusted fast path (``Catalogue.load``): they
were checked when appended, and the hash chain tells whether they changed since.
"""

from __future__ import annotations

import importlib
import random
import time
import warnings
from array import array
from bisect import bisect_left
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from operator import itemgetter
from types import ModuleType
from typing import Any, TypeVar, cast, overload

import orjson
from eventsourcing.application import Application
from eventsourcing.domain import DomainEvent
from eventsourcing.persistence import IntegrityError, OperationalError, PersistenceError, StoredEvent, Transcoder

from events import FactError
from events.corrections import FactCorrected, FactRetracted
from ledger import persistence
from ledger.errors import ConcurrencyError, LedgerError
from ledger.host import PluginHost
from ledger.persistence import (
    BATCHES_TABLE,
    FACTS_TABLE,
    GENESIS_HASH,
    IN_CHUNK,
    LEDGER_ID,
    SUBJECTS_TABLE,
    Batch,
    IndexRow,
    first_line,
)
from ledger.records import Recorded, read_back
from ledger.stopping import commit_failed
from ledger.timeline import FactIndex, Named, may_be_prefix
from ledger.transcoding import FastJSONTranscoder

T = TypeVar("T")
PAGE_SIZE = 5_000
CACHE_LIMIT = 200_000
"""Facts kept decoded per process for the small reads (keys, registrations, one party's facts): bounded memory."""
_BACKWARDS_PAGE = 64
"""Index rows read at a time going back from the end of the story (``last_effective_but``)."""
MAX_ATTEMPTS = 50
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CORRECTION_KINDS = ("fact.corrected", "fact.retracted")

_WITH_EVENTS = "CROSS JOIN {events} e WHERE e.originator_id = ? AND e.originator_version = f.position "
"""Index rows ``f`` joined with their stored events. ``CROSS JOIN`` keeps the index as the outer loop on
SQLite, whose planner would otherwise walk every event of the ledger for each page (PostgreSQL plans it
freely)."""
_BY_EFFECTIVE = itemgetter(4, 0)
"""A row of ``effective_between``'s order: its effective date, then its position."""
_RECORDS = f"SELECT f.position, f.fact_id, f.recorded_us, e.state FROM {FACTS_TABLE} f {_WITH_EVENTS}AND "
"""Facts with their stored events, for a condition on ``f`` to follow."""


class FactRecorded(DomainEvent):
    """A fact entered the ledger. ``timestamp`` is its recorded (transaction) time, UTC.

    The fact is kept in its interchange form, so what is stored is exactly what users
    exchange, and reading it back goes through the same validation as any input.
    """

    fact_id: str
    fact: dict[str, Any]


class StoredBatch(Sequence[StoredEvent]):
    """A batch's facts as the recorder stores them, each encoded only when the recorder takes it.

    A recorder that ``writes_in_chunks`` (SQLite, PostgreSQL) takes a slice at a time inside its
    one transaction (``persistence.WRITE_CHUNK``), so a million-fact append holds one slice's
    encoded events and insert parameters, not all of them at once beside the facts they encode
    (about 1.1 GB of the 2.4 GB such an append took, measured). Each item is encoded again if
    taken again: a recorder that reads the events twice gets a list instead (``Store.write``).
    """

    def __init__(self, batch: Sequence[Recorded], encode: Callable[[DomainEvent], StoredEvent]) -> None:
        self.batch = batch
        self.encode = encode

    def __len__(self) -> int:
        return len(self.batch)

    @overload
    def __getitem__(self, item: int) -> StoredEvent: ...
    @overload
    def __getitem__(self, item: slice) -> list[StoredEvent]: ...
    def __getitem__(self, item: int | slice) -> StoredEvent | list[StoredEvent]:
        if isinstance(item, slice):
            return [self._stored(record) for record in self.batch[item]]
        return self._stored(self.batch[item])

    def __iter__(self) -> Iterator[StoredEvent]:
        return map(self._stored, self.batch)

    def _stored(self, record: Recorded) -> StoredEvent:
        return self.encode(
            FactRecorded(  # type: ignore[call-arg]  # the library makes events dataclasses at class creation
                originator_id=LEDGER_ID,
                originator_version=record.seq,
                timestamp=record.recorded,
                fact_id=record.id,
                fact=record.fact.to_dict(),
            )
        )


class LedgerApplication(Application[Any]):
    """The eventsourcing application behind a ledger; its recorder and mapper do all storage of events."""

    name = "dealledger"

    def construct_transcoder(self) -> Transcoder:
        transcoder = FastJSONTranscoder()
        self.register_transcodings(transcoder)
        return transcoder


@dataclass(frozen=True)
class Head:
    """The last stored fact: its position, recorded time and chain hash (position 0: an empty ledger), and when its
    batch became known (committed: its recorded time for a batch written before batches were kept)."""

    position: int
    recorded: datetime | None
    hash: str
    known: datetime | None = None


@dataclass(frozen=True)
class Entry:
    """A fact's index row, read back: enough to find it, order it and tell what it can change."""

    position: int
    fact_id: str
    key: str | None
    kind: str
    effective: date
    touch: date


def _before(entry: Entry | None, position: int) -> Entry | None:
    return entry if entry is not None and entry.position < position else None


def to_us(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


_NO_BATCH = object()
"""No batch read yet: equal to no recorded time a driver hands back."""


def from_us(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=micros)


class Store:
    """Reads and writes facts through the eventsourcing recorder and the index; knows nothing of validation."""

    def __init__(self, url: str | None, host: PluginHost, *, verifying: bool = False) -> None:
        """Open (or create) the store; ``verifying`` opens a damaged one too, to report on it and put its guard back."""
        self.backend = persistence.backend_for(persistence.resolve_url(url))
        self.host = host
        try:
            module: ModuleType = importlib.import_module(f"ledger.persistence.{self.backend.kind}")
            self.module = module
            with module.opening(self.backend) as create:
                self.app = LedgerApplication(env={**self.backend.env, "CREATE_TABLE": "y" if create else "n"})
                module.guard(self.app.recorder, create, repair=verifying)
                database_class = {"sqlite": "SQLiteDatabase", "postgres": "PostgresDatabase", "sqlalchemy": "SQLAlchemyDatabase"}
                self.db: persistence.Database = getattr(module, database_class[self.backend.kind])(self.app.recorder)
                self._cache: dict[int, Recorded] = {}
                self._catch_up_index()
                self.batches_kept = self._batches_readable()
            if not verifying:
                self._check_head()
        except PersistenceError as error:
            raise LedgerError(f"cannot open the store {self.backend.safe_url}: {first_line(error)}") from None
        except ImportError as error:
            raise LedgerError(f"the store {self.backend.safe_url} needs a driver that is not installed: {error}") from None
        except Exception as error:
            if not persistence.driver_error(error):
                raise
            raise LedgerError(f"cannot open the store {self.backend.safe_url}: {first_line(error)}") from None

    def close(self) -> None:
        self.app.close()

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return self.db.rows(sql, params)
        except PersistenceError as error:
            raise LedgerError(f"cannot read the store {self.backend.safe_url}: {first_line(error)}") from None
        except Exception as error:  # the drivers' own errors (sqlite3, psycopg) when not wrapped by the library
            if persistence.driver_error(error):
                raise LedgerError(f"cannot read the store {self.backend.safe_url}: {first_line(error)}") from None
            raise

    # --- the index ----------------------------------------------------------------------

    def _batches_readable(self) -> bool:
        """Whether the batches' table is there to read: a ledger written before it, opened where it could not be
        made (a read-only file, a role without the privilege), knows each fact from its recorded time, as before."""
        try:
            self._rows(f"SELECT position FROM {BATCHES_TABLE} WHERE position = 0")
        except LedgerError as error:
            if "permission denied" in str(error).lower():  # there, but not for this role: its answers would differ
                warnings.warn(
                    f"this role may not read {BATCHES_TABLE}: --known-at goes by recorded times here, not by when each "
                    "batch was committed (grant SELECT, INSERT on it, as the README shows)",
                    persistence.KnownTimesNotRead,
                    stacklevel=4,
                )
            return False
        return True

    def head(self) -> Head:
        known = (
            f"(SELECT b.known_us FROM {BATCHES_TABLE} b WHERE b.position >= f.position ORDER BY b.position LIMIT 1)"
            if self.batches_kept
            else "NULL"
        )
        last = f"(SELECT MAX(known_us) FROM {BATCHES_TABLE})" if self.batches_kept else "NULL"
        found = self._rows(
            f"SELECT f.position, f.recorded_us, f.hash, {known} AS known, {last} AS last_known FROM {FACTS_TABLE} f "
            "ORDER BY f.position DESC LIMIT 1"
        )
        if not found:
            return Head(0, None, GENESIS_HASH)
        position, micros, digest, row_known, last_known = found[0]
        if row_known is None:  # written without a batch row: known as ``persistence.unbatched_known`` will keep it
            row_known = persistence.unbatched_known(int(micros), None if last_known is None else int(last_known))
        return Head(int(position), from_us(int(micros)), digest, from_us(int(row_known)))

    def known_position(self, known_at: datetime | None) -> int:
        """The last position the ledger held at ``known_at`` (the head when None): the end of the last batch committed
        by then (``persistence.BATCHES_TABLE``). Facts past the last batch row (written by a version before batches
        were kept, not yet given rows: ``write_batches`` does, with the next batch) are known from their recorded
        time, as that version answered, but never before the last row (``persistence.unbatched_known``). One
        statement, so one snapshot: a batch committed between two reads would otherwise be counted by its recorded
        time."""
        if known_at is None:
            return self.head().position
        micros = to_us(known_at)
        if not self.batches_kept:
            found = self._rows(f"SELECT MAX(position) FROM {FACTS_TABLE} WHERE recorded_us <= ?", (micros,))
            return int(found[0][0] or 0)
        found = self._rows(
            f"SELECT CASE WHEN k.known < k.covered OR k.last_known >= ? THEN k.known ELSE COALESCE((SELECT MAX(position) "
            f"FROM {FACTS_TABLE} WHERE position > k.covered AND recorded_us <= ?), k.known) END AS known_position FROM "
            f"(SELECT COALESCE((SELECT position FROM {BATCHES_TABLE} WHERE known_us <= ? ORDER BY known_us DESC, "
            f"position DESC LIMIT 1), 0) AS known, COALESCE((SELECT MAX(position) FROM {BATCHES_TABLE}), 0) AS covered, "
            f"COALESCE((SELECT MAX(known_us) FROM {BATCHES_TABLE}), -1) AS last_known) k",
            (micros, micros, micros),
        )
        return int(found[0][0] or 0)

    def known_times(self) -> Callable[[Recorded], datetime]:
        """When each stored fact became known: its batch's known time (its recorded time where its batch has no row).

        The batch rows are read as facts are asked about, a page from the first asked (``_KnownPages``): a ledger of
        a million single-fact appends has a million rows, and ``explain`` asks about a few facts, ``export`` about
        all of them in order."""
        if not self.batches_kept:
            return _recorded_time
        return _KnownPages(self._rows).known

    def hash_at(self, position: int) -> str | None:
        if position == 0:
            return GENESIS_HASH
        found = self._rows(f"SELECT hash FROM {FACTS_TABLE} WHERE position = ?", (position,))
        return found[0][0] if found else None

    def min_touch(self, after: int, upto: int) -> date | None:
        """The earliest date any fact in positions (after, upto] can change: what invalidates a checkpoint."""
        if upto <= after:
            return None
        found = self._rows(f"SELECT MIN(touch) FROM {FACTS_TABLE} WHERE position > ? AND position <= ?", (after, upto))
        return date.fromisoformat(found[0][0]) if found and found[0][0] else None

    def entries(self, *, ids: Iterable[str] = (), keys: Iterable[str] = ()) -> list[Entry]:
        """Index rows of the facts with these ids or keys."""
        found: list[Entry] = []
        for column, values in (("fact_id", list(dict.fromkeys(ids))), ("fact_key", list(dict.fromkeys(keys)))):
            for start in range(0, len(values), IN_CHUNK):
                chunk = values[start : start + IN_CHUNK]
                found += self._entries(f"{column} IN ({', '.join('?' * len(chunk))})", chunk)
        return found

    def named(self, ref: str, upto: int) -> Named[Entry]:
        """What a reference could name among the facts stored at or before ``upto``, corrections and retractions
        aside (``ledger.timeline.Named`` holds the rule that chooses). Before the first fact there is none to read:
        a batch into an empty ledger asks once for each of its corrections."""
        if upto < 1:
            return Named()
        return self._named(ref, upto + 1, self._direct([ref]), {})

    def target(self, ref: str, upto: int, batch: FactIndex | None = None) -> Recorded | None:
        """The fact ``ref`` names among those stored at or before ``upto`` and, recorded after them, the facts of
        ``batch`` (a batch being appended, its corrections and retractions left out)."""
        named: Named[Any] = self.named(ref, upto)
        if batch is not None:
            named = batch.named(ref) | named
        chosen = named.chosen()
        if isinstance(chosen, Entry):
            return self.at_positions([chosen.position])[0]
        return cast(Recorded | None, chosen)

    def targets(self, amendments: Iterable[Recorded]) -> dict[int, Recorded]:
        """The fact each stored correction or retraction names, by the amendment's position: read as ``resolve``
        reads it, among the facts recorded before the amendment (``named``), so that a later fact can never change
        it. An amendment that names nothing is left out."""
        amending = [r for r in amendments if isinstance(r.fact, (FactCorrected, FactRetracted))]
        direct = self._direct({record.fact.fact for record in amending})  # type: ignore[attr-defined]
        prefixed: dict[str, list[Entry]] = {}
        chosen: dict[int, int] = {}
        for record in amending:
            entry = self._named(record.fact.fact, record.seq, direct, prefixed).chosen()  # type: ignore[attr-defined]
            if entry is not None:
                chosen[record.seq] = entry.position
        loaded = {record.seq: record for record in self.at_positions(set(chosen.values()))}
        return {seq: loaded[position] for seq, position in chosen.items()}

    def _direct(self, refs: Iterable[str]) -> tuple[dict[str, Entry], dict[str, Entry]]:
        """The facts (corrections and retractions aside) whose id, and those whose key, is one of ``refs``."""
        refs = list(refs)
        found = [entry for entry in self.entries(ids=refs, keys=refs) if entry.kind not in CORRECTION_KINDS]
        return {entry.fact_id: entry for entry in found}, {entry.key: entry for entry in found if entry.key is not None}

    def _named(
        self, ref: str, before: int, direct: tuple[dict[str, Entry], dict[str, Entry]], prefixed: dict[str, list[Entry]]
    ) -> Named[Entry]:
        """What ``ref`` could name among the facts stored before position ``before``: by id or key from ``direct``
        (``_direct``), else by id prefix, read along the index once per prefix (``prefixed`` keeps them)."""
        by_id, by_key = direct
        named = Named(_before(by_id.get(ref), before), _before(by_key.get(ref), before))
        if named.by_id is not None or named.by_key is not None or not may_be_prefix(ref):
            return named
        if ref not in prefixed:
            prefixed[ref] = self._prefixed(ref)
        return Named(by_prefix=tuple(entry for entry in prefixed[ref] if entry.position < before))

    def _prefixed(self, prefix: str) -> list[Entry]:
        """The facts whose id begins with ``prefix`` (corrections and retractions aside), read along the id's index:
        lower-case hex ids that begin with it sort from it to it followed by ``g``."""
        rows = self._entries("fact_id >= ? AND fact_id < ?", [prefix, prefix + "g"])
        return [entry for entry in rows if entry.fact_id.startswith(prefix) and entry.kind not in CORRECTION_KINDS]

    def _entries(self, where: str, params: Sequence[Any]) -> list[Entry]:
        rows = self._rows(f"SELECT position, fact_id, fact_key, kind, effective, touch FROM {FACTS_TABLE} WHERE {where}", params)
        return [Entry(int(p), i, k, kind, date.fromisoformat(e), date.fromisoformat(t)) for p, i, k, kind, e, t in rows]

    # --- reading facts ------------------------------------------------------------------

    def records(self, upto: int | None = None) -> list[Recorded]:
        """Every stored fact up to position ``upto`` (all when None), in recording order."""
        return list(self.iter_records(upto))

    def iter_records(self, upto: int | None = None) -> Iterator[Recorded]:
        last = 0
        limit = upto if upto is not None else self.head().position
        while last < limit:
            page = self._decode(
                self._rows(
                    _RECORDS + "f.position > ? AND f.position <= ? ORDER BY f.position LIMIT ?",
                    (self.db.ledger_id, last, limit, PAGE_SIZE),
                )
            )
            if not page:
                return
            yield from page
            last = page[-1].seq

    def at_positions(self, positions: Iterable[int]) -> list[Recorded]:
        """The facts at these positions, in recording order (decoded once per process: a stored fact never changes)."""
        wanted = sorted(set(positions))
        cache = self._cache
        found = [cache[p] for p in wanted if p in cache]
        wanted = [p for p in wanted if p not in cache]
        for start in range(0, len(wanted), IN_CHUNK):
            chunk = wanted[start : start + IN_CHUNK]
            found += self._decode(
                self._rows(
                    _RECORDS + f"f.position IN ({', '.join('?' * len(chunk))}) ORDER BY f.position",
                    (self.db.ledger_id, *chunk),
                )
            )
        if len(cache) < CACHE_LIMIT:
            cache.update((record.seq, record) for record in found)
        return sorted(found, key=lambda record: record.seq)

    def about(self, subjects: Iterable[str], upto: int, kinds: Collection[str] | None = None) -> list[Recorded]:
        """Facts up to ``upto`` that name any of the subjects (parties, escrow accounts), in recording order; only those
        of ``kinds`` when given, chosen in the index (a cloud provider is named by a tenth of a large ledger, and
        whether it is registered is told by a handful of them)."""
        wanted = sorted(set(subjects))
        only = sorted(set(kinds)) if kinds is not None else None
        if only == []:
            return []
        positions: set[int] = set()
        for start in range(0, len(wanted), IN_CHUNK):
            chunk = wanted[start : start + IN_CHUNK]
            named = f"SELECT position FROM {SUBJECTS_TABLE} WHERE subject IN ({', '.join('?' * len(chunk))}) AND position <= ?"
            if only is None:
                rows = self._rows(named, (*chunk, upto))
            else:
                rows = self._rows(
                    f"SELECT position FROM {FACTS_TABLE} WHERE position IN ({named}) AND kind IN ({', '.join('?' * len(only))})",
                    (*chunk, upto, *only),
                )
            positions.update(int(row[0]) for row in rows)
        return self.at_positions(positions)

    def of_kinds(self, kinds: Iterable[str], upto: int) -> list[Recorded]:
        """Facts of these kinds up to ``upto``, in recording order."""
        wanted = sorted(set(kinds))
        if not wanted:
            return []
        rows = self._rows(
            f"SELECT position FROM {FACTS_TABLE} WHERE kind IN ({', '.join('?' * len(wanted))}) AND position <= ?",
            (*wanted, upto),
        )
        return self.at_positions(int(row[0]) for row in rows)

    def effective_between(
        self, after: date | None, through: date | None, upto: int, kinds: frozenset[str] | None = None
    ) -> Iterator[Recorded]:
        """Facts (corrections and retractions left out) with ``after < effective <= through``, stored at or before
        ``upto``, in effective order (recording order within a date), read a page at a time; only ``kinds`` when given."""
        day, end = _after(after), _through(through)
        position = 1 << 62  # after every position of the date ``after``: a page starts past the whole date
        excluded = ", ".join(f"'{kind}'" for kind in CORRECTION_KINDS)
        only, wanted = _only_kinds(kinds - set(CORRECTION_KINDS) if kinds is not None else None)
        if kinds is not None and not wanted:
            return
        # the page is chosen in the index first, then joined with the events; it is put in order here, not by the
        # database: an ORDER BY on the join made SQLite copy every page, stored events and all, into a sorted temporary
        # tree before the first row (a third of reading a million facts), where the rows already come in that order
        sql = (
            f"SELECT f.position, f.fact_id, f.recorded_us, e.state, f.effective FROM (SELECT position, fact_id, "
            f"recorded_us, effective FROM {FACTS_TABLE} WHERE (effective, position) > (?, ?) AND effective <= ? "
            f"AND position <= ? AND kind NOT IN ({excluded}) {only}ORDER BY effective, position LIMIT ?) f {_WITH_EVENTS}"
        )
        while True:
            rows = self._rows(sql, (day, position, end, upto, *wanted, PAGE_SIZE, self.db.ledger_id))
            rows.sort(key=_BY_EFFECTIVE)  # one pass over rows already in order (a backend may plan the join as it likes)
            page = self._decode(rows)
            yield from page
            if len(page) < PAGE_SIZE:
                return
            day, position = page[-1].fact.effective.isoformat(), page[-1].seq

    def count_between(self, after: date | None, through: date | None, upto: int, kinds: frozenset[str] | None = None) -> int:
        """How many facts (corrections included) ``effective_between`` would go over, counted in the index; only
        those of ``kinds`` when given."""
        only, wanted = _only_kinds(kinds)
        if kinds is not None and not wanted:
            return 0
        found = self._rows(
            f"SELECT COUNT(*) FROM {FACTS_TABLE} WHERE effective > ? AND effective <= ? AND position <= ? {only}",
            (_after(after), _through(through), upto, *wanted),
        )
        return int(found[0][0])

    def count_by_kind(self, after: date | None, through: date | None, upto: int) -> dict[str, int]:
        """``count_between`` for every kind at once (corrections included, under their own kinds): one pass over the
        index, where a count per set of kinds passes over it each time (0.37 s each at 1M facts).

        From the first date to one no fact is past (a replay from scratch of the whole story: what a shared
        replay weighs its folds by before starting any), the dates leave nothing out, and the count goes along the
        kind index alone: 0.1 s at 1M facts, where the date range took 0.75 s, before any worker was started."""
        if after is None and (through is None or self._nothing_after(through, upto)):
            found = self._rows(f"SELECT kind, COUNT(*) FROM {FACTS_TABLE} WHERE position <= ? GROUP BY kind", (upto,))
        else:
            found = self._rows(
                f"SELECT kind, COUNT(*) FROM {FACTS_TABLE} WHERE effective > ? AND effective <= ? AND position <= ? "
                "GROUP BY kind",
                (_after(after), _through(through), upto),
            )
        return {str(kind): int(count) for kind, count in found}

    def _nothing_after(self, day: date, upto: int) -> bool:
        """Whether no fact stored at or before ``upto`` is effective after ``day`` (read backwards along the index)."""
        found = self._rows(f"SELECT 1 FROM {FACTS_TABLE} WHERE effective > ? AND position <= ? LIMIT 1", (day.isoformat(), upto))
        return not found

    def last_effective(self, through: date | None, upto: int, kinds: frozenset[str] | None = None) -> date | None:
        """The latest effective date on or before ``through`` among the facts stored at or before ``upto`` (of
        ``kinds`` when given), read backwards along the effective index: a few rows when ``upto`` is the head."""
        only, wanted = _only_kinds(kinds)
        if kinds is not None and not wanted:
            return None
        found = self._rows(
            f"SELECT effective FROM {FACTS_TABLE} WHERE effective <= ? AND position <= ? {only}ORDER BY effective DESC LIMIT 1",
            (_through(through), upto, *wanted),
        )
        return date.fromisoformat(found[0][0]) if found else None

    def last_effective_but(self, through: date | None, upto: int, skipped: Collection[str]) -> date | None:
        """The latest effective date on or before ``through`` among the facts stored at or before ``upto``,
        corrections, retractions and the facts ``skipped`` (by id) aside: read backwards along the effective
        index a few rows at a time, so it costs as many rows as skipped facts lie at the end."""
        excluded = ", ".join(f"'{kind}'" for kind in CORRECTION_KINDS)
        sql = (
            f"SELECT effective, position, fact_id FROM {FACTS_TABLE} WHERE effective <= ? AND position <= ? "
            f"AND kind NOT IN ({excluded}) AND (effective, position) < (?, ?) ORDER BY effective DESC, position DESC LIMIT ?"
        )
        day, position = _through(through), 1 << 62
        while True:
            rows = self._rows(sql, (_through(through), upto, day, position, _BACKWARDS_PAGE))
            for effective, _, fact_id in rows:
                if fact_id not in skipped:
                    return date.fromisoformat(effective)
            if len(rows) < _BACKWARDS_PAGE:
                return None
            day, position = rows[-1][0], int(rows[-1][1])

    def registered(self, slugs: Iterable[str] | None, upto: int) -> set[str]:
        """Which of ``slugs`` (every slug when None) are registered parties as known at ``upto``, built-in holders included.

        A registration, its corrections and its retraction all name the slug, so asking about a
        few slugs reads just their facts through the index.
        """
        from events.parties import BUILT_IN_HOLDERS
        from ledger.timeline import registered_parties, resolve

        kinds = ("party.registered", *CORRECTION_KINDS)
        named = None if slugs is None else set(slugs) - set(BUILT_IN_HOLDERS)
        records = self.of_kinds(kinds, upto) if named is None else self.about(named, upto, kinds)
        found = registered_parties(resolve(self.with_targets(records)))
        return found if slugs is None else found & {*slugs, *BUILT_IN_HOLDERS}

    def with_targets(self, records: Iterable[Recorded]) -> list[Recorded]:
        """``records`` plus the facts their corrections and retractions name (``targets``), in recording order: what
        ``resolve`` needs to apply them as it would over the whole ledger."""
        found = {record.seq: record for record in records}
        found.update((target.seq, target) for target in self.targets(found.values()).values())
        return [found[seq] for seq in sorted(found)]

    def _decode(self, rows: Sequence[tuple[Any, ...]]) -> list[Recorded]:
        load = self.host.catalogue.load
        loads = orjson.loads  # takes the driver's bytes, memoryview or text as they come
        records: list[Recorded] = []
        batch_us: object = _NO_BATCH  # the facts of one batch share its recorded time, and one object for it
        recorded = EPOCH
        for position, fact_id, micros, state, *_ in rows:  # rows may carry more columns (their order)
            data = loads(state)
            try:
                fact = load(data["fact"])
            except (FactError, KeyError, TypeError, ValueError) as error:
                raise LedgerError(
                    f"stored fact #{position} cannot be read: {error} (is the plugin that provides its kind installed?)"
                ) from None
            if micros != batch_us:
                batch_us, recorded = micros, from_us(int(micros))
            records.append(read_back(fact_id, int(position), recorded, fact))
        return records

    # --- writing ------------------------------------------------------------------------

    def write(self, batch: Sequence[Recorded], index: Sequence[IndexRow], batches: Sequence[Batch] | None = None) -> bool:
        """Store the batch, its index rows and its batch rows (``batches``; by default one, known at its commit) in one
        transaction. False when another writer took those positions first."""
        if not batch:
            return True
        if batches is None:
            batches = [(batch[-1].seq, None)]
        elif not self.batches_kept:  # an import's known times, where they cannot be kept: the facts still go in
            warnings.warn(
                f"facts up to #{batch[-1].seq} are stored, but not when they became known (the store keeps no batches"
                " here): --known-at reads their recorded time",
                persistence.KnownTimeNotKept,
                stacklevel=2,
            )
            batches = []
        stored: Sequence[StoredEvent] = StoredBatch(batch, self.app.mapper.to_stored_event)
        if not getattr(self.app.recorder, "writes_in_chunks", False):  # a recorder that reads the events more than once
            stored = list(stored)
        try:
            try:
                self.app.recorder.insert_events(stored, index=index, batches=batches)
            except BaseException:
                commit_failed()  # a stop held through a commit that did not happen is raised now, in its place
                raise
        except IntegrityError as error:
            if self.head().position < batch[0].seq:  # nobody took these positions: the batch itself clashes
                raise LedgerError(f"cannot write to the store {self.backend.safe_url}: {first_line(error)}") from None
            return False  # another writer stored first: the caller checks the batch again against its facts
        except OperationalError as error:
            if "locked" in str(error).lower():
                return False
            raise LedgerError(f"cannot write to the store {self.backend.safe_url}: {first_line(error)}") from None
        except PersistenceError as error:
            raise LedgerError(f"cannot write to the store {self.backend.safe_url}: {first_line(error)}") from None
        return True

    def _catch_up_index(self) -> None:
        """Index events stored before the index existed (a ledger from an earlier version), once, in one transaction.

        Only a ledger with no index at all is migrated: events beyond an existing index were not
        written by dealledger, and ``_check_head`` refuses them.
        """
        indexed, stored = self._ends()
        if indexed or not stored:
            return
        recorder = self.app.recorder
        with self.module.writing(recorder):
            indexed, stored = self._ends()  # again, now that no dealledger writer can be between the two
            if not indexed and stored:
                self._index_all()

    def _index_all(self) -> None:
        from ledger.indexing import index_rows

        events = self.app.recorder.select_events(LEDGER_ID)
        rows = index_rows([self._recorded(stored) for stored in events], self)
        facts, subjects = persistence.index_parameters(rows, [as_bytes(stored.state) for stored in events], GENESIS_HASH)
        self.db.write([(persistence.INSERT_FACT, facts), (persistence.INSERT_SUBJECT, subjects)])

    # --- tamper evidence ----------------------------------------------------------------

    def _check_head(self) -> None:
        """Refuse a store whose last fact no longer matches its chain: cheap (one event), done on every open."""
        indexed, stored = self._ends()
        broken = None
        if stored != indexed:
            broken = f"its events end at #{stored} but its index at #{indexed}"
        elif indexed:
            event = self.app.recorder.select_events(LEDGER_ID, gt=indexed - 1, lte=indexed)
            previous, digest = self.hash_at(indexed - 1), self.hash_at(indexed)
            if not event or previous is None or persistence.chain(previous, indexed, as_bytes(event[0].state)) != digest:
                broken = f"fact #{indexed} does not match the hash chain"
        if broken:
            raise LedgerError(
                f"the store {self.backend.safe_url} was changed outside dealledger ({broken}); "
                "run 'dealledger verify' to find the first broken link"
            )

    def _ends(self) -> tuple[int, int]:
        """The last indexed position and the last stored event, read in one statement (one snapshot):
        a writer committing meanwhile cannot make the two differ."""
        ends = self._rows(
            f"SELECT (SELECT MAX(position) FROM {FACTS_TABLE}) AS indexed, "
            "(SELECT MAX(originator_version) FROM {events} WHERE originator_id = ?) AS stored",
            (self.db.ledger_id,),
        )
        indexed, stored = (int(value or 0) for value in ends[0])
        return indexed, stored

    def verify(self) -> list[str]:
        """Recompute the whole hash chain, positions and recorded-time order, and every index row from its stored
        fact; one message per broken link (first first).

        The chain covers the stored facts' bytes; the index is read on every question (which facts a question
        reads, their dates, keys and recorded times, the parties each names), so each index row, and each party
        it lists, is derived again from its fact, as an append derives it, and compared. Facts are read a page
        at a time; a correction's row is derived from the rows before it, which are checked by then."""
        from ledger.indexing import index_rows_from_the_first

        problems: list[str] = []
        previous, expected, last_recorded = GENESIS_HASH, 1, -1
        derive = index_rows_from_the_first(self)
        named = array("I")  # how many parties each fact's index row lists: its subjects, as derived
        batches = _BatchCheck()
        for events in self._event_pages():
            first, last = events[0].originator_version, events[-1].originator_version
            rows = {int(row[0]): row for row in self._index_rows(first - 1, last)}
            derived, unreadable = self._derived_rows(events, derive)
            subjects = self._subjects_of(first - 1, last, {subject for row in derived.values() for subject in row.subjects})
            ends = batches.rows(
                self._rows(f"{_BATCH_ROWS} WHERE position > ? AND position <= ?", (first - 1, last)) if self.batches_kept else []
            )
            for stored in events:
                position = stored.originator_version
                row = rows.get(position)
                if row is None or position != expected:
                    if row is None and position == expected:
                        problems.append(f"fact #{position}: stored, but missing from the index")
                    else:
                        problems.append(f"fact #{position}: position out of sequence (expected #{expected})")
                    return problems
                _, fact_id, key, kind, effective, touch, micros, digest = row
                where = f"fact #{position} (id {fact_id}, recorded {from_us(int(micros)).isoformat()})"
                previous = persistence.chain(previous, position, as_bytes(stored.state))
                if previous != digest:
                    problems.append(f"{where}: its content does not match the hash chain")
                    return problems
                if int(micros) < last_recorded:
                    problems.append(f"{where}: recorded before the fact ahead of it")
                    return problems
                if position in unreadable:
                    problems.append(f"{where}: cannot be read ({unreadable[position]})")
                    return problems
                mismatch = _index_mismatch(
                    derived[position], (fact_id, key, kind, effective, touch, int(micros)), subjects.get(position, set())
                )
                if mismatch:
                    problems.append(f"{where}: {mismatch}")
                    return problems
                named.append(len(derived[position].subjects))
                wrong = batches.check(position, int(micros), digest, ends)
                if wrong:
                    problems.append(wrong)
                    return problems
                last_recorded, expected = int(micros), expected + 1
        beyond = self._rows(
            f"SELECT MIN(position) FROM (SELECT position FROM {FACTS_TABLE} WHERE position >= ? UNION ALL "
            f"SELECT position FROM {SUBJECTS_TABLE} WHERE position >= ?) listed",
            (expected, expected),
        )
        if beyond and beyond[0][0] is not None:
            problems.append(f"the index lists facts after #{expected - 1} that the events table no longer holds")
        elif int(self._rows(f"SELECT COUNT(*) FROM {SUBJECTS_TABLE}")[0][0]) != sum(named):
            problems.append(self._listed_beyond(named))
        elif self.batches_kept and (stray := self._rows(f"{_BATCH_ROWS} WHERE position >= ? OR position < 1", (expected,))):
            problems.append(f"the batch ending at #{stray[0][0]}: no such fact (the ledger holds {expected - 1})")
        return problems

    def known_hash(self) -> str | None:
        """The hash of the last batch row (``persistence.BatchLink``), which covers every batch's known time and end:
        with the head hash, what to keep elsewhere to tell later that neither facts nor known times changed."""
        if not self.batches_kept:
            return None
        found = self._rows(persistence.LAST_BATCH)
        return str(found[0][2]).strip() if found else None

    def _listed_beyond(self, named: Sequence[int]) -> str:
        """The first fact the index lists more parties for than its stored fact names (``named``, by position): a
        page's check reads only the parties its facts name (the table is keyed by party), so one more is told here."""
        listed = self._rows(f"SELECT position, COUNT(*) FROM {SUBJECTS_TABLE} GROUP BY position ORDER BY position")
        for position, count in listed:
            if int(count) != named[int(position) - 1]:
                return (
                    f"fact #{position}: its index lists {count} parties for it, its stored fact names {named[int(position) - 1]}"
                )
        return "the index lists parties for facts that name none"

    def _derived_rows(
        self, events: Sequence[Any], derive: Callable[[Sequence[Recorded]], list[IndexRow]]
    ) -> tuple[dict[int, IndexRow], dict[int, str]]:
        """The index rows an append of these stored events writes (targets read from the rows already checked), by
        position; and why each event that cannot be read cannot (its bytes changed, or its kind's plugin is gone)."""
        records, unreadable = [], {}
        for stored in events:
            try:
                records.append(self._recorded(stored))
            except Exception as error:  # any damage to the bytes: told in order, after the chain has its say
                unreadable[stored.originator_version] = f"{type(error).__name__}: {error}"
        return {row.position: row for row in derive(records)}, unreadable

    def _recorded(self, stored: StoredEvent) -> Recorded:
        """A stored event read back through the library's mapper, its id and recorded time its own (not the index's)."""
        event = cast(FactRecorded, self.app.mapper.to_domain_event(stored))
        return Recorded(event.fact_id, event.originator_version, event.timestamp, self.host.catalogue.load(event.fact))

    def _event_pages(self) -> Iterator[Sequence[Any]]:
        last = 0
        while True:
            page = self.app.recorder.select_events(LEDGER_ID, gt=last, limit=PAGE_SIZE)
            if not page:
                return
            yield page
            last = page[-1].originator_version

    def _index_rows(self, after: int, upto: int) -> list[tuple[Any, ...]]:
        return self._rows(
            f"SELECT position, fact_id, fact_key, kind, effective, touch, recorded_us, hash FROM {FACTS_TABLE} "
            "WHERE position > ? AND position <= ? ORDER BY position",
            (after, upto),
        )

    def _subjects_of(self, after: int, upto: int, subjects: Collection[str]) -> dict[int, set[str]]:
        """The parties the index lists for the facts at positions in (after, upto], of ``subjects`` only: the table is
        keyed by party, so each is one range along its key (by position alone it is a scan of the whole table)."""
        listed: dict[int, set[str]] = {}
        names = sorted(subjects)
        for start in range(0, len(names), IN_CHUNK):
            chunk = names[start : start + IN_CHUNK]
            for subject, position in self._rows(
                f"SELECT subject, position FROM {SUBJECTS_TABLE} WHERE subject IN ({', '.join('?' * len(chunk))}) "
                "AND position > ? AND position <= ?",
                (*chunk, after, upto),
            ):
                listed.setdefault(int(position), set()).add(str(subject))
        return listed


_BATCH_ROWS = f"SELECT position, known_us, hash FROM {BATCHES_TABLE}"
KNOWN_PAGE = 1_000
"""Batch rows ``Store.known_times`` reads at a time."""


def _recorded_time(record: Recorded) -> datetime:
    return record.recorded


class _KnownPages:
    """Batch rows read a page at a time from the first position asked about, each page kept as the span of positions
    it answers for: from the position asked to the last batch end it holds (the batch of any fact in it is the
    first of its ends at or after the fact)."""

    def __init__(self, rows: Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]) -> None:
        self._read = rows
        self._pages: list[tuple[int, list[int], list[datetime]]] = []  # (first position answered, ends, known times)
        last = rows(persistence.LAST_BATCH, ())
        self._covered = int(last[0][0]) if last else 0
        self._last_known: int | None = int(last[0][1]) if last else None

    def known(self, record: Recorded) -> datetime:
        position = record.seq
        if position > self._covered:  # past the last batch row: written by a version before batches were kept
            return from_us(persistence.unbatched_known(to_us(record.recorded), self._last_known))
        for start, ends, times in reversed(self._pages):  # the last page read first: facts are mostly asked in order
            if start <= position <= ends[-1]:
                return times[bisect_left(ends, position)]
        found = self._read(
            f"SELECT position, known_us FROM {BATCHES_TABLE} WHERE position >= ? ORDER BY position LIMIT ?",
            (position, KNOWN_PAGE),
        )
        ends = [int(end) for end, _ in found]
        times = [from_us(int(micros)) for _, micros in found]
        self._pages.append((position, ends, times))
        return times[0]


class _BatchCheck:
    """``verify``'s reading of the batch rows, along the facts: each batch's row must chain to the row ahead and to
    the fact it ends at (``persistence.BatchLink``), its known time never going back nor coming before its facts
    were recorded. Facts after the last row are those a version before batches were kept wrote, known from their
    recorded time (their rows are made with the next batch)."""

    def __init__(self) -> None:
        self.last = persistence.BatchLink(0, -1, GENESIS_HASH)
        self.start = 1

    @staticmethod
    def rows(found: Sequence[tuple[Any, ...]]) -> dict[int, tuple[int, str]]:
        """A page's rows: (known time, hash) by the position each batch ends at."""
        return {int(position): (int(micros), str(digest).strip()) for position, micros, digest in found}

    def check(self, position: int, micros: int, digest: str, ends: dict[int, tuple[int, str]]) -> str | None:
        """What is wrong with the batch row ending at this fact (recorded at ``micros``, hashed ``digest``), if any."""
        end = ends.get(position)
        if end is None:
            return None
        known, stored = end
        where = f"the batch of facts #{self.start} to #{position} (known {from_us(known).isoformat()})"
        if known < self.last.known_us:
            return f"{where}: known before the batch ahead of it"
        if micros > known:  # recorded times never go back: its last fact was recorded last
            return f"{where}: known before its facts were recorded"
        link = self.last.next(position, known, digest.strip())
        if link.hash != stored:
            return f"{where}: its row does not match the batches' hash chain"
        self.last, self.start = link, position + 1
        return None


def _index_mismatch(derived: IndexRow, stored: tuple[Any, ...], subjects: set[str]) -> str | None:
    """How a fact's index row (``stored``: id, key, kind, effective, touch, recorded time) and the parties it lists
    differ from what its stored fact gives, or None."""
    want = (derived.fact_id, derived.key, derived.kind, derived.effective, derived.touch, derived.recorded_us)
    names = ("id", "key", "kind", "effective date", "touch date", "recorded time")
    for name, found, given in zip(names, stored, want, strict=True):
        if (found.strip() if isinstance(found, str) else found) != given:  # CHAR columns may come back padded
            return f"its index row gives {name} {found!r}, its stored fact {given!r}"
    if subjects != set(derived.subjects):
        missing, extra = sorted(set(derived.subjects) - subjects), sorted(subjects - set(derived.subjects))
        told = [*([f"leaves out {', '.join(missing)}"] if missing else []), *([f"adds {', '.join(extra)}"] if extra else [])]
        return f"the parties its index row lists differ from its stored fact's: {'; '.join(told)}"
    return None


def _after(day: date | None) -> str:
    """``effective > ?`` for a day, or for no bound (before every date)."""
    return day.isoformat() if day else ""


def _through(day: date | None) -> str:
    """``effective <= ?`` for a day, or for no bound (after every date)."""
    return day.isoformat() if day else "9999-99-99"


def _only_kinds(kinds: Iterable[str] | None) -> tuple[str, list[str]]:
    """The condition that keeps only facts of ``kinds`` (none when None), and its parameters. ``kind || ''``: a
    filter, not an index to walk (SQLite would otherwise sort every page's kinds by date)."""
    if kinds is None:
        return "", []
    wanted = sorted(kinds)
    return f"AND kind || '' IN ({', '.join('?' * len(wanted))}) ", wanted


Built = tuple[Sequence[Recorded], Sequence[IndexRow], Sequence[Batch] | None, T]
"""What a writer builds against a head: the facts, their index rows, their batch rows (None: one, known at its
commit) and what to report."""


def write_with_retries(store: Store, build: Callable[[Head], Built[T]]) -> T:
    """Run ``build(head) -> (batch, index, batches, result)`` against fresh state until its batch is stored.

    ``build`` re-validates each time, so a writer who lost a race sees the winner's facts
    (its keys, its holdings) before trying again.
    """
    with store.module.writing(store.app.recorder):
        for attempt in range(MAX_ATTEMPTS):
            batch, index, batches, result = build(store.head())
            if store.write(batch, index, batches):
                return result
            time.sleep(random.uniform(0, min(0.5, 0.005 * 2**attempt)))  # back off, with jitter
    raise ConcurrencyError(f"gave up after {MAX_ATTEMPTS} attempts: other writers kept changing the ledger; try again")


def as_bytes(state: Any) -> bytes:
    """A stored event's bytes as the driver hands them (bytes, memoryview; text where someone wrote text)."""
    return state.encode("utf-8") if isinstance(state, str) else bytes(state)
