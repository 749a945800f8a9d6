"""PostgreSQL, for teams: eventsourcing's recorder writing in chunks with the index, its guard and plain SQL.

The library inserts a whole batch with one statement over an array of composite values.
That is quick for the handful of events an aggregate saves, but the server's cost grows much
faster than the array (measured: 1,000 events in a few milliseconds, 100,000 not done after
ten minutes). This recorder sends the same statement once per chunk, inside one transaction
that first takes an insert lock (as the library's table lock would), and writes the batch's index rows and hash chain
in that same transaction, so a batch stays all or nothing and the index never disagrees.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresAggregateRecorder, PostgresApplicationRecorder

from ledger.errors import LedgerError
from ledger.persistence import (
    ANSWERS_TABLE,
    BATCHES_TABLE,
    CHECKPOINTS_TABLE,
    FACTS_TABLE,
    GUARD_GONE,
    GUARDED_TABLES,
    IMMUTABLE_MESSAGE,
    LEDGER_ID,
    SUBJECTS_TABLE,
    WRITE_CHUNK,
    Backend,
    Batch,
    Database,
    IndexRow,
    QmarkCursor,
    answers_ddl,
    batches_ddl,
    first_line,
    index_ddl,
    now_and_later,
    now_us,
    unless_refused,
    write_batches,
    write_known_after,
)
from ledger.persistence.sqlite import write_index
from ledger.stopping import commit_begins

CHUNK = 1_000
_TABLES = re.compile(rf"\b({FACTS_TABLE}|{SUBJECTS_TABLE}|{BATCHES_TABLE}|{CHECKPOINTS_TABLE}|{ANSWERS_TABLE})\b")


class IndexedPostgresApplicationRecorder(PostgresApplicationRecorder):
    writes_in_chunks = True
    """Takes a batch's events a slice at a time, once each (``store.StoredBatch``)."""

    def insert_events(
        self,
        stored_events: Sequence[StoredEvent],
        *,
        index: Sequence[IndexRow] = (),
        batches: Sequence[Batch] = (),
        **kwargs: Any,
    ) -> Sequence[int] | None:
        """Events, index rows and given batch rows in one transaction; the rows of batches known at the commit just
        after it, on the same connection (``write_known_after``)."""
        notification_ids: list[int] = []
        if not stored_events:
            return notification_ids
        given, later = now_and_later(batches)
        with self.datastore.get_connection() as connection:
            self._insert(connection, stored_events, index, given, notification_ids)
            committed = now_us()

            @contextmanager
            def after() -> Iterator[Any]:
                with connection.transaction(), connection.cursor() as cursor:
                    cursor.execute(f"SET LOCAL search_path TO {quote(self.datastore.schema or 'public')}")
                    yield QmarkCursor(cursor)

            write_known_after(after, later, index, committed)
        return notification_ids

    def _insert(
        self,
        connection: Any,
        stored_events: Sequence[StoredEvent],
        index: Sequence[IndexRow],
        batches: Sequence[Batch],
        notification_ids: list[int],
    ) -> None:
        with connection.transaction(), connection.cursor() as cursor:
            # Inserts take turns like the library's table lock makes them, but through an advisory
            # lock, which needs no privilege beyond INSERT (LOCK TABLE ... EXCLUSIVE needs UPDATE).
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"dealledger-insert:{self.datastore.schema}",))
            self._notify_channel(cursor)
            cursor.execute(f"SET LOCAL search_path TO {quote(self.datastore.schema or 'public')}")
            for start in range(0, len(stored_events), WRITE_CHUNK):  # a slice of the batch at a time (StoredBatch)
                events = stored_events[start : start + WRITE_CHUNK]
                write_index(QmarkCursor(cursor), events, index[start : start + WRITE_CHUNK])
                for first in range(0, len(events), CHUNK):
                    PostgresAggregateRecorder._insert_stored_events(self, cursor, events[first : first + CHUNK])
                    notification_ids.extend(row["notification_id"] for row in cursor.fetchall())
            write_batches(QmarkCursor(cursor), batches, index)
            commit_begins()


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


class PostgresDatabase(Database):
    def __init__(self, recorder: IndexedPostgresApplicationRecorder) -> None:
        self.recorder = recorder
        self.schema = recorder.datastore.schema or "public"
        self.events_table = f"{quote(self.schema)}.{quote(recorder.events_table_name)}"
        self.ledger_id: Any = LEDGER_ID

    def sql(self, text: str) -> str:
        text = _TABLES.sub(lambda match: f"{quote(self.schema)}.{match.group(1)}", super().sql(text))
        return text.replace("?", "%s")

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.recorder.datastore.get_connection() as connection, connection.cursor() as cursor:
            cursor.execute(self.sql(sql), tuple(params))
            return [tuple(row.values()) for row in cursor.fetchall()]

    def write(self, statements: Iterable[tuple[str, Sequence[Sequence[Any]]]]) -> None:
        with self.recorder.datastore.get_connection() as connection, connection.transaction(), connection.cursor() as cursor:
            for sql, parameters in statements:
                if parameters:
                    cursor.executemany(self.sql(sql), [tuple(p) for p in parameters])


