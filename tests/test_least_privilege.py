"""On PostgreSQL the ledger runs with a role that may only read and insert its history.

The store is created once by its owner; analysts then use a role granted SELECT and INSERT on
the events and index tables (and the derived checkpoints and kept answers), and nothing else: appends, views,
replays and verify all work, while changing history is refused by the server's privileges
before any trigger is consulted.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from ledger.answers import Answers
from ledger.api import Ledger
from ledger.appending import Incoming
from ledger.exact import Fraction
from ledger.replaying import replay_to
from ledger.views import Query

from .conftest import PG_BASE, drop_schema, postgres_url, require_postgres

pytestmark = pytest.mark.postgres

GRANTS = """
GRANT USAGE ON SCHEMA {schema} TO {role};
GRANT SELECT, INSERT ON {schema}.dealledger_events, {schema}.dealledger_facts, {schema}.dealledger_subjects TO {role};
GRANT SELECT, INSERT ON {schema}.dealledger_batches TO {role};
GRANT USAGE ON ALL SEQUENCES IN SCHEMA {schema} TO {role};
GRANT SELECT, INSERT, DELETE ON {schema}.dealledger_checkpoints, {schema}.dealledger_answers TO {role};
"""
"""What a team's analysts need (the README documents the same lines); checkpoints and kept answers are derived
data they may drop."""


@pytest.fixture
def limited() -> Iterator[tuple[str, str]]:
    """(owner's URL, limited role's URL) of a fresh store."""
    require_postgres()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    role = f"r_{uuid.uuid4().hex[:12]}"
    owner_url = postgres_url(schema)
    Ledger(owner_url).close()  # the owner creates the store once
    with psycopg.connect(PG_BASE, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        for statement in GRANTS.strip().splitlines():
            connection.execute(sql.SQL(statement).format(schema=sql.Identifier(schema), role=sql.Identifier(role)))
    yield owner_url, owner_url.replace("postgresql://postgres@", f"postgresql://{role}@", 1)
    drop_schema(schema)
    with psycopg.connect(PG_BASE, autocommit=True) as connection:
        connection.execute(sql.SQL("DROP OWNED BY {} CASCADE").format(sql.Identifier(role)))
        connection.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_a_select_and_insert_role_appends_asks_and_verifies(limited: tuple[str, str], tmp_path: Path) -> None:
    _, url = limited
    facts = [
        {"kind": "party.registered", "effective": "2020-01-01", "party": "co", "name": "Co", "type": "company"},
        {"kind": "party.registered", "effective": "2020-01-01", "party": "fund", "name": "Fund", "type": "investor"},
        {"kind": "stake.acquired", "effective": "2024-01-01", "holder": "fund", "company": "co", "fraction": "0.25"},
    ]
    with Ledger(url) as ledger:
        ledger.engine.save_after = 0  # checkpoints are written too
        ledger.append([Incoming(f"t:{n}", ledger.catalogue.parse(f)) for n, f in enumerate(facts)])
        rows = ledger.view("ownership", Query())
        assert [(row["holder"], row["fraction"]) for row in rows] == [("founders", Fraction(3, 4)), ("fund", Fraction(1, 4))]
        assert ledger.engine.checkpoints.listing()
        replay_to(ledger, tmp_path / "out", "csv", None, None)
        assert {row["view"] for row in Answers(ledger.store).listing()} >= {"ownership", "league"}
        assert ledger.store.verify() == []


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE dealledger_events SET topic = 'x'",
        "DELETE FROM dealledger_facts",
        "TRUNCATE dealledger_subjects",
        "UPDATE dealledger_batches SET known_us = 0",
    ],
)
def test_the_role_cannot_change_history(limited: tuple[str, str], statement: str) -> None:
    owner_url, url = limited
    role = url.split("://", 1)[1].split("@", 1)[0]
    schema = owner_url.rsplit("schema=", 1)[1]
    with psycopg.connect(PG_BASE.replace("postgres@", f"{role}@", 1), autocommit=True) as connection:
        connection.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            connection.execute(statement)


def test_a_store_made_before_kept_answers_gains_their_table_and_a_limited_role_replays_without(
    limited: tuple[str, str], tmp_path: Path
) -> None:
    owner_url, url = limited
    schema = owner_url.rsplit("schema=", 1)[1]
    with psycopg.connect(PG_BASE, autocommit=True) as connection:
        connection.execute(sql.SQL("DROP TABLE {}.dealledger_answers").format(sql.Identifier(schema)))
    fact = {"kind": "party.registered", "effective": "2020-01-01", "party": "co", "name": "Co", "type": "company"}
    with Ledger(url) as ledger:  # this role may not create the table: it replays, and keeps nothing
        ledger.append([Incoming("t:1", ledger.catalogue.parse(fact))])
        written = replay_to(ledger, tmp_path / "limited", "csv", None, None)
        assert dict((name, rows) for name, rows, _ in written)["regulatory"] == 0
        assert Answers(ledger.store).listing() == []
    with Ledger(owner_url) as ledger:  # the owner's next open adds it
        replay_to(ledger, tmp_path / "owner", "csv", None, None)
        assert Answers(ledger.store).listing()


def test_a_store_made_before_batches_were_kept_still_serves_a_role_that_may_not_create_their_table(
    limited: tuple[str, str],
) -> None:
    """The role's grants as the README gave them before batches were kept: it reads and appends as before, each
    fact known from its recorded time, a warning saying so; the owner's next open adds the table, and the grant
    the README gives lets the role keep known times from then on."""
    from datetime import timedelta

    from ledger.persistence import KnownTimeNotKept

    owner_url, url = limited
    role = url.split("://", 1)[1].split("@", 1)[0]
    schema = owner_url.rsplit("schema=", 1)[1]
    with psycopg.connect(PG_BASE, autocommit=True) as connection:  # what a store made before holds
        connection.execute(sql.SQL("DROP TABLE {}.dealledger_batches").format(sql.Identifier(schema)))
    facts = [
        {"kind": "party.registered", "effective": "2020-01-01", "party": "co", "name": "Co", "type": "company"},
        {"kind": "party.registered", "effective": "2020-01-01", "party": "fund", "name": "Fund", "type": "investor"},
    ]
    with Ledger(url) as ledger:
        assert not ledger.store.batches_kept
        with pytest.warns(KnownTimeNotKept, match="facts up to #1 are stored"):
            ledger.append([Incoming("t:1", ledger.catalogue.parse(facts[0]))])
        first = ledger.records()[-1]
        assert ledger.store.known_times()(first) == first.recorded
        assert ledger.store.known_position(first.recorded) == 1
        assert ledger.store.known_position(first.recorded - timedelta(microseconds=1)) == 0
        assert ledger.store.verify() == []
    with Ledger(owner_url) as ledger:  # the owner's next open adds the table
        assert ledger.store.batches_kept
    with psycopg.connect(PG_BASE, autocommit=True) as connection:
        connection.execute(
            sql.SQL("GRANT SELECT, INSERT ON {}.dealledger_batches TO {}").format(sql.Identifier(schema), sql.Identifier(role))
        )
    with Ledger(url) as ledger:
        ledger.append([Incoming("t:2", ledger.catalogue.parse(facts[1]))])
        known = ledger.store.known_times()
        first, second = ledger.records()
        assert known(first) == first.recorded and known(second) > second.recorded
        assert ledger.store.verify() == []


def test_a_role_that_may_not_read_the_batches_is_told_its_known_at_goes_by_recorded_times(limited: tuple[str, str]) -> None:
    """Its answers to ``--known-at`` would differ from the owner's, silently: it hears so when it opens the ledger."""
    from ledger.persistence import KnownTimesNotRead

    owner_url, url = limited
    role = url.split("://", 1)[1].split("@", 1)[0]
    schema = owner_url.rsplit("schema=", 1)[1]
    with psycopg.connect(PG_BASE, autocommit=True) as connection:
        connection.execute(
            sql.SQL("REVOKE SELECT ON {}.dealledger_batches FROM {}").format(sql.Identifier(schema), sql.Identifier(role))
        )
    with pytest.warns(KnownTimesNotRead, match="may not read dealledger_batches: --known-at goes by recorded times"):
        Ledger(url).close()


