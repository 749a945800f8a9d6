"""The plugin host: plugins registered in a test are found, used and removed; failures name the plugin."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from events import Fact, fact_class, fields
from ledger.api import Ledger
from ledger.appending import Incoming
from ledger.engine import ROWS_AT_ONCE, answer, answer_as_made
from ledger.errors import LedgerError, PluginError, RejectedError
from ledger.hookspecs import hookimpl
from ledger.host import PluginHost, plugin_manager
from ledger.persistence import CHECKPOINTS_TABLE
from ledger.problems import Problem
from ledger.records import Recorded
from ledger.views import Option, Query, View


@fact_class
class DealRumoured(Fact):
    """A deal reported by rumour only: a kind a plugin adds to the catalogue."""

    kind = "deal.rumoured"

    company: str = fields.party()
    amount: Decimal = fields.amount()
    currency: str = fields.currency()


class RumourTotals(View[dict[str, Decimal]]):
    name = "rumours"
    help = "Rumoured amounts per company."
    columns = ("company", "amount")
    options = (Option("company", "only this company", kind="party"),)

    def initial(self, query: Query) -> dict[str, Decimal]:
        return {}

    def apply(self, state: dict[str, Decimal], record: Recorded) -> dict[str, Decimal]:
        if record.kind == "deal.rumoured":
            fact: Any = record.fact
            state[fact.company] = state.get(fact.company, Decimal(0)) + fact.amount
        return state

    def rows(self, state: dict[str, Decimal], query: Query) -> list[dict[str, Any]]:
        wanted = query.get("company")
        return [{"company": c, "amount": a} for c, a in sorted(state.items()) if wanted in (None, c)]


class RumourPlugin:
    """A throwaway plugin: a kind, a view and a validation rule (no rumour above 10 billion)."""

    @hookimpl
    def dealledger_fact_kinds(self) -> list[type[Fact]]:
        return [DealRumoured]

    @hookimpl
    def dealledger_views(self) -> list[View[Any]]:
        return [RumourTotals()]

    @hookimpl
    def dealledger_validate(self, new: list[Recorded]) -> list[Problem]:  # takes fewer arguments than the spec
        return [
            Problem(f"{r.describe()}: a rumour above 10 billion is not credible", (r.id,))
            for r in new
            if r.kind == "deal.rumoured" and r.fact.amount > 10_000_000_000  # type: ignore[attr-defined]
        ]


@pytest.fixture
def host() -> Iterator[PluginHost]:
    manager = plugin_manager(entry_points=False)
    plugin = RumourPlugin()
    manager.register(plugin, name="rumours-test")
    yield PluginHost(manager)
    manager.unregister(plugin)
    assert "rumours" not in PluginHost(manager).views


def rumour(host: PluginHost, amount: str, place: str = "test:1") -> list[Incoming]:
    """The party, then a rumoured deal about it (the plugin's kind) at ``place``."""
    deal = {"kind": "deal.rumoured", "effective": "2024-01-01", "company": "moonshot-ai", "amount": amount, "currency": "USD"}
    return [*rumour_free(host), Incoming(place, host.catalogue.parse(deal))]


def host_with(plugin: object, name: str) -> PluginHost:
    """A host of the built-in plugins and ``plugin``, registered under ``name`` (no installed plugin)."""
    manager = plugin_manager(entry_points=False)
    manager.register(plugin, name=name)
    return PluginHost(manager)


def test_a_plugin_adds_a_kind_and_a_view_used_like_built_ins(host: PluginHost, sqlite_url: str) -> None:
    assert host.kind_providers["deal.rumoured"] == "rumours-test"
    assert host.view_providers["rumours"] == "rumours-test"
    assert "ownership" in host.views  # the built-ins came through the same path
    with Ledger(sqlite_url, host=host) as ledger:
        ledger.append(rumour(host, "5"))
        assert ledger.view("rumours", Query(options={"company": "moonshot-ai"})) == [
            {"company": "moonshot-ai", "amount": Decimal(5)}
        ]


def test_plugin_validation_rejects_the_batch_naming_the_plugin_and_place(host: PluginHost, sqlite_url: str) -> None:
    with Ledger(sqlite_url, host=host) as ledger:
        with pytest.raises(RejectedError, match=r"^test:7: \[rumours-test\] deal.rumoured .* not credible$"):
            ledger.append(rumour(host, "20000000000", place="test:7"))
        assert ledger.records() == []


def test_plugin_validation_of_the_new_facts_holds_on_a_ledger_that_already_has_facts(host: PluginHost, sqlite_url: str) -> None:
    """The rule checks ``new``; asked again without the batch (to leave out problems already there), it found the
    same rumour and the problem was taken for an old one: only an empty ledger ever refused it."""
    with Ledger(sqlite_url, host=host) as ledger:
        ledger.append(rumour_free(host))
        with pytest.raises(RejectedError, match=r"^test:7: \[rumours-test\] deal.rumoured .* not credible$"):
            ledger.append(rumour(host, "20000000000", place="test:7")[1:])
        assert len(ledger.records()) == 1
        ledger.append(rumour(host, "5")[1:])
        assert len(ledger.records()) == 2


def test_a_failing_plugin_names_itself_and_the_fact(sqlite_url: str) -> None:
    class Broken(View[int]):
        name = "broken"

        def initial(self, query: Query) -> int:
            return 0

        def apply(self, state: int, record: Recorded) -> int:
            if record.kind == "party.registered":
                raise KeyError("boom")
            return state

        def rows(self, state: int, query: Query) -> list[dict[str, Any]]:
            return []

    class BrokenPlugin:
        @hookimpl
        def dealledger_views(self) -> list[View[Any]]:
            return [Broken()]

    host = host_with(BrokenPlugin(), "broken-test")
    with Ledger(sqlite_url, host=host) as ledger:
        ledger.append(rumour_free(host))
        with pytest.raises(PluginError, match=r"plugin broken-test: view broken failed on party.registered 'p-m' of 2020-01-01"):
            ledger.view("broken", Query())
        assert len(ledger.records()) == 1


def rumour_free(host: PluginHost) -> list[Incoming]:
    """Just the party, for hosts without the rumour kind."""
    return [
        Incoming(
            "test:0",
            host.catalogue.parse(
                {
                    "kind": "party.registered",
                    "effective": "2020-01-01",
                    "key": "p-m",
                    "party": "moonshot-ai",
                    "name": "M",
                    "type": "company",
                }
            ),
        ),
    ]


def test_a_misspelt_hook_fails_loudly() -> None:
    class Misspelt:
        @hookimpl
        def dealledger_view(self) -> list[Any]:
            return []

    manager = plugin_manager(entry_points=False)
    manager.register(Misspelt(), name="misspelt")
    with pytest.raises(Exception, match="dealledger_view"):
        manager.check_pending()


def test_unknown_view_suggests_the_closest(host: PluginHost) -> None:
    with pytest.raises(LedgerError, match="no view named 'ownershp'; did you mean 'ownership'"):
        host.view("ownershp")


def test_two_plugins_cannot_claim_one_view_name() -> None:
    class Twin:
        @hookimpl
        def dealledger_views(self) -> list[View[Any]]:
            return [RumourTotals()]

    manager = plugin_manager(entry_points=False)
    manager.register(Twin(), name="twin-a")
    manager.register(RumourPlugin(), name="twin-b")
    with pytest.raises(PluginError, match="view 'rumours' is already provided by"):
        PluginHost(manager)


def test_a_view_cannot_share_a_fold_it_does_not_fold_the_same_way() -> None:
    # A view claiming the holdings fold with its own apply would read (and overwrite) that fold's checkpoints.
    from plugins.holdings import HoldingsView

    class Impostor(HoldingsView):
        name = "impostor"
        columns = ("x",)

        def apply(self, state: Any, record: Recorded) -> Any:
            return state

    class ImpostorPlugin:
        @hookimpl
        def dealledger_views(self) -> list[View[Any]]:
            return [Impostor()]

    with pytest.raises(PluginError, match=r"'impostor' \(plugin impostor-plugin\) and 'ownership' .* share fold 'holdings'"):
        host_with(ImpostorPlugin(), "impostor-plugin")


def test_a_fold_cannot_take_the_name_of_another_view() -> None:
    class Holdings(RumourTotals):
        name = "holdings"  # the name the built-in ownership, portfolio and gains keep their checkpoints under

    class NamePlugin:
        @hookimpl
        def dealledger_views(self) -> list[View[Any]]:
            return [Holdings()]

    with pytest.raises(PluginError, match=r"shares fold 'holdings', the name of view 'holdings' \(plugin name-plugin\)"):
        host_with(NamePlugin(), "name-plugin")


def test_views_sharing_a_fold_fold_it_once_and_keep_one_checkpoint(tmp_path: Path) -> None:
    from ledger.importing import incoming_from_path
    from ledger.replaying import replay_all

    with Ledger(f"sqlite:///{tmp_path / 'l.db'}") as ledger:
        ledger.engine.save_after = 0  # every state is saved, however few facts it folded
        ledger.append(incoming_from_path(ledger.catalogue, str(Path(__file__).parent.parent / "examples" / "story.jsonl")))
        first = replay_all(ledger, None, None)
        table = ledger.engine.checkpoints

        def kept_under() -> list[tuple[str, int]]:  # each fold: its cut and the quarter end before (``ledger.anchors``)
            names = [row["view"] for row in table.listing()]
            return [(name, names.count(name)) for name in sorted(set(names))]

        assert kept_under() == [("holdings", 2), ("league", 2), ("regulatory", 2), ("revenue-book", 2)]
        assert replay_all(ledger, None, None) == first  # the shared checkpoints answer every view of the fold
        # what a view kept under its own name before it shared a fold goes when the fold is saved again
        moved = f"UPDATE {CHECKPOINTS_TABLE} SET view = 'ownership' WHERE view = 'holdings'"
        table._write([(moved, [()])])
        assert [name for name, _ in kept_under()][:2] == ["league", "ownership"]
        ledger.view("ownership", Query())
        assert kept_under() == [("holdings", 2), ("league", 2), ("regulatory", 2), ("revenue-book", 2)]


def test_local_plugin_module_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEALLEDGER_PLUGINS", "tests.local_plugin")
    host = PluginHost(plugin_manager(entry_points=False))
    assert host.view_providers["local-count"] == "tests.local_plugin"
    monkeypatch.setenv("DEALLEDGER_PLUGINS", "tests.no_such_module")
    with pytest.raises(LedgerError, match=r"cannot load plugin module 'tests.no_such_module'"):
        plugin_manager(entry_points=False)


@pytest.mark.parametrize("made", ["list", "generator"])
@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"n": 0.1}, r"answered n=0.1 \(float\); rows hold None, bool, int, str, Decimal, Fraction, date or datetime"),
        ({"n": 1, "extra": 2}, r"answered column 'extra', not among its columns"),
        (("n", 1), r"answered tuple where a row \(a dict\) belongs"),
    ],
)
def test_rows_are_checked_against_columns_and_types(tmp_path: Path, row: Any, message: str, made: str) -> None:
    class Loose(View[int]):
        name = "loose"
        columns = ("n",)

        def initial(self, query: Query) -> int:
            return 0

        def apply(self, state: int, record: Recorded) -> int:
            return state

        def rows(self, state: int, query: Query) -> Iterable[dict]:
            rows = [{"n": 1}, {"n": 2}, row, {"n": 3}]  # the bad row among good ones, which all pass
            return rows if made == "list" else (row for row in rows)

    class Plugin:
        @hookimpl
        def dealledger_views(self) -> list[View[Any]]:
            return [Loose()]

    with (
        Ledger(f"sqlite:///{tmp_path / 'l.db'}", host=host_with(Plugin(), "loose-plugin")) as ledger,
        pytest.raises(PluginError, match=rf"^plugin loose-plugin: view loose {message}"),
    ):
        ledger.view("loose", Query())
    with pytest.raises(PluginError, match=rf"^plugin loose-plugin: view loose {message}"):  # as replay reads them
        list(answer_as_made(Loose(), "loose-plugin", 0, Query()))


