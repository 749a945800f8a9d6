"""The store contract: every backend (SQLite, PostgreSQL, SQLAlchemy) must pass these same tests."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest

from ledger.api import Ledger
from ledger.appending import Incoming, fact_id
from ledger.errors import LedgerError, RejectedError
from ledger.exact import Fraction
from ledger.importing import incoming_from_path
from ledger.views import Query

from .conftest import DATA

CATALOGUE = str(DATA / "catalogue.jsonl")


def facts(ledger: Ledger, *dicts: dict) -> list[Incoming]:
    return [Incoming(f"test:{n}", ledger.catalogue.parse(d)) for n, d in enumerate(dicts, start=1)]


def party(slug: str, kind: str = "company") -> dict:
    return {"kind": "party.registered", "effective": "2020-01-01", "key": f"p-{slug}", "party": slug, "name": slug, "type": kind}


def test_every_kind_appends_and_reads_back_exactly(store_url: str) -> None:
    with Ledger(store_url) as ledger:
        expected = [item.fact for item in incoming_from_path(ledger.catalogue, CATALOGUE)]
        result = ledger.append(incoming_from_path(ledger.catalogue, CATALOGUE))
        assert len(result.added) == len(expected) == 23
    with Ledger(store_url) as reopened:
        records = reopened.records()
        assert [r.fact for r in records] == expected
        assert [r.seq for r in records] == list(range(1, 24))
        assert {r.kind for r in records} == set(reopened.catalogue.kinds)
        assert len({r.id for r in records}) == 23


def test_facts_about_a_subject_can_be_chosen_by_kind_in_the_index(store_url: str) -> None:
    """``about(subjects, upto, kinds)`` is ``about`` filtered by kind (what tells whether a party is registered reads
    its registrations, not the hundred thousand facts naming a cloud provider), on every backend."""
    with Ledger(store_url) as ledger:
        ledger.append(incoming_from_path(ledger.catalogue, CATALOGUE))
        head = ledger.store.head().position
        for subjects in [{"tencent"}, {"tencent", "moonshot-ai"}, {"nobody"}]:
            every = ledger.store.about(subjects, head)
            for kinds in [{"party.registered"}, {"party.registered", "stake.acquired", "fact.corrected"}, set()]:
                chosen = ledger.store.about(subjects, head, kinds)
                assert chosen == [record for record in every if record.kind in kinds]
        assert {r.kind for r in ledger.store.about({"tencent"}, head, {"party.registered"})} == {"party.registered"}
        assert ledger.store.about({"tencent"}, 1, {"party.registered"}) == []  # nothing after ``upto``


def test_facts_counted_by_kind_are_the_counts_of_each_set_of_kinds(store_url: str) -> None:
    """``count_by_kind`` (one pass, what a shared replay weighs its folds by) agrees with ``count_between``."""
    from datetime import date, timedelta

    with Ledger(store_url) as ledger:
        ledger.append(incoming_from_path(ledger.catalogue, CATALOGUE))
        head = ledger.store.head().position
        last = max(record.fact.effective for record in ledger.records())
        before_last, far = last - timedelta(days=1), date(9999, 12, 31)
        cases = [(None, None, head), (date(2022, 1, 1), date(2024, 6, 30), head), (None, None, 5), (None, last, head)]
        cases += [(None, before_last, head), (None, far, head), (None, before_last, 5), (None, far, 5)]  # the index alone
        for after, through, upto in cases:  # a count from the first date to one no fact is past goes along the kinds
            counts = ledger.store.count_by_kind(after, through, upto)
            assert sum(counts.values()) == ledger.store.count_between(after, through, upto)
            assert sum(counts.values()) == sum(
                1
                for record in ledger.records()
                if record.seq <= upto
                and (through is None or record.fact.effective <= through)
                and (after is None or record.fact.effective > after)
            )
            for kinds in [frozenset({"stake.acquired"}), frozenset({"fx.rate", "round.closed", "party.registered"})]:
                assert sum(counts.get(kind, 0) for kind in kinds) == ledger.store.count_between(after, through, upto, kinds)


def test_reappending_the_same_keys_changes_nothing(store_url: str) -> None:
    with Ledger(store_url) as ledger:
        ledger.append(incoming_from_path(ledger.catalogue, CATALOGUE))
        before = list(ledger.records())
        again = ledger.append(incoming_from_path(ledger.catalogue, CATALOGUE))
        assert again.added == () and again.unchanged == 23
        assert list(ledger.records()) == before


def test_same_key_with_other_content_is_refused(store_url: str) -> None:
    with Ledger(store_url) as ledger:
        ledger.append(facts(ledger, party("moonshot-ai")))
        changed = {**party("moonshot-ai"), "name": "Moonshot AI Ltd"}
        with pytest.raises(RejectedError, match=r"test:1: key: 'p-moonshot-ai' is already recorded .* different content"):
            ledger.append(facts(ledger, changed))
        assert len(ledger.records()) == 1


def test_a_bad_fact_in_the_middle_writes_nothing(store_url: str, tmp_path: Path) -> None:
    lines = (DATA / "catalogue.jsonl").read_text().splitlines()
    lines[9] = lines[9].replace('"fraction": "0.32"', '"fraction": "1.32"')
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines) + "\n")
    with Ledger(store_url) as ledger:
        with pytest.raises(RejectedError, match=r"bad.jsonl:10: fraction: must be a fraction between 0 and 1"):
            ledger.append(incoming_from_path(ledger.catalogue, str(bad)))
        assert ledger.records() == []


def test_a_rejected_batch_leaves_earlier_batches_alone(store_url: str) -> None:
    with Ledger(store_url) as ledger:
        ledger.append(facts(ledger, party("alibaba", "investor")))
        unknown = r"test:2: company: unknown party 'moonshot' \(register .*\); did you mean 'moonshot-ai'"
        with pytest.raises(RejectedError, match=unknown):
            ledger.append(
                facts(
                    ledger,
                    party("moonshot-ai"),
                    {
                        "kind": "valuation.marked",
                        "effective": "2024-01-01",
                        "company": "moonshot",
                        "valuation": 1,
                        "currency": "USD",
                    },
                )
            )
        assert [r.key for r in ledger.records()] == ["p-alibaba"]


def test_recorded_times_are_utc_and_increase_batch_by_batch(store_url: str) -> None:
    with Ledger(store_url) as ledger:
        for slug in ("a-co", "b-co", "c-co"):
            ledger.append(facts(ledger, party(slug)))
        times = [r.recorded for r in ledger.records()]
        assert all(t.utcoffset() == timedelta(0) for t in times)
        assert times == sorted(times) and len(set(times)) == 3


def test_stored_events_cannot_be_updated_or_deleted_in_the_database(store_url: str) -> None:
    with Ledger(store_url) as ledger:
        ledger.append(facts(ledger, party("alibaba", "investor")))
        recorder = ledger.store.app.recorder
        table = recorder.events_table_name
        for statement in (
            f"UPDATE {table} SET topic = 'x'",
            f"DELETE FROM {table}",
            "UPDATE dealledger_batches SET known_us = 0",  # when the batch became known: what --known-at reads
            "DELETE FROM dealledger_batches",
        ):
            with pytest.raises(Exception, match="immutable"):
                run_sql(ledger, statement)
        assert [r.key for r in ledger.records()] == ["p-alibaba"]


def run_sql(ledger: Ledger, statement: str) -> None:
    backend = ledger.store.backend
    recorder = ledger.store.app.recorder
    if backend.kind == "sqlalchemy":
        from sqlalchemy import text

        with recorder.datastore.engine.begin() as connection:
            connection.execute(text(statement))
        return
    if backend.kind == "postgres":
        from psycopg import sql

        for table in (recorder.events_table_name, "dealledger_batches"):
            statement = statement.replace(table, f"{recorder.datastore.schema}.{table}")
        with recorder.datastore.transaction(commit=True) as cursor:
            cursor.execute(sql.SQL(statement))  # type: ignore[arg-type]
        return
    with recorder.datastore.transaction(commit=True) as cursor:
        cursor.execute(statement)


def test_writers_racing_from_a_stale_head_lose_nothing(store_url: str) -> None:
    """Each writer re-reads and re-validates when another took its positions first."""
    with Ledger(store_url) as setup:
        setup.append(facts(setup, party("seed-co")))
    writers = [Ledger(store_url) for _ in range(3)]
    for writer in writers:
        writer.records()  # every writer now holds the same, soon stale, head
    errors: list[BaseException] = []

    def write(index: int, writer: Ledger) -> None:
        try:
            for batch in range(5):
                writer.append(facts(writer, party(f"co-{index}-{batch}")))
        except BaseException as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(i, w)) for i, w in enumerate(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for writer in writers:
        writer.close()
    assert errors == []
    with Ledger(store_url) as reader:
        records = reader.records()
        assert len(records) == 16
        assert [r.seq for r in records] == list(range(1, 17))


def test_a_correction_replaces_the_fact_from_when_it_was_known(store_url: str) -> None:
    with Ledger(store_url) as ledger:
        ledger.append(incoming_from_path(ledger.catalogue, CATALOGUE))
        records = ledger.records()
        mark = next(r for r in records if r.key == "moonshot-mark")
        # everything was recorded in one batch; a later batch corrects the mark again
        ledger.append(
            facts(
                ledger,
                {
                    "kind": "fact.corrected",
                    "effective": "2024-07-01",
                    "key": "mark-fix-2",
                    "fact": mark.id,
                    "replacement": {
                        "kind": "valuation.marked",
                        "effective": "2024-06-30",
                        "company": "moonshot-ai",
                        "valuation": "3500000000",
                        "currency": "USD",
                    },
                },
            )
        )
        first_batch = ledger.store.known_times()(records[-1])
        then = [r.fact for r in ledger.story(known_at=first_batch) if r.kind == "valuation.marked"]
        now = [r.fact for r in ledger.story() if r.kind == "valuation.marked"]
        assert [str(f.valuation) for f in then] == ["3300000000"]  # type: ignore[attr-defined]
        assert [str(f.valuation) for f in now] == ["3500000000"]  # type: ignore[attr-defined]
        assert ledger.records()[mark.seq - 1].fact == mark.fact  # the original is stored unchanged


def test_corrections_must_name_a_live_fact_of_the_same_kind(store_url: str) -> None:
    with Ledger(store_url) as ledger:
        ledger.append(incoming_from_path(ledger.catalogue, CATALOGUE))
        cases = [
            ({"fact": "no-such-key"}, r"fact: no recorded fact has the id or key 'no-such-key'"),
            ({"fact": "ali-36"}, r"fact: 'ali-36' was retracted"),
            ({"fact": "fx-usdcny"}, r"replacement.kind: a correction must keep the kind 'fx.rate'"),
        ]
        for change, message in cases:
            correction = {
                "kind": "fact.corrected",
                "effective": "2024-07-01",
                "replacement": {
                    "kind": "valuation.marked",
                    "effective": "2024-06-30",
                    "company": "moonshot-ai",
                    "valuation": "1",
                    "currency": "USD",
                },
                **change,
            }
            with pytest.raises(RejectedError, match=message):
                ledger.append(facts(ledger, correction))
        assert len(ledger.records()) == 23


def test_a_divestment_larger_than_the_holding_is_refused_even_back_dated(store_url: str) -> None:
    with Ledger(store_url) as ledger:
        ledger.append(incoming_from_path(ledger.catalogue, CATALOGUE))
        # Tencent holds 0.02 from 2024-04-01 and sells half of it on 2024-06-01; it sells 0.008 more on 2024-07-01.
        ledger.append(
            facts(
                ledger,
                {
                    "kind": "stake.divested",
                    "effective": "2024-07-01",
                    "key": "july-sale",
                    "holder": "tencent",
                    "company": "moonshot-ai",
                    "fraction": "0.008",
                },
            )
        )
        # Selling 0.015 on 2024-05-01 is fine on that day, but leaves too little for the July sale.
        back_dated = {
            "kind": "stake.divested",
            "effective": "2024-05-01",
            "holder": "tencent",
            "company": "moonshot-ai",
            "fraction": "0.015",
        }
        with pytest.raises(RejectedError, match=r"^test:1: .*'july-sale' of 2024-07-01: tencent holds 0.0025 .*0.008"):
            ledger.append(facts(ledger, back_dated))
        assert len(ledger.records()) == 24
        too_much_now = {**back_dated, "effective": "2024-04-02", "fraction": "0.03"}
        message = r"^test:1: \[plugins.ownership\] stake.divested #\w+ of 2024-04-02: tencent holds 0.02"
        with pytest.raises(RejectedError, match=message):
            ledger.append(facts(ledger, too_much_now))


def test_views_answer_for_any_moment(store_url: str) -> None:
    with Ledger(store_url) as ledger:
        ledger.append(incoming_from_path(ledger.catalogue, CATALOGUE))
        rows = ledger.view("ownership", Query(options={"company": "moonshot-ai"}))
        fractions = {row["holder"]: row["fraction"] for row in rows}
        assert fractions["alibaba"] == Fraction(8, 25)  # 800M of a 2.5B post-money, exactly
        assert sum(fractions.values()) == 1


def test_a_bad_url_is_one_clear_error() -> None:
    with pytest.raises(LedgerError, match="unsupported store URL 'ftp://x'"):
        Ledger("ftp://x")
    with pytest.raises(LedgerError, match=r"^no ledger at '/no/such/folder/ledger.db': its folder .* does not exist$"):
        Ledger("sqlite:////no/such/folder/ledger.db")


def test_a_sqlite_url_with_options_is_refused_and_makes_no_file(tmp_path: Path) -> None:
    """``?mode=ro`` was dropped unread, and a new, empty ledger made where the user asked to read one."""
    with pytest.raises(LedgerError, match=r"^bad SQLite URL .*: it takes no options \(got mode\)"):
        Ledger(f"sqlite:///{tmp_path}/x.db?mode=ro")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("path", ["/dev/null", "folder"])
def test_a_sqlite_url_naming_no_file_is_refused_and_leaves_nothing_beside_it(path: str, tmp_path: Path) -> None:
    where = path if path.startswith("/") else str(tmp_path / path)
    if not path.startswith("/"):
        (tmp_path / path).mkdir()
    with pytest.raises(LedgerError, match=r"^cannot open the ledger .*: it is not a file$"):
        Ledger(f"sqlite:///{where}")
    assert not Path(f"{where}.lock").exists()


def test_a_postgres_url_sets_the_pool_it_keeps_and_refuses_a_bad_one() -> None:
    from ledger.persistence import backend_for

    backend = backend_for("postgresql://u:p%40ss@db.example:6543/deals?schema=team&pool_size=5")
    worker = backend_for(backend.with_pool_size(1))  # what a replay's worker opens
    assert worker.env["POSTGRES_POOL_SIZE"] == "1" and worker.env["POSTGRES_SCHEMA"] == "team"
    assert (worker.env["POSTGRES_HOST"], worker.env["POSTGRES_PORT"], worker.env["POSTGRES_PASSWORD"]) == (
        "db.example",
        "6543",
        "p@ss",
    )
    assert backend_for("sqlite:///x.db").with_pool_size(1) == "sqlite:///x.db"
    for bad in ("0", "-1", "many", "10000"):
        with pytest.raises(LedgerError, match=rf"^bad pool_size '{bad}' in the store URL"):
            backend_for(f"postgresql://h/db?pool_size={bad}")


def test_a_large_batch_is_stored_whole_or_not_at_all(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Large batches are encoded and written in chunks (here of 700 facts: a clash in the third); they must still be
    one transaction, with one unbroken hash chain across the chunks."""
    from dataclasses import replace

    from ledger.appending import BatchBuilder
    from ledger.persistence import postgres, sqlite

    monkeypatch.setattr(sqlite, "WRITE_CHUNK", 700)
    monkeypatch.setattr(postgres, "WRITE_CHUNK", 700)
    big = [party(f"co-{n}") for n in range(2_500)]
    with Ledger(store_url) as ledger:
        ledger.append(facts(ledger, party("seed-co")))
        batch, index, _, _ = BatchBuilder(ledger.host, facts(ledger, *big), ledger.store).build(ledger.store.head())
        clashing = [*batch[:2_000], replace(batch[2_000], seq=1), *batch[2_001:]]  # position 1 is taken
        clashing_index = [*index[:2_000], replace(index[2_000], position=1), *index[2_001:]]
        with pytest.raises(LedgerError, match="cannot write to the store"):  # no other writer took a position: an error
            ledger.store.write(clashing, clashing_index)
        assert len(ledger.records()) == 1
    with Ledger(store_url) as fresh:
        assert len(fresh.records()) == 1
        result = fresh.append(facts(fresh, *big))
        assert len(result.added) == 2_500
    with Ledger(store_url) as reopened:
        assert [r.seq for r in reopened.records()] == list(range(1, 2_502))
        assert reopened.store.verify() == []


