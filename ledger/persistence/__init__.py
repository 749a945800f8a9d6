"""Which database stores the ledger, chosen by one URL; what every backend keeps beside the events.

- ``sqlite:///path.db`` (the default, ``dealledger.db`` in the working directory) and
  ``postgresql://user@host:port/db?schema=name`` use eventsourcing's own recorders, the
  fastest paths measured (modules ``sqlite`` and ``postgres`` here).
- Any other SQLAlchemy URL (``mysql+pymysql://...``, ``sqlite+pysqlite:///x.db``) goes through
  eventsourcing-sqlalchemy (module ``sqlalchemy`` here), imported only then: it costs about a
  third of a second at start-up.

Beside the library's events table every backend keeps, written in the same transaction as
the events themselves:

- ``dealledger_facts``: one row per stored fact: position, id, key, kind, effective date,
  *touch* (the earliest effective date the fact can change: its own, or for a correction or
  retraction the earliest of its target's and its replacement's), recorded time, and the hash
  that chains it to the fact before (tamper evidence). It answers "what is the head", "is this
  key known", "what was known at T" and "which checkpoints does a new fact invalidate"
  without reading a single event.
- ``dealledger_subjects``: (subject, position) for every party (and escrow account) a fact
  names, so a one-company question or an append's validation reads only that company's facts.
- ``dealledger_batches``: (position, known time) for every batch, its last position and the
  moment it became part of the ledger: taken as its commit returns and written at once, while
  the writers' lock is still held (``write_known_after``), or, where writers do not take turns
  (MySQL through SQLAlchemy), inside its transaction just before the commit (``write_batches``).
  A batch's facts are stamped (``recorded``) once they are checked, before they are written;
  readers see them only from the commit, so ``--known-at`` goes by this time: an answer given
  while a large batch was being written is what ``--known-at`` that moment answers later.
- ``dealledger_checkpoints``: view states saved along the effective-date axis
  (``ledger.checkpoints``); derived data, never trusted without checks.
- ``dealledger_answers``: replay's files kept as written, by question and ledger head, in
  compressed parts (``ledger.answers``); derived data too, checked the same way.

Whatever the backend, the events and index tables refuse UPDATE and DELETE in the database
itself: immutability does not rest on this program's good behaviour alone.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, parse_qsl, unquote, urlencode, urlsplit, urlunsplit
from uuid import NAMESPACE_URL, uuid5

from ledger.errors import LedgerError
from ledger.persistence.blobs import InMemory, Spooled, Stored

DEFAULT_URL = "sqlite:///dealledger.db"
URL_ENV = "DEALLEDGER_URL"
GUARDED_SQLALCHEMY_DIALECTS = ("sqlite", "mysql", "mariadb")
"""Databases reached through SQLAlchemy whose tables this package can make append-only."""
GUARD_GONE = (
    "the append-only guard of {table} was removed outside dealledger; "
    "run 'dealledger verify' to check the history and put the guard back"
)
IMMUTABLE_MESSAGE = "dealledger: stored facts are immutable; record a correction or retraction instead"

FACTS_TABLE = "dealledger_facts"
SUBJECTS_TABLE = "dealledger_subjects"
BATCHES_TABLE = "dealledger_batches"
GUARDED_TABLES = (FACTS_TABLE, SUBJECTS_TABLE, BATCHES_TABLE)
"""The tables kept beside the events that refuse change as the events table does (the batches' last: a store made
before it holds the others alone)."""
CHECKPOINTS_TABLE = "dealledger_checkpoints"
ANSWERS_TABLE = "dealledger_answers"
LEDGER_ID = uuid5(NAMESPACE_URL, "dealledger:ledger")
"""The id of the one event stream that holds every fact."""
GENESIS_HASH = "0" * 64
"""The hash the first fact chains to."""


@dataclass(frozen=True)
class Backend:
    """The eventsourcing environment for a URL, and how to guard its events table."""

    kind: str  # "sqlite", "postgres" or "sqlalchemy"
    url: str
    env: dict[str, str] = field(default_factory=dict)
    schema: str | None = None
    file: str | None = None
    """The file a SQLite store is kept in (``sqlite:///`` or SQLAlchemy's ``sqlite+driver:///``); None for a store in
    memory, a ``file:`` URI (its name is the driver's to read) or any other database."""

    @property
    def shared(self) -> bool:
        """Whether another process can open this same store by its URL: not a database in this process's memory."""
        if self.kind == "sqlite":
            name = self.env["SQLITE_DBNAME"]
            return name != ":memory:" and not name.startswith("file:")
        if self.kind == "sqlalchemy":
            database = urlsplit(self.url).path.lstrip("/")
            in_memory = database in ("", ":memory:") or database.startswith("file:")
            return not (self.url.split(":", 1)[0].lower().startswith("sqlite") and in_memory)
        return True

    def with_pool_size(self, size: int) -> str:
        """This URL with ``pool_size`` set where the backend keeps a pool of connections (PostgreSQL): how a worker
        of a shared replay, which reads one page at a time, opens the store without holding several connections."""
        if self.kind != "postgres":
            return self.url
        parts = urlsplit(self.url)
        query = [(name, value) for name, value in parse_qsl(parts.query, keep_blank_values=True) if name != "pool_size"]
        return urlunsplit(parts._replace(query=urlencode([*query, ("pool_size", str(size))])))

    @property
    def safe_url(self) -> str:
        """The URL with any password hidden, for messages."""
        parts = urlsplit(self.url)
        if parts.password:
            return self.url.replace(f":{parts.password}@", ":***@", 1)
        return self.url


@dataclass(frozen=True, slots=True)
class IndexRow:
    """What the index tables hold for one fact; the hash is computed inside the write's transaction."""

    position: int
    fact_id: str
    key: str | None
    kind: str
    effective: str
    touch: str
    recorded_us: int
    subjects: tuple[str, ...]


def chain(previous: str, position: int, state: bytes) -> str:
    """The hash of a stored fact: its exact stored bytes and position, chained to the previous fact's hash."""
    digest = hashlib.sha256(previous.encode("ascii"))
    digest.update(b"\n%d\n" % position)
    digest.update(state)
    return digest.hexdigest()


def resolve_url(url: str | None) -> str:
    return url or os.environ.get(URL_ENV) or DEFAULT_URL


def backend_for(url: str) -> Backend:
    """Parse a store URL; a one-line ``LedgerError`` explains what is wrong with a bad one."""
    try:
        return _backend_for(url)
    except ValueError as error:  # what urllib says of a malformed URL (a bad port, an unclosed [)
        raise LedgerError(f"bad store URL {url!r}: {error}") from None


def _backend_for(url: str) -> Backend:
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme == "sqlite":
        return _sqlite(url)
    if scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        return _postgres(url)
    if scheme.split("+")[0] in GUARDED_SQLALCHEMY_DIALECTS:
        file: str | None = None
        if scheme.startswith("sqlite"):  # a file, as for sqlite:///, held to the same checks
            from sqlalchemy.engine import make_url
            from sqlalchemy.exc import ArgumentError

            try:
                database = make_url(url).database
            except ArgumentError as error:
                raise LedgerError(f"bad store URL {url!r}: {error}") from None
            file = _database_file(database)
            if file is not None:
                _check_sqlite_file(file)
        env = {"PERSISTENCE_MODULE": "ledger.persistence.sqlalchemy:IndexedSQLAlchemyFactory", "SQLALCHEMY_URL": url}
        return Backend("sqlalchemy", url, env, file=file)
    raise LedgerError(
        f"unsupported store URL {url!r}: use sqlite:///FILE, postgresql://USER@HOST:PORT/DB,"
        " or mysql+DRIVER://, mariadb+DRIVER://, sqlite+DRIVER:// through SQLAlchemy"
    )


def _sqlite(url: str) -> Backend:
    rest = url[len("sqlite:") :]
    if rest in ("", "//", "///:memory:"):
        path = ":memory:"
    elif rest.startswith("///"):
        path, _, query = rest[3:].partition("?")
        path = unquote(path)
        if not path:
            raise LedgerError(f"bad SQLite URL {url!r}: it names no file; write sqlite:///relative/path.db")
        if query:  # ``?mode=ro`` would otherwise be dropped unread, and a new file made where none should be
            names = ", ".join(sorted({name for name, _ in parse_qsl(query, keep_blank_values=True)})) or query
            raise LedgerError(f"bad SQLite URL {url!r}: it takes no options (got {names}); write sqlite:///FILE")
    else:
        raise LedgerError(f"bad SQLite URL {url!r}: write sqlite:///relative/path.db or sqlite:////absolute/path.db")
    if path != ":memory:":
        _check_sqlite_file(path)
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": path,
        "APPLICATION_RECORDER_TOPIC": "ledger.persistence.sqlite:IndexedSQLiteApplicationRecorder",
    }
    return Backend("sqlite", url, env, file=_database_file(path))


def _database_file(name: str | None) -> str | None:
    """The file a SQLite database name (``sqlite:///`` or ``sqlite+driver:///``) is kept in: None for a store in
    memory, or a ``file:`` URI, whose name is the driver's to read (``Backend.file``)."""
    return name if name and name != ":memory:" and not name.startswith("file:") else None


def _check_sqlite_file(path: str) -> None:
    """Refuse, in one line and before anything is made beside it, a SQLite ledger's file that cannot be one."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        state = "is not a folder" if os.path.exists(directory) else "does not exist"  # to read or to make
        raise LedgerError(f"no ledger at {path!r}: its folder {directory!r} {state}")
    if os.path.exists(path) and not os.path.isfile(path):  # a folder, a device: and no lock file left beside it
        raise LedgerError(f"cannot open the ledger {path!r}: it is not a file")
    if not _sqlite_or_empty(path):  # a mistyped --url naming a document: refused before a lock file is made
        raise LedgerError(f"cannot open the ledger {path!r}: it is not a SQLite database")


SQLITE_HEADER = b"SQLite format 3\x00"
"""The first bytes of every SQLite database file."""


def _sqlite_or_empty(path: str) -> bool:
    """Whether ``path`` is missing, empty (SQLite makes a database of it) or begins as a SQLite database does; a file
    that cannot be read is left for SQLite to refuse in its own words."""
    try:
        with open(path, "rb") as file:
            start = file.read(len(SQLITE_HEADER))
    except OSError:
        return True
    return not start or start == SQLITE_HEADER


def _postgres(url: str) -> Backend:
    parts = urlsplit(url)
    options = {name: values[-1] for name, values in parse_qs(parts.query).items()}
    dbname = unquote(parts.path.lstrip("/")) or "postgres"
    schema = options.get("schema")
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": dbname,
        "POSTGRES_HOST": parts.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": unquote(parts.username or os.environ.get("PGUSER", "postgres")),
        "POSTGRES_PASSWORD": unquote(parts.password or os.environ.get("PGPASSWORD", "")),
        "POSTGRES_CONNECT_TIMEOUT": options.get("connect_timeout", "5"),
        "APPLICATION_RECORDER_TOPIC": "ledger.persistence.postgres:IndexedPostgresApplicationRecorder",
    }
    pool_size = options.get("pool_size")
    if pool_size is not None:
        if not re.fullmatch(r"[1-9][0-9]{0,3}", pool_size):
            raise LedgerError(f"bad pool_size {pool_size!r} in the store URL: the connections kept open, 1 to 9999")
        env["POSTGRES_POOL_SIZE"] = pool_size
    if schema:
        # lower case only: PostgreSQL folds unquoted names to it, and the library names the schema's types unquoted,
        # so a store in "Mixed" was created and then could not be written ("stored_event_uuid not found")
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", schema):
            raise LedgerError(f"bad schema name {schema!r} in the store URL: use lower-case letters, digits and _ (not first)")
        env["POSTGRES_SCHEMA"] = schema
    return Backend("postgres", url, env, schema)


# --- the index and checkpoint tables, one SQL text for every backend ------------------------------

INDEX_COLUMNS = "position, fact_id, fact_key, kind, effective, touch, recorded_us, hash"


def index_ddl(blob: str, text: str, *, sqlite: bool = False) -> list[str]:
    """CREATE statements for the tables kept beside the events (``blob``/``text``: the backend's type names).

    ``sqlite``: the position is the table's own row id (``INTEGER PRIMARY KEY``) and the subjects
    are stored in their key's order (``WITHOUT ROWID``), one B-tree each instead of two: a
    million-fact bulk append writes these tables in about 17 s instead of 20 (measured). Ledgers
    made before keep their tables as they are; both answer the same queries."""
    position, clustered = ("INTEGER", " WITHOUT ROWID") if sqlite else ("BIGINT", "")
    return [
        f"CREATE TABLE IF NOT EXISTS {FACTS_TABLE} ("
        f"position {position} PRIMARY KEY, fact_id CHAR(32) NOT NULL UNIQUE, "
        f"fact_key {text}, kind VARCHAR(100) NOT NULL, effective CHAR(10) NOT NULL, touch CHAR(10) NOT NULL, "
        "recorded_us BIGINT NOT NULL, hash CHAR(64) NOT NULL)",
        f"CREATE UNIQUE INDEX IF NOT EXISTS {FACTS_TABLE}_key ON {FACTS_TABLE} (fact_key)",
        f"CREATE INDEX IF NOT EXISTS {FACTS_TABLE}_effective ON {FACTS_TABLE} (effective, position)",
        f"CREATE INDEX IF NOT EXISTS {FACTS_TABLE}_kind ON {FACTS_TABLE} (kind, position)",
        f"CREATE INDEX IF NOT EXISTS {FACTS_TABLE}_recorded ON {FACTS_TABLE} (recorded_us)",
        f"CREATE TABLE IF NOT EXISTS {SUBJECTS_TABLE} ("
        f"subject VARCHAR(255) NOT NULL, position BIGINT NOT NULL, PRIMARY KEY (subject, position)){clustered}",
        f"CREATE TABLE IF NOT EXISTS {CHECKPOINTS_TABLE} ("
        "view VARCHAR(200) NOT NULL, state_version VARCHAR(200) NOT NULL, cut CHAR(10) NOT NULL, "
        "head BIGINT NOT NULL, head_hash CHAR(64) NOT NULL, digest CHAR(64) NOT NULL, "
        f"created_us BIGINT NOT NULL, state {blob} NOT NULL, PRIMARY KEY (view, state_version, cut, head))",
    ]


def batches_ddl(*, sqlite: bool = False) -> list[str]:
    """CREATE statements for the batches' table. Each backend creates it apart from the index, where it may: a
    ledger written before it, opened read-only (a file, a role granted SELECT on the tables it had), reads its
    facts' known times from their recorded times instead, as before (``Store.batches_kept``)."""
    position = "INTEGER" if sqlite else "BIGINT"
    return [
        f"CREATE TABLE IF NOT EXISTS {BATCHES_TABLE} ("
        f"position {position} PRIMARY KEY, known_us BIGINT NOT NULL, hash CHAR(64) NOT NULL)",
        f"CREATE INDEX IF NOT EXISTS {BATCHES_TABLE}_known ON {BATCHES_TABLE} (known_us, position)",
    ]


def answers_ddl(blob: str) -> str:
    """The kept answers' table. Each backend creates it apart from the others, and goes on without it when it
    cannot (a read-only file, a role that may not create tables, a store made before it): answers are then
    not kept, never required."""
    return (
        f"CREATE TABLE IF NOT EXISTS {ANSWERS_TABLE} ("
        "question CHAR(64) NOT NULL, head BIGINT NOT NULL, part INTEGER NOT NULL, view VARCHAR(200) NOT NULL, "
        "answer_format VARCHAR(20) NOT NULL, as_of CHAR(10), known_at VARCHAR(40), head_hash CHAR(64) NOT NULL, "
        "parts INTEGER NOT NULL, row_count BIGINT NOT NULL, digest CHAR(64) NOT NULL, created_us BIGINT NOT NULL, "
        f"data {blob} NOT NULL, PRIMARY KEY (question, head, part))"
    )


INSERT_FACT = f"INSERT INTO {FACTS_TABLE} ({INDEX_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
WRITE_CHUNK = 20_000
"""Facts a recorder that ``writes_in_chunks`` encodes and inserts at a time, inside the batch's one transaction:
a bulk append's memory for its stored events no longer grows with the batch."""
INSERT_SUBJECT = f"INSERT INTO {SUBJECTS_TABLE} (subject, position) VALUES (?, ?)"
SELECT_HASH = f"SELECT hash FROM {FACTS_TABLE} WHERE position = ?"
INSERT_BATCH = f"INSERT INTO {BATCHES_TABLE} (position, known_us, hash) VALUES (?, ?, ?)"
LAST_BATCH = f"SELECT position, known_us, hash FROM {BATCHES_TABLE} ORDER BY position DESC LIMIT 1"
IN_CHUNK = 500
"""Values in one ``IN (...)`` list: well under every backend's limit on bound parameters."""
_UNBATCHED = (
    f"SELECT position, recorded_us, hash FROM {FACTS_TABLE} WHERE position > ? AND position < ? ORDER BY position LIMIT ?"
)
"""A page of facts written without a batch row (by a version before batches were kept)."""
_UNBATCHED_PAGE = 5_000
Batch = tuple[int, int | None]
"""A batch as a recorder writes it: its last position, and its known time in microseconds (None: now, at commit)."""


def index_parameters(
    rows: Sequence[IndexRow], states: Sequence[bytes], previous: str
) -> tuple[list[tuple[Any, ...]], list[tuple[str, int]]]:
    """The parameter rows for ``INSERT_FACT`` and ``INSERT_SUBJECT``, hashes chained from ``previous``."""
    if len(rows) != len(states):
        raise LedgerError("internal error: index rows and stored events differ in number")
    facts: list[tuple[Any, ...]] = []
    subjects: list[tuple[str, int]] = []
    for row, state in zip(rows, states, strict=True):
        previous = chain(previous, row.position, state)
        facts.append((row.position, row.fact_id, row.key, row.kind, row.effective, row.touch, row.recorded_us, previous))
        subjects.extend((subject, row.position) for subject in row.subjects)
    subjects.sort()  # in the table's key order: each insert lands beside the last, not at a random page
    return facts, subjects


def write_batches(cursor: Any, batches: Sequence[Batch], index: Sequence[IndexRow], now: int | None = None) -> None:
    """The rows of ``batches``, each chained to the one ahead (``BatchLink``), written last in their transaction or
    in one of their own just after it (``write_known_after``); ``index``: the batch's index rows; ``now``: the moment
    that counts for a known time left to now, in microseconds (when this is called, by default).

    A known time left to now is taken here: no earlier than the batch ahead's plus a microsecond, nor than its own
    facts' recorded time (a clock may be set back meanwhile), so known times never go back and a batch is never
    known before it was recorded. (An import brings its batches' known times: one batch imported in two parts has
    two rows of the same time.) Facts written without a batch row of their own (by a version before batches were
    kept) get theirs first (``_unbatched``)."""
    if not batches or not index:
        return
    now = now_us() if now is None else now  # before reading anything
    cursor.execute(LAST_BATCH)
    found = cursor.fetchone()
    last = BatchLink(int(found[0]), int(found[1]), found[2].strip()) if found else BatchLink(0, -1, GENESIS_HASH)
    rows = list(_unbatched(cursor, last, index[0].position))
    last = BatchLink(*rows[-1]) if rows else last
    floor = max(row.recorded_us for row in index)
    ends = [position for position, _ in batches]
    hashes: dict[int, str] = {}  # the facts' hashes at the batches' ends, read a list at a time (an import's many)
    for start in range(0, len(ends), IN_CHUNK):
        chunk = ends[start : start + IN_CHUNK]
        cursor.execute(f"SELECT position, hash FROM {FACTS_TABLE} WHERE position IN ({', '.join('?' * len(chunk))})", chunk)
        hashes.update((int(position), str(digest).strip()) for position, digest in cursor.fetchall())
    for position, known in batches:
        fact_hash = hashes[position]
        last = last.next(position, max(now, last.known_us + 1, floor) if known is None else known, fact_hash)
        rows.append((last.position, last.known_us, last.hash))
    cursor.executemany(INSERT_BATCH, rows)


@dataclass(frozen=True)
class BatchLink:
    """A row of ``dealledger_batches``: a batch's last position, its known time and its hash, which chains the
    batch's known time and end to the batch ahead and to the hash chain of the facts (the fact at its end): a
    known time or a cut changed behind the ledger's back breaks it, as a changed fact breaks the facts' chain."""

    position: int
    known_us: int
    hash: str

    def next(self, position: int, known_us: int, fact_hash: str) -> BatchLink:
        digest = hashlib.sha256(self.hash.encode("ascii"))
        digest.update(b"\n%d\n%d\n" % (position, known_us))
        digest.update(fact_hash.encode("ascii"))
        return BatchLink(position, known_us, digest.hexdigest())


def unbatched_known(recorded_us: int, last_known_us: int | None) -> int:
    """When a fact without a batch row (written by a version before batches were kept) is known: from its recorded
    time, as those versions answered ``--known-at``, but never before the last batch row (a clock may have been
    set back between versions). Reads and the rows ``write_batches`` makes for such facts go by this one rule."""
    return recorded_us if last_known_us is None else max(recorded_us, last_known_us + 1)


def _unbatched(cursor: Any, last: BatchLink, before: int) -> Iterator[tuple[int, int, str]]:
    """Rows for the facts after ``last`` and before position ``before`` that have none (written by a version before
    batches were kept): one per recorded time (a batch's facts share it, and recorded times never go back), each
    known from that time as those versions answered ``--known-at``, but never before the batch ahead (a clock
    may have been set back between versions: ``unbatched_known``). Read a page at a time: a ledger of a million
    such facts."""
    after, group, base = last.position, None, (last.known_us if last.position else None)
    while True:
        cursor.execute(_UNBATCHED, (after, before, _UNBATCHED_PAGE))
        page = cursor.fetchall()
        for position, micros, fact_hash in page:
            if group is not None and int(micros) != group[1]:
                last = last.next(group[0], unbatched_known(group[1], base), group[2])
                yield last.position, last.known_us, last.hash
            group = (int(position), int(micros), fact_hash.strip())
        if len(page) < _UNBATCHED_PAGE:
            break
        after = int(page[-1][0])
    if group is not None:
        last = last.next(group[0], unbatched_known(group[1], base), group[2])
        yield last.position, last.known_us, last.hash


def now_and_later(batches: Sequence[Batch]) -> tuple[list[Batch], list[Batch]]:
    """The batches whose known time is given (an import's: written with the facts) and those known at the commit
    (an append's: ``write_known_after``)."""
    return [b for b in batches if b[1] is not None], [b for b in batches if b[1] is None]


class KnownTimeNotKept(UserWarning):
    """A batch was stored, but its row of ``dealledger_batches`` could not be written after its commit."""


class KnownTimesNotRead(UserWarning):
    """The batches' table is there, but this role may not read it: ``--known-at`` goes by recorded times."""


def write_known_after(
    transaction: Callable[[], AbstractContextManager[Any]], batches: Sequence[Batch], index: Sequence[IndexRow], now: int
) -> None:
    """Write ``batches`` (known at the commit) in a transaction of their own, opened by ``transaction`` the moment the
    batch's commit has returned, on its connection, while the writers' lock is still held (so known times follow
    positions).

    Taken inside the batch's transaction, the time came before the commit itself, which on SQLite writes the
    pages the batch still holds in memory (433 ms after a 50,000-fact append, measured): a reader in that time
    did not see the batch, yet ``--known-at`` its moment did. Taken after, the gap is the return from the commit
    (its WAL checkpoint put off to this second commit), ``now`` taken by the caller as it returned, before this
    transaction begins: measured up to 0.5 ms on SQLite and 0.9 ms on PostgreSQL with batches of 2,000 facts, when
    the row took the time itself. Should the row not be written (the database refuses it,
    the process ends first), the batch stays stored, and is known from its recorded time as a ledger written
    before batches were kept (its row made with the next batch's: ``write_batches``): an append that
    said it failed would be tried again, and keyless facts stored twice."""
    if not batches or not index:
        return
    try:
        with transaction() as cursor:
            write_batches(cursor, batches, index, now)
    except Exception as error:
        if not refusal(error):
            raise
        warnings.warn(
            f"facts up to #{batches[-1][0]} are stored, but not when they became known ({first_line(error)}): --known-at"
            " reads their recorded time",
            KnownTimeNotKept,
            stacklevel=2,
        )


def now_us() -> int:
    """This moment in microseconds since 1970 (UTC), as known times are kept."""
    return time.time_ns() // 1000


class QmarkCursor:
    """A DB-API cursor that takes ``?`` placeholders whatever the driver's own style, and gives rows as tuples,
    so the index SQL is written once for every backend."""

    def __init__(self, cursor: Any, paramstyle: str = "format") -> None:
        self.cursor = cursor
        self.qmark = paramstyle == "qmark"

    def _sql(self, sql: str) -> str:
        return sql if self.qmark else sql.replace("?", "%s")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.cursor.execute(self._sql(sql), tuple(params))

    def executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> None:
        if params:
            self.cursor.executemany(self._sql(sql), [tuple(p) for p in params])

    def fetchone(self) -> Any:
        row = self.cursor.fetchone()
        if row is None:
            return None
        return tuple(row.values()) if isinstance(row, dict) else tuple(row)

    def fetchall(self) -> list[tuple[Any, ...]]:
        return [tuple(row.values()) if isinstance(row, dict) else tuple(row) for row in self.cursor.fetchall()]


@contextmanager
def unless_refused() -> Iterator[None]:
    """Let the store refuse work on derived data (checkpoints, kept answers) and go on without it: no answer
    depends on it (a read-only file, a role without the privilege, a table not there). Any other error is raised."""
    try:
        yield
    except Exception as error:
        if not refusal(error):
            raise


@contextmanager
def refused_as(what: str) -> Iterator[None]:
    """Work on derived data that was asked for (``checkpoints --clear``): a refusal is the user's to hear, in one
    line (a role granted only SELECT on those tables had a traceback), not to be passed over."""
    try:
        yield
    except Exception as error:
        if not refusal(error):
            raise
        raise LedgerError(f"cannot {what}: the store refused ({first_line(error)})") from None


def write_derived(db: Database, statements: list[tuple[str, Any]]) -> None:
    """Store or drop derived data, if the database lets us (``unless_refused``)."""
    with unless_refused():
        db.write(statements)


def refusal(error: BaseException) -> bool:
    """Whether ``error`` is the store's refusal (the library's persistence errors, or a driver's own), not a fault
    of this program."""
    from eventsourcing.persistence import PersistenceError

    return isinstance(error, PersistenceError) or driver_error(error)


def first_line(error: BaseException) -> str:
    """What an error says, in one line: its message's first, or its type's name when it says nothing."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def driver_error(error: BaseException) -> bool:
    """An error of a database driver (or an OS error under it): the store, not this program, is at fault."""
    return isinstance(error, OSError) or type(error).__module__.split(".")[0] in ("sqlite3", "psycopg", "sqlalchemy", "pymysql")


Statements = list[tuple[str, Sequence[Sequence[Any]]]]
"""SQL statements, each with the parameter rows it runs once for."""


def insert_row(table: str, columns: Sequence[str], last: str = "?") -> str:
    """An INSERT of one row into ``table``; ``last``: what the last column takes (a placeholder, or an expression of one)."""
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['?'] * (len(columns) - 1) + [last])})"


class Database(ABC):
    """Plain SQL on the ledger's own database, for the index and checkpoint tables.

    Statements are written with ``?`` placeholders and unqualified table names; each backend
    translates them (``%s``, a schema) and runs them on the library's own connections.
    """

    events_table: str
    ledger_id: Any
    """The ledger stream's originator id as this backend stores it (for joins with the events table)."""

    @abstractmethod
    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a query in a read transaction and return every row as a tuple."""

    @abstractmethod
    def write(self, statements: Iterable[tuple[str, Sequence[Sequence[Any]]]]) -> None:
        """Run each statement once per parameter row, all in one transaction."""

    def write_with_blob(
        self, statements: Statements, table: str, columns: Sequence[str], values: Sequence[Any], blob: Spooled
    ) -> None:
        """``write`` the statements, then insert one row into ``table``: ``values``, and ``blob`` in the last of
        ``columns``, all in one transaction. Here the blob is taken whole; a backend that can write one in pieces
        does (``ledger.persistence.blobs``)."""
        self.write([*statements, (insert_row(table, columns), [(*values, blob.whole())])])

    @contextmanager
    def reading_blob(self, table: str, column: str, where: str, params: Sequence[Any]) -> Iterator[Stored | None]:
        """The blob in ``column`` of the one row of ``table`` found by ``where``, to read while the block runs;
        None when there is none. Here it is read whole first; a backend that can read one in pieces does."""
        found = self.rows(f"SELECT {column} FROM {table} WHERE {where}", params)
        yield InMemory(bytes(found[0][0])) if found else None

    def table(self, name: str) -> str:
        return name

    def sql(self, text: str) -> str:
        """``text`` with the events table named as this backend names it."""
        return text.replace("{events}", self.events_table)
