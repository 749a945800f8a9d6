"""SQLite, the embedded default: eventsourcing's recorder with two changes, its guard and plain SQL.

The recorder inserts a batch with one ``executemany`` (the library inserts application events
one ``execute`` at a time to collect each row id; within one write transaction SQLite hands out
row ids in sequence, so the ids are the last ``len(batch)`` ids, read once: the same result in
about a third of the time), and writes the index rows and hash chain of the batch in the same
transaction, so the index can never disagree with the events.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteAggregateRecorder, SQLiteApplicationRecorder, SQLiteCursor

from ledger.errors import LedgerError
from ledger.persistence import (
    ANSWERS_TABLE,
    BATCHES_TABLE,
    GENESIS_HASH,
    GUARD_GONE,
    GUARDED_TABLES,
    IMMUTABLE_MESSAGE,
    INSERT_FACT,
    INSERT_SUBJECT,
    LEDGER_ID,
    SELECT_HASH,
    WRITE_CHUNK,
    Batch,
    Database,
    IndexRow,
    Statements,
    answers_ddl,
    batches_ddl,
    index_ddl,
    index_parameters,
    insert_row,
    now_and_later,
    now_us,
    unless_refused,
    write_batches,
    write_known_after,
)
from ledger.persistence.blobs import Spooled, Stored
from ledger.stopping import commit_begins

WRITE_CACHE_KIB = 131072
"""The page cache a writing connection may grow to (SQLite's default is 2 MiB): a bulk append inserts into
indexes keyed by random ids, and a million-fact one spent a third of its index time re-reading pages (measured).
SQLite allocates pages only as they are read, so a small append costs nothing more; the usual size is put back after."""


class IndexedSQLiteApplicationRecorder(SQLiteApplicationRecorder):
    writes_in_chunks = True
    """Takes a batch's events a slice at a time, once each (``store.StoredBatch``)."""

    def insert_events(
        self, stored_events: Sequence[StoredEvent], *, batches: Sequence[Batch] = (), **kwargs: Any
    ) -> Sequence[int] | None:
        """The library's, with the batch's known time written just after its commit (``write_known_after``), on the
        same connection. The commit of a large batch would also copy the log into the database file (SQLite's
        automatic checkpoint) before returning; that is put off to the second, small commit, after the time is taken."""
        given, later = now_and_later(batches)
        with self.datastore.get_connection(commit=True) as connection:
            put_off: list[int] = []  # the pages after which the connection checkpoints, while that is put off
            try:
                with connection.transaction(commit=True) as c:
                    if later:
                        c.execute("PRAGMA wal_autocheckpoint")
                        put_off.append(int(c.fetchone()[0]))
                        c.execute("PRAGMA wal_autocheckpoint = 0")
                    ids = self._insert_events(c, stored_events, batches=given, **kwargs)
                committed = now_us()

                @contextmanager
                def after() -> Iterator[Any]:
                    with connection.transaction(commit=True) as cursor:
                        cursor.execute(f"PRAGMA wal_autocheckpoint = {put_off.pop()}")  # checkpointed with this commit
                        yield cursor

                write_known_after(after, later, kwargs.get("index", ()), committed)
            finally:  # the batch failed, or its row was refused before the setting was put back: put it back now
                if put_off:
                    with connection.transaction(commit=False) as cursor:
                        cursor.execute(f"PRAGMA wal_autocheckpoint = {put_off.pop()}")
        return ids

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *index_ddl("BLOB", "TEXT", sqlite=True)]

    def _insert_events(
        self,
        c: SQLiteCursor,
        stored_events: Sequence[StoredEvent],
        *,
        index: Sequence[IndexRow] = (),
        batches: Sequence[Batch] = (),
        **kwargs: Any,
    ) -> Sequence[int] | None:
        if not stored_events:
            return []
        c.execute("PRAGMA cache_size")
        cache = int(c.fetchone()[0])
        c.execute(f"PRAGMA cache_size = -{WRITE_CACHE_KIB}")
        try:
            for start in range(0, len(stored_events), WRITE_CHUNK):  # one transaction, a slice of the batch at a time
                events = stored_events[start : start + WRITE_CHUNK]
                write_index(c, events, index[start : start + WRITE_CHUNK])
                SQLiteAggregateRecorder._insert_events(self, c, events, **kwargs)
            write_batches(c, batches, index)
            commit_begins()
        finally:  # the connection goes back to the pool: later reads keep the usual cache
            c.execute(f"PRAGMA cache_size = {cache}")
        last = self._max_notification_id(c)
        return list(range(last - len(stored_events) + 1, last + 1))


