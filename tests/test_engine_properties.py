"""Answers through the engine (scoped reads, checkpoints, one pass) equal the fold of the whole story from scratch.

Random ledgers arrive in several batches, with back-dated facts, corrections and retractions,
and are asked random questions at random moments (``as_of`` and ``known_at``) between the
batches, so checkpoints are made, reused and invalidated. Every answer is compared with a plain
fold of the story read whole (``from_scratch``: every fact to ``apply``), which does not use the
engine at all.
"""

from __future__ import annotations

import pickle
import tempfile
import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, event, given, note, settings

from ledger.anchors import is_quarter_end
from ledger.api import Ledger
from ledger.appending import FACT_NAMESPACE, Incoming
from ledger.engine import answer
from ledger.errors import ViewError
from ledger.persistence import CHECKPOINTS_TABLE
from ledger.views import Query

from .conftest import drop_schema, postgres_url, require_postgres
from .test_replay_properties import DAYS, QUERIES, REGISTRATIONS, SPENDING, order_free_facts

MOMENTS = (None, *DAYS)


@st.composite
def amendments(draw: st.DrawFn, facts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Corrections and retractions of facts that no validation depends on: valuations, bans and rates, each named by
    its key, its id or an id prefix (the store's index and ``resolve`` must read each the same way)."""
    safe = [f for f in facts if f["kind"] in ("valuation.marked", "export.ban_imposed", "fx.rate")]
    found: list[dict[str, Any]] = []
    for n, target in enumerate(draw(st.lists(st.sampled_from(safe), max_size=3, unique_by=lambda f: f["key"])) if safe else []):
        day = draw(st.sampled_from(DAYS)).isoformat()
        named = uuid.uuid5(FACT_NAMESPACE, target["key"]).hex
        ref = draw(st.sampled_from([target["key"], named, named[:12]]))
        told = "2024-06-30"  # a correction is told late; what it changes may lie much earlier
        if draw(st.booleans()):
            replacement = {k: v for k, v in target.items() if k != "key"}
            replacement["effective"] = day
            found.append({"kind": "fact.corrected", "effective": told, "key": f"c{n}", "fact": ref, "replacement": replacement})
        else:
            found.append({"kind": "fact.retracted", "effective": told, "key": f"r{n}", "fact": ref, "reason": "test"})
    return found


@st.composite
def three_appends(draw: st.DrawFn) -> list[list[dict[str, Any]]]:
    """A random ledger in three appends; later batches hold earlier-dated facts too (back-dating invalidates
    checkpoints), and the last corrects and retracts."""
    facts = draw(order_free_facts())
    first = [f for f in facts if f["kind"] not in SPENDING]
    late = [f for f in facts if f["kind"] in SPENDING]
    split = draw(st.integers(min_value=0, max_value=len(first)))
    return [REGISTRATIONS + first[split:], first[:split] + late, draw(amendments(facts))]


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[list[dict[str, Any]]], list[tuple[int, str, dict[str, Any], Any, int | None]]]:
    """Batches to append, and after each batch some questions: (after batch, view, options, as_of, known_at batch)."""
    batches = draw(three_appends())
    questions = []
    for after in range(len(batches)):
        for _ in range(draw(st.integers(min_value=1, max_value=6))):
            name, options = draw(st.sampled_from([*QUERIES, ("ownership", {"company": "moonshot-ai"})]))
            as_of = draw(st.sampled_from(MOMENTS))
            known = draw(st.one_of(st.none(), st.integers(min_value=0, max_value=after)))
            questions.append((after, name, options, as_of, known))
    return batches, questions


def check_scenario(
    url: str, batches: list[list[dict[str, Any]]], questions: list[Any], *, background_from: int | None = None
) -> None:
    with Ledger(url) as ledger:
        ledger.engine.save_after = 0  # checkpoint after every fold, so every question can start from one
        if background_from is not None:
            ledger.engine.background_from = background_from
        asked = {question[3] for question in questions}
        best = ledger.engine.checkpoints.best

        def told_best(*args: Any) -> Any:
            found = best(*args)
            if found is not None and is_quarter_end(found[0].cut) and found[0].cut not in asked:  # ``ledger.anchors``
                event("a question started from a quarter-end anchor")
            return found

        ledger.engine.checkpoints.best = told_best  # type: ignore[method-assign]
        recorded: list[datetime] = []
        for after, batch in enumerate(batches):
            if batch:
                ledger.append([Incoming(f"b{after}:{n}", ledger.catalogue.parse(d)) for n, d in enumerate(batch, 1)])
            recorded.append(ledger.store.head().known)  # type: ignore[arg-type]
            for when, name, options, as_of, known in questions:
                if when != after:
                    continue
                known_at = recorded[known] if known is not None else None
                query = Query(as_of=as_of, known_at=known_at, options=options)
                note(f"after batch {after}: {name} {options} as_of={as_of} known_at=batch {known}")
                assert outcome(ledger.view, name, query) == outcome(from_scratch, ledger, name, query)


def from_scratch(ledger: Ledger, name: str, query: Query) -> list[dict[str, Any]]:
    """The view folded over the whole story read at once: no index, no checkpoint, no engine. Every fact goes to
    ``apply``, whatever the view's ``kinds``, as the plainest fold would do it: what the engine's reading only some
    kinds (and telling the dates of the others through ``reach``) must come to."""
    view, plugin = ledger.host.view(name), ledger.host.view_providers[name]
    state = view.initial(query)
    for record in ledger.story(query.as_of, query.known_at):
        state = view.apply(state, record)
    return answer(view, plugin, state, query)


def outcome(ask: Any, *args: Any) -> Any:
    """The rows, or the one-line error a user would see (a missing exchange rate is an answer too)."""
    try:
        return ask(*args)
    except ViewError as error:
        return f"error: {error}"


PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def in_a_sqlite_file(check: Callable[..., None], *args: Any) -> None:
    """Run ``check(url, *args)`` on a fresh SQLite file (a hypothesis example gets no fixture of its own)."""
    with tempfile.TemporaryDirectory() as folder:
        check(f"sqlite:///{Path(folder) / 'ledger.db'}", *args)


def in_a_postgres_schema(check: Callable[..., None], *args: Any) -> None:
    """Run ``check(url, *args)`` in a fresh PostgreSQL schema, dropped afterwards."""
    require_postgres()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    try:
        check(postgres_url(schema), *args)
    finally:
        drop_schema(schema)


@PROPERTY
@given(scenario=scenarios())
def test_answers_through_checkpoints_equal_the_fold_from_scratch_on_sqlite(scenario: Any) -> None:
    in_a_sqlite_file(check_scenario, *scenario)


@settings(PROPERTY, max_examples=30)
@given(scenario=scenarios())
def test_answers_through_checkpoints_saved_in_parts_of_three_equal_the_fold_from_scratch(scenario: Any) -> None:
    """Small ledgers never fill a part of ``PART`` records: with parts of three, every state is saved in many."""
    from unittest import mock

    from ledger.folds import parts

    with mock.patch.object(parts, "PART", 3):
        in_a_sqlite_file(check_scenario, *scenario)


@pytest.mark.postgres
@settings(PROPERTY, max_examples=10)
@given(scenario=scenarios())
def test_answers_through_checkpoints_equal_the_fold_from_scratch_on_postgres(scenario: Any) -> None:
    in_a_postgres_schema(check_scenario, *scenario)


def check_scenario_in_children(url: str, batches: list[list[dict[str, Any]]], questions: list[Any]) -> None:
    """``check_scenario`` with every state pickled by a forked child (``ledger.background``), as a large ledger's
    are; and every state a child was given is kept (equal answers alone would not tell a child that saves
    nothing from one that saves right)."""
    from unittest import mock

    from ledger import checkpoints

    given_to_children: list[int] = []
    kept: list[str] = []
    pickle_apart, keep = checkpoints.pickle_apart, checkpoints.Checkpoints._keep

    def counted_apart(encoders: Any, running: int) -> Any:
        given_to_children.append(len(encoders))
        return pickle_apart(encoders, running)

    def counted_keep(self: Any, view: Any, *args: Any) -> None:
        kept.append(view.name)
        keep(self, view, *args)

    with (
        mock.patch.object(checkpoints, "pickle_apart", counted_apart),
        mock.patch.object(checkpoints.Checkpoints, "_keep", counted_keep),
    ):
        check_scenario(url, batches, questions, background_from=0)
    assert len(kept) == sum(given_to_children)
    if kept:
        event("states pickled by a child were kept")


@settings(PROPERTY, max_examples=30)
@given(scenario=scenarios())
def test_answers_through_checkpoints_pickled_in_a_child_process_equal_the_fold_from_scratch(scenario: Any) -> None:
    in_a_sqlite_file(check_scenario_in_children, *scenario)


@pytest.mark.postgres
@settings(PROPERTY, max_examples=5)
@given(scenario=scenarios())
def test_answers_through_checkpoints_pickled_in_a_child_process_on_postgres(scenario: Any) -> None:
    in_a_postgres_schema(check_scenario_in_children, *scenario)


def append_late_fine(ledger: Ledger, day: str, key: str, amount: str = "1") -> None:
    """A fine on a company of the sample ledger, dated ``day``, appended after the facts of later dates."""
    fact = {
        "kind": "penalty.imposed",
        "effective": day,
        "authority": "samr",
        "target": "alibaba",
        "amount": amount,
        "currency": "CNY",
        "key": key,
    }
    ledger.append([Incoming("test", ledger.catalogue.parse(fact))])


def _sample_ledger(url: str) -> Ledger:
    ledger = Ledger(url)
    ledger.engine.save_after = 0
    from ledger.importing import incoming_from_path

    ledger.append(incoming_from_path(ledger.catalogue, str(Path(__file__).parent.parent / "examples" / "story.jsonl")))
    return ledger


@pytest.mark.parametrize("damage", ["bytes", "foreign class", "another type", "cut not a date", "deleted", "ledger rewritten"])
def test_a_damaged_or_missing_checkpoint_never_changes_an_answer(sqlite_url: str, damage: str) -> None:
    query = Query(as_of=date(2024, 12, 31), options={"sector": "china-ai", "currency": "USD"})
    with _sample_ledger(sqlite_url) as ledger:
        first = ledger.view("league", query)
        assert first == from_scratch(ledger, "league", query)
        saved = [(row["view"], row["cut"]) for row in ledger.engine.checkpoints.listing()]
        assert saved[-1] == ("league", query.as_of) and {view for view, _ in saved} == {"league"}
        if damage == "bytes":
            ledger.store.db.write([(f"UPDATE {CHECKPOINTS_TABLE} SET state = ?", [(b"not a state",)])])
        elif damage == "foreign class":
            # a state that would run a command if it were unpickled naively; the digest is made to match
            import hashlib

            evil = pickle.dumps(print)
            digest = hashlib.sha256(evil).hexdigest()
            ledger.store.db.write([(f"UPDATE {CHECKPOINTS_TABLE} SET state = ?, digest = ?", [(evil, digest)])])
        elif damage == "another type":  # well formed, its digest made to match: it failed every question of the view
            import hashlib

            other = pickle.dumps({"not": "a league"})
            digest = hashlib.sha256(other).hexdigest()
            ledger.store.db.write([(f"UPDATE {CHECKPOINTS_TABLE} SET state = ?, digest = ?", [(other, digest)])])
        elif damage == "cut not a date":  # a traceback from every question, replay and listing
            ledger.store.db.write([(f"UPDATE {CHECKPOINTS_TABLE} SET cut = replace(cut, '-', 'x')", [()])])
        elif damage == "deleted":
            ledger.engine.checkpoints.clear()
        else:
            ledger.store.db.write([(f"UPDATE {CHECKPOINTS_TABLE} SET head_hash = ?", [("f" * 64,)])])
        if damage in ("bytes", "foreign class", "another type"):
            from ledger.checkpoints import CheckpointNotRead

            with pytest.warns(CheckpointNotRead, match=r"^the checkpoint of league at 2024-\d\d-\d\d could not be read"):
                assert ledger.view("league", query) == first
        else:
            assert ledger.view("league", query) == first
        # the damaged checkpoints were dropped and good ones saved in their place
        assert [(row["view"], row["cut"]) for row in ledger.engine.checkpoints.listing()] == saved
        head = ledger.store.head().position
        for _, cut in saved:
            found = ledger.engine.checkpoints.best(ledger.host.view("league"), head, cut)
            assert found is not None and found[0].cut == cut


def test_a_back_dated_fact_invalidates_only_checkpoints_at_or_after_its_date(sqlite_url: str) -> None:
    with _sample_ledger(sqlite_url) as ledger:
        view = ledger.host.view("regulatory")
        early, late = date(2022, 12, 31), date(2024, 12, 31)
        for day in (early, late):
            ledger.view("regulatory", Query(as_of=day))
        append_late_fine(ledger, "2023-06-01", "late-news")
        head = ledger.store.head().position
        kept = ledger.engine.checkpoints.best(view, head, early)
        assert kept is not None and kept[0].cut == early
        best_late = ledger.engine.checkpoints.best(view, head, late)
        assert best_late is not None and best_late[0].cut == early  # the 2024 one no longer holds
        assert ledger.view("regulatory", Query(as_of=late)) == from_scratch(ledger, "regulatory", Query(as_of=late))


def test_a_back_dated_fact_folds_from_the_quarter_end_a_month_or_more_before_the_cut(sqlite_url: str) -> None:
    """A fold leaves a checkpoint at the last quarter end at least a month before its cut (``ledger.anchors``):
    a late fact after it sends the next answer back to that quarter end, not to the first fact."""
    with _sample_ledger(sqlite_url) as ledger:
        view, cut = ledger.host.view("regulatory"), date(2024, 12, 31)
        query = Query(as_of=cut)
        ledger.view("regulatory", query)
        assert [row["cut"] for row in ledger.engine.checkpoints.listing()] == [date(2024, 9, 30), cut]
        started: list[date | None] = []
        best = ledger.engine.checkpoints.best

        def recorded_best(*args: Any) -> Any:
            found = best(*args)
            started.append(found[0].cut if found is not None else None)
            return found

        ledger.engine.checkpoints.best = recorded_best  # type: ignore[method-assign]
        for number, day in enumerate(["2024-12-20", "2024-10-01", "2024-08-01"]):
            append_late_fine(ledger, day, f"late-news-{number}", str(number + 1))
            assert ledger.view("regulatory", query) == from_scratch(ledger, "regulatory", query)
        # the first two start from the end of September, the third (before it) from the first fact
        assert started == [date(2024, 9, 30), date(2024, 9, 30), None]
        head = ledger.store.head().position
        found = ledger.engine.checkpoints.best(view, head, date(2024, 9, 30))
        assert found is not None and found[0].cut == date(2024, 9, 30)  # and saved it again on the way


@pytest.mark.parametrize("enough", [True, False])
def test_a_state_is_saved_again_only_once_it_folded_a_share_of_what_its_checkpoint_holds(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, enough: bool
) -> None:
    """A pass that saved its state at the last quarter end saves it again at the cut only when the facts folded
    since are at least ``1/SAVE_SHARE`` of those the quarter-end checkpoint holds; a later question starting from
    that checkpoint and folding the same facts saves nothing either. The answers are the same either way."""
    from ledger import engine

    anchor, cut = date(2024, 9, 30), date(2024, 12, 31)
    query = Query(as_of=cut)
    with _sample_ledger(sqlite_url) as ledger:
        ledger.engine.save_after = 1
        kinds = frozenset(ledger.host.view("regulatory").kinds or ())
        head = ledger.store.head().position
        held = ledger.store.count_between(None, anchor, head, kinds)
        since = ledger.store.count_between(anchor, cut, head, kinds)
        assert held > since > 0
        share = -(-held // since)  # the least share for which the facts since are enough
        monkeypatch.setattr(engine, "SAVE_SHARE", share if enough else share - 1)
        assert ledger.view("regulatory", query) == from_scratch(ledger, "regulatory", query)
        cuts = [row["cut"] for row in ledger.engine.checkpoints.listing()]
        assert cuts == ([anchor, cut] if enough else [anchor])
        if not enough:
            # the next question starts from the quarter end, loaded: it stands on the facts the ledger held when that
            # was saved (known without counting them), and saves nothing unless the facts since are a share of those
            loaded = -(-head // since)
            monkeypatch.setattr(engine, "SAVE_SHARE", loaded - 1)
            assert ledger.view("regulatory", query) == from_scratch(ledger, "regulatory", query)
            assert [row["cut"] for row in ledger.engine.checkpoints.listing()] == [anchor]
            monkeypatch.setattr(engine, "SAVE_SHARE", loaded)
            ledger.view("regulatory", query)
            assert [row["cut"] for row in ledger.engine.checkpoints.listing()] == [anchor, cut]


def test_quarter_end_checkpoints_outlive_a_run_of_questions_at_other_dates(sqlite_url: str) -> None:
    from ledger import checkpoints

    with _sample_ledger(sqlite_url) as ledger:
        ledger.view("regulatory", Query(as_of=date(2024, 12, 31)))
        days = [date(2025, 1, 1) + timedelta(days=n) for n in range(checkpoints.KEEP + 3)]
        for day in days:  # later cuts: each starts from the one before and passes no quarter end
            ledger.view("regulatory", Query(as_of=day))
        cuts = [row["cut"] for row in ledger.engine.checkpoints.listing()]
    assert cuts == [date(2024, 9, 30), date(2024, 12, 31), *days[-checkpoints.KEEP :]]


def test_copies_of_one_quarter_end_do_not_crowd_out_the_others(sqlite_url: str) -> None:
    from ledger import anchors, checkpoints

    query = Query(as_of=date(2024, 12, 31))
    with _sample_ledger(sqlite_url) as ledger:
        ledger.view("regulatory", query)  # the end of September on the way, the end of December at the cut
        for number in range(checkpoints.KEEP + anchors.KEEP_ANCHORS):  # each late fact: December saved again
            append_late_fine(ledger, f"2024-12-{10 + number:02d}", f"late-{number}")
            ledger.view("regulatory", query)
        cuts = [row["cut"] for row in ledger.engine.checkpoints.listing()]
    assert cuts.count(date(2024, 9, 30)) == 1 and cuts.count(date(2024, 12, 31)) == checkpoints.KEEP


def test_a_store_that_cannot_keep_checkpoints_still_answers(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlite3

    query = Query(options={"currency": "USD", "sector": "china-ai"})
    with _sample_ledger(sqlite_url) as ledger:
        expected = from_scratch(ledger, "league", query)

        def refuse(*statements: Any) -> None:
            raise sqlite3.OperationalError("attempt to write a readonly database")

        monkeypatch.setattr(ledger.store.db, "write", refuse)
        monkeypatch.setattr(ledger.store.db, "write_with_blob", refuse)
        assert ledger.view("league", query) == expected
        assert ledger.engine.checkpoints.listing() == []


def test_a_second_correction_reaches_every_party_the_fact_ever_named(sqlite_url: str) -> None:
    """A stake moved from one company to another and then to a third leaves the second's story too."""
    stake = {
        "kind": "stake.acquired",
        "effective": "2024-01-01",
        "key": "stake",
        "holder": "alibaba",
        "company": "moonshot-ai",
        "fraction": "0.1",
    }
    moved = {k: v for k, v in stake.items() if k != "key"}
    facts = [
        *REGISTRATIONS,
        stake,
        {
            "kind": "fact.corrected",
            "effective": "2024-02-01",
            "key": "c1",
            "fact": "stake",
            "replacement": {**moved, "company": "minimax"},
        },
        {
            "kind": "fact.corrected",
            "effective": "2024-03-01",
            "key": "c2",
            "fact": "stake",
            "replacement": {**moved, "company": "zhipu-ai"},
        },
    ]
    with Ledger(sqlite_url) as ledger:
        for n, fact in enumerate(facts):  # one batch each: the second correction finds the first in the store
            ledger.append([Incoming(f"t:{n}", ledger.catalogue.parse(fact))])
        for company in ("moonshot-ai", "minimax", "zhipu-ai"):
            query = Query(options={"company": company})
            assert ledger.view("ownership", query) == from_scratch(ledger, "ownership", query)
        minimax = ledger.view("ownership", Query(options={"company": "minimax"}))
        assert [(row["holder"], row["fraction"]) for row in minimax] == [("founders", 1)]


def test_a_replay_saves_each_fold_once_its_views_are_answered_and_lets_it_go(sqlite_url: str) -> None:
    import gc
    import weakref

    from ledger.replaying import replay_each

    with _sample_ledger(sqlite_url) as ledger:
        seen: list[tuple[str, list[str], list[str]]] = []
        states: dict[str, weakref.ref[Any]] = {}
        cut = date(2024, 12, 31)

        def saved_at_cut() -> list[str]:  # the anchors before it (``ledger.anchors``) are saved during the pass
            return sorted(row["view"] for row in ledger.engine.checkpoints.listing() if row["cut"] == cut)

        for replayed in replay_each(ledger, cut, None):
            gc.collect()
            alive = sorted(name for name, ref in states.items() if ref() is not None)
            seen.append((replayed.name, saved_at_cut(), alive))
            frame = replayed.rows.gi_frame  # type: ignore[attr-defined]
            states[replayed.name] = weakref.ref(frame.f_locals["state"])
            del frame
            assert list(replayed.rows) is not None
        saved = saved_at_cut()
    # a fold is saved once its last view (in name order) has been read, and its state goes with it: league's
    # before ownership is answered, the holdings (gains, ownership, portfolio) before regulatory
    assert seen == [
        ("gains", [], []),
        ("league", [], ["gains"]),
        ("ownership", ["league"], ["gains"]),
        ("portfolio", ["league"], ["gains", "ownership"]),
        ("regulatory", ["holdings", "league"], []),
        ("revenue", ["holdings", "league", "regulatory"], []),
        ("roundtrip", ["holdings", "league", "regulatory"], ["revenue"]),
    ]
    assert saved == ["holdings", "league", "regulatory", "revenue-book"]


@pytest.mark.parametrize("spool", ["temporary file", "no temporary file"])
def test_a_state_is_encoded_exactly_with_or_without_a_temporary_file(spool: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from decimal import Decimal

    from ledger import checkpoints
    from ledger.exact import Fraction

    if spool == "no temporary file":

        def refuse(*args: Any, **kwargs: Any) -> Any:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(checkpoints.tempfile, "TemporaryFile", refuse)
    shared = [Fraction(1, 3)]
    state = {"amount": Decimal("12345678901234567890.123456789012345678901234567890"), "a": shared, "b": shared}
    back = checkpoints.decode(checkpoints.encode(state), _AnyView())  # type: ignore[arg-type]
    assert back == state and back["a"] is back["b"]  # exact, and what was shared is shared again


class _AnyView:
    """What ``decode`` asks of a view: the packages its state may come from."""

    state_packages: tuple[str, ...] = ()


def test_a_replay_pickles_its_checkpoints_with_the_collector_off(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pickling keeps every object's reduction alive until it ends: collector passes would walk them all."""
    import gc

    from ledger.engine import Engine
    from ledger.replaying import replay_all

    collecting: list[bool] = []
    save = Engine._save

    def watched(self: Engine, *args: Any) -> None:
        collecting.append(gc.isenabled())
        save(self, *args)

    monkeypatch.setattr(Engine, "_save", watched)
    with _sample_ledger(sqlite_url) as ledger:
        assert gc.isenabled()
        replay_all(ledger, date(2024, 12, 31), None)
        assert gc.isenabled()
    assert collecting == [False] * 4


def test_a_replay_stopped_early_still_keeps_what_it_folded(sqlite_url: str) -> None:
    from ledger.replaying import replay_each

    with _sample_ledger(sqlite_url) as ledger:
        each = replay_each(ledger, date(2024, 12, 31), None)
        first = next(each)

        def at_cut() -> list[str]:  # the anchors before the cut (``ledger.anchors``) are saved during the pass
            return sorted(row["view"] for row in ledger.engine.checkpoints.listing() if row["cut"] == date(2024, 12, 31))

        assert first.name == "gains" and at_cut() == []
        each.close()  # a closed pipe, an error while writing the first file
        assert at_cut() == [
            "holdings",
            "league",
            "regulatory",
            "revenue-book",
        ]


def test_a_missing_required_option_is_told_before_any_fact_is_read(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a million facts the fold takes half a minute: being told ``--provider`` is missing must not wait for it."""
    from ledger.engine import Engine

    def no_fold(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("folded before checking the options")

    with _sample_ledger(sqlite_url) as ledger:
        monkeypatch.setattr(Engine, "states", no_fold)
        monkeypatch.setattr(Engine, "scoped_state", no_fold)
        for name, missing in (("revenue", "provider"), ("portfolio", "investor"), ("roundtrip", "provider")):
            with pytest.raises(ViewError, match=f"^the {name} view needs --{missing}$"):
                ledger.view(name, Query(as_of=date(2024, 6, 30), options={missing: ""}))


def check_folds_apart(url: str, batches: list[list[dict[str, Any]]], as_of: date | None) -> None:
    """After every batch, a replay that keeps checkpoints (and so loads folds apart when it can) answers as a
    ledger that never keeps any: one pass from scratch."""
    from ledger.replaying import replay_all

    folder = tempfile.TemporaryDirectory()  # the reference ledger: a SQLite file, whatever the backend under test
    with folder, Ledger(url) as kept, Ledger(f"sqlite:///{Path(folder.name) / 'scratch.db'}") as scratch:
        kept.engine.save_after = 0
        scratch.engine.save_after = 1 << 62
        for after, batch in enumerate(batches):
            for ledger in (kept, scratch):
                if batch:
                    ledger.append([Incoming(f"b{after}:{n}", ledger.catalogue.parse(d)) for n, d in enumerate(batch, 1)])
            apart = kept.engine.folds_apart(replayable(kept), as_of, kept.store.head().position)
            note(f"after batch {after}, folds apart: {apart}")
            event(f"folds apart: {apart}")
            assert outcome(replay_all, kept, as_of, None) == outcome(replay_all, scratch, as_of, None)
        assert scratch.engine.checkpoints.listing() == []


def replayable(ledger: Ledger) -> list[Any]:
    from ledger.replaying import replayable_views

    return replayable_views(ledger)


@PROPERTY
@given(batches=three_appends(), as_of=st.sampled_from(MOMENTS))
def test_a_replay_loading_each_fold_apart_answers_as_one_pass_from_scratch(
    batches: list[list[dict[str, Any]]], as_of: date | None
) -> None:
    in_a_sqlite_file(check_folds_apart, batches, as_of)


@pytest.mark.postgres
@settings(PROPERTY, max_examples=10)
@given(batches=three_appends(), as_of=st.sampled_from(MOMENTS))
def test_a_replay_loading_each_fold_apart_answers_as_one_pass_from_scratch_on_postgres(
    batches: list[list[dict[str, Any]]], as_of: date | None
) -> None:
    in_a_postgres_schema(check_folds_apart, batches, as_of)


def test_after_an_append_a_replay_loads_one_fold_at_a_time(ledger_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The common case on a large ledger: replay, append a few facts, replay again. The second replay holds one
    loaded state at a time, not all four."""
    from ledger import engine
    from ledger.replaying import replay_all

    with _sample_ledger(ledger_url) as ledger:
        replay_all(ledger, None, None)  # saves every fold's checkpoint
        mark = {"kind": "valuation.marked", "effective": "2026-06-30", "company": "moonshot-ai"}
        ledger.append([Incoming("late", ledger.catalogue.parse({**mark, "valuation": "3000000000", "currency": "USD"}))])
        folded: list[list[str]] = []
        states = engine.Engine.states

        def watched(self: engine.Engine, views: Any, *args: Any, **kwargs: Any) -> list[Any]:
            folded.append([view.name for view, _ in views])
            return states(self, views, *args, **kwargs)

        monkeypatch.setattr(engine.Engine, "states", watched)
        with monkeypatch.context() as patched:
            patched.setattr(engine, "APART_UP_TO", 0)  # too many facts after the checkpoints: one pass
            patched.setattr(ledger.engine, "save_after", 1 << 62)  # which saves nothing: the next replay is as after the append
            once = replay_all(ledger, None, None)
            assert folded == [[view.name for view in replayable(ledger)]]
        folded.clear()
        told: list[tuple[int, int | None]] = []
        assert replay_all(ledger, None, None, progress=lambda done, total: told.append((done, total))) == once
        assert folded == [["gains", "ownership", "portfolio"], ["league"], ["regulatory"], ["revenue", "roundtrip"]]
        head = ledger.store.head().position
        assert told == [(head, head)]  # one full bar, not one bar per fold


def test_standard_containers_a_state_may_hold_read_back() -> None:
    """A state of a standard container the unpickler did not allow (a ``Counter``) was saved, never read back, and
    dropped at every question: each paid a whole fold, with no word why."""
    from collections import Counter, OrderedDict, defaultdict, deque

    from ledger.checkpoints import decode, encode
    from ledger.host import load

    view = load(entry_points=False).view("league")
    for state in (Counter({"a": 2}), OrderedDict(b=1), defaultdict(list, {"c": [1]}), deque([1, 2]), {frozenset({1})}):
        assert decode(encode(state), view) == state
