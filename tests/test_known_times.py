"""When each batch became known: taken at its commit, kept beside the facts, carried by export and import, checked by
``verify``; ``--known-at`` goes by it."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from ledger.api import Ledger
from ledger.errors import RejectedError
from ledger.exchange import export_lines, import_stream

from .test_store_contract import facts, party
from .test_tamper_evidence import behind_its_guard


def three_batches(ledger: Ledger) -> list[int]:
    """Three appends, one party each: the last position of each batch."""
    for slug in ("a-co", "b-co", "c-co"):
        ledger.append(facts(ledger, party(slug)))
    return [record.seq for record in ledger.records()]


def export_text(ledger: Ledger) -> str:
    return "".join(export_lines(ledger.records(), ledger.store.known_times()))


def import_text(ledger: Ledger, text: str) -> Any:
    import io

    return ledger.append(list(import_stream(ledger.catalogue, io.StringIO(text), "export.jsonl")))


def test_a_batch_is_known_from_its_commit_after_it_was_recorded(store_url: str) -> None:
    with Ledger(store_url) as ledger:
        ends = three_batches(ledger)
        known = ledger.store.known_times()
        records = ledger.records()
        times = [known(record) for record in records]
        assert all(record.recorded <= when for record, when in zip(records, times, strict=True))
        assert times == sorted(times) and len(set(times)) == 3
        assert [records[n].recorded > times[n - 1] for n in (1, 2)] == [True, True]  # checked once the one ahead was in
        for end, when in zip(ends, times, strict=True):
            assert ledger.store.known_position(when) == end
            assert ledger.store.known_position(when - timedelta(microseconds=1)) == end - 1
        assert ledger.store.head().known == times[-1]
        assert ledger.store.verify() == []


def test_a_batch_whose_known_time_could_not_be_kept_stays_stored_and_known_from_its_recorded_time(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The row is written just after the batch's commit: should the database refuse it then, the batch is in (an
    append that said otherwise would be tried again, and keyless facts stored twice), and it is known from its
    recorded time, as a batch written before batches were kept."""
    from ledger import persistence

    with Ledger(store_url) as ledger:
        ledger.append(facts(ledger, party("a-co")))

        def refused(*args: Any) -> None:
            raise sqlite3.OperationalError("disk I/O error")

        with monkeypatch.context() as patched:
            patched.setattr(persistence, "write_batches", refused)
            with pytest.warns(persistence.KnownTimeNotKept, match=r"facts up to #2 are stored, but not when .* \(disk I/O"):
                assert len(ledger.append(facts(ledger, party("b-co"))).added) == 1
        second = ledger.records()[-1]
        assert ledger.store.known_times()(second) == second.recorded
        assert ledger.store.known_position(second.recorded) == 2
        ledger.append(facts(ledger, party("c-co")))  # the next batch gives the one before its row first
        assert ledger.store.verify() == []
        assert [ledger.store.known_position(r.recorded) for r in ledger.records()] == [0, 2, 2]  # #2 known as recorded