def test_a_party_in_use_keeps_its_registration(store_url: str) -> None:
    with Ledger(store_url) as ledger:
        ledger.append(incoming_from_path(ledger.catalogue, CATALOGUE))
        retract = {"kind": "fact.retracted", "effective": "2024-01-01", "fact": "p-tencent", "reason": "duplicate"}
        with pytest.raises(RejectedError, match=r"^test:1: fact: stake.acquired 'tencent-buys' .* still names 'tencent'"):
            ledger.append(facts(ledger, retract))
        # an unused registration can go, and then the slug is unknown again
        ledger.append(facts(ledger, party("spare-co")))
        ledger.append(facts(ledger, {**retract, "fact": "p-spare-co"}))
        with pytest.raises(RejectedError, match=r"unknown party 'spare-co'"):
            ledger.append(
                facts(
                    ledger,
                    {
                        "kind": "valuation.marked",
                        "effective": "2024-01-01",
                        "company": "spare-co",
                        "valuation": "1",
                        "currency": "USD",
                    },
                )
            )


def test_a_loop_of_parents_is_refused(sqlite_url: str) -> None:
    with Ledger(sqlite_url) as ledger:
        ledger.append(facts(ledger, {**party("a"), "parent": "b"}, party("b")))
        looping = {**party("b"), "key": "b-again", "parent": "a", "effective": "2021-01-01"}
        with pytest.raises(RejectedError, match=r"^test:1: parent: b -> a -> b is a loop"):
            ledger.append(facts(ledger, looping))
        correction = {
            "kind": "fact.corrected",
            "effective": "2021-01-01",
            "fact": "p-b",
            "replacement": {**party("b"), "parent": "a"},
        }
        with pytest.raises(RejectedError, match=r"^test:1: parent: b -> a -> b is a loop"):
            ledger.append(facts(ledger, correction))
        assert len(ledger.records()) == 2


