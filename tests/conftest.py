"""Shared fixtures: one ledger per test on each backend, and the PostgreSQL rule.

PostgreSQL tests run against the real server (``DEALLEDGER_TEST_PG``, default
127.0.0.1:5432, database ``test``), each test in a schema of its own. When the server is
unreachable they are skipped on a developer's machine, but fail when ``CI=true``: CI must
never pass by silently testing less.
"""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

SLOW_INPUT = [HealthCheck.too_slow]
"""How fast inputs are drawn depends on the machine (the first text drawn builds a character table: over a
second on a fresh one), not on the code under test: never a failure."""
settings.register_profile("ci", derandomize=True, print_blob=True, deadline=None, suppress_health_check=SLOW_INPUT)
"""CI: the same examples every run, so a property fails for a reason, never by chance; the blob reproduces it."""
settings.register_profile("explore", max_examples=500, deadline=None, suppress_health_check=SLOW_INPUT)
"""For a developer hunting bugs: many more, random examples (HYPOTHESIS_PROFILE=explore)."""
settings.register_profile("dev", suppress_health_check=SLOW_INPUT)
"""Everyone else: Hypothesis's defaults (random examples), without the machine's speed as a failure."""

PG_BASE = os.environ.get("DEALLEDGER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
DATA = Path(__file__).parent / "data"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if IN_CI else "dev"))


@pytest.fixture(autouse=True, scope="session")
def _ctrl_c_handled_as_at_a_terminal() -> Iterator[None]:
    """A suite started in the background by a non-interactive shell (``cmd &``, some CI runners) inherits Ctrl-C
    ignored, and Python leaves it so: the tests of what Ctrl-C does, here and in the commands they start, need
    Python's own handler, as a terminal gives it. Put in place for the session, the disposition put back after."""
    before = signal.getsignal(signal.SIGINT)
    if before == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


@pytest.fixture(autouse=True)
def _one_byte_cache_intact(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail the test after which CPython's shared ``b"\\x00"`` no longer holds a NUL (see ``ledger.exact``):
    a library that overwrites it would make every later NUL check in the process wrong."""
    yield
    if bytes([0])[0] != 0:
        pytest.fail(f"{request.node.nodeid} overwrote the one-byte cache: b'\\x00' now holds {bytes([0])!r}")


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Run ``dealledger`` in an empty folder, so the default store is a fresh dealledger.db there."""
    from click.testing import CliRunner

    from cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DEALLEDGER_URL", raising=False)
    monkeypatch.delenv("DEALLEDGER_PLUGINS", raising=False)
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None):  # type: ignore[no-untyped-def]
        return runner.invoke(main, list(args), input=input, catch_exceptions=False)

    return invoke


def postgres_reachable() -> str | None:
    """None when the server answers, else why not."""
    try:
        import psycopg

        with psycopg.connect(PG_BASE.replace("postgresql://", "postgresql://", 1), connect_timeout=3) as connection:
            connection.execute("SELECT 1")
    except Exception as error:  # any failure means: not usable here
        return f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}"
    return None


_PG_PROBLEM: list[str | None] = []


def require_postgres() -> None:
    if not _PG_PROBLEM:
        _PG_PROBLEM.append(postgres_reachable())
    problem = _PG_PROBLEM[0]
    if problem is None:
        return
    message = f"PostgreSQL at {PG_BASE} is unreachable ({problem})"
    if IN_CI:
        pytest.fail(f"{message}; CI=true requires it", pytrace=False)
    pytest.skip(message)


def drop_schema(schema: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(PG_BASE, autocommit=True) as connection:
        connection.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def postgres_url(schema: str) -> str:
    return f"{PG_BASE}?schema={schema}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    require_postgres()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    yield postgres_url(schema)
    drop_schema(schema)


@pytest.fixture(params=["sqlite", "postgres", "sqlalchemy"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The same tests against every backend: the contract each store must keep."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
    elif request.param == "sqlalchemy":
        yield f"sqlite+pysqlite:///{tmp_path / 'ledger-sa.db'}"
    else:
        require_postgres()
        schema = f"t_{uuid.uuid4().hex[:12]}"
        yield postgres_url(schema)
        drop_schema(schema)


@pytest.fixture(params=["sqlite", "postgres"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh store on each of the two backends a team uses (SQLite file, PostgreSQL schema)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
        return
    require_postgres()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    yield postgres_url(schema)
    drop_schema(schema)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.db'}"


def ctrl_c_at_first(stop: Callable[[Any], None], seen: list[int]) -> Callable[[Any], None]:
    """``stop`` (a child's stop method), with a Ctrl-C sent to this process as the first child is stopped: the pid
    of each child stopped so far goes to ``seen``."""

    def stopped_with_ctrl_c(child: Any) -> None:
        if not seen:
            os.kill(os.getpid(), signal.SIGINT)
        seen.append(child.pid)
        stop(child)

    return stopped_with_ctrl_c