TRIGGERS = ("{table}_immutable", "{table}_no_truncate")


@contextmanager
def opening(backend: Backend) -> Iterator[bool]:
    """Whether the tables and guards must be created, and the server-wide opening lock while they are.

    Creating tables and replacing triggers from several processes at once fails on the server
    ("tuple concurrently updated", deadlocks with writers), so a store that is ready is only
    checked, and one process at a time creates what is missing, under an advisory lock.
    """
    import psycopg
    from psycopg import sql

    env = backend.env
    try:
        with psycopg.connect(
            dbname=env["POSTGRES_DBNAME"],
            host=env["POSTGRES_HOST"],
            port=env["POSTGRES_PORT"],
            user=env["POSTGRES_USER"],
            password=env["POSTGRES_PASSWORD"] or None,
            connect_timeout=int(env["POSTGRES_CONNECT_TIMEOUT"]),
            autocommit=True,
        ) as connection:
            schema = backend.schema or "public"
            if _ready(connection, schema):
                _add_batches_table(connection, schema)
                _add_answers_table(connection, schema)
                yield False
                return
            connection.execute("SELECT pg_advisory_lock(hashtext('dealledger-open'))")
            try:
                connection.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
                yield not _ready(connection, schema)
            finally:
                connection.execute("SELECT pg_advisory_unlock(hashtext('dealledger-open'))")
    except psycopg.Error as error:
        raise LedgerError(f"cannot reach the store {backend.safe_url}: {first_line(error)}") from None


GUARDS_INTACT = (
    "SELECT count(*) AS n FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
    "JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_proc p ON p.oid = t.tgfoid "
    "WHERE n.nspname = %s AND t.tgname = ANY(%s) AND t.tgenabled IN ('O', 'A') "
    "AND p.pronamespace = n.oid AND p.proname = 'dealledger_refuse_change' AND p.prosrc = %s"
)
"""The guard triggers of these names that still guard: firing in ordinary sessions (one switched to fire only for
replication, ``ENABLE REPLICA TRIGGER``, fires for nobody else), and calling the guard's function with its own
body (one replaced to ``RETURN NEW`` lets every change through)."""
REFUSING = f" BEGIN RAISE EXCEPTION '{IMMUTABLE_MESSAGE}'; END "
"""The body of the guard's function."""


def _ready(connection: Any, schema: str) -> bool:
    """The events and index tables exist, each with its guard triggers (the batches' table where it exists: a store
    made before it is given it by ``_add_batches_table``, where the role may)."""
    tables = ("dealledger_events", *(GUARDED_TABLES if _exists(connection, schema, BATCHES_TABLE) else GUARDED_TABLES[:-1]))
    names = [name.format(table=table) for table in tables for name in TRIGGERS]
    found = connection.execute(GUARDS_INTACT, (schema, names, REFUSING)).fetchone()
    return bool(found and found[0] == len(names)) and _exists(connection, schema, CHECKPOINTS_TABLE)


def _exists(connection: Any, schema: str, table: str) -> bool:
    """Whether the schema holds the table (whatever this role may do with it)."""
    return bool(connection.execute("SELECT to_regclass(%s) IS NOT NULL", (f'"{schema}".{table}',)).fetchone()[0])


def _add_batches_table(connection: Any, schema: str) -> None:
    """Give a store made before batches were kept their table and its guard, if this role may (``batches_ddl``)."""
    from psycopg import sql

    if _exists(connection, schema, BATCHES_TABLE):
        return
    function = sql.Identifier(schema, "dealledger_refuse_change")
    with unless_refused(), connection.transaction():
        connection.execute(f"SET LOCAL search_path TO {quote(schema)}")
        for statement in [*map(sql.SQL, batches_ddl()), *_triggers(schema, BATCHES_TABLE, function)]:
            connection.execute(statement)


def _add_answers_table(connection: Any, schema: str) -> None:
    """Give a store made before kept answers existed their table, if this role may create it; without it
    answers are simply not kept (``ledger.answers``), so a role that may not create tables still works."""
    if _exists(connection, schema, ANSWERS_TABLE):
        return
    with unless_refused(), connection.transaction():
        connection.execute(f"SET LOCAL search_path TO {quote(schema)}")
        connection.execute(answers_ddl("BYTEA"))