def test_a_loop_of_parents_is_read_as_the_links_stand(sqlite_url: str) -> None:
    with Ledger(sqlite_url) as ledger:
        again = {"effective": "2021-01-01"}
        ledger.append(facts(ledger, party("a"), {**party("x"), "parent": "a"}))
        # x leaves a's group: a may then join x's without a loop
        ledger.append(facts(ledger, {**party("x"), "key": "x-alone", **again}))
        ledger.append(facts(ledger, {**party("a"), "key": "a-under-x", "parent": "x", "effective": "2021-02-01"}))
        # retracting x's leaving brings back x -> a, and with a -> x that is a loop
        retraction = {"kind": "fact.retracted", "effective": "2021-03-01", "fact": "x-alone", "reason": "it never left"}
        with pytest.raises(RejectedError, match=r"^test:1: parent: a -> x -> a is a loop"):
            ledger.append(facts(ledger, retraction))
        assert len(ledger.records()) == 4


def test_renaming_a_party_in_use_is_not_refused_for_the_parties_beside_it(store_url: str) -> None:
    with Ledger(store_url) as ledger:
        round_closed = {
            "kind": "round.closed",
            "effective": "2021-01-01",
            "key": "r1",
            "company": "co",
            "round": "a",
            "amount": "10",
            "currency": "USD",
            "post_money": "100",
            "investors": [{"party": "inv", "amount": "10"}],
        }
        ledger.append(facts(ledger, party("co"), party("inv", "investor"), round_closed))
        renamed = {
            "kind": "fact.corrected",
            "effective": "2022-01-01",
            "fact": "p-co",
            "replacement": {**party("co"), "name": "Co Renamed"},
        }
        ledger.append(facts(ledger, renamed))
        assert [r.fact.name for r in ledger.registrations() if r.fact.party == "co"] == ["Co Renamed"]  # type: ignore[attr-defined]
        # retracting it is still refused: the round names co
        retraction = {"kind": "fact.retracted", "effective": "2022-01-01", "fact": "p-co", "reason": "no such company"}
        with pytest.raises(RejectedError, match=r"^test:1: fact: round.closed 'r1' of 2021-01-01 still names 'co' in company"):
            ledger.append(facts(ledger, retraction))
        assert ledger.check() == []


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql://[::1", r"^bad store URL 'postgresql://\[::1': Invalid IPv6 URL$"),
        ("postgresql://h:99999/x", r"^bad store URL .*: Port out of range"),
        # the library names the schema's types unquoted: a store in "Mixed" was created and could not be written
        ("postgresql://h/x?schema=Mixed", r"^bad schema name 'Mixed' in the store URL: use lower-case letters"),
    ],
)
def test_a_malformed_url_is_one_clear_error(url: str, message: str) -> None:
    with pytest.raises(LedgerError, match=message):
        Ledger(url)


