"""History that raw SQL rewrites does not go unnoticed: every tampering is caught, on SQLite and PostgreSQL.

Each test writes the sample ledger, then changes the database behind the ledger's back the
way a hostile user with SQL access would (dropping the guard first, or switching triggers off
on PostgreSQL), and checks that ``verify`` names the first broken link and that opening the
store refuses to answer when the head itself no longer matches.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main
from ledger.api import Ledger
from ledger.errors import LedgerError
from ledger.importing import incoming_from_path
from ledger.views import Query

from .conftest import drop_schema, postgres_url, require_postgres

STORY = str(Path(__file__).parent.parent / "examples" / "story.jsonl")
Tamper = Callable[[str], None]
"""Run one SQL statement on the store behind the ledger's back, guards off."""


def behind_its_guard(path: Path, statement: str) -> None:
    """Drop the SQLite file's guard, change the history, put the guard back: only the hash chains can tell."""
    with sqlite3.connect(path) as connection:
        triggers = connection.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").fetchall()
        for name, _ in triggers:
            connection.execute(f'DROP TRIGGER "{name}"')
        connection.execute(statement)
        for _, definition in triggers:
            connection.execute(definition)


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Tamper]]:
    if request.param == "sqlite":
        path = tmp_path / "ledger.db"

        def tamper(statement: str) -> None:
            behind_its_guard(path, statement)

        yield f"sqlite:///{path}", tamper
        return
    require_postgres()
    import uuid

    import psycopg

    from .conftest import PG_BASE

    schema = f"t_{uuid.uuid4().hex[:12]}"

    def tamper_pg(statement: str) -> None:
        with psycopg.connect(PG_BASE, autocommit=True) as connection:
            connection.execute(f"SET search_path TO {schema}")
            connection.execute("SET session_replication_role = replica")  # switches ordinary triggers off
            connection.execute(statement.replace("stored_events", "dealledger_events"))

    yield postgres_url(schema), tamper_pg
    drop_schema(schema)


def written(url: str) -> int:
    with Ledger(url) as ledger:
        ledger.append(incoming_from_path(ledger.catalogue, STORY))
        return ledger.store.head().position