class Counting(View[int]):
    """Rows made one by one (a generator), counted as they are made; or, told to, something that is not rows."""

    name = "counting"
    columns = ("n",)

    def __init__(self, answer: Any = None) -> None:
        self.made = 0
        self.answer = answer

    def initial(self, query: Query) -> int:
        return 0

    def apply(self, state: int, record: Recorded) -> int:
        return state

    def rows(self, state: int, query: Query) -> Iterable[dict[str, Any]]:
        if self.answer is not None:
            return self.answer  # type: ignore[no-any-return]
        return self._made()

    def _made(self) -> Iterator[dict[str, Any]]:
        for n in range(3 * ROWS_AT_ONCE + 5):
            self.made += 1
            yield {"n": n}


def test_rows_made_one_by_one_are_handed_on_as_made_and_all_of_them() -> None:
    view = Counting()
    rows = answer_as_made(view, "counting-plugin", 0, Query())
    assert next(rows) == {"n": 0} and view.made <= ROWS_AT_ONCE  # never the whole answer at once
    assert len(list(rows)) == 3 * ROWS_AT_ONCE + 4
    assert answer(Counting(), "counting-plugin", 0, Query()) == [{"n": n} for n in range(3 * ROWS_AT_ONCE + 5)]


@pytest.mark.parametrize("answered", [{"n": 1}, 7, "n"])
def test_an_answer_that_is_not_rows_is_named(answered: Any) -> None:
    kind = type(answered).__name__
    for asking in (answer, lambda *args: list(answer_as_made(*args))):
        with pytest.raises(
            PluginError, match=rf"view counting answered {kind} where rows \(a list or an iterable of dicts\) belong"
        ):
            asking(Counting(answered), "counting-plugin", 0, Query())