@pytest.mark.parametrize("scheme", ["sqlite", "sqlite+pysqlite"])
def test_a_file_that_is_not_a_ledger_is_one_clear_error(tmp_path: Path, scheme: str) -> None:
    """Refused before anything is made beside it (a ``.lock`` file was left next to the document)."""
    (tmp_path / "notes.db").write_text("shopping list\n")
    with pytest.raises(LedgerError, match=r"^cannot open the ledger '.*notes.db': it is not a SQLite database$"):
        Ledger(f"{scheme}:///{tmp_path / 'notes.db'}")
    assert [path.name for path in tmp_path.iterdir()] == ["notes.db"]
    (tmp_path / "empty.db").write_bytes(b"")  # an empty file is an empty database to SQLite: a ledger is made in it
    with Ledger(f"sqlite:///{tmp_path / 'empty.db'}") as ledger:
        assert ledger.records() == []


def test_views_answer_at_the_edges_of_the_calendar(sqlite_url: str) -> None:
    from datetime import date

    with Ledger(sqlite_url) as ledger:
        ledger.append(incoming_from_path(ledger.catalogue, CATALOGUE))
        for day in (date.min, date.max):
            for name, options in (
                ("revenue", {"provider": "alibaba-cloud", "period": "year"}),
                ("regulatory", {}),
                ("league", {}),
                ("ownership", {}),
            ):
                ledger.view(name, Query(as_of=day, options=options))