def test_an_import_into_a_store_without_batches_goes_in_known_from_recorded_times(
    limited: tuple[str, str], tmp_path: Path
) -> None:
    """Where the batches' table cannot be made, an import still goes in whole (its known times not kept, a warning
    says so), as an append does: it did before batches were kept."""
    import io

    from ledger.exchange import export_lines, import_stream
    from ledger.persistence import KnownTimeNotKept

    owner_url, url = limited
    schema = owner_url.rsplit("schema=", 1)[1]
    with psycopg.connect(PG_BASE, autocommit=True) as connection:
        connection.execute(sql.SQL("DROP TABLE {}.dealledger_batches").format(sql.Identifier(schema)))
    fact = {"kind": "party.registered", "effective": "2020-01-01", "party": "co", "name": "Co", "type": "company"}
    with Ledger(f"sqlite:///{tmp_path / 'source.db'}") as source:
        source.append([Incoming("t:1", source.catalogue.parse(fact))])
        text = "".join(export_lines(source.records(), source.store.known_times()))
    with Ledger(url) as ledger:
        with pytest.warns(KnownTimeNotKept, match="facts up to #1 are stored, but not when they became known"):
            ledger.append(list(import_stream(ledger.catalogue, io.StringIO(text), "export.jsonl")))
        [record] = ledger.records()
        assert ledger.store.known_times()(record) == record.recorded
        assert ledger.store.verify() == []


def test_clearing_checkpoints_a_role_may_not_drop_is_one_line(limited: tuple[str, str]) -> None:
    """A role granted only SELECT on the derived tables (the README's read-only analysts) asked to clear them: a
    traceback of the driver's, now one line naming what was refused, exit status 1."""
    from click.testing import CliRunner

    from cli import main

    owner_url, url = limited
    role = url.split("://", 1)[1].split("@", 1)[0]
    schema = owner_url.rsplit("schema=", 1)[1]
    with psycopg.connect(PG_BASE, autocommit=True) as connection:
        connection.execute(
            sql.SQL("REVOKE DELETE ON {}.dealledger_checkpoints, {}.dealledger_answers FROM {}").format(
                sql.Identifier(schema), sql.Identifier(schema), sql.Identifier(role)
            )
        )
    result = CliRunner().invoke(main, ["--url", url, "checkpoints", "--clear"])
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Error: cannot drop the checkpoints: the store refused (")
    assert len(result.output.splitlines()) == 1
