"""States saved in parts (``ValueLog``, ``PartedDict``): exact, restricted like the rest of a checkpoint, bounded in
memory, and used only where the rule holds (nothing a fold changes is reachable from two parts)."""

from __future__ import annotations

import argparse
import dataclasses
import gc
import pickle
import tempfile
import tracemalloc
from datetime import date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction as PyFraction
from pathlib import Path
from typing import Any, NamedTuple
from unittest import mock

import pytest
from hypothesis import given

from ledger import checkpoints
from ledger.api import Ledger
from ledger.appending import Incoming
from ledger.exact import Fraction
from ledger.folds import parts
from ledger.folds.captable import Table
from ledger.folds.packed import WORD, PackedLog
from ledger.folds.parts import PartedDict, ValueLog
from ledger.replaying import replayable_views
from plugins.holdings import Lot
from tests.viewkit import party, records

from .test_engine_properties import PROPERTY, three_appends


class Move(NamedTuple):
    day: date
    amount: Decimal
    share: Fraction
    payer: str | None


class Pair(NamedTuple):
    day: int
    thing: Any


class Pairs(PackedLog[Pair], record=Pair, day=WORD, thing=WORD):
    """Records whose second field could hold anything (to show the check sees into words)."""


class _AnyView:
    """What ``decode`` asks of a view: the packages its state may come from (this test module's, here)."""

    state_packages: tuple[str, ...] = ("tests",)


def moves(count: int) -> list[Move]:
    return [
        Move(
            date(2020, 1, 1) + timedelta(days=n % 900), Decimal(f"{n}.{n:040d}"), Fraction(n, 7), None if n % 5 else f"p{n % 13}"
        )
        for n in range(count)
    ]


def roundtrip(state: Any) -> Any:
    return checkpoints.decode(checkpoints.encode(state), _AnyView())  # type: ignore[arg-type]


@pytest.mark.parametrize("part", [3, parts.PART])
@pytest.mark.parametrize("count", [0, 1, 3, 4, 10, 5000])
def test_logs_and_dicts_come_back_exactly_whole_or_in_parts(part: int, count: int) -> None:
    records = moves(count)
    state = {
        "log": ValueLog(records),
        "by_payer": PartedDict((n, ValueLog(records[n : n + 2])) for n in range(count)),
        "tables": PartedDict((f"c{n}", {"shares": {"founders": Fraction(n + 1, 3)}, "held": {n}}) for n in range(count)),
    }
    with mock.patch.object(parts, "PART", part):
        back = roundtrip(state)
    assert back == state
    assert type(back["log"]) is ValueLog and type(back["by_payer"]) is PartedDict
    assert all(type(log) is ValueLog for log in back["by_payer"].values())
    assert [type(move.share) for move in back["log"]] == [Fraction] * count  # exact types, not just equal values


def test_what_is_shared_inside_one_part_stays_shared() -> None:
    table: dict[str, Any] = {"shares": {}}
    state = PartedDict({"company": (table, table)})
    back = roundtrip(state)
    back["company"][0]["shares"]["x"] = 1
    assert back["company"][1]["shares"] == {"x": 1}


def test_slugs_named_by_several_parts_come_back_as_one_object_each() -> None:
    """Each part is unpickled alone; the slugs of keys and of sets are handed out from one table as they are read,
    as the store's reads hand them out, so a state read back holds each once (as the state folded from facts does)."""
    state = PartedDict(((f"company-{n % 2}", f"holder-{n}"), {f"company-{n % 2}", "cloud-x"}) for n in range(12))
    state.update((f"company-{n % 2}", {f"holder-{n}"}) for n in range(2))
    with mock.patch.object(parts, "PART", 3):
        back = roundtrip(state)
    assert back == state
    slugs = [name for key, value in back.items() for name in (*(key if isinstance(key, tuple) else (key,)), *value)]
    assert len({id(name) for name in slugs}) == len(set(slugs)) == 15  # 2 companies, 12 holders, cloud-x


