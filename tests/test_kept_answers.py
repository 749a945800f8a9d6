"""Kept answers (``ledger.answers``): replay's files written again from the database only when nothing could differ.

The reference is the same replay computed (``replay_each`` written with ``write_rows``), which
never reads a kept answer; ``test_replay_properties`` and ``test_engine_properties`` check that
computation against folds from scratch.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from datetime import date, datetime
from pathlib import Path
from typing import Any
from unittest import mock

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, note, settings

from ledger import answers as kept_answers
from ledger.answers import Answers, read_source
from ledger.api import Ledger
from ledger.appending import Incoming
from ledger.engine import Engine
from ledger.errors import ViewError
from ledger.importing import incoming_from_path
from ledger.persistence import ANSWERS_TABLE
from ledger.rendering import write_rows
from ledger.replaying import EXTENSIONS, replay_each, replay_to

from .test_engine_properties import MOMENTS, in_a_postgres_schema, in_a_sqlite_file, three_appends

STORY = Path(__file__).parent.parent / "examples" / "story.jsonl"
AS_OF = date(2024, 12, 31)


def computed(ledger: Ledger, fmt: str, as_of: date | None, known_at: datetime | None) -> dict[str, str] | str:
    """Each view's file text, computed; or the error a replay gives."""
    try:
        files = {}
        for replayed in replay_each(ledger, as_of, known_at):
            out = io.StringIO(newline="")
            write_rows(out, replayed.rows, fmt, replayed.columns if replayed.complete else None)
            files[f"{replayed.name}.{EXTENSIONS[fmt]}"] = out.getvalue()
        return files
    except ViewError as error:
        return f"error: {error}"


def replayed(ledger: Ledger, folder: Path, fmt: str, as_of: date | None, known_at: datetime | None) -> dict[str, str] | str:
    """What ``replay_to`` leaves in ``folder``; or the error it gives."""
    try:
        written = replay_to(ledger, folder, fmt, as_of, known_at)
    except ViewError as error:
        return f"error: {error}"
    files = {path.name: path.read_bytes().decode("utf-8") for path in folder.iterdir()}
    assert set(files) == {path.name for _, _, path in written}  # no partial file left behind
    return files


def sample(url: str) -> Ledger:
    ledger = Ledger(url)
    ledger.append(incoming_from_path(ledger.catalogue, str(STORY)))
    return ledger


def asked(ledger: Ledger, name: str, fmt: str) -> kept_answers.Question:
    question = kept_answers.question(ledger.host.view(name), ledger.host, fmt, AS_OF, None)
    assert question is not None
    return question