def test_facts_dated_at_the_first_day_of_the_calendar_are_answered(sqlite_url: str) -> None:
    from datetime import date

    always = {"effective": "0001-01-01"}
    with Ledger(sqlite_url) as ledger:
        ledger.engine.save_after = 0  # a pass that reaches a quarter end would save its state there
        ledger.append(facts(ledger, {**party("co"), **always}, {**party("fund", "investor"), **always}))
        for name, options in (("ownership", {}), ("regulatory", {}), ("league", {})):
            for day in (date(1, 1, 1), date(1, 2, 15), date(2020, 12, 31), None):
                ledger.view(name, Query(as_of=day, options=options))  # the last fact's quarter has none before it


# --- what a correction or retraction names: one rule everywhere (``ledger.timeline.Named``) ----------------------


def grant(key: str, amount: str, grantor: str, grantee: str) -> dict:
    return {
        "kind": "credits.granted",
        "effective": "2021-01-01",
        "key": key,
        "grantor": grantor,
        "grantee": grantee,
        "amount": amount,
        "currency": "USD",
    }


def consumed(key: str, day: str, amount: str, grantor: str, grantee: str) -> dict:
    return {
        "kind": "credits.consumed",
        "effective": day,
        "key": key,
        "grantor": grantor,
        "grantee": grantee,
        "amount": amount,
        "currency": "USD",
    }