@contextmanager
def writing(recorder: Any) -> Iterator[None]:
    """One writer at a time per ledger, first come first served, from validation to commit.

    The optimistic lock alone keeps the ledger consistent, but a large batch could then lose
    the race forever to a stream of small ones; PostgreSQL grants advisory locks in order.
    """
    key = f"dealledger-writer:{recorder.datastore.schema or 'public'}"
    with _in_this_process(key), recorder.datastore.get_connection() as connection:
        connection.execute("SELECT pg_advisory_lock(hashtext(%s))", (key,))
        try:
            yield
        finally:
            connection.execute("SELECT pg_advisory_unlock(hashtext(%s))", (key,))


_WRITERS: dict[str, threading.Lock] = {}
_WRITERS_LOCK = threading.Lock()


def _in_this_process(key: str) -> threading.Lock:
    """The lock threads of this process take, in turn, before the server's: a thread waiting on the server's lock
    holds a pooled connection, and the writer holding it needs more of them, so threads sharing a ledger (a
    notebook, a service) would otherwise take every connection of the pool and fail waiting for one."""
    with _WRITERS_LOCK:
        return _WRITERS.setdefault(key, threading.Lock())


def guard(recorder: Any, create: bool = True, repair: bool = False) -> None:
    """Create the index tables, and make them and the events table refuse UPDATE, DELETE and TRUNCATE.

    Tables are taken in the order writers take them (events first), so creating guards while
    others write cannot deadlock.
    """
    if not create:
        return
    from psycopg import sql

    schema = recorder.datastore.schema or "public"
    if not repair:
        _refuse_a_removed_guard(recorder, schema)
    function = sql.Identifier(schema, "dealledger_refuse_change")
    statements: list[Any] = [sql.SQL(f"SET LOCAL search_path TO {quote(schema)}")]
    statements.append(
        sql.SQL("CREATE OR REPLACE FUNCTION {f}() RETURNS trigger LANGUAGE plpgsql AS $${body}$$").format(
            f=function, body=sql.SQL(REFUSING)
        )
    )
    triggers = {table: _triggers(schema, table, function) for table in (recorder.events_table_name, *GUARDED_TABLES)}
    statements += triggers[recorder.events_table_name]
    statements += [sql.SQL(statement) for statement in (*index_ddl("BYTEA", "TEXT"), *batches_ddl(), answers_ddl("BYTEA"))]
    statements += [trigger for table in GUARDED_TABLES for trigger in triggers[table]]
    with recorder.datastore.transaction(commit=True) as cursor:
        cursor.execute(sql.SQL("SELECT pg_advisory_xact_lock(hashtext('dealledger-guard'))"))
        for statement in statements:
            cursor.execute(statement)


def _refuse_a_removed_guard(recorder: Any, schema: str) -> None:
    """A table that holds facts but has lost (or disabled) its triggers was opened to change behind the ledger's back."""
    with recorder.datastore.transaction(commit=False) as cursor:
        for table in (recorder.events_table_name, *GUARDED_TABLES):
            cursor.execute("SELECT to_regclass(%s) IS NOT NULL AS found", (f"{quote(schema)}.{quote(table)}",))
            if not cursor.fetchone()["found"]:
                continue
            names = [name.format(table=table) for name in TRIGGERS]
            cursor.execute(GUARDS_INTACT, (schema, names, REFUSING))
            if cursor.fetchone()["n"] == len(names):
                continue
            cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {quote(schema)}.{quote(table)}) AS held")
            if cursor.fetchone()["held"]:
                raise LedgerError(GUARD_GONE.format(table=table))


def _triggers(schema: str, table: str, function: Any) -> list[Any]:
    from psycopg import sql

    target = sql.Identifier(schema, table)
    names = [sql.Identifier(name.format(table=table)) for name in TRIGGERS]
    return [
        sql.SQL("CREATE OR REPLACE TRIGGER {t} BEFORE UPDATE OR DELETE ON {table} FOR EACH ROW EXECUTE FUNCTION {f}()").format(
            t=names[0], table=target, f=function
        ),
        sql.SQL("CREATE OR REPLACE TRIGGER {t} BEFORE TRUNCATE ON {table} FOR EACH STATEMENT EXECUTE FUNCTION {f}()").format(
            t=names[1], table=target, f=function
        ),
        *(sql.SQL("ALTER TABLE {table} ENABLE TRIGGER {t}").format(table=target, t=name) for name in names),  # replica-only
    ]
