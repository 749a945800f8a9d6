"""Any other database SQLAlchemy speaks (MySQL, MariaDB, SQLite through a driver), through eventsourcing-sqlalchemy.

The library's recorder, extended like the others to write the batch's index rows and hash
chain in the events' own transaction; the factory subclass is how the library lets a recorder
class be chosen for this backend. Imported only for such URLs: SQLAlchemy is slow to import.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing_sqlalchemy.factory import SQLAlchemyFactory
from eventsourcing_sqlalchemy.recorders import SQLAlchemyApplicationRecorder
from sqlalchemy import text

from ledger.errors import LedgerError
from ledger.persistence import (
    GUARDED_TABLES,
    IMMUTABLE_MESSAGE,
    LEDGER_ID,
    Batch,
    Database,
    IndexRow,
    QmarkCursor,
    answers_ddl,
    batches_ddl,
    index_ddl,
    now_and_later,
    now_us,
    unless_refused,
    write_batches,
    write_known_after,
)
from ledger.persistence.sqlite import trigger, write_index, writers_lock
from ledger.stopping import commit_begins


class IndexedSQLAlchemyApplicationRecorder(SQLAlchemyApplicationRecorder):
    def insert_events(
        self, stored_events: Sequence[StoredEvent], *, batches: Sequence[Batch] = (), **kwargs: Any
    ) -> Sequence[int] | None:
        """The library's; on a SQLite file, whose writers take turns (``writing``), the rows of batches known at the
        commit are written just after it (``write_known_after``); elsewhere, where the optimistic lock alone orders
        writers, inside the batch's transaction, just before its commit (``write_batches``)."""
        engine = self.datastore.engine
        assert engine is not None
        given, later = now_and_later(batches) if engine.dialect.name == "sqlite" else (list(batches), [])
        notification_ids = super().insert_events(stored_events, batches=given, **kwargs)
        committed = now_us()

        @contextmanager
        def after() -> Iterator[Any]:
            with engine.begin() as connection:
                dbapi: Any = connection.connection  # the driver's own connection
                raw = dbapi.cursor()
                try:
                    yield QmarkCursor(raw, engine.dialect.paramstyle)
                finally:
                    raw.close()

        write_known_after(after, later, kwargs.get("index", ()), committed)
        return notification_ids

    def _insert_events(
        self, session: Any, stored_events: Sequence[StoredEvent], *, index: Sequence[IndexRow] = (), **_: Any
    ) -> Sequence[int] | None:
        if stored_events:
            raw = session.connection().connection.cursor()
            try:
                write_index(QmarkCursor(raw, session.get_bind().dialect.paramstyle), stored_events, index)
            except Exception as error:
                if type(error).__name__ == "IntegrityError":  # the driver's own: another writer took the positions
                    raise IntegrityError(str(error)) from error
                raise
            finally:
                raw.close()
        return None

    def _insert_stored_events(
        self,
        session: Any,
        stored_events: Sequence[StoredEvent],
        *,
        index: Sequence[IndexRow] = (),
        batches: Sequence[Batch] = (),
        **kwargs: Any,
    ) -> Sequence[int]:
        notification_ids = super()._insert_stored_events(session, stored_events, **kwargs)
        if batches:
            session.flush()  # the events written before the batch's known time is taken
            raw = session.connection().connection.cursor()
            try:
                write_batches(QmarkCursor(raw, session.get_bind().dialect.paramstyle), batches, index)
            finally:
                raw.close()
        commit_begins()
        return notification_ids


class IndexedSQLAlchemyFactory(SQLAlchemyFactory):
    application_recorder_class = IndexedSQLAlchemyApplicationRecorder


class SQLAlchemyDatabase(Database):
    def __init__(self, recorder: IndexedSQLAlchemyApplicationRecorder) -> None:
        from sqlalchemy_utils.types.uuid import UUIDType

        self.engine: Any = recorder.datastore.engine  # an Engine for every URL this backend accepts
        assert self.engine is not None
        self.events_table = recorder.events_table_name
        self.ledger_id = UUIDType().process_bind_param(LEDGER_ID, self.engine.dialect)
        self.paramstyle = self.engine.dialect.paramstyle

    def sql(self, text_: str) -> str:
        text_ = super().sql(text_)
        return text_ if self.paramstyle == "qmark" else text_.replace("?", "%s")

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.engine.connect() as connection:
            return [tuple(row) for row in connection.exec_driver_sql(self.sql(sql), tuple(params)).fetchall()]

    def write(self, statements: Iterable[tuple[str, Sequence[Sequence[Any]]]]) -> None:
        with self.engine.begin() as connection:
            for sql, parameters in statements:
                if parameters:
                    connection.exec_driver_sql(self.sql(sql), [tuple(p) for p in parameters])


@contextmanager
def opening(backend: Any) -> Iterator[bool]:
    """Always create what is missing (``IF NOT EXISTS``)."""
    yield True


@contextmanager
def writing(recorder: Any) -> Iterator[None]:
    """One writer at a time for a SQLite file, behind the lock file the SQLite backend takes (``writers_lock``): many
    threads appending at once otherwise waited out SQLite's busy timeout and one failed with "database is locked".
    Other databases rely on the optimistic lock alone (with back-off)."""
    engine = recorder.datastore.engine
    if engine.dialect.name != "sqlite":
        yield
        return
    with writers_lock(engine.url.database or ""):
        yield


def guard(recorder: Any, create: bool = True, repair: bool = False) -> None:
    """Create the index tables and make them and the events table refuse UPDATE and DELETE."""
    engine = recorder.datastore.engine
    dialect = engine.dialect.name
    tables = (recorder.events_table_name, *GUARDED_TABLES)
    sqlite = dialect == "sqlite"
    statements = index_ddl("BLOB" if sqlite else "LONGBLOB", "TEXT" if sqlite else "VARCHAR(255)", sqlite=sqlite)
    statements += batches_ddl(sqlite=sqlite)
    if dialect == "sqlite":
        statements += [trigger(table, action) for table in tables for action in ("UPDATE", "DELETE")]
    elif dialect in ("mysql", "mariadb"):
        with engine.connect() as connection:
            existing = {row[0] for row in connection.execute(text("SHOW TRIGGERS"))}
        for table in tables:
            for action in ("UPDATE", "DELETE"):
                name = f"{table}_no_{action.lower()}"
                if name not in existing:
                    statements.append(
                        f"CREATE TRIGGER {name} BEFORE {action} ON {table} FOR EACH ROW "
                        f"SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '{IMMUTABLE_MESSAGE}'"
                    )
    else:
        raise LedgerError(f"the {dialect} database has no append-only guard here; use SQLite, PostgreSQL or MySQL/MariaDB")
    with engine.begin() as connection:
        for statement in statements:
            connection.exec_driver_sql(statement)
    with unless_refused(), engine.begin() as connection:  # the kept answers' table, where it can be made
        connection.exec_driver_sql(answers_ddl("BLOB" if dialect == "sqlite" else "LONGBLOB"))