@parts.pickled_by_fields
@dataclasses.dataclass(frozen=True, slots=True)
class Frozen:
    """A frozen record of a plugin's state, with text to share when it is read back."""

    holder: str
    amount: Decimal


def test_a_frozen_record_read_back_in_parts_shares_its_slugs_as_well() -> None:
    state = PartedDict((n, Frozen(f"holder-{n % 2}", Decimal(n))) for n in range(9))
    with mock.patch.object(parts, "PART", 3):
        back = roundtrip(state)
    assert [(r.holder, r.amount) for r in back.values()] == [(r.holder, r.amount) for r in state.values()]
    assert len({id(record.holder) for record in back.values()}) == 2


def test_records_and_packed_logs_in_several_parts_share_their_slugs_too() -> None:
    """The text fields of a ``pickled_by_fields`` record (an escrow account) and the words of a packed log (its
    moves) come back as one object per slug, whichever part brought them; the numbers stay exactly as they were."""
    from ledger.folds.credits import Account

    accounts = PartedDict(
        (n, Account(f"escrow-{n % 3}", "USD", f"company-{n % 2}", Decimal(n), Decimal("0.5"))) for n in range(12)
    )
    logs = PartedDict((n, Pairs([Pair(1, f"company-{n % 2}"), Pair(2, "USD")])) for n in range(12))
    with mock.patch.object(parts, "PART", 3):
        back = roundtrip({"accounts": accounts, "logs": logs})
    assert [(a.name, a.currency, a.beneficiary, a.deposited) for a in back["accounts"].values()] == [
        (a.name, a.currency, a.beneficiary, a.deposited) for a in accounts.values()
    ]
    assert [list(log) for log in back["logs"].values()] == [list(log) for log in logs.values()]
    texts = [text for a in back["accounts"].values() for text in (a.name, a.currency, a.beneficiary)]
    texts += [pair.thing for log in back["logs"].values() for pair in log]
    assert len({id(text) for text in texts}) == len(set(texts)) == 6  # escrow-0..2, company-0..1, USD


@pytest.mark.parametrize("container", ["log", "dict"])
def test_a_part_is_read_by_the_restricted_unpickler_too(container: str) -> None:
    """A checkpoint may build only a state's classes; a part must not be a way around that."""
    foreign = [argparse.Namespace(command="rm -rf /") for _ in range(8)]
    state = ValueLog(foreign) if container == "log" else PartedDict(enumerate(foreign))
    with mock.patch.object(parts, "PART", 3):
        data = checkpoints.encode(state)
    with pytest.raises(checkpoints.CheckpointError, match=r"argparse\.Namespace"):
        checkpoints.decode(data, _AnyView())  # type: ignore[arg-type]


def peak(state: Any) -> int:
    """The most memory saving ``state`` as a checkpoint takes (bytes allocated by Python, tracemalloc)."""
    gc.collect()
    tracemalloc.start()
    try:
        checkpoints.encode(state)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_saving_in_parts_keeps_the_pickle_memo_small() -> None:
    """The reason for parts: pickle remembers each object it wrote, and its reduction, until it ends."""
    records = moves(40_000)
    whole, parted = peak(list(records)), peak(ValueLog(records))
    assert parted * 3 < whole, (parted, whole)
    # a dict of many short logs (the revenue book's entries by provider) is parted by its records, not its keys
    by_payer = [(n, records[n : n + 100]) for n in range(0, len(records), 100)]
    whole = peak(dict((key, list(log)) for key, log in by_payer))
    parted = peak(PartedDict((key, ValueLog(log)) for key, log in by_payer))
    assert parted * 3 < whole, (parted, whole)


def test_a_dict_is_parted_by_the_records_it_holds() -> None:
    with mock.patch.object(parts, "PART", 10):
        assert [len(part) for part in parts._weighed([("a", [1] * 25), ("b", [2]), ("c", 3), ("d", {4, 5})])] == [1, 3]
        assert [len(part) for part in parts._weighed((n, n) for n in range(12))] == [5, 5, 2]


