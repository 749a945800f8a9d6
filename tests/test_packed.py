"""Packed logs (``ledger.folds.packed``): every record comes back exactly as appended, through a checkpoint too,
in a small fraction of the memory a list of the same records holds."""

from __future__ import annotations

import copy
import gc
import tracemalloc
from datetime import date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction as PyFraction
from typing import Any, NamedTuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger import checkpoints
from ledger.checkpoints import CheckpointError
from ledger.exact import Fraction
from ledger.folds.packed import AMOUNT, DAY, WORD, PackedLog, _word_key, packed
from ledger.folds.parts import PartedDict


class Move(NamedTuple):
    day: date
    kind: str
    amount: Decimal | None
    payer: Any
    origin: date | None


class Moves(PackedLog[Move], record=Move, day=DAY, kind=WORD, amount=AMOUNT, payer=WORD, origin=DAY):
    """Moves, packed."""


class Name(str):
    """Text of its own type: equal to the plain text, but a word of its own."""


class _AnyView:
    """What ``decode`` asks of a view: the packages its state may come from (this test module's, here)."""

    state_packages: tuple[str, ...] = ("tests",)


def roundtrip(state: Any) -> Any:
    return checkpoints.decode(checkpoints.encode(state), _AnyView())  # type: ignore[arg-type]


def same(back: list[Move], records: list[Move]) -> None:
    """Each value of the same type and printed the same (``Decimal("1.50")`` is not ``1.5`` in a row; NaN is NaN)."""
    assert len(back) == len(records)
    for got, want in zip(back, records, strict=True):
        assert [(type(v), repr(v)) for v in got] == [(type(v), repr(v)) for v in want]