def test_a_view_failing_while_it_makes_its_rows_is_named() -> None:
    class Failing(Counting):
        def _made(self) -> Iterator[dict[str, Any]]:
            yield {"n": 1}
            raise ZeroDivisionError("no rows today")

    for asking in (answer, lambda *args: list(answer_as_made(*args))):
        with pytest.raises(PluginError, match=r"^plugin counting-plugin: view counting failed to answer: ZeroDivisionError"):
            asking(Failing(), "counting-plugin", 0, Query())


def test_hooks_go_through_pluggy_so_wrappers_and_tracing_work(tmp_path: Path) -> None:
    seen: list[str] = []

    class Watcher:
        @hookimpl(wrapper=True)
        def dealledger_validate(self, new: Any) -> Any:
            seen.append(f"before {len(new)}")
            problems = yield
            seen.append(f"after {len(problems)}")
            return problems

    manager = plugin_manager(entry_points=False)
    manager.register(Watcher(), name="watcher")
    traced: list[str] = []
    manager.trace.root.setwriter(traced.append)
    manager.enable_tracing()
    with Ledger(f"sqlite:///{tmp_path / 'l.db'}", host=PluginHost(manager)) as ledger:
        party = {"kind": "party.registered", "effective": "2020-01-01", "party": "co", "name": "Co", "type": "company"}
        ledger.append([Incoming("test:1", ledger.catalogue.parse(party))])
    assert seen and seen[0] == "before 1" and all(s.startswith(("before", "after")) for s in seen)
    assert any("dealledger_validate" in line for line in traced)