def corrected(ref: str, replacement: dict) -> dict:
    return {"kind": "fact.corrected", "effective": "2021-12-01", "fact": ref, "replacement": replacement}


def engine_story(ledger: Ledger) -> list:
    """The story as the engine reads it through the index (corrections applied as each names its target)."""
    head = ledger.store.head().position
    ledger.engine._amended = None  # read the corrections again, as a new process would
    return [(r.id, r.fact) for r in ledger.engine.story_after(None, None, head)]


def test_a_stored_fact_s_key_is_named_before_a_batch_fact_s_id_prefix(store_url: str) -> None:
    with Ledger(store_url) as ledger:
        prefix = fact_id(ledger.catalogue.parse(grant("b", "100", "cl", "co")))[:12]
        registered = {**party("zz"), "key": prefix}
        ledger.append(facts(ledger, party("co"), party("cl", "cloud"), registered, grant("gz", "5", "cl", "zz")))
        # ``prefix`` is the key of zz's registration, and it also begins the id of grant b in the same batch:
        # the key wins, as resolve reads it, so the correction names the registration and is refused
        batch = facts(ledger, grant("b", "100", "cl", "co"), corrected(prefix, grant("b", "90", "cl", "co")))
        with pytest.raises(RejectedError, match=r"test:2: replacement.kind: a correction must keep the kind 'party.registered'"):
            ledger.append(batch)
        assert len(ledger.records()) == 4