amounts = st.one_of(
    st.none(),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.decimals(allow_nan=False, allow_infinity=False, places=2, max_value=Decimal("1e12"), min_value=-Decimal("1e12")),
    st.sampled_from(
        [Decimal("-0"), Decimal("0E-9"), Decimal("1E+3"), Decimal("9" * 30), Decimal("-" + "9" * 19), Decimal(2**63)]
    ),
    st.sampled_from([Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity"), Decimal("1E+200"), Decimal("1E-130")]),
)
words = st.one_of(
    st.none(),
    st.text(max_size=6),
    st.integers(),
    st.booleans(),
    st.fractions().map(lambda f: Fraction(f.numerator, f.denominator)),
    st.fractions(),
    st.tuples(st.text(max_size=3), st.text(max_size=3)),
    st.sampled_from([Decimal("1.0"), Decimal("1.00"), Decimal(1), 1, True, (Decimal("1.0"),), (Decimal("1.00"),)]),
    st.sampled_from([(1,), (True,), (0, "x"), (False, "x"), (Fraction(1, 2),), (PyFraction(1, 2),), ((1,),), ((True,),)]),
    st.sampled_from([0.0, -0.0, float("nan"), -float("nan"), float("inf")]),
)
days = st.one_of(st.none(), st.dates())
records = st.lists(st.builds(Move, st.dates(), st.sampled_from(["granted", "consumed"]), amounts, words, days), max_size=40)


@given(records)
def test_every_record_comes_back_exactly(moves: list[Move]) -> None:
    log = Moves(moves)
    assert len(log) == len(moves) and bool(log) == bool(moves)
    same(list(log), moves)


@given(records, records)
def test_a_log_read_back_from_a_checkpoint_is_the_same_log_and_grows_on(first: list[Move], then: list[Move]) -> None:
    state = PartedDict({"log": Moves(first), "other": Moves(then)})
    back = roundtrip(state)
    assert type(back["log"]) is Moves and type(back["other"]) is Moves
    same(list(back["other"]), then)
    back["log"].extend(then)  # its table of words is rebuilt, so words read back are not kept twice
    same(list(back["log"]), first + then)
    kept = back["log"]._words
    assert len(kept) == len({_word_key(word) for word in kept})


def test_copies_are_equal_and_apart() -> None:
    log = Moves([Move(date(2020, 1, 1), "granted", Decimal("1.50"), "a", None)])
    for copied in (copy.copy(log), copy.deepcopy(log)):
        assert copied == log and copied is not log
        copied.append(Move(date(2020, 1, 2), "consumed", Decimal("1"), "a", None))
        assert len(log) == 1


def test_a_packed_log_holds_a_fraction_of_a_list() -> None:
    start = date(2015, 1, 1)
    moves = [
        Move(start + timedelta(days=n % 3650), "consumed", Decimal(n) / 100, f"payer-{n % 300}", start) for n in range(50_000)
    ]

    def held(build: Any) -> int:
        gc.collect()
        tracemalloc.start()
        try:
            kept = build()
            size = tracemalloc.get_traced_memory()[0]
            del kept
            return size
        finally:
            tracemalloc.stop()

    as_list = held(lambda: [m._replace(amount=Decimal(str(m.amount)), payer=str(m.payer)) for m in moves])
    as_log = held(lambda: Moves(moves))
    assert as_log * 5 < as_list, (as_log, as_list)
    assert len(checkpoints.encode(Moves(moves))) * 4 < len(checkpoints.encode(moves))  # rows kept compressed
    same(list(roundtrip(Moves(moves))), moves)


def test_a_log_started_under_a_key() -> None:
    logs: dict[str, Moves] = {}
    packed(logs, "a", Moves).append(Move(date(2020, 1, 1), "granted", None, None, None))
    packed(logs, "a", Moves).append(Move(date(2020, 1, 2), "granted", None, None, None))
    assert list(logs) == ["a"] and len(logs["a"]) == 2


def test_a_damaged_log_is_refused_by_the_checkpoint() -> None:
    log = Moves([Move(date(2020, 1, 1), "granted", Decimal(1), "a", None)])
    data = checkpoints.encode(log)
    rows = bytes(log._rows)
    damaged = data.replace(rows, rows[:-1])
    assert damaged != data
    with pytest.raises(CheckpointError):
        checkpoints.decode(damaged, _AnyView())  # type: ignore[arg-type]


def test_a_layout_names_every_field_with_a_kind() -> None:
    with pytest.raises(TypeError, match=r"fields without a kind \['origin'\]"):

        class Short(PackedLog[Move], record=Move, day=DAY, kind=WORD, amount=AMOUNT, payer=WORD): ...

    with pytest.raises(TypeError, match="must each be DAY, WORD or AMOUNT"):

        class Odd(PackedLog[Move], record=Move, day=DAY, kind=WORD, amount="money", payer=WORD, origin=DAY): ...

    with pytest.raises(TypeError, match="not a NamedTuple"):

        class Plain(PackedLog[Any], record=dict, day=DAY): ...

    with pytest.raises(TypeError, match="names no record type"):
        PackedLog()


def test_a_day_field_takes_dates_only() -> None:
    with pytest.raises(TypeError, match="holds a date or None, not datetime"):
        Moves([Move(datetime(2020, 1, 1, 12), "granted", None, None, None)])


def test_a_log_grows_while_it_is_read() -> None:
    log = Moves([Move(date(2020, 1, 1), "granted", Decimal(1), "a", None)])
    for move in log:
        log.append(move._replace(kind="consumed"))
    assert [move.kind for move in log] == ["granted", "consumed"]


def test_an_amount_of_thousands_of_digits_is_kept_whole() -> None:
    wide = Decimal("1" + "0" * 5000)
    back = list(
        Moves([Move(date(2020, 1, 1), "granted", wide, None, None), Move(date(2020, 1, 1), "granted", -wide, None, None)])
    )
    assert [move.amount for move in back] == [wide, -wide]


def test_equal_words_that_print_differently_stay_apart() -> None:
    values: list[Any] = [Decimal("1.0"), Decimal("1.00"), 1, True, Fraction(1), PyFraction(1), (Decimal("1.0"),)]
    values += [Name("a"), "a", None, Name("a"), "a"]  # a text subclass equals its text
    log = Moves([Move(date(2020, 1, 1), "k", None, value, None) for value in values])
    same(list(log), [Move(date(2020, 1, 1), "k", None, value, None) for value in values])