def test_a_failing_wrapper_is_named(tmp_path: Path) -> None:
    class Broken:
        @hookimpl(wrapper=True)
        def dealledger_validate(self) -> Any:
            raise RuntimeError("boom")
            yield  # a generator, as a wrapper must be

    with Ledger(f"sqlite:///{tmp_path / 'l.db'}", host=host_with(Broken(), "broken-wrapper")) as ledger:
        party = {"kind": "party.registered", "effective": "2020-01-01", "party": "co", "name": "Co", "type": "company"}
        with pytest.raises(PluginError, match=r"^plugin broken-wrapper failed in dealledger_validate: RuntimeError: boom"):
            ledger.append([Incoming("test:1", ledger.catalogue.parse(party))])
        assert ledger.records() == []


class MarksCounted(View[int]):
    """Counts what ``apply`` is handed, trusting its ``kinds`` to be all it is handed."""

    name = "marks-counted"
    help = "Valuation marks, counted."
    columns = ("marks",)
    kinds = frozenset({"valuation.marked"})

    def initial(self, query: Query) -> int:
        return 0

    def apply(self, state: int, record: Recorded) -> int:
        assert record.kind == "valuation.marked", record.kind
        return state + 1

    def rows(self, state: int, query: Query) -> list[dict[str, Any]]:
        return [{"marks": state}]


class EveryFactCounted(MarksCounted):
    name = "facts-counted"
    fold_name = "facts-counted"
    columns = ("facts",)
    kinds = None

    def apply(self, state: int, record: Recorded) -> int:
        return state + 1

    def rows(self, state: int, query: Query) -> list[dict[str, Any]]:
        return [{"facts": state}]


