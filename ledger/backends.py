"""Which database stores the ledger, chosen by one URL, and the guard that keeps it append-only.

- ``sqlite:///path.db`` (the default, ``dealledger.db`` in the working directory) and
  ``postgresql://user@host:port/db?schema=name`` use eventsourcing's own recorders, the
  fastest paths measured.
- Any other SQLAlchemy URL (``mysql+pymysql://...``, ``sqlite+pysqlite:///x.db``) goes through
  eventsourcing-sqlalchemy, so every database SQLAlchemy speaks can hold a ledger. SQLAlchemy
  is imported only then: it costs about a third of a second at start-up.

Whatever the backend, the events table refuses UPDATE and DELETE in the database itself:
immutability does not rest on this program's good behaviour alone.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from ledger.errors import LedgerError

DEFAULT_URL = "sqlite:///dealledger.db"
URL_ENV = "DEALLEDGER_URL"
GUARDED_SQLALCHEMY_DIALECTS = ("sqlite", "mysql", "mariadb")
"""Databases reached through SQLAlchemy whose events table this module can make append-only."""
IMMUTABLE_MESSAGE = "dealledger: stored facts are immutable; record a correction or retraction instead"


@dataclass(frozen=True)
class Backend:
    """The eventsourcing environment for a URL, and how to guard its events table."""

    kind: str  # "sqlite", "postgres" or "sqlalchemy"
    url: str
    env: dict[str, str] = field(default_factory=dict)
    schema: str | None = None

    @property
    def safe_url(self) -> str:
        """The URL with any password hidden, for messages."""
        parts = urlsplit(self.url)
        if parts.password:
            return self.url.replace(f":{parts.password}@", ":***@", 1)
        return self.url


def resolve_url(url: str | None) -> str:
    return url or os.environ.get(URL_ENV) or DEFAULT_URL


def backend_for(url: str) -> Backend:
    """Parse a store URL; a one-line ``LedgerError`` explains what is wrong with a bad one."""
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme == "sqlite":
        return _sqlite(url)
    if scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        return _postgres(url)
    if scheme.split("+")[0] in GUARDED_SQLALCHEMY_DIALECTS:
        return Backend("sqlalchemy", url, {"PERSISTENCE_MODULE": "eventsourcing_sqlalchemy", "SQLALCHEMY_URL": url})
    raise LedgerError(
        f"unsupported store URL {url!r}: use sqlite:///FILE, postgresql://USER@HOST:PORT/DB,"
        " or mysql+DRIVER://, mariadb+DRIVER://, sqlite+DRIVER:// through SQLAlchemy"
    )


def _sqlite(url: str) -> Backend:
    rest = url[len("sqlite:") :]
    if rest in ("", "//", "///:memory:"):
        path = ":memory:"
    elif rest.startswith("///"):
        path = unquote(rest[3:].split("?", 1)[0])
    else:
        raise LedgerError(f"bad SQLite URL {url!r}: write sqlite:///relative/path.db or sqlite:////absolute/path.db")
    if path != ":memory:":
        directory = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(directory):
            raise LedgerError(f"cannot create the ledger {path!r}: folder {directory!r} does not exist")
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": path,
        "APPLICATION_RECORDER_TOPIC": "ledger.recorders:BatchSQLiteApplicationRecorder",
    }
    return Backend("sqlite", url, env)


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
        "APPLICATION_RECORDER_TOPIC": "ledger.pg_recorders:ChunkedPostgresApplicationRecorder",
    }
    if schema:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", schema):
            raise LedgerError(f"bad schema name {schema!r} in the store URL: use letters, digits and _ (not first)")
        env["POSTGRES_SCHEMA"] = schema
    return Backend("postgres", url, env, schema)


def prepare(backend: Backend) -> None:
    """What must exist before the library creates its tables (a PostgreSQL schema)."""
    if backend.kind != "postgres" or not backend.schema:
        return
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
            connection.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(backend.schema)))
    except psycopg.Error as error:
        raise LedgerError(f"cannot reach the store {backend.safe_url}: {str(error).strip().splitlines()[0]}") from None


def guard(backend: Backend, recorder: Any) -> None:
    """Make the events table refuse UPDATE, DELETE (and TRUNCATE) inside the database."""
    table = recorder.events_table_name
    if backend.kind == "sqlite":
        with recorder.datastore.transaction(commit=True) as cursor:
            for action in ("UPDATE", "DELETE"):
                cursor.execute(_sqlite_trigger(table, action))
    elif backend.kind == "postgres":
        _guard_postgres(recorder, table)
    else:
        _guard_sqlalchemy(recorder, table)


def _sqlite_trigger(table: str, action: str) -> str:
    return (
        f'CREATE TRIGGER IF NOT EXISTS "{table}_no_{action.lower()}" BEFORE {action} ON "{table}" '
        f"BEGIN SELECT RAISE(ABORT, '{IMMUTABLE_MESSAGE}'); END"
    )


def _guard_postgres(recorder: Any, table: str) -> None:
    from psycopg import sql

    schema = recorder.datastore.schema or "public"
    function = sql.Identifier(schema, "dealledger_refuse_change")
    target = sql.Identifier(schema, table)
    statements = [
        sql.SQL(
            "CREATE OR REPLACE FUNCTION {f}() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION '{m}'; END $$"
        ).format(f=function, m=sql.SQL(IMMUTABLE_MESSAGE)),
        sql.SQL(
            "CREATE OR REPLACE TRIGGER {t} BEFORE UPDATE OR DELETE ON {table} FOR EACH ROW EXECUTE FUNCTION {f}()"
        ).format(t=sql.Identifier(f"{table}_immutable"), table=target, f=function),
        sql.SQL(
            "CREATE OR REPLACE TRIGGER {t} BEFORE TRUNCATE ON {table} FOR EACH STATEMENT EXECUTE FUNCTION {f}()"
        ).format(t=sql.Identifier(f"{table}_no_truncate"), table=target, f=function),
    ]
    with recorder.datastore.transaction(commit=True) as cursor:
        cursor.execute(sql.SQL("SELECT pg_advisory_xact_lock(hashtext('dealledger-guard'))"))
        for statement in statements:
            cursor.execute(statement)


def _guard_sqlalchemy(recorder: Any, table: str) -> None:
    from sqlalchemy import text

    engine = recorder.datastore.engine
    dialect = engine.dialect.name
    if dialect == "sqlite":
        statements = [_sqlite_trigger(table, action) for action in ("UPDATE", "DELETE")]
    elif dialect in ("mysql", "mariadb"):
        statements = []
        with engine.connect() as connection:
            existing = {row[0] for row in connection.execute(text("SHOW TRIGGERS"))}
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
            connection.execute(text(statement))