def test_copies_are_what_copy_means() -> None:
    import copy

    log = ValueLog(moves(5))
    shallow, deep = copy.copy(log), copy.deepcopy(log)
    assert shallow == log == deep and type(shallow) is type(deep) is ValueLog and shallow is not log
    positions = PartedDict({("c", "h"): [1]})
    assert copy.copy(positions)[("c", "h")] is positions[("c", "h")]
    deep_positions = copy.deepcopy(positions)
    assert deep_positions == positions and deep_positions[("c", "h")] is not positions[("c", "h")]


# --- the rule, checked on the folded states of random ledgers ------------------------------------

IMMUTABLE_LEAVES = (str, bytes, int, float, bool, type(None), Decimal, PyFraction, Fraction, date, datetime, timedelta)


def _changeable(thing: Any) -> bool:
    """Whether a fold could change ``thing`` in place (a frozen dataclass, a tuple, a frozenset cannot)."""
    if isinstance(thing, (*IMMUTABLE_LEAVES, tuple, frozenset, type)):
        return False
    params = getattr(type(thing), "__dataclass_params__", None)
    return not (params is not None and params.frozen)


def _reachable(root: Any, stop: set[int] | None = None) -> dict[int, Any]:
    """Every object a fold could change that is reachable from ``root`` (not walking into objects in ``stop``)."""
    found: dict[int, Any] = {}
    seen: set[int] = set()
    todo = [root]
    while todo:
        thing = todo.pop()
        if id(thing) in seen or isinstance(thing, (*IMMUTABLE_LEAVES, type)) or (stop and id(thing) in stop):
            continue
        seen.add(id(thing))
        if _changeable(thing):
            found[id(thing)] = thing
        todo.extend(gc.get_referents(thing))
    return found


def _containers(root: Any) -> list[ValueLog[Any] | PartedDict[Any, Any] | PackedLog[Any]]:
    found: dict[int, Any] = {}
    todo, seen = [root], set()
    while todo:
        thing = todo.pop()
        if id(thing) in seen or isinstance(thing, (*IMMUTABLE_LEAVES, type)):
            continue
        seen.add(id(thing))
        if isinstance(thing, ValueLog | PartedDict | PackedLog):
            found[id(thing)] = thing
        todo.extend(gc.get_referents(thing))
    return list(found.values())


def rule_breaks(state: Any) -> list[str]:
    """Where a state saved in parts would come back different: a changeable object reachable from two parts."""
    broken: list[str] = []
    containers = _containers(state)
    assert containers, "every built-in fold keeps something in parts"
    for container in containers:
        name = type(container).__name__
        if isinstance(container, PackedLog):  # its words are handed out to every record that names them
            for word in container._words:
                changeable = [type(t).__name__ for t in _reachable(word).values()]
                if changeable:
                    broken.append(f"{name} word {word!r} holds changeable {changeable}")
            continue
        if isinstance(container, ValueLog):
            for record in container:
                changeable = [type(t).__name__ for t in _reachable(record).values()]
                if changeable:
                    broken.append(f"{name} record {record!r} holds changeable {changeable}")
            continue
        owner: dict[int, Any] = {}
        for key, value in container.items():
            for ident, thing in _reachable((key, value)).items():
                if ident in owner and owner[ident] != key:
                    broken.append(f"{name}: {type(thing).__name__} under both {owner[ident]!r} and {key!r}")
                owner[ident] = key
        outside = _reachable(state, stop={id(container)})
        for ident in owner.keys() & outside.keys():
            broken.append(f"{name}: {type(outside[ident]).__name__} under {owner[ident]!r} is also reachable from outside")
    return broken