def test_a_view_is_handed_only_its_kinds_even_in_a_pass_shared_with_one_reading_every_fact(sqlite_url: str) -> None:
    """A view that names its kinds was handed every fact of a pass it shared with a view reading all of them (a
    replay, a report): its count then took in every fact, and its checkpoint carried that into later answers."""
    from datetime import date

    from ledger.importing import incoming_from_path
    from ledger.replaying import replay_all

    class Counters:
        @hookimpl
        def dealledger_views(self) -> list[View[Any]]:
            return [MarksCounted(), EveryFactCounted()]

    story = Path(__file__).parent.parent / "examples" / "story.jsonl"
    with Ledger(sqlite_url, host=host_with(Counters(), "counters-test")) as ledger:
        ledger.engine.save_after = 0
        ledger.append(incoming_from_path(ledger.catalogue, str(story)))
        marks = sum(1 for record in ledger.records() if record.kind == "valuation.marked")
        as_of = date(2024, 12, 31)
        replayed = replay_all(ledger, as_of, None)
        assert replayed["marks-counted"][1] == [{"marks": marks}]
        assert replayed["facts-counted"][1] == [{"facts": len(ledger.story(as_of))}]
        assert ledger.view("marks-counted", Query(as_of)) == [{"marks": marks}]  # from the checkpoint the replay saved


def test_a_plugin_module_named_again_under_another_name_is_loaded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """An installed plugin also named with ``--plugin`` while it is worked on (the module is the same, its name is
    the entry point's): pluggy refused to register it twice and every command ended in a traceback."""
    import importlib
    import sys

    module = importlib.import_module("tests.local_plugin")
    monkeypatch.setitem(sys.modules, "local_plugin_installed", module)
    manager = plugin_manager(["tests.local_plugin", "local_plugin_installed"], entry_points=False)
    assert [name for name, plugin in manager.list_name_plugin() if plugin is module] == ["tests.local_plugin"]
    assert "local-count" in PluginHost(manager).views


def test_an_installed_plugin_that_cannot_be_loaded_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ledger.host import ENTRY_POINT_GROUP

    (tmp_path / "broken_at_import.py").write_text("raise RuntimeError('broken at import')\n")
    info = tmp_path / "dl_broken-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: dl-broken\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\nbroken = broken_at_import\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    message = (
        r"^installed plugin 'broken' \(broken_at_import, installed by dl-broken\) cannot be loaded: "
        r"RuntimeError: broken at import$"
    )
    with pytest.raises(PluginError, match=message):
        plugin_manager()


@fact_class
class HintNoted(Fact):
    """A kind whose check refuses with a ValueError, as a plugin author may write it."""

    kind = "hint.noted"

    company: str = fields.party()
    level: Decimal = fields.amount()

    def check(self) -> None:
        if self.level > 10:
            raise ValueError("level above 10")


def test_a_kind_s_check_that_raises_another_exception_is_a_one_line_error_not_a_traceback() -> None:
    from events import Catalogue, FactError

    catalogue = Catalogue([HintNoted])
    with pytest.raises(FactError, match=r"^hint.noted: the kind's check failed: ValueError: level above 10$"):
        catalogue.parse({"kind": "hint.noted", "effective": "2024-01-01", "company": "acme", "level": "11"})
    assert catalogue.parse({"kind": "hint.noted", "effective": "2024-01-01", "company": "acme", "level": "3"})
    import ledger.plugin

    assert ledger.plugin.FactError is FactError  # what a kind's check raises, from the one module plugins import


def test_a_plugin_view_taking_a_built_in_name_is_blamed_not_the_built_in() -> None:
    class Clash:
        @hookimpl
        def dealledger_views(self) -> list[View[Any]]:
            view = MarksCounted()
            view.name = "league"
            return [view]

    with pytest.raises(PluginError, match=r"^plugin clash-test: view 'league' is already provided by plugins.ownership$"):
        host_with(Clash(), "clash-test")


def test_an_apply_that_returns_no_state_is_blamed_on_the_fact_it_was_given(sqlite_url: str) -> None:
    """Forgetting ``return state`` was told on the next fact, as "'NoneType' object is not subscriptable"."""

    class Forgetful(MarksCounted):
        name = "forgetful"
        kinds = None

        def apply(self, state: int, record: Recorded) -> int:
            state + 1  # the mistake: nothing returned

    class Plugin:
        @hookimpl
        def dealledger_views(self) -> list[View[Any]]:
            return [Forgetful()]

    with Ledger(sqlite_url, host=host_with(Plugin(), "forgetful-test")) as ledger:
        ledger.append(rumour_free(ledger.host))
        message = r"^plugin forgetful-test: view forgetful returned no state from apply on party.registered 'p-m' of 2020-01-01$"
        with pytest.raises(PluginError, match=message):
            ledger.view("forgetful", Query())