def refuse_to_fold(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("folded, where a kept answer was expected")

    monkeypatch.setattr(Engine, "states", refuse)


def test_the_same_question_is_answered_from_the_kept_text_on_every_backend(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with sample(store_url) as ledger:
        first = replayed(ledger, tmp_path / "first", "csv", AS_OF, None)
        assert first == computed(ledger, "csv", AS_OF, None)
        listing = Answers(ledger.store).listing()
        assert {row["view"] for row in listing} == {name.removesuffix(".csv") for name in first}
        assert {(row["format"], row["as_of"], row["head"]) for row in listing} == {("csv", "2024-12-31", 83)}
        with monkeypatch.context() as patched:
            refuse_to_fold(patched)
            assert replayed(ledger, tmp_path / "again", "csv", AS_OF, None) == first
            # another format, another moment: another question, computed
            with pytest.raises(AssertionError, match="folded"):
                replay_to(ledger, tmp_path / "json", "json", AS_OF, None)
            with pytest.raises(AssertionError, match="folded"):
                replay_to(ledger, tmp_path / "earlier", "csv", date(2023, 12, 31), None)


def test_an_append_makes_it_a_new_question(sqlite_url: str, tmp_path: Path) -> None:
    with sample(sqlite_url) as ledger:
        before = replayed(ledger, tmp_path / "before", "csv", AS_OF, None)
        fine = {
            "kind": "penalty.imposed",
            "effective": "2023-06-01",
            "authority": "samr",
            "target": "alibaba",
            "amount": "1",
            "currency": "CNY",
            "key": "late-news",
        }
        ledger.append([Incoming("test", ledger.catalogue.parse(fine))])
        after = replayed(ledger, tmp_path / "after", "csv", AS_OF, None)
        assert after == computed(ledger, "csv", AS_OF, None)
        assert isinstance(before, dict) and isinstance(after, dict)
        assert "late-news" not in before["regulatory.csv"] and "penalty.imposed" in after["regulatory.csv"]
        assert after["regulatory.csv"] != before["regulatory.csv"]
        # asked as known before the append (another question, computed), the answer is the old one
        known_at = ledger.store.known_times()(ledger.store.records(83)[-1])
        assert replayed(ledger, tmp_path / "then", "csv", AS_OF, known_at) == before


@pytest.mark.parametrize("damage", ["bytes", "part gone", "digest", "row count", "ledger rewritten"])
def test_a_damaged_kept_answer_is_dropped_and_the_view_answered_afresh(sqlite_url: str, tmp_path: Path, damage: str) -> None:
    with sample(sqlite_url) as ledger:
        first = replayed(ledger, tmp_path / "first", "json", AS_OF, None)
        db = ledger.store.db
        if damage == "bytes":
            db.write([(f"UPDATE {ANSWERS_TABLE} SET data = ? WHERE view = 'ownership'", [(b"not zlib",)])])
        elif damage == "part gone":
            db.write([(f"DELETE FROM {ANSWERS_TABLE} WHERE view = 'ownership'", [()])])
            db.write([(f"DELETE FROM {ANSWERS_TABLE} WHERE view = 'league' AND part = 0", [()])])
        elif damage == "digest":
            db.write([(f"UPDATE {ANSWERS_TABLE} SET digest = ? WHERE view = 'ownership'", [("0" * 64,)])])
        elif damage == "row count":  # not a number: a traceback from the replay
            db.write([(f"UPDATE {ANSWERS_TABLE} SET row_count = 'x' WHERE view = 'ownership'", [()])])
        else:
            db.write([(f"UPDATE {ANSWERS_TABLE} SET head_hash = ?", [("f" * 64,)])])
        assert replayed(ledger, tmp_path / "again", "json", AS_OF, None) == first
        # what was damaged was answered afresh and kept again, whole
        listing = Answers(ledger.store).listing()
        assert sorted(row["view"] for row in listing) == sorted(name.removesuffix(".json") for name in first)
        kept = Answers(ledger.store)
        for view in ledger.host.views.values():
            found = kept.find(asked(ledger, view.name, "json"), 83)
            assert found is not None
            out = io.BytesIO()
            assert kept.write_out(found, out)
            assert out.getvalue().decode("utf-8") == first[f"{view.name}.json"]


def test_a_part_damaged_after_it_was_found_is_caught_while_written(sqlite_url: str, tmp_path: Path) -> None:
    with sample(sqlite_url) as ledger:
        replay_to(ledger, tmp_path / "first", "csv", AS_OF, None)
        kept = Answers(ledger.store)
        found = kept.find(asked(ledger, "ownership", "csv"), 83)
        assert found is not None
        ledger.store.db.write([(f"UPDATE {ANSWERS_TABLE} SET data = ? WHERE view = 'ownership'", [(b"x",)])])
        out = io.BytesIO(b"left from before")
        assert not kept.write_out(found, out)
        assert out.getvalue() == b""  # nothing half-written is left to be taken for the answer
        assert kept.find(asked(ledger, "ownership", "csv"), 83) is None


def test_a_long_answer_is_kept_in_parts(sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kept_answers, "PART_BYTES", 100)
    with sample(sqlite_url) as ledger:
        first = replayed(ledger, tmp_path / "first", "csv", AS_OF, None)
        parts = ledger.store.db.rows(f"SELECT parts FROM {ANSWERS_TABLE} WHERE view = 'ownership' AND part = 0")
        assert isinstance(first, dict) and int(parts[0][0]) == -(-len(first["ownership.csv"].encode()) // 100) > 2
        refuse_to_fold(monkeypatch)
        assert replayed(ledger, tmp_path / "again", "csv", AS_OF, None) == first


def test_only_the_newest_answers_of_a_view_are_kept(sqlite_url: str, tmp_path: Path) -> None:
    with sample(sqlite_url) as ledger:
        days = [date(2020 + n, 12, 31) for n in range(kept_answers.KEEP + 2)]
        for day in days:
            replay_to(ledger, tmp_path / day.isoformat(), "csv", day, None)
        kept = [row["as_of"] for row in Answers(ledger.store).listing() if row["view"] == "league"]
        assert sorted(kept) == [day.isoformat() for day in days[-kept_answers.KEEP :]]


def test_a_view_that_reads_more_than_its_state_is_never_kept(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("append", "--file", str(STORY))
    run("--plugin", "tests.replay_plugin", "replay", "--as-of", "2024-12-31", "--out", "out", "--format", "csv")
    listed = run("--plugin", "tests.replay_plugin", "checkpoints", "--answers", "--format", "csv").output
    assert "kind-count,csv,2024-12-31" in listed and "zz-fragile" not in listed


def test_a_store_that_cannot_keep_answers_still_replays(sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlite3

    with sample(sqlite_url) as ledger:
        expected = computed(ledger, "csv", AS_OF, None)

        def refuse(statements: Any) -> None:
            raise sqlite3.OperationalError("attempt to write a readonly database")

        monkeypatch.setattr(ledger.store.db, "write", refuse)
        assert replayed(ledger, tmp_path / "out", "csv", AS_OF, None) == expected
        assert Answers(ledger.store).listing() == []


def test_clearing_checkpoints_drops_the_kept_answers_too(run) -> None:  # type: ignore[no-untyped-def]
    run("append", "--file", str(STORY))
    run("replay", "--as-of", "2024-12-31", "--out", "out", "--format", "csv")
    listed = run("checkpoints", "--answers", "--format", "csv").output.splitlines()
    assert listed[0] == "view,format,as_of,known_at,head,rows,digest" and len(listed) == 8
    cleared = run("checkpoints", "--clear")
    assert cleared.exit_code == 0 and cleared.output.endswith(" and 7 kept answer(s)\n")
    assert run("checkpoints", "--answers", "--format", "csv").output.splitlines() == listed[:1]


def test_a_change_to_the_code_that_answers_is_a_new_question(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib
    import sys

    package = tmp_path / "answering_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "rows.py").write_text("SCALE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.import_module("answering_pkg")
    try:
        before = read_source("answering_pkg")
        (package / "rows.py").write_text("SCALE = 2\n")
        changed = read_source("answering_pkg")
        (package / "rows.py").write_text("SCALE = 1\n")
        assert before is not None and changed is not None and read_source("answering_pkg") is not None
        assert changed.digest != before.digest and read_source("answering_pkg").digest == before.digest  # type: ignore[union-attr]
    finally:
        sys.modules.pop("answering_pkg", None)
    with sample(f"sqlite:///{tmp_path / 'l.db'}") as ledger:
        view = ledger.host.view("ownership")
        asked = kept_answers.question(view, ledger.host, "csv", AS_OF, None)
        assert asked is not None
        # the digest reads the sources of the packages that fold and answer the view
        real = kept_answers.read_source
        monkeypatch.setattr(
            kept_answers,
            "read_source",
            lambda name: kept_answers.Source("other", 0) if name == "plugins" else real(name),
        )
        other = kept_answers.question(view, ledger.host, "csv", AS_OF, None)
        assert other is not None and other.digest != asked.digest
        monkeypatch.setattr(kept_answers, "read_source", real)
        # another release of ISO 4217's list (its minor units round converted money) is another question too
        monkeypatch.setattr(kept_answers, "_standards", lambda: "\niso-4217=0\npycountry=0")
        newer_codes = kept_answers.question(view, ledger.host, "csv", AS_OF, None)
        assert newer_codes is not None and newer_codes.digest != asked.digest
        # a source changed since this process loaded the code: the code running may not be the code read
        monkeypatch.setattr(kept_answers, "LOADING_BEGAN_NS", 0)
        assert kept_answers.question(view, ledger.host, "csv", AS_OF, None) is None
        replay_to(ledger, tmp_path / "out", "csv", AS_OF, None)
        assert Answers(ledger.store).listing() == []


def test_a_view_whose_sources_cannot_be_read_is_never_kept(sqlite_url: str, tmp_path: Path) -> None:
    import types

    with sample(sqlite_url) as ledger:
        view = ledger.host.view("league")
        typed = type("Interactive", (type(view),), {"__module__": "made_in_a_session"})
        sys_modules = {"made_in_a_session": types.ModuleType("made_in_a_session")}  # no __file__, as in a REPL
        with mock.patch.dict("sys.modules", sys_modules):
            assert kept_answers.question(typed(), ledger.host, "csv", AS_OF, None) is None


def test_a_store_that_cannot_make_the_answers_table_still_opens_and_replays(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ledger.persistence.postgres as postgres
    import ledger.persistence.sqlalchemy as sqlalchemy
    import ledger.persistence.sqlite as sqlite

    with sample(store_url) as ledger:  # a store made before kept answers existed
        ledger.store.db.write([(f"DROP TABLE {ANSWERS_TABLE}", [()])])
        expected = computed(ledger, "csv", AS_OF, None)
    for module in (sqlite, postgres, sqlalchemy):  # opened where the table cannot be made (read-only, no privilege)
        monkeypatch.setattr(module, "answers_ddl", lambda blob: "CREATE TABLE dealledger_answers (")
    with Ledger(store_url) as ledger:
        assert replayed(ledger, tmp_path / "out", "csv", AS_OF, None) == expected
        assert Answers(ledger.store).listing() == [] and Answers(ledger.store).clear() == 0
    monkeypatch.undo()
    with Ledger(store_url) as ledger:  # where it can be made, the next open makes it
        assert replayed(ledger, tmp_path / "again", "csv", AS_OF, None) == expected
        assert Answers(ledger.store).listing()


# --- the property: for random ledgers, moments and appends, a kept answer is the computed one ---------------


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[list[dict[str, Any]]], list[tuple[int, str, Any, int | None]]]:
    """Batches to append, and after each batch some replays: (after batch, format, as_of, known_at batch)."""
    batches = draw(three_appends())
    asked = []
    for after in range(len(batches)):
        for _ in range(draw(st.integers(min_value=1, max_value=4))):
            fmt = draw(st.sampled_from(["csv", "json"]))
            known = draw(st.one_of(st.none(), st.integers(min_value=0, max_value=after)))
            asked.append((after, fmt, draw(st.sampled_from(MOMENTS)), known))
    return batches, asked


def check_scenario(url: str, batches: list[list[dict[str, Any]]], asked: list[Any]) -> None:
    with Ledger(url) as ledger, tempfile.TemporaryDirectory() as folder:
        recorded: list[datetime] = []
        count = 0
        for after, batch in enumerate(batches):
            if batch:
                ledger.append([Incoming(f"b{after}:{n}", ledger.catalogue.parse(d)) for n, d in enumerate(batch, 1)])
            recorded.append(ledger.store.head().known)  # type: ignore[arg-type]
            for when, fmt, as_of, known in asked:
                if when != after:
                    continue
                known_at = recorded[known] if known is not None else None
                note(f"after batch {after}: {fmt} as_of={as_of} known_at=batch {known}")
                expected = computed(ledger, fmt, as_of, known_at)
                count += 1
                assert replayed(ledger, Path(folder) / str(count), fmt, as_of, known_at) == expected
                count += 1
                # asked again, an answer comes from what the first replay kept, without a fold
                again = mock.patch.object(Engine, "states", side_effect=AssertionError("folded"))
                with again if isinstance(expected, dict) else contextlib.nullcontext():
                    assert replayed(ledger, Path(folder) / str(count), fmt, as_of, known_at) == expected


PROPERTY = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(scenario=scenarios())
def test_kept_answers_equal_the_computed_answers_on_sqlite(scenario: Any) -> None:
    in_a_sqlite_file(check_scenario, *scenario)


@pytest.mark.postgres
@settings(PROPERTY, max_examples=10)
@given(scenario=scenarios())
def test_kept_answers_equal_the_computed_answers_on_postgres(scenario: Any) -> None:
    in_a_postgres_schema(check_scenario, *scenario)


def test_two_replays_into_one_folder_keep_each_its_own_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A replay that starts while another writes into the same folder (here: the second runs whole while the first is
    keeping its first answer) writes, keeps and removes only its own files: each question's kept text is its own
    answer, and the folder holds one run's files whole (the one that moved its files into place last)."""
    earlier, later = date(2023, 12, 31), AS_OF
    with sample(f"sqlite:///{tmp_path / 'l.db'}") as ledger:
        truth = {day: computed(ledger, "csv", day, None) for day in (earlier, later)}
        keep = Answers.keep
        inside: list[bool] = []

        def keep_after_another_replay(self: Answers, *args: Any) -> None:
            if not inside:
                inside.append(True)
                written = replay_to(ledger, tmp_path / "shared", "csv", later, None)  # beside the first run's partial files
                assert {path.name: path.read_text() for _, _, path in written} == truth[later]
            keep(self, *args)

        monkeypatch.setattr(Answers, "keep", keep_after_another_replay)
        assert replayed(ledger, tmp_path / "shared", "csv", earlier, None) == truth[earlier]
        monkeypatch.setattr(Answers, "keep", keep)
        refuse_to_fold(monkeypatch)  # both questions are now answered from what each run kept
        for number, day in enumerate((earlier, later)):
            assert replayed(ledger, tmp_path / f"again-{number}", "csv", day, None) == truth[day]


def test_a_file_that_cannot_be_replaced_leaves_every_file_as_it_was(tmp_path: Path) -> None:
    with sample(f"sqlite:///{tmp_path / 'l.db'}") as ledger:
        out = tmp_path / "out"
        replay_to(ledger, out, "csv", date(2023, 12, 31), None)
        (out / "portfolio.csv").unlink()
        (out / "portfolio.csv").mkdir()
        before = {path.name: path.read_bytes() for path in out.iterdir() if path.is_file()}
        with pytest.raises(OSError) as refused:
            replay_to(ledger, out, "csv", AS_OF, None)
        assert refused.value.filename == str(out / "portfolio.csv")
        assert {path.name: path.read_bytes() for path in out.iterdir() if path.is_file()} == before
        assert sorted(path.name for path in out.iterdir()) == sorted([*before, "portfolio.csv"])  # nothing left over


@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_a_move_that_fails_midway_puts_back_the_files_already_moved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: BaseException
) -> None:
    """A full disk or a Ctrl-C while the files move into place: every file is as it was, and nothing is left beside."""
    from ledger import outfolder

    with sample(f"sqlite:///{tmp_path / 'l.db'}") as ledger:
        out = tmp_path / "out"
        replay_to(ledger, out, "csv", date(2023, 12, 31), None)
        before = {path.name: path.read_bytes() for path in out.iterdir()}
        replace = outfolder._replace
        moved: list[Path] = []

        def fail_at_the_fourth(source: Path, target: Path) -> None:
            moved.append(target)
            if len(moved) == 4:
                raise failure
            replace(source, target)

        monkeypatch.setattr(outfolder, "_replace", fail_at_the_fourth)
        with pytest.raises(type(failure)):
            replay_to(ledger, out, "csv", AS_OF, None)
        assert len(moved) == 4
        assert {path.name: path.read_bytes() for path in out.iterdir()} == before


def test_replayed_files_take_the_mode_the_umask_gives(tmp_path: Path) -> None:
    import os
    import stat

    mask = os.umask(0o022)
    try:
        with sample(f"sqlite:///{tmp_path / 'l.db'}") as ledger:
            for number in range(2):  # computed, then written from the kept text
                written = replay_to(ledger, tmp_path / f"out-{number}", "csv", AS_OF, None)
                assert {stat.S_IMODE(path.stat().st_mode) for _, _, path in written} == {0o644}
    finally:
        os.umask(mask)


def test_a_dangling_link_in_a_file_s_place_is_replaced(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "ownership.csv").symlink_to(tmp_path / "nowhere" / "ownership.csv")
    with sample(f"sqlite:///{tmp_path / 'l.db'}") as ledger:
        replay_to(ledger, out, "csv", AS_OF, None)
    assert (out / "ownership.csv").is_file() and not (out / "ownership.csv").is_symlink()


def test_a_folder_locked_by_someone_else_is_written_after_a_short_wait(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``flock <folder> dealledger replay --out <folder>`` (a cron habit) must not wait for itself forever."""
    import fcntl
    import os

    from ledger import outfolder

    monkeypatch.setattr(outfolder, "LOCK_WAIT", 0.2)
    out = tmp_path / "out"
    out.mkdir()
    holder = os.open(out, os.O_RDONLY)
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        with sample(f"sqlite:///{tmp_path / 'l.db'}") as ledger:
            assert replayed(ledger, out, "csv", AS_OF, None) == computed(ledger, "csv", AS_OF, None)
    finally:
        os.close(holder)


def test_a_folder_held_past_the_wait_is_not_waited_for_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A command sweeps the folder and then moves its files in, each under the folder's lock: held by the command's
    own ``flock``, it waited out the wait twice (10 s for a report)."""
    import fcntl
    import os
    import time

    from ledger import outfolder

    monkeypatch.setattr(outfolder, "LOCK_WAIT", 0.5)
    monkeypatch.setattr(outfolder, "_HELD_LONG", set())
    holder = os.open(tmp_path, os.O_RDONLY)
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        waits = []
        for _ in range(2):
            started = time.monotonic()
            with outfolder._locked(tmp_path):
                waits.append(time.monotonic() - started)
        assert waits[0] >= 0.5 and waits[1] < 0.25
    finally:
        os.close(holder)


def test_an_earlier_file_that_cannot_be_kept_aside_stops_the_moves_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its text could not be put back should a later move fail, so nothing moves; the error says so, and the second
    name made for it is removed (a file another user owns and keeps to itself, in a shared folder)."""
    import os

    from ledger import outfolder

    (tmp_path / "a.csv").write_text("old a")
    (tmp_path / "b.csv").write_text("old b")
    hold = outfolder._hold

    def refusing(path: Path, handle: int) -> None:
        if ".b.csv.before." in path.name:
            os.close(handle)
            raise PermissionError(13, "Permission denied", str(path))
        hold(path, handle)

    monkeypatch.setattr(outfolder, "_hold", refusing)
    moves = []
    for name in ("a.csv", "b.csv"):
        written = outfolder.partial_file(tmp_path, name)
        written.write_text(f"new {name[0]}")
        moves.append((written, tmp_path / name))
    with pytest.raises(OSError, match="its earlier text cannot be kept to put back") as raised:
        outfolder.put_in_place(moves)
    assert raised.value.filename == str(tmp_path / "b.csv")
    for written, _ in moves:
        outfolder.let_go(written)
    assert {path.name: path.read_text() for path in tmp_path.iterdir()} == {"a.csv": "old a", "b.csv": "old b"}


def test_a_source_copied_with_its_old_modification_time_turns_keeping_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``cp -p``, ``tar`` or an installer may put a new source in place with an older modification time than the
    process's start: its change time still tells that the code on disk is not the code loaded."""
    import os
    import sys

    package = tmp_path / "copied_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("SCALE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    __import__("copied_pkg")
    try:
        (package / "__init__.py").write_text("SCALE = 2\n")
        os.utime(package / "__init__.py", ns=(0, 0))  # as a copy that kept an old time would have it
        source = read_source("copied_pkg")
        assert source is not None and source.newest_ns > kept_answers.LOADING_BEGAN_NS
    finally:
        sys.modules.pop("copied_pkg", None)


def test_the_packages_of_a_view_s_base_classes_are_part_of_its_question(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A view that inherits its rows from a class of another package is answered by that package's code too."""
    from ledger.checkpoints import packages_of
    from plugins.league import LeagueView

    derived = type("DerivedLeague", (LeagueView,), {"__module__": "tests.derived_views"})
    assert {"plugins", "tests", "events", "ledger"} <= set(packages_of(derived()))
    assert not {"typing", "builtins", "abc"} & set(packages_of(derived()))
    with sample(f"sqlite:///{tmp_path / 'l.db'}") as ledger:
        asked = kept_answers.question(derived(), ledger.host, "csv", AS_OF, None)
        real = kept_answers.read_source
        monkeypatch.setattr(
            kept_answers, "read_source", lambda name: kept_answers.Source("other", 0) if name == "plugins" else real(name)
        )
        other = kept_answers.question(derived(), ledger.host, "csv", AS_OF, None)
        assert asked is not None and other is not None and other.digest != asked.digest


def test_the_package_of_the_plugin_providing_a_view_is_part_of_its_question(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plugin may provide a view of another package's class, set up its own way (a threshold): a change of its
    settings left the answers kept under the old ones in use."""
    import importlib
    import sys
    import time

    from ledger.host import PluginHost, plugin_manager

    package = tmp_path / "configuring_pkg"
    package.mkdir()
    (package / "__init__.py").write_text(
        "from ledger.hookspecs import hookimpl\n"
        "from tests.replay_plugin import KindCount\n"
        "@hookimpl\n"
        "def dealledger_views():\n"
        "    return [KindCount()]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(kept_answers, "LOADING_BEGAN_NS", time.time_ns() + 1)  # as if loaded after it was written
    try:
        manager = plugin_manager(entry_points=False)
        manager.register(importlib.import_module("configuring_pkg"), name="configuring_pkg")
        host = PluginHost(manager)
        view = host.view("kind-count")
        asked = kept_answers.question(view, host, "csv", AS_OF, None)
        real = kept_answers.read_source
        monkeypatch.setattr(
            kept_answers, "read_source", lambda name: kept_answers.Source("other", 0) if name == "configuring_pkg" else real(name)
        )
        other = kept_answers.question(view, host, "csv", AS_OF, None)
        assert asked is not None and other is not None and other.digest != asked.digest
    finally:
        sys.modules.pop("configuring_pkg", None)


def test_a_file_being_replaced_is_never_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each file moves onto the earlier one in one rename: a reader finds the old text or the new, never nothing."""
    from ledger import outfolder

    with sample(f"sqlite:///{tmp_path / 'l.db'}") as ledger:
        out = tmp_path / "out"
        replay_to(ledger, out, "csv", date(2023, 12, 31), None)
        replace = outfolder._replace
        seen: list[bool] = []

        def looking_first(source: Path, target: Path) -> None:
            seen.append(target.is_file())
            replace(source, target)

        monkeypatch.setattr(outfolder, "_replace", looking_first)
        replay_to(ledger, out, "csv", AS_OF, None)
        assert seen and all(seen)