def write_index(cursor: Any, stored_events: Sequence[StoredEvent], index: Sequence[IndexRow]) -> None:
    """Index rows for the batch, chained to the hash of the fact before it, read inside this transaction.

    Without index rows the recorder behaves exactly as the library's (its own contract tests).
    """
    if not index:
        return
    first = index[0].position
    previous = GENESIS_HASH
    if first > 1:
        cursor.execute(SELECT_HASH, (first - 1,))
        found = cursor.fetchone()
        if found is None:
            raise LedgerError(f"the index has no fact #{first - 1}: open the ledger again to rebuild it")
        previous = found[0]
    facts, subjects = index_parameters(index, [event.state for event in stored_events], previous)
    cursor.executemany(INSERT_FACT, facts)
    cursor.executemany(INSERT_SUBJECT, subjects)


class SQLiteDatabase(Database):
    def __init__(self, recorder: IndexedSQLiteApplicationRecorder) -> None:
        self.recorder = recorder
        self.events_table = recorder.events_table_name
        self.ledger_id: Any = LEDGER_ID.hex

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.recorder.datastore.transaction(commit=False) as cursor:
            raw = cursor.sqlite_cursor
            raw.row_factory = None  # plain tuples: the library's connections make an ``sqlite3.Row`` of each, copied again here
            raw.execute(self.sql(sql), tuple(params))
            return raw.fetchall()

    def write(self, statements: Iterable[tuple[str, Sequence[Sequence[Any]]]]) -> None:
        with self.recorder.datastore.transaction(commit=True) as cursor:
            self._run(cursor, statements)

    def _run(self, cursor: Any, statements: Iterable[tuple[str, Sequence[Sequence[Any]]]]) -> None:
        for sql, parameters in statements:
            cursor.executemany(self.sql(sql), [tuple(p) for p in parameters])

    def write_with_blob(
        self, statements: Statements, table: str, columns: Sequence[str], values: Sequence[Any], blob: Spooled
    ) -> None:
        """The row is inserted with a blob of zeros of the blob's size, which is then written a piece at a time
        (incremental blob I/O): neither this process nor the driver holds the whole blob."""
        with self.recorder.datastore.transaction(commit=True) as cursor:
            self._run(cursor, statements)
            raw = cursor.sqlite_cursor
            raw.execute(insert_row(table, columns, "zeroblob(?)"), (*values, blob.size))
            row = raw.lastrowid
            if row is None:
                raise LedgerError(f"internal error: no row id for the row inserted into {table}")
            with raw.connection.blobopen(table, columns[-1], row, readonly=False) as stored:
                for chunk in blob.chunks():
                    stored.write(chunk)

    @contextmanager
    def reading_blob(self, table: str, column: str, where: str, params: Sequence[Any]) -> Iterator[Stored | None]:
        """Read in place (incremental blob I/O) in one read transaction, so the row cannot change meanwhile.

        The row is found first, on its own: a blob opened after a query in the same transaction failed
        with "database is locked" whenever another connection had written since that query began
        (seen with two processes saving and loading checkpoints at once), and one opened first did
        not. So the blob is opened first in the transaction, and the row checked to be still the one
        found; where it cannot be opened, or the row has moved meanwhile (saved again), it is read
        whole, by its key."""
        found = self.rows(f"SELECT rowid FROM {table} WHERE {where}", params)
        if not found:
            yield None
            return
        row = int(found[0][0])
        with self.recorder.datastore.transaction(commit=False) as cursor:
            raw = cursor.sqlite_cursor
            raw.row_factory = None
            try:
                handle = raw.connection.blobopen(table, column, row)
            except sqlite3.OperationalError:
                handle = None
            if handle is not None:
                with handle:
                    still = raw.execute(f"SELECT length({column}) FROM {table} WHERE rowid = ? AND {where}", (row, *params))
                    size = still.fetchall()
                    if size:
                        yield _InPlace(handle, int(size[0][0]))
                        return
        with super().reading_blob(table, column, where, params) as whole:
            yield whole


class _InPlace:
    """A blob read in place (``sqlite3.Blob``)."""

    def __init__(self, handle: sqlite3.Blob, size: int) -> None:
        self.handle = handle
        self.size = size

    def read(self, offset: int, length: int) -> bytes:
        self.handle.seek(offset)
        return self.handle.read(length)


@contextmanager
def opening(backend: Any) -> Iterator[bool]:
    """Always create what is missing (``IF NOT EXISTS``); a file not yet made ready (its index and guards) is made
    ready under the writers' lock (``writing``), one process at a time: several opening a new file at once
    otherwise saw "database is locked" (a read turned write whose snapshot another process had just moved on)."""
    path = backend.env["SQLITE_DBNAME"]
    if not _on_disk(path) or _ready(path):
        yield True
        return
    with contextlib.ExitStack() as locked:
        try:
            locked.enter_context(_file_lock(path))
        except OSError:  # a folder that cannot hold the lock file (read-only): SQLite's own locks alone, as before
            yield True
            return
        _held.paths = {*getattr(_held, "paths", set()), path}  # this thread's own ``writing`` inside goes on
        try:
            yield True
        finally:
            _held.paths.discard(path)