def test_a_later_key_equal_to_a_corrected_fact_s_id_changes_nothing(store_url: str) -> None:
    with Ledger(store_url) as ledger:
        ledger.append(
            facts(
                ledger,
                *(party(slug) for slug in ("co1", "co2")),
                *(party(slug, "cloud") for slug in ("cla", "cl")),
                grant("ga", "100", "cla", "co1"),
                grant("g1", "100", "cl", "co2"),
                consumed("f", "2021-06-01", "30", "cla", "co1"),
            )
        )
        first = next(r for r in ledger.records() if r.key == "f")
        ledger.append(facts(ledger, corrected(first.id, consumed("f", "2021-06-01", "60", "cl", "co2"))))
        ledger.append(facts(ledger, {**party("zz"), "key": first.id}))  # a key that reads like the corrected fact's id
        story = [(r.id, r.fact) for r in ledger.story()]
        assert engine_story(ledger) == story
        assert next(fact for id_, fact in story if id_ == first.id).amount == 60  # type: ignore[attr-defined]
        # co2 has 40 of cl's credits left: the correction still counts against them
        with pytest.raises(RejectedError, match=r"co2 has 40 USD of cl credits outstanding, cannot consume 50"):
            ledger.append(facts(ledger, consumed("c2", "2021-08-01", "50", "cl", "co2")))
        assert ledger.check() == []


def test_a_later_fact_sharing_an_id_prefix_changes_nothing(store_url: str) -> None:
    with Ledger(store_url) as ledger:
        ledger.append(facts(ledger, party("co"), party("cl", "cloud"), grant("g1", "100", "cl", "co")))
        first = ledger.records()[-1]
        ledger.append(facts(ledger, corrected(first.id[:12], grant("g1", "90", "cl", "co"))))
        # an imported fact whose id begins with the same twelve characters: the prefix no longer names one fact
        twin = first.id[:12] + ("0" * 20 if not first.id.endswith("0" * 20) else "1" * 20)
        ledger.append([Incoming("test:twin", ledger.catalogue.parse(grant("g2", "7", "cl", "co")), id=twin)])
        story = [(r.id, r.fact) for r in ledger.story()]
        assert engine_story(ledger) == story
        assert {fact.key: str(fact.amount) for _, fact in story if fact.kind == "credits.granted"} == {"g1": "90", "g2": "7"}  # type: ignore[attr-defined]
        # a new reference by that prefix names no one fact now
        with pytest.raises(RejectedError, match=r"fact: '\w+' begins the ids of more than one fact; give more of the id"):
            ledger.append(facts(ledger, corrected(first.id[:12], grant("g1", "80", "cl", "co"))))


def test_a_fact_retracted_by_an_id_prefix_stays_retracted_however_it_is_named(store_url: str) -> None:
    with Ledger(store_url) as ledger:
        ledger.append(facts(ledger, party("co"), party("cl", "cloud"), grant("g1", "100", "cl", "co")))
        first = ledger.records()[-1]
        ledger.append(
            facts(ledger, {"kind": "fact.retracted", "effective": "2021-12-01", "fact": first.id[:12], "reason": "wrong"})
        )
        for ref in ("g1", first.id, first.id[:10]):
            with pytest.raises(RejectedError, match=rf"fact: '{ref}' was retracted"):
                ledger.append(facts(ledger, corrected(ref, grant("g1", "90", "cl", "co"))))
            with pytest.raises(RejectedError, match=rf"fact: '{ref}' was retracted"):
                ledger.append(
                    facts(ledger, {"kind": "fact.retracted", "effective": "2021-12-01", "fact": ref, "reason": "again"})
                )
        assert len(ledger.records()) == 4


