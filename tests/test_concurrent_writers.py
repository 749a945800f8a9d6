"""Several writer processes at once: nothing lost, nothing refused that was not the user's fault.

Real processes, as several analysts on one PostgreSQL server or several shells on one SQLite
file would be: eight writers append 500 facts each in small batches, all at once; then writers
race to sell the same stake, and exactly the sales that fit are kept.
"""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import pytest

from ledger.api import Ledger
from ledger.appending import Incoming
from ledger.errors import RejectedError

WRITERS = 8
FACTS = 500
BATCH = 10


@pytest.fixture
def url(ledger_url: str) -> str:
    return ledger_url


def _party(slug: str) -> dict[str, Any]:
    return {
        "kind": "party.registered",
        "effective": "2020-01-01",
        "key": f"p-{slug}",
        "party": slug,
        "name": slug,
        "type": "company",
    }


def _writer(url: str, writer: int, errors: Any) -> None:
    try:
        with Ledger(url) as ledger:
            for start in range(0, FACTS, BATCH):
                facts = [_party(f"w{writer}-{n}") for n in range(start, start + BATCH)]
                ledger.append([Incoming(f"w{writer}:{n}", ledger.catalogue.parse(f)) for n, f in enumerate(facts)])
    except BaseException as error:  # reported to the parent, which fails the test with it
        errors.put(f"writer {writer}: {type(error).__name__}: {error}")


def _seller(url: str, seller: int, outcomes: Any) -> None:
    sale = {
        "kind": "stake.divested",
        "effective": "2024-06-01",
        "holder": "alibaba",
        "company": "moonshot-ai",
        "fraction": "0.2",
        "key": f"sale-{seller}",
    }
    try:
        with Ledger(url) as ledger:
            ledger.append([Incoming(f"seller {seller}", ledger.catalogue.parse(sale))])
        outcomes.put("sold")
    except RejectedError as error:
        outcomes.put("refused" if "cannot divest" in str(error) else f"other: {error}")
    except BaseException as error:
        outcomes.put(f"failed: {type(error).__name__}: {error}")


def _run(target: Any, url: str, count: int) -> list[str]:
    context = multiprocessing.get_context("spawn")  # a fresh interpreter each, like separate shells
    results = context.Queue()
    processes = [context.Process(target=target, args=(url, n, results)) for n in range(count)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=600)
    found = []
    while not results.empty():
        found.append(results.get())
    return found


def test_eight_writers_append_500_facts_each_and_none_is_lost(url: str) -> None:
    Ledger(url).close()  # the store exists before the race, as for a team's shared server
    errors = _run(_writer, url, WRITERS)
    assert errors == []
    with Ledger(url) as ledger:
        records = ledger.records()
        assert len(records) == WRITERS * FACTS
        assert [r.seq for r in records] == list(range(1, WRITERS * FACTS + 1))
        assert {r.fact.party for r in records} == {f"w{w}-{n}" for w in range(WRITERS) for n in range(FACTS)}  # type: ignore[attr-defined]
        assert ledger.store.verify() == []


def test_racing_sales_of_one_stake_keep_exactly_those_that_fit(url: str) -> None:
    setup = [
        _party("moonshot-ai"),
        {"kind": "party.registered", "effective": "2020-01-01", "party": "alibaba", "name": "Alibaba", "type": "investor"},
        {"kind": "stake.acquired", "effective": "2024-01-01", "holder": "alibaba", "company": "moonshot-ai", "fraction": "0.5"},
    ]
    with Ledger(url) as ledger:
        ledger.append([Incoming(f"setup:{n}", ledger.catalogue.parse(f)) for n, f in enumerate(setup)])
    outcomes = _run(_seller, url, 4)
    assert sorted(outcomes) == ["refused", "refused", "sold", "sold"]  # 0.5 held: two sales of 0.2 fit, a third does not
    with Ledger(url) as ledger:
        assert ledger.check() == []