def test_the_writers_connection_checkpoints_again_after_a_batch_stored_or_refused(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite's automatic checkpoint is put off while a batch commits (its known time is taken first), and put back
    after, whether the batch was stored or refused: left off, the log would grow with every later write."""
    from dataclasses import replace

    from eventsourcing.sqlite import SQLiteConnection

    from ledger import persistence
    from ledger.appending import BatchBuilder

    with Ledger(sqlite_url) as ledger:

        def autocheckpoint() -> int:
            with ledger.store.app.recorder.datastore.transaction(commit=True) as cursor:  # the writers' connection
                cursor.execute("PRAGMA wal_autocheckpoint")
                return int(cursor.fetchone()[0])

        usual = autocheckpoint()
        ledger.append(facts(ledger, party("a-co")))
        assert autocheckpoint() == usual > 0
        batch, index, _, _ = BatchBuilder(ledger.host, facts(ledger, party("b-co")), ledger.store).build(ledger.store.head())
        assert not ledger.store.write([replace(batch[0], seq=1)], [replace(index[0], position=1)])  # #1 is taken
        assert autocheckpoint() == usual
        opened = SQLiteConnection.transaction
        calls: list[bool] = []

        def locked_the_second_time(self: Any, *, commit: bool) -> Any:  # the batch's row: its transaction refused
            calls.extend([commit] if commit else [])
            if commit and len(calls) == 2:
                raise sqlite3.OperationalError("database is locked")
            return opened(self, commit=commit)

        monkeypatch.setattr(SQLiteConnection, "transaction", locked_the_second_time)
        with pytest.warns(persistence.KnownTimeNotKept, match="database is locked"):
            ledger.append(facts(ledger, party("c-co")))
        monkeypatch.undo()
        assert autocheckpoint() == usual
        assert len(ledger.records()) == 2


def test_known_times_read_a_page_at_a_time_answer_in_any_order(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """``known_times`` reads batch rows a page from the fact asked about: in order (an export), backwards or here and
    there (an explanation), each fact gets its own batch's time."""
    import random

    from ledger import store

    monkeypatch.setattr(store, "KNOWN_PAGE", 2)
    with Ledger(sqlite_url) as ledger:
        for number in range(7):  # batches of 1, 2 and 3 facts in turn
            ledger.append(facts(ledger, *(party(f"co-{number}-{n}") for n in range(number % 3 + 1))))
        rows = ledger.store._rows("SELECT position, known_us FROM dealledger_batches ORDER BY position")
        records = ledger.records()
        expected = {r.seq: next(store.from_us(k) for end, k in rows if end >= r.seq) for r in records}
        for order in (records, records[::-1], random.Random(7).sample(records, len(records))):
            known = ledger.store.known_times()
            assert {r.seq: known(r) for r in order} == expected


def test_a_ledger_written_before_batches_were_kept_knows_each_from_its_recorded_time(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with Ledger(url) as ledger:
        three_batches(ledger)
    with sqlite3.connect(tmp_path / "ledger.db") as connection:  # what a ledger of an earlier version holds
        connection.execute("DROP TABLE dealledger_batches")
    with Ledger(url) as ledger:
        records = ledger.records()
        assert [ledger.store.known_times()(record) for record in records] == [record.recorded for record in records]
        assert ledger.store.known_position(records[1].recorded) == 2
        assert ledger.store.verify() == []
        ledger.append(facts(ledger, party("d-co")))  # and it goes on, each batch known at its commit
        last = ledger.records()[-1]
        assert ledger.store.known_times()(last) > last.recorded
        assert ledger.store.verify() == []


def test_a_batch_row_removed_or_moved_behind_the_ledgers_back_is_named_by_verify(tmp_path: Path) -> None:
    """Each batch row chains to the one ahead and to the fact it ends at: one removed from the middle (two batches
    made one, known as late as the second) or known later than it was, breaks the chain there."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with Ledger(url) as ledger:
        three_batches(ledger)
        assert ledger.store.verify() == []
    for statement in (
        "DELETE FROM dealledger_batches WHERE position = 1",
        "UPDATE dealledger_batches SET known_us = known_us + 1",
    ):
        copy = tmp_path / "copy.db"
        copy.write_bytes((tmp_path / "ledger.db").read_bytes())
        behind_its_guard(copy, statement)
        with Ledger(f"sqlite:///{copy}", verifying=True) as tampered:
            [problem] = tampered.store.verify()
            assert problem.startswith("the batch of facts #1 to #") and "does not match the batches' hash chain" in problem


def test_a_batch_an_earlier_version_wrote_after_a_later_known_time_is_known_no_earlier(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A version before batches were kept stamps a batch after the last recorded time only, and writes no row: with
    a clock behind the one that wrote the batch ahead, its facts are recorded before that batch was known. Their
    row, made with the next batch, is known no earlier than the one ahead (known times never go back)."""
    from datetime import UTC, datetime

    from ledger import appending, persistence

    with Ledger(sqlite_url) as source:
        source.append(facts(source, party("a-co")))
        [line] = [json.loads(text) for text in export_text(source).splitlines()]
    ahead = datetime.now(UTC) + timedelta(minutes=1)  # the batch ahead, written where the clock is a minute ahead
    with Ledger(f"sqlite:///{tmp_path / 'mixed.db'}") as ledger:
        import_text(ledger, json.dumps({**line, "known": ahead.isoformat()}) + "\n")
        with monkeypatch.context() as older:  # what the earlier version does
            older.setattr(appending, "recorded_time", lambda head: datetime.now(UTC))
            older.setattr(persistence, "write_batches", lambda *args: None)
            ledger.append(facts(ledger, party("b-co")))
        second = ledger.records()[-1]
        assert second.recorded < ahead
        before = ledger.store.known_times()(second)  # no row yet: the rule its row will be made by
        assert before > ahead and ledger.store.head().known == before
        assert [ledger.store.known_position(when) for when in (ahead, before)] == [1, 2]
        ledger.append(facts(ledger, party("c-co")))
        known = ledger.store.known_times()
        times = [known(record) for record in ledger.records()]
        assert times[0] == ahead and times[1] == before and times[2] > times[1]
        assert [ledger.store.known_position(when) for when in times] == [1, 2, 3]
        assert ledger.store.verify() == []


def test_known_times_go_out_and_come_back_in_with_an_export(store_url: str, tmp_path: Path) -> None:
    with Ledger(store_url) as source:
        three_batches(source)
        text = export_text(source)
        known = source.store.known_times()
        expected = [known(record) for record in source.records()]
        head = source.store.head()
    assert [datetime_of(line["known"]) for line in map(json.loads, text.splitlines())] == expected
    with Ledger(f"sqlite:///{tmp_path / 'copy.db'}") as copy:
        import_text(copy, text)
        assert [copy.store.known_times()(record) for record in copy.records()] == expected
        assert copy.store.head() == head
        assert [copy.store.known_position(when) for when in expected] == [1, 2, 3]
        assert copy.store.verify() == []
        assert export_text(copy) == text


def test_an_export_made_before_batches_were_kept_is_known_from_its_recorded_times(sqlite_url: str, tmp_path: Path) -> None:
    with Ledger(sqlite_url) as source:
        three_batches(source)
        lines = [json.loads(line) for line in export_text(source).splitlines()]
    older = "".join(json.dumps({k: v for k, v in line.items() if k != "known"}) + "\n" for line in lines)
    with Ledger(f"sqlite:///{tmp_path / 'copy.db'}") as copy:
        import_text(copy, older)
        records = copy.records()
        assert [copy.store.known_times()(record) for record in records] == [record.recorded for record in records]
        assert copy.store.verify() == []


@pytest.mark.parametrize(
    ("line", "change", "told"),
    [
        (1, lambda line: {**line, "known": "2001-01-01T00:00:00+00:00"}, r"export.jsonl:2: known: 2001.* is before the fact"),
        (3, lambda line: {**line, "known": "2999-01-01T00:00:00+00:00"}, r"export.jsonl:4: known: 2999.* is in the future"),
        (1, lambda line: {**line, "known": "nonsense"}, r"export.jsonl:2: known: expected an ISO 8601 time"),
    ],
    ids=["before recorded", "in the future", "not a time"],
)
def test_an_imported_known_time_that_cannot_be_is_refused(
    sqlite_url: str, tmp_path: Path, line: int, change: Any, told: str
) -> None:
    with Ledger(sqlite_url) as source:
        source.append(facts(source, party("x-co"), party("y-co")))
        three_batches(source)
        lines = [json.loads(text) for text in export_text(source).splitlines()]
    lines[line] = change(lines[line])
    with Ledger(f"sqlite:///{tmp_path / 'copy.db'}") as copy:
        with pytest.raises(RejectedError, match=told):
            import_text(copy, "".join(json.dumps(each) + "\n" for each in lines))
        assert copy.records() == []


def test_an_imported_batch_known_out_of_order_is_refused(sqlite_url: str, tmp_path: Path) -> None:
    with Ledger(sqlite_url) as source:
        three_batches(source)
        lines = [json.loads(text) for text in export_text(source).splitlines()]
    stamp = lines[1]["recorded"]  # the third batch recorded with the second and known before the second was
    back = [*lines[:2], {**lines[2], "recorded": stamp, "known": stamp}]
    with Ledger(f"sqlite:///{tmp_path / 'copy.db'}") as copy:
        with pytest.raises(RejectedError, match=r"export.jsonl:3: known: .* goes back in time \(after "):
            import_text(copy, "".join(json.dumps(each) + "\n" for each in back))
        assert copy.records() == []


def test_log_shows_when_each_fact_became_known(run: Any) -> None:
    added = run("append", "party.registered", "--effective", "2020-01-01", "--party", "a-co", "--name", "A", "--type", "company")
    assert added.exit_code == 0, added.output
    [row] = json.loads(run("log", "--format", "json").output)
    assert datetime_of(row["recorded"]) < datetime_of(row["known"])
    just_before = datetime_of(row["known"]) - timedelta(microseconds=1)
    assert json.loads(run("log", "--format", "json", "--known-at", row["known"]).output) == [row]
    assert json.loads(run("log", "--format", "json", "--known-at", just_before.isoformat()).output) == []


def datetime_of(text: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(text)