def test_a_correction_that_over_draws_is_refused_at_its_own_line(store_url: str) -> None:
    with Ledger(store_url) as ledger:
        ledger.append(
            facts(
                ledger,
                party("co"),
                party("cl", "cloud"),
                grant("g1", "100", "cl", "co"),
                consumed("c", "2021-06-01", "30", "cl", "co"),
            )
        )
        batch = facts(
            ledger,
            party("other"),
            {
                "kind": "valuation.marked",
                "effective": "2021-06-01",
                "company": "co",
                "valuation": "5",
                "currency": "USD",
            },
            corrected("c", consumed("c", "2021-06-01", "130", "cl", "co")),
        )
        with pytest.raises(RejectedError, match=r"^test:3: .*co has 100 USD of cl credits outstanding, cannot consume 130"):
            ledger.append(batch)
        assert len(ledger.records()) == 4
        # a correction of the grant that breaks the consumption already stored: pointed at the batch, said once
        later = corrected("g1", {**grant("g1", "100", "cl", "co"), "effective": "2021-07-01"})
        with pytest.raises(RejectedError, match=r"^test:1: \[plugins.revenue\] credits.consumed 'c' of 2021-06-01"):
            ledger.append(facts(ledger, later))


def test_a_correction_naming_a_fact_of_its_own_batch_by_prefix_is_indexed_under_the_fact_s_parties(store_url: str) -> None:
    with Ledger(store_url) as ledger:
        stake = {
            "kind": "stake.acquired",
            "effective": "2021-01-01",
            "key": "s1",
            "holder": "hinv",
            "company": "xco",
            "fraction": "0.1",
        }
        prefix = fact_id(ledger.catalogue.parse(stake))[:12]
        moved = corrected(prefix, {**stake, "company": "yco"})
        # one batch, as an import is: the correction's target is found in the batch itself, by its id prefix
        ledger.append(facts(ledger, party("xco"), party("yco"), party("hinv", "investor"), stake, moved))
        for company, holders in (("xco", {"founders"}), ("yco", {"founders", "hinv"})):
            rows = ledger.view("ownership", Query(options={"company": company}))  # read through the index by company
            assert {row["holder"] for row in rows} == holders


def test_the_story_comes_in_effective_order_whatever_order_a_page_is_read_in(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page of ``effective_between`` is put in order by the store, not by the database's plan: a backend (or a
    plan) that returns its rows in another order still gives the story in effective order, recording order
    within a date, across page boundaries."""
    import ledger.store as store_module

    with Ledger(store_url) as ledger:
        days = ["2021-03-01", "2020-05-02", "2021-03-01", "2020-01-09", "2022-07-07", "2020-05-02", "2020-01-09"]
        ledger.append(facts(ledger, *(party(f"co-{n}") | {"effective": day} for n, day in enumerate(days))))
        expected = sorted((r.fact.effective, r.seq) for r in ledger.records())
        monkeypatch.setattr(store_module, "PAGE_SIZE", 3)
        read = ledger.store._rows
        monkeypatch.setattr(ledger.store, "_rows", lambda sql, params=(): list(reversed(read(sql, params))))
        head = ledger.store.head().position
        assert [(r.fact.effective, r.seq) for r in ledger.store.effective_between(None, None, head)] == expected


def test_a_fact_whose_id_is_already_another_fact_s_is_refused_at_once(store_url: str) -> None:
    """An import may bring a fact whose id is the one another key would make: appending that key later is refused
    at once, naming the id, where the clash in the database was taken for a lost race and retried 50 times."""
    import time

    from ledger.appending import fact_id

    with Ledger(store_url) as ledger:
        later = ledger.catalogue.parse(party("later") | {"key": "later-key"})
        early = ledger.catalogue.parse(party("early") | {"key": "early-key"})
        ledger.append([Incoming("export.jsonl:1", early, id=fact_id(later))])
        started = time.monotonic()
        with pytest.raises(
            RejectedError,
            match=r"^facts.jsonl:1: id: [0-9a-f]{32} is already the id of a fact recorded at #1 \(key 'early-key'\)",
        ):
            ledger.append([Incoming("facts.jsonl:1", later)])
        assert time.monotonic() - started < 5
        assert ledger.store.head().position == 1