def verify(url: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--url", url, "verify"])
    return result.exit_code, result.output


def test_an_untouched_ledger_verifies(store: tuple[str, Tamper]) -> None:
    url, _ = store
    head = written(url)
    code, output = verify(url)
    assert code == 0 and output.startswith(f"ok: {head} facts, hash chain intact; head hash ")


def test_a_fact_rewritten_in_the_middle_is_named_by_verify(store: tuple[str, Tamper]) -> None:
    url, tamper = store
    written(url)
    tamper("UPDATE stored_events SET state = state || state WHERE originator_version = 20")
    code, output = verify(url)
    assert code == 1
    assert output.splitlines()[0].startswith("fact #20 (id ")
    assert "does not match the hash chain" in output


def test_a_rewritten_head_makes_every_command_refuse(store: tuple[str, Tamper]) -> None:
    url, tamper = store
    head = written(url)
    tamper(f"UPDATE stored_events SET state = state || state WHERE originator_version = {head}")
    with pytest.raises(LedgerError, match=rf"changed outside dealledger \(fact #{head} does not match .*dealledger verify"):
        Ledger(url)


@pytest.mark.parametrize(
    "statement",
    ["DELETE FROM stored_events WHERE originator_version = {head}", "DELETE FROM stored_events"],
    ids=["last fact deleted", "every fact deleted"],
)
def test_deleted_facts_are_never_an_empty_or_shorter_ledger(store: tuple[str, Tamper], statement: str) -> None:
    url, tamper = store
    head = written(url)
    tamper(statement.format(head=head))
    with pytest.raises(LedgerError, match=rf"its events end at #\d+ but its index at #{head}"):
        Ledger(url)


def test_a_fact_slipped_in_after_the_head_is_refused(store: tuple[str, Tamper]) -> None:
    url, tamper = store
    head = written(url)
    tamper(
        "INSERT INTO stored_events (originator_id, originator_version, topic, state) "
        f"SELECT originator_id, {head + 1}, topic, state FROM stored_events WHERE originator_version = {head}"
    )
    with pytest.raises(LedgerError, match=rf"its events end at #{head + 1} but its index at #{head}"):
        Ledger(url)


def test_a_ledger_written_before_the_index_existed_is_indexed_once_on_open(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    head = written(url)
    with Ledger(url) as ledger:
        before = ledger.view("league", Query(options={"currency": "USD", "sector": "china-ai"}))
    with sqlite3.connect(tmp_path / "ledger.db") as connection:  # what a ledger of an earlier version holds
        connection.execute("DROP TABLE dealledger_facts")
        connection.execute("DROP TABLE dealledger_subjects")
    with Ledger(url) as ledger:
        assert ledger.store.head().position == head
        assert ledger.store.verify() == []
        assert ledger.view("league", Query(options={"currency": "USD", "sector": "china-ai"})) == before


def test_a_removed_guard_is_an_error_until_verify_puts_it_back(store: tuple[str, Tamper], tmp_path: Path) -> None:
    url, _ = store
    written(url)
    if url.startswith("sqlite"):
        with sqlite3.connect(tmp_path / "ledger.db") as connection:
            connection.execute("DROP TRIGGER stored_events_no_update")
    else:
        import psycopg

        from .conftest import PG_BASE

        schema = url.rsplit("schema=", 1)[1]
        with psycopg.connect(PG_BASE, autocommit=True) as connection:
            connection.execute(f"ALTER TABLE {schema}.dealledger_events DISABLE TRIGGER dealledger_events_immutable")
    with pytest.raises(LedgerError, match=r"append-only guard of \w+ was removed outside dealledger; run 'dealledger verify'"):
        Ledger(url)
    code, output = verify(url)
    assert code == 0 and "hash chain intact" in output
    with Ledger(url) as ledger:  # the guard is back
        assert ledger.store.head().position > 0


@pytest.mark.parametrize(
    ("statement", "told"),
    [
        (
            "UPDATE dealledger_facts SET effective = '2099-01-01', touch = '2099-01-01' WHERE position = 56",
            r"fact #56 \(id \w+, recorded .*\): its index row gives effective date '2099-01-01', its stored fact '2024-02-15'",
        ),
        ("UPDATE dealledger_facts SET kind = 'fx.rate' WHERE position = 56", "fact #56 .*: its index row gives kind 'fx.rate'"),
        ("UPDATE dealledger_facts SET fact_key = 'forged' WHERE position = 56", "fact #56 .*: its index row gives key 'forged'"),
        (
            "UPDATE dealledger_facts SET touch = '2030-01-01' WHERE position = 43",
            "fact #43 .*: its index row gives touch date '2030-01-01'",
        ),
        (
            "UPDATE dealledger_facts SET recorded_us = recorded_us + 1 WHERE position = 56",
            "fact #56 .*: its index row gives recorded time",
        ),
        (
            "DELETE FROM dealledger_subjects WHERE subject = 'moonshot-ai' AND position = 56",
            "fact #56 .*: the parties its index row lists differ from its stored fact's: leaves out moonshot-ai",
        ),
        ("INSERT INTO dealledger_subjects VALUES ('tencent', 56)", "fact #56 .*: the parties .* differ .*: adds tencent"),
        ("INSERT INTO dealledger_subjects VALUES ('named-by-no-fact', 56)", r"fact #56: its index lists \d+ parties for it"),
        ("INSERT INTO dealledger_subjects VALUES ('tencent', 100000)", "the index lists facts after #\\d+ that the events"),
        (
            "UPDATE dealledger_batches SET known_us = 0",
            r"the batch of facts #1 to #\d+ \(known 1970-01-01T00:00:00\+00:00\): known before its facts were recorded",
        ),
        (
            "UPDATE dealledger_batches SET position = position - 1",
            r"the batch of facts #1 to #\d+ .*: its row does not match the batches",
        ),
        (
            "UPDATE dealledger_batches SET known_us = known_us + 1000000",
            r"the batch of facts #1 to #\d+ .*: its row does not match",
        ),
    ],
    ids=[
        *("effective", "kind", "key", "touch", "recorded", "party left out", "party added", "party unknown", "fact unknown"),
        *("batch known before its facts", "batch cut short", "batch known later"),
    ],
)
def test_an_index_row_changed_is_named_by_verify(store: tuple[str, Tamper], statement: str, told: str) -> None:
    """The index is what questions read (which facts, their dates, keys, recorded times and parties), and the hash
    chain covers only the stored facts: an index row changed behind the ledger's back changed answers while
    ``verify`` said ok. Each row, and each party it lists, is derived again from its fact and compared."""
    url, tamper = store
    written(url)
    assert verify(url)[0] == 0
    tamper(statement)
    code, output = verify(url)
    assert code == 1
    assert re.match(told, output.splitlines()[0]), output


NEUTRALISED = {
    "sqlite": [
        'DROP TRIGGER stored_events_no_update; CREATE TRIGGER "stored_events_no_update" BEFORE UPDATE ON "stored_events" '
        "WHEN 0 BEGIN SELECT RAISE(ABORT, 'dealledger: stored facts are immutable'); END",
        'DROP TRIGGER stored_events_no_update; CREATE TRIGGER "stored_events_no_update" BEFORE UPDATE ON "stored_events" '
        "BEGIN SELECT 1; END",
    ],
    "postgres": [
        "ALTER TABLE {schema}.dealledger_facts ENABLE REPLICA TRIGGER dealledger_facts_immutable",
        "CREATE OR REPLACE FUNCTION {schema}.dealledger_refuse_change() RETURNS trigger LANGUAGE plpgsql "
        "AS $$ BEGIN RETURN NEW; END $$",
    ],
}


@pytest.mark.parametrize("how", [0, 1], ids=["first way", "second way"])
def test_a_guard_kept_by_name_but_refusing_nothing_is_an_error_until_verify_puts_it_back(
    store: tuple[str, Tamper], tmp_path: Path, how: int
) -> None:
    """A guard was checked by its name alone: one re-made to refuse nothing (SQLite: ``WHEN 0``; PostgreSQL: made to
    fire for replication only, or its function replaced) let history be changed, and verify left it so."""
    url, _ = store
    written(url)
    backend = "sqlite" if url.startswith("sqlite") else "postgres"
    if backend == "sqlite":
        with sqlite3.connect(tmp_path / "ledger.db") as connection:
            connection.executescript(NEUTRALISED["sqlite"][how])
    else:
        import psycopg

        from .conftest import PG_BASE

        schema = url.rsplit("schema=", 1)[1]
        with psycopg.connect(PG_BASE, autocommit=True) as connection:
            connection.execute(NEUTRALISED["postgres"][how].format(schema=schema))
    with pytest.raises(LedgerError, match=r"append-only guard of \w+ was removed outside dealledger; run 'dealledger verify'"):
        Ledger(url)
    code, output = verify(url)
    assert code == 0 and "hash chain intact" in output
    with Ledger(url) as ledger, pytest.raises(Exception, match="stored facts are immutable"):  # the guard guards again
        if backend == "sqlite":
            ledger.store.db.write([("UPDATE stored_events SET topic = 'x'", [()])])
        else:
            ledger.store.db.write([("UPDATE dealledger_facts SET kind = 'x'", [()])])