@PROPERTY
@given(batches=three_appends())
def test_every_built_in_fold_keeps_the_rule_of_parts(batches: list[list[dict[str, Any]]]) -> None:
    with tempfile.TemporaryDirectory() as folder, Ledger(f"sqlite:///{Path(folder) / 'ledger.db'}") as ledger:
        for after, batch in enumerate(batches):
            if batch:
                ledger.append([Incoming(f"b{after}:{n}", ledger.catalogue.parse(d)) for n, d in enumerate(batch, 1)])
        views = replayable_views(ledger)
        states = ledger.states(views, None, None)
        for state in {id(s): s for s in states}.values():
            assert rule_breaks(state) == []


def test_the_rule_check_finds_a_shared_changeable_object() -> None:
    """The check above is only worth its name if it fails when it should."""

    @dataclasses.dataclass
    class Position:
        lots: list[int]

    shared = Position([1])
    assert rule_breaks(PartedDict({"a": shared, "b": shared}))
    assert rule_breaks({"outside": shared, "parted": PartedDict({"a": shared})})
    assert rule_breaks(ValueLog([(1, [2])]))
    assert rule_breaks(Pairs([Pair(1, (1, [2]))]))
    assert rule_breaks(PartedDict({"a": Position([1]), "b": (Position([2]), date(2024, 1, 1))})) == []


def _global(module: str, name: str) -> bytes:
    """A pickle (protocol 4) of just the object ``module.name``, as an attacker would write it."""

    def text(value: str) -> bytes:
        encoded = value.encode()
        return b"\x8c" + bytes([len(encoded)]) + encoded + b"\x94"

    return b"\x80\x04" + text(module) + text(name) + b"\x93\x94."


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("ledger.checkpoints", "io.FileIO"),  # a dotted name reaches any module an allowed one imported
        ("ledger.checkpoints", "partial"),  # a class imported into an allowed module from elsewhere
        ("ledger.replaying", "Path"),
        ("ledger.api", "Ledger"),  # defined in the ledger's own package, but made it opens (and creates) a store
        ("ledger.notebook", "Notebook"),  # ... and imports the plugins it is given
        ("events.readers", "SourceError"),
    ],
)
def test_a_checkpoint_builds_only_classes_defined_where_it_may(module: str, name: str) -> None:
    with pytest.raises(checkpoints.CheckpointError, match="which a view state may not hold"):
        checkpoints.decode(_global(module, name), _AnyView())  # type: ignore[arg-type]
    assert checkpoints.decode(_global("tests.test_parts", "Move"), _AnyView()) is Move  # its own classes: yes
    assert checkpoints.decode(_global("ledger.folds.captable", "Table"), _AnyView()) is Table  # the folds' own: yes


def test_parts_are_never_read_by_a_plain_unpickler() -> None:
    """An unpickler that lets a state's class through must not let its parts bypass it."""
    import pickle

    with mock.patch.object(parts, "PART", 3):
        data = pickle.dumps(ValueLog(moves(8)))
    with pytest.raises(pickle.UnpicklingError, match="read back by a checkpoint"):
        pickle.loads(data)