def test_what_a_reader_saw_while_a_batch_was_checked_is_what_known_at_that_moment_answers(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch takes its recorded time once it has been checked, just before it is written: a question asked while
    a large batch was being validated (the long part of an append) is answered the same, later, with ``--known-at``
    that moment."""
    import time
    from datetime import UTC, datetime

    from ledger.appending import BatchBuilder
    from ledger.views import Query

    with Ledger(store_url) as ledger:
        ledger.append([Incoming("t:1", ledger.catalogue.parse(_party("first")))])
        seen: list[tuple[datetime, list[Any]]] = []
        validate = BatchBuilder._validate

        def read_while_checking(self: BatchBuilder, *args: Any) -> None:
            validate(self, *args)
            time.sleep(0.01)
            with Ledger(store_url) as reader:  # another reader, asking now
                seen.append((datetime.now(UTC), reader.view("league", Query())))
                seen.append((datetime.now(UTC), [reader.store.head().position]))
            time.sleep(0.01)

        monkeypatch.setattr(BatchBuilder, "_validate", read_while_checking)
        ledger.append([Incoming("t:2", ledger.catalogue.parse(_party("second")))])
        (_, answered), (moment, head) = seen
        assert head == [1]  # the batch was not yet there for the reader
        assert ledger.store.known_position(moment) == 1  # nor is it for a question about that moment
        assert ledger.view("league", Query(known_at=moment)) == answered
        assert ledger.records()[-1].recorded > moment


def test_what_a_reader_saw_while_a_batch_was_written_is_what_known_at_that_moment_answers(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch is known from its commit, not from when it was stamped: a question asked while a batch's rows were
    being written (a million-fact append writes for a minute and more) is answered the same, later, with
    ``--known-at`` that moment, though the batch's facts were recorded before it."""
    import time
    from datetime import UTC, datetime

    from ledger.persistence import postgres, sqlite
    from ledger.views import Query

    assert sqlite.commit_begins is postgres.commit_begins  # the recorders' last step before the commit
    fund = {**_party("fund"), "type": "investor"}
    stake = {"kind": "stake.acquired", "effective": "2024-01-01", "holder": "fund", "company": "co", "fraction": "0.25"}
    asked = Query(options={"company": "co"})
    with Ledger(store_url) as ledger, Ledger(store_url) as reader:  # the reader opened first: a SQLite writer holds the file
        ledger.append([Incoming(f"t:{n}", ledger.catalogue.parse(f)) for n, f in enumerate([_party("co"), fund])])
        seen: list[tuple[datetime, Any, int]] = []
        commit_begins = sqlite.commit_begins

        def read_while_writing() -> None:
            time.sleep(0.01)
            seen.append((datetime.now(UTC), reader.view("ownership", asked), reader.store.head().position))
            time.sleep(0.01)
            commit_begins()

        monkeypatch.setattr(sqlite, "commit_begins", read_while_writing)
        monkeypatch.setattr(postgres, "commit_begins", read_while_writing)
        if ledger.store.backend.kind == "sqlalchemy":  # imported only for such a URL
            monkeypatch.setattr("ledger.persistence.sqlalchemy.commit_begins", read_while_writing)
        ledger.append([Incoming("t:3", ledger.catalogue.parse(stake))])
        [(moment, answered, head)] = seen
        assert head == 2  # the batch was being written: not yet there for the reader
        stored = ledger.records()[-1]
        assert stored.recorded < moment < ledger.store.known_times()(stored)  # stamped before, known after
        assert ledger.store.known_position(moment) == 2
        then = ledger.view("ownership", Query(known_at=moment, options={"company": "co"}))
        assert [row["holder"] for row in then] == [row["holder"] for row in answered] == ["founders"]
        assert [row["holder"] for row in ledger.view("ownership", asked)] == ["founders", "fund"]
        assert [record.seq for record in ledger.records(moment)] == [1, 2]


def test_threads_sharing_one_ledger_all_append_in_turn(store_url: str) -> None:
    """More threads than the connection pool holds, appending through one ledger (a notebook, a service): each
    waits its turn, where on PostgreSQL a thread waiting for the writer's lock held a pooled connection, and the
    threads beyond the pool failed after waiting 5 s for one."""
    import threading

    with Ledger(store_url) as ledger:
        failures: list[BaseException] = []

        def register(number: int) -> None:
            try:
                ledger.append([Incoming(f"thread:{number}", ledger.catalogue.parse(_party(f"co-{number}")))])
            except BaseException as error:  # every failure is the finding
                failures.append(error)

        threads = [threading.Thread(target=register, args=(number,)) for number in range(24)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert failures == []
        assert ledger.store.head().position == 24
        assert ledger.store.verify() == []


def test_sqlite_through_sqlalchemy_takes_the_writers_lock_of_the_file(tmp_path: Path) -> None:
    """A SQLite file reached through SQLAlchemy has one writer at a time, behind the same lock file as the SQLite
    backend: writers there relied on SQLite's busy timeout alone, and one of many threads appending at once failed
    now and then with "database is locked"."""
    import fcntl
    import threading

    path = tmp_path / "ledger-sa.db"
    with Ledger(f"sqlite+pysqlite:///{path}") as ledger:
        ledger.append([Incoming("first", ledger.catalogue.parse(_party("co-0")))])
        done = threading.Event()

        def append() -> None:
            ledger.append([Incoming("second", ledger.catalogue.parse(_party("co-1")))])
            done.set()

        with open(f"{path}.lock", "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # another writer (a native SQLite one, say) is writing
            writer = threading.Thread(target=append)
            writer.start()
            assert not done.wait(0.5)  # it waits for the lock
            fcntl.flock(lock, fcntl.LOCK_UN)
        writer.join(10)
        assert done.is_set() and ledger.store.head().position == 2


def _first_use(url: str, number: int, start: Any, errors: Any) -> None:
    start.wait()
    try:
        with Ledger(url) as ledger:
            ledger.append([Incoming(f"first:{number}", ledger.catalogue.parse(_party(f"first-{number}")))])
    except BaseException as error:  # reported to the parent, which fails the test with it
        errors.put(f"writer {number}: {type(error).__name__}: {error}")


def test_writers_opening_a_new_sqlite_file_at_once_are_all_stored(tmp_path: Path) -> None:
    """A new file is made ready (tables, index, guards) by one process at a time: several opening it at once saw
    "database is locked" when another had just made it ready."""
    context = multiprocessing.get_context("fork")
    for round_ in range(8):
        url = f"sqlite:///{tmp_path / f'new-{round_}.db'}"
        start, errors = context.Event(), context.Queue()
        writers = [context.Process(target=_first_use, args=(url, n, start, errors)) for n in range(10)]
        for writer in writers:
            writer.start()
        start.set()
        for writer in writers:
            writer.join(120)
        found = []
        while not errors.empty():
            found.append(errors.get())
        assert found == []
        with Ledger(url) as ledger:
            assert ledger.store.head().position == 10