_held = threading.local()
"""The files whose lock this thread holds while it makes them ready (``opening``)."""


def _on_disk(path: str) -> bool:
    return path != ":memory:" and not path.startswith("file:")


def _ready(path: str) -> bool:
    """Whether the file already holds the index and its guards (read-only, without waiting for any lock)."""
    if not os.path.exists(path):
        return False
    try:
        connection = sqlite3.connect(f"{Path(path).absolute().as_uri()}?mode=ro", uri=True, timeout=0)
    except sqlite3.Error:
        return False
    try:
        found = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger')")}
    except sqlite3.Error:
        return False
    finally:
        connection.close()
    guards = {trigger_name(table, action) for table in GUARDED_TABLES for action in GUARDED}
    return {*GUARDED_TABLES, *guards} <= found


@contextmanager
def writing(recorder: Any) -> Iterator[None]:
    """One writer at a time per ledger file, from validation to commit (a lock file beside the database).

    The optimistic lock alone keeps the ledger consistent, but a large batch could then lose
    the race again and again to a stream of small ones.
    """
    with writers_lock(recorder.datastore.pool.db_name):
        yield


@contextmanager
def writers_lock(path: str) -> Iterator[None]:
    """The writers' lock of the SQLite file at ``path`` (none for a database in memory), taken once per thread: what
    ``writing`` holds, for this backend and for SQLite reached through SQLAlchemy."""
    if not path or not _on_disk(path) or path in getattr(_held, "paths", ()):
        yield
        return
    with _file_lock(path):
        yield


@contextmanager
def _file_lock(path: str) -> Iterator[None]:
    import fcntl

    with open(f"{path}.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def guard(recorder: Any, create: bool = True, repair: bool = False) -> None:
    """Triggers that make the events and index tables refuse UPDATE and DELETE.

    A table that holds facts but has lost its triggers was opened to change behind the
    ledger's back: that is an error until ``verify`` has checked the history and puts them back.
    """
    with recorder.datastore.transaction(commit=True) as cursor:
        cursor.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
        present = {row[0]: row[1] for row in cursor.fetchall()}
        cursor.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (BATCHES_TABLE,))
        batches = cursor.fetchone() is not None
        for table in (recorder.events_table_name, *(GUARDED_TABLES if batches else GUARDED_TABLES[:-1])):
            # a guard is its name and its text: one put back as "WHEN 0 BEGIN SELECT 1; END" refuses nothing
            changed = [action for action in GUARDED if not _as_made(present.get(trigger_name(table, action)), table, action)]
            if changed and not repair:
                cursor.execute(f'SELECT 1 FROM "{table}" LIMIT 1')
                if cursor.fetchone() is not None:
                    raise LedgerError(GUARD_GONE.format(table=table))
            for action in changed:
                cursor.execute(f'DROP TRIGGER IF EXISTS "{trigger_name(table, action)}"')
                cursor.execute(trigger(table, action))
    if not batches:
        with unless_refused(), recorder.datastore.transaction(commit=True) as cursor:  # see ``batches_ddl``
            for statement in [*batches_ddl(sqlite=True), *(trigger(BATCHES_TABLE, action) for action in GUARDED)]:
                cursor.execute(statement)
    add_answers_table(recorder)


def _as_made(found: str | None, table: str, action: str) -> bool:
    """Whether a trigger's text (as SQLite keeps it) is the guard's, whitespace aside."""
    if found is None:
        return False
    made = trigger(table, action).replace("IF NOT EXISTS ", "", 1)
    return " ".join(found.split()) == " ".join(made.split())


def add_answers_table(recorder: Any) -> None:
    """Create the kept answers' table where it is missing and the file may be written (see ``answers_ddl``)."""
    with unless_refused(), recorder.datastore.transaction(commit=True) as cursor:
        cursor.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (ANSWERS_TABLE,))
        if cursor.fetchone() is None:
            cursor.execute(answers_ddl("BLOB"))


GUARDED = ("UPDATE", "DELETE")
"""What the guards' triggers refuse on the events and index tables."""


def trigger_name(table: str, action: str) -> str:
    return f"{table}_no_{action.lower()}"


def trigger(table: str, action: str) -> str:
    return (
        f'CREATE TRIGGER IF NOT EXISTS "{trigger_name(table, action)}" BEFORE {action} ON "{table}" '
        f"BEGIN SELECT RAISE(ABORT, '{IMMUTABLE_MESSAGE}'); END"
    )