def credits_in_use(count: int) -> Any:
    """Credits with ``count`` grants in a few pools: some drawn on, some used up, some broken at expiry."""
    from events.cloud import CreditsConsumed, CreditsGranted
    from ledger.folds.credits import Credits

    credits = Credits()
    day = date(2020, 1, 1)
    for n in range(count):
        pool = {"grantor": f"cloud-{n % 3}", "grantee": f"startup-{n % 7}", "currency": "USD"}
        expires = day + timedelta(days=30 + n % 90) if n % 4 else None
        credits.grant(
            CreditsGranted(effective=day + timedelta(days=n), amount=Decimal(f"{n + 1}.50"), expires=expires, **pool), f"g{n}"
        )
        if n % 2:
            credits.consume(CreditsConsumed(effective=day + timedelta(days=n), amount=Decimal(n % 5 + 1), **pool))
        credits.expire_before(day + timedelta(days=n // 2))
    return credits


def shape(credits: Any) -> Any:
    """Everything the credits hold, each grant in the pools and the expiry queue named by its place in ``grants``:
    one that is a copy, not the grant itself, has no place (a ``KeyError``)."""
    place = {id(grant): n for n, grant in enumerate(credits.grants)}
    return (
        [dataclasses.astuple(grant) for grant in credits.grants],
        {pool: dataclasses.astuple(sums) for pool, sums in credits.totals.items()},
        {pool: [place[id(grant)] for grant in grants] for pool, grants in credits._open.items()},
        [(day, order, place[id(grant)]) for day, order, grant in credits._expiring],
    )


@pytest.mark.parametrize("count", [0, 5, 9_000])
def test_credits_come_back_from_a_checkpoint_with_their_grants_shared_as_before(count: int) -> None:
    credits = credits_in_use(count)
    with mock.patch.object(parts, "PART", 7):
        back = roundtrip(credits)
    assert shape(back) == shape(credits)
    assert back.conservation() == [] and credits.conservation() == []


def test_credits_saved_whole_by_an_earlier_version_are_read_as_they_were() -> None:
    credits = credits_in_use(50)
    earlier = type(credits).__new__(type(credits))
    earlier.__setstate__(dict(vars(credits)))  # the state pickle took from the instance's dict before
    assert shape(earlier) == shape(credits)


def test_credits_take_less_memory_to_save_than_their_grants_whole() -> None:
    credits = credits_in_use(20_000)
    whole = peak(dict(vars(credits)))  # what was pickled before: the grants as objects, in one piece
    assert peak(credits) * 2 < whole


def _made_of_fields() -> list[Any]:
    from ledger.folds.captable import Table
    from ledger.folds.credits import Account
    from plugins.holdings import Lot, Payment, Position
    from plugins.regulatory import Action

    payment = Payment(date(2021, 3, 4), Decimal("1.50"), "USD")
    lot = Lot(payment, Fraction(2, 3))
    fact = records([party("zhipu")])[0].fact
    return [
        lot,
        Position([lot, Lot(payment)], unpriced=True),
        Table({"founders": Fraction(7, 3), "undisclosed:1": Fraction(1, 9)}, Fraction(22, 9), {"undisclosed:1": ("a", "b")}),
        Account("escrow-1", "USD", "zhipu", Decimal("10.000"), Decimal("2.5")),
        Action(fact, "us-bis", "nvidia", "chips", date(2022, 1, 1), ("zhipu",), None, date(2023, 5, 6)),
    ]


def _fields(instance: Any) -> list[Any]:
    """Each field's value, records compared by their own fields (they compare by identity)."""
    return [_plain(getattr(instance, item.name)) for item in dataclasses.fields(instance)]


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (type(value), _fields(value))
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


@pytest.mark.parametrize("index", range(5))
def test_a_state_s_records_pickle_as_their_fields_and_come_back_equal(index: int) -> None:
    """Lots, positions, cap tables, escrow accounts and regulatory actions pickle as their class and field values
    (``pickled_by_fields``): read back by the restricted unpickler, every field is as it was; and a pickle saved
    before, the usual way (a dict of slots), still reads back the same."""
    import pickle

    instance = _made_of_fields()[index]
    cls = type(instance)
    assert instance.__reduce_ex__(5)[0] is cls and [_plain(v) for v in instance.__reduce_ex__(5)[1]] == _fields(instance)
    read = checkpoints._restricted(pickle.dumps(instance, protocol=5), ("events", "ledger", "plugins"))
    assert type(read) is cls and _fields(read) == _fields(instance)
    with mock.patch.object(cls, "__reduce_ex__", object.__reduce_ex__):
        saved_before = pickle.dumps(instance, protocol=5)
    assert saved_before != pickle.dumps(instance, protocol=5)  # the other way indeed
    read = checkpoints._restricted(saved_before, ("events", "ledger", "plugins"))
    assert type(read) is cls and _fields(read) == _fields(instance)


@dataclasses.dataclass(eq=False, slots=True)
class NotedLot(Lot):
    """A lot with a field of its own: not what ``pickled_by_fields`` was given."""

    note: str = ""


def test_a_subclass_with_fields_of_its_own_pickles_whole() -> None:
    import pickle

    from plugins.holdings import Payment

    noted = NotedLot(Payment(date(2021, 1, 1), Decimal(1), "EUR"), Fraction(1, 2), "kept")
    read = pickle.loads(pickle.dumps(noted, protocol=5))
    assert type(read) is NotedLot and _fields(read) == _fields(noted)


def test_only_plain_dataclasses_with_slots_are_pickled_by_their_fields() -> None:
    @dataclasses.dataclass
    class NoSlots:
        a: int

    @dataclasses.dataclass(slots=True)
    class Checked:
        a: int

        def __post_init__(self) -> None:
            pass

    @dataclasses.dataclass(slots=True, kw_only=True)
    class Keywords:
        a: int

    for cls in (NoSlots, Checked, Keywords):
        with pytest.raises(TypeError):
            parts.pickled_by_fields(cls)


# --- parts beside the pickle, stored and read a piece at a time -----------------------------------


def spooling_peak(state: Any) -> int:
    """The most memory pickling ``state`` into its spool files takes (``checkpoints.spooled``), its value unread."""
    gc.collect()
    tracemalloc.start()
    try:
        with checkpoints.spooled(state):
            return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def in_band_peak(state: Any) -> int:
    """The same, each container's parts handed to the pickler by ``__reduce__`` (as checkpoints were saved before)."""
    gc.collect()
    tracemalloc.start()
    try:
        with tempfile.TemporaryFile() as spool:
            pickle.Pickler(spool, protocol=5).dump(state)
            return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_parts_go_beside_the_pickle_as_they_are_made_and_are_never_held_together() -> None:
    """A pickler holds every object it wrote until it ends, the parts' bytes among them: 25 MB of a 1M-fact
    revenue book's 29. Written beside the pickle as each is made, no more than one is held at a time."""
    records = moves(80_000)
    state = {"log": ValueLog(records), "by_payer": PartedDict((n, ValueLog(records[n : n + 100])) for n in range(0, 80_000, 100))}
    with mock.patch.object(parts, "PART", 256):  # many parts, each small beside them all
        with checkpoints.spooled(state) as value:
            data = value.whole()
        assert data.startswith(checkpoints.SPLIT)
        assert len(data) > 2_000_000  # compressed parts: most of the value
        # one part at a time (and zlib's own quarter of a megabyte), where the pickler held them all
        assert spooling_peak(state) * 3 < len(data) < in_band_peak(state)
        assert roundtrip(state) == state


def test_a_packed_log_is_weighed_by_its_records() -> None:
    """A dict of packed logs is parted by the records they hold, as a dict of lists is: two parts of 2,000 logs
    each held 30 MB at once when it was weighed by its keys (the revenue book's entries by provider)."""
    logs = PartedDict((n, Pairs(Pair(m, f"p{m % 7}") for m in range(50))) for n in range(100))
    with mock.patch.object(parts, "PART", 500):
        assert [len(part) for part in logs.parts() or []] == [10] * 10
        back = roundtrip({"logs": logs})
    assert back == {"logs": logs}


def test_a_container_named_twice_comes_back_once() -> None:
    log = ValueLog(moves(10))
    with mock.patch.object(parts, "PART", 3):
        back = roundtrip({"a": log, "b": log})
    assert back["a"] == log and back["a"] is back["b"]


def _split(pickled: bytes, side: bytes = b"") -> bytes:
    """A value in the parts-beside form: ``SPLIT``, the pickle's length, the pickle, the parts."""
    return checkpoints.SPLIT + len(pickled).to_bytes(8, "big") + pickled + side


class _Naming(pickle.Pickler):
    """Pickles ``state`` with one object replaced by a persistent id of our choosing (a hostile checkpoint)."""

    def __init__(self, file: Any, target: Any, pid: Any) -> None:
        super().__init__(file, protocol=5)
        self.target, self.pid = target, pid

    def persistent_id(self, obj: Any) -> Any:
        return self.pid if obj is self.target else None


def _naming(pid: Any) -> bytes:
    target = ValueLog([1])
    with tempfile.TemporaryFile() as spool:
        _Naming(spool, target, pid).dump({"log": target})
        spool.seek(0)
        return spool.read()


@pytest.mark.parametrize(
    ("pid", "side", "told"),
    [
        (("argparse", "Namespace", ()), b"", "which a view state may not hold"),
        (("builtins", "dict", ()), b"", "only a parted container is"),
        (("ledger.folds.parts", "ValueLog", ((0, 10),)), b"short", "lies past its end"),
        (("ledger.folds.parts", "ValueLog", ((-1, 3),)), b"abc", "names a part it does not hold"),
        ("ledger.folds.parts.ValueLog", b"", "names a part it does not hold"),
    ],
)
def test_a_checkpoint_naming_its_parts_is_held_to_the_same_rules(pid: Any, side: bytes, told: str) -> None:
    with pytest.raises(checkpoints.CheckpointError, match=told):
        checkpoints.decode(_split(_naming(pid), side), _AnyView())  # type: ignore[arg-type]


def test_a_plain_checkpoint_names_no_part() -> None:
    with pytest.raises(checkpoints.CheckpointError, match="names a part it does not hold"):
        checkpoints.decode(_naming(("ledger.folds.parts", "ValueLog", ())), _AnyView())  # type: ignore[arg-type]


def test_a_checkpoint_whose_pickle_runs_past_its_end_is_refused() -> None:
    value = _split(pickle.dumps({"a": 1}, protocol=5))
    with pytest.raises(checkpoints.CheckpointError, match="runs past its end"):
        checkpoints.decode(value[:-3], _AnyView())  # type: ignore[arg-type]


def test_sqlite_writes_and_reads_a_checkpoint_a_piece_at_a_time(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither saving nor loading holds the whole value: SQLite writes it into a blob of zeros and reads it in place."""
    from ledger import persistence
    from ledger.engine import Query
    from ledger.persistence import blobs

    def held_whole(*args: Any) -> Any:
        raise AssertionError("the value was held whole")

    with Ledger(sqlite_url) as ledger:
        ledger.engine.save_after = 0
        ledger.engine.background_from = 10**9  # pickled in place, through the spool files
        from ledger.importing import incoming_from_path

        ledger.append(incoming_from_path(ledger.catalogue, str(Path(__file__).parent.parent / "examples" / "story.jsonl")))
        query = Query(as_of=date(2024, 12, 31))
        monkeypatch.setattr(blobs.Spooled, "whole", held_whole)
        monkeypatch.setattr(persistence, "InMemory", held_whole)
        with mock.patch.object(parts, "PART", 3):  # parts beside the pickle, many of them
            first = ledger.view("regulatory", query)
            assert [row["cut"] for row in ledger.engine.checkpoints.listing()] == [date(2024, 9, 30), date(2024, 12, 31)]
            ledger.engine.checkpoints.drop = held_whole  # type: ignore[method-assign]  # a checkpoint read back is never dropped
            assert ledger.view("regulatory", query) == first


class Rows:
    """A plugin's record that saves its rows as a log made while it is pickled (a ``__getstate__`` of its own)."""

    def __init__(self, rows: list[int]) -> None:
        self.rows = rows

    def __getstate__(self) -> Any:
        return ValueLog(self.rows)

    def __setstate__(self, rows: Any) -> None:
        self.rows = list(rows)


def test_logs_made_while_pickling_each_come_back_as_their_own() -> None:
    """A log made by ``__getstate__`` is let go as soon as it is written, and the next one may take its address: each
    must still be named by its own parts."""
    state = [Rows(list(range(n * 10, n * 10 + 8))) for n in range(5)]
    with mock.patch.object(parts, "PART", 3):
        back = roundtrip(state)
    assert [item.rows for item in back] == [item.rows for item in state]


class TaggedLog(ValueLog[int]):
    """A log subclass that pickles itself its own way (a tag beside its records)."""

    __slots__ = ("tag",)

    def __init__(self, records: Any = (), tag: str = "") -> None:
        super().__init__(records)
        self.tag = tag

    def __reduce__(self) -> tuple[Any, ...]:
        return (TaggedLog, (list(self), self.tag))


def test_a_subclass_of_a_parted_container_pickles_its_own_way() -> None:
    with mock.patch.object(parts, "PART", 3):
        back = roundtrip({"log": TaggedLog(range(10), tag="kept")})
    assert back["log"] == list(range(10)) and back["log"].tag == "kept"


def test_a_plugin_format_may_give_any_bytes_like_value() -> None:
    class Formatted:
        state_packages = ("tests",)

        @staticmethod
        def dump_state(state: Any) -> bytearray:
            return bytearray(pickle.dumps(state))

    saving = checkpoints.Saving(Formatted(), {"a": 1}, date(2024, 1, 1))  # type: ignore[arg-type]
    with checkpoints._value_of(saving) as value:
        assert value.whole() == pickle.dumps({"a": 1})


def test_without_room_for_spool_files_a_state_is_pickled_in_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    class Full(tempfile.SpooledTemporaryFile):  # type: ignore[type-arg]
        def write(self, data: Any) -> int:
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoints.tempfile, "TemporaryFile", Full)
    state = {"log": ValueLog(moves(20))}
    with mock.patch.object(parts, "PART", 3), checkpoints.spooled(state) as value:
        data = value.whole()
        assert not data.startswith(checkpoints.SPLIT)  # one plain pickle, its parts in it
        assert checkpoints.decode(bytes(data), _AnyView()) == state  # type: ignore[arg-type]


def test_a_value_read_whole_is_held_once() -> None:
    """Stores that take a value whole (PostgreSQL) get it in one buffer: not its pieces and the whole at once."""
    from ledger.persistence.blobs import Spooled

    with tempfile.TemporaryFile() as spool:
        spool.write(b"x" * 8_000_000)
        value = Spooled([b"head", (spool, 0, 8_000_000)])
        gc.collect()
        tracemalloc.start()
        try:
            whole = value.whole()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert len(whole) == 8_000_004 and peak < 9_500_000


def test_a_checkpoint_saved_again_while_it_is_read_is_read_and_kept(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """On SQLite a checkpoint is found, then read in place: saved again in between (another process asking the same
    question), its row has moved. It is then read by its key, never taken for gone and dropped."""
    import sqlite3

    from ledger.engine import Query
    from ledger.importing import incoming_from_path

    query = Query(as_of=date(2024, 12, 31))
    with Ledger(sqlite_url) as ledger:
        ledger.engine.save_after = 0
        ledger.engine.background_from = 10**9
        ledger.append(incoming_from_path(ledger.catalogue, str(Path(__file__).parent.parent / "examples" / "story.jsonl")))
        first = ledger.view("regulatory", query)
        saved = ledger.engine.checkpoints.listing()
    path = sqlite_url.removeprefix("sqlite:///")
    with Ledger(sqlite_url) as again:
        rows = again.store.db.rows

        def moved_meanwhile(sql: str, params: Any = ()) -> Any:
            found = rows(sql, params)
            if sql.startswith("SELECT rowid FROM dealledger_checkpoints"):
                with sqlite3.connect(path) as other:  # every checkpoint saved again, in another order: the row id
                    kept = other.execute("SELECT * FROM dealledger_checkpoints ORDER BY rowid").fetchall()  # found
                    other.execute("DELETE FROM dealledger_checkpoints")  # now names another checkpoint
                    other.executemany(f"INSERT INTO dealledger_checkpoints VALUES ({', '.join('?' * 8)})", kept[::-1])
            return found

        monkeypatch.setattr(again.store.db, "rows", moved_meanwhile)
        again.engine.checkpoints.drop = None  # type: ignore[assignment, method-assign]  # never called: it is read
        assert again.view("regulatory", query) == first
    with Ledger(sqlite_url) as after:
        assert after.engine.checkpoints.listing() == saved
