"""Money is exact to every digit the ledger accepts: sums and comparisons never round, folds always end.

Amounts carry up to 40 digits before and after the point. Python's default decimal context
keeps 28 significant digits and rounds silently; the ledger folds inside an exact context,
so what it accepts adds up exactly, what adds up is accepted, and nothing loops.
"""

from __future__ import annotations

from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

from ledger.api import Ledger
from ledger.appending import Incoming
from ledger.errors import RejectedError
from ledger.exact import Fraction, exact_decimals
from ledger.views import Query

PARTIES = [
    {"kind": "party.registered", "effective": "2020-01-01", "party": "cloud", "name": "Cloud", "type": "cloud"},
    {"kind": "party.registered", "effective": "2020-01-01", "party": "co", "name": "Co", "type": "company"},
]


def grant(amount: str, day: str = "2024-01-01") -> dict[str, Any]:
    return {"kind": "credits.granted", "effective": day, "grantor": "cloud", "grantee": "co", "amount": amount, "currency": "USD"}


def consume(amount: str, day: str = "2024-02-01") -> dict[str, Any]:
    return {
        "kind": "credits.consumed",
        "effective": day,
        "grantor": "cloud",
        "grantee": "co",
        "amount": amount,
        "currency": "USD",
    }


def deposit(amount: str) -> dict[str, Any]:
    return {
        "kind": "escrow.deposited",
        "effective": "2024-01-01",
        "account": "a",
        "depositor": "cloud",
        "beneficiary": "co",
        "amount": amount,
        "currency": "USD",
    }


def release(amount: str, day: str = "2024-02-01") -> dict[str, Any]:
    return {"kind": "escrow.released", "effective": day, "account": "a", "amount": amount, "currency": "USD", "to": "cloud"}


def append(ledger: Ledger, *facts: dict[str, Any]) -> None:
    ledger.append([Incoming(f"test:{n}", ledger.catalogue.parse(f)) for n, f in enumerate(facts, 1)])


def test_a_grant_past_28_digits_is_drawn_down_exactly_and_over_consumption_is_refused(sqlite_url: str) -> None:
    with Ledger(sqlite_url) as ledger:
        append(ledger, *PARTIES, grant("0.33333333333333333333333333333334"))
        with pytest.raises(RejectedError, match=r"has 0.33333333333333333333333333333334 USD .* cannot consume 0.5$"):
            append(ledger, consume("0.5"))
        append(ledger, consume("0.33333333333333333333333333333333"))
        rows = ledger.view("revenue", Query(options={"provider": "cloud"}))
        assert rows[-1]["deferred"] == Decimal("0.00000000000000000000000000000001")


def test_a_release_one_unit_in_the_32nd_place_beyond_the_deposit_is_refused(sqlite_url: str) -> None:
    with Ledger(sqlite_url) as ledger:
        append(ledger, *PARTIES, deposit("1.99999999999999999999999999999999"))
        with pytest.raises(RejectedError, match=r"holds 1.99999999999999999999999999999999 USD, cannot release 2$"):
            append(ledger, release("2"))
        assert ledger.check() == []


def test_a_refusal_names_the_amounts_as_written_never_in_exponent_form(sqlite_url: str) -> None:
    """ "has 0E-10 USD ... cannot consume 1E-10" was the message for amounts written 0.0000000001."""
    with Ledger(sqlite_url) as ledger:
        append(ledger, *PARTIES, grant("0.0000000001"), deposit("0.0000000003"))
        with pytest.raises(RejectedError, match=r"has 0.0000000001 USD .* cannot consume 0.0000000002$"):
            append(ledger, consume("0.0000000002"))
        with pytest.raises(RejectedError, match=r"holds 0.0000000003 USD, cannot release 1000$"):
            append(ledger, release("1E+3"))


def test_a_divestment_beyond_the_holding_shows_the_two_fractions_apart(sqlite_url: str) -> None:
    """A holder of a third asked to divest 0.3333333333334 was told it "holds 0.333333333333 of co, cannot divest
    0.333333333333": the refusal is right, its numbers must show why (the fraction asked for exactly as written)."""
    round_closed = {
        "kind": "round.closed",
        "effective": "2024-01-01",
        "company": "co",
        "round": "a",
        "amount": "100",
        "currency": "USD",
        "pre_money": "200",
        "investors": [{"party": "cloud", "amount": "100"}],
    }
    near = "0.3333333333333333333333333333333333333334"  # past 28 digits too: never rounded on the way
    with Ledger(sqlite_url) as ledger:
        append(ledger, *PARTIES, round_closed)
        for asked, held in [("0.3333333333334", "0." + "3" * 24), (near, "0." + "3" * 48), ("0.5", "0.333333")]:
            divest = {"kind": "stake.divested", "effective": "2024-02-01", "holder": "cloud", "company": "co"}
            with pytest.raises(RejectedError, match=rf"cloud holds {held} of co, cannot divest {asked}$"):
                append(ledger, {**divest, "fraction": asked})


def test_forty_digit_amounts_that_add_up_are_accepted(sqlite_url: str) -> None:
    big = "1234567890123456789012345678901234567890.1234567890123456789012345678901234567891"
    with Ledger(sqlite_url) as ledger:
        append(ledger, *PARTIES, deposit(big), release(big[:-1] + "0"), release("0." + "0" * 39 + "1", "2024-03-01"))
        rows = ledger.view("revenue", Query(options={"provider": "cloud"}))
        assert [row["recognized"] for row in rows] == [Decimal(big)]
        assert ledger.check() == []


def amounts() -> st.SearchStrategy[Decimal]:
    """Positive amounts with up to 40 digits on each side of the point, as the catalogue accepts."""
    return st.builds(
        lambda whole, places, digits: Decimal(whole) + Decimal(digits).scaleb(-places),
        st.integers(min_value=0, max_value=10**40 - 1),
        st.integers(min_value=0, max_value=40),
        st.integers(min_value=0, max_value=10**40 - 1),
    ).filter(lambda amount: 0 < amount < Decimal(10) ** 40 and len(amount.as_tuple().digits) <= 80)


@settings(max_examples=25, deadline=None)
@given(granted=st.lists(amounts(), min_size=1, max_size=3), spent=st.lists(amounts(), min_size=1, max_size=3))
def test_what_the_ledger_accepts_adds_up_exactly(
    tmp_path_factory: pytest.TempPathFactory, granted: list[Decimal], spent: list[Decimal]
) -> None:
    url = f"sqlite:///{Path(tmp_path_factory.mktemp('exact')) / 'ledger.db'}"
    with Ledger(url) as ledger:
        append(ledger, *PARTIES, *(grant(format(a, "f")) for a in granted))
        with exact_decimals():
            fits = sum(spent, Decimal(0)) <= sum(granted, Decimal(0))
        try:
            append(ledger, *(consume(format(a, "f")) for a in spent))
            accepted = True
        except RejectedError:
            accepted = False
        assert accepted == fits
        rows = ledger.view("revenue", Query(options={"provider": "cloud", "period": "year"}))
        with exact_decimals():  # the test's own sums must not round either
            recognized = sum((row["recognized"] for row in rows), Decimal(0))
            assert recognized == (sum(spent, Decimal(0)) if accepted else 0)
            assert rows[-1]["deferred"] == sum(granted, Decimal(0)) - recognized
        assert ledger.check() == []


# --- the shortcuts that turn exact fractions into row values ------------------------------------

row_fractions = st.one_of(
    st.builds(Fraction, st.integers(-(10**40), 10**40), st.integers(1, 10**15)),
    st.builds(
        lambda n, twos, fives: Fraction(n, 2**twos * 5**fives),
        st.integers(-(10**40), 10**40),
        st.integers(0, 60),
        st.integers(0, 60),
    ),
)


@given(row_fractions, st.integers(-3, 12))
def test_rounded_is_the_half_even_decimal_digit_for_digit(value: Fraction, places: int) -> None:
    from ledger.folds.money import rounded

    scaled = round(value * 10**places)  # half to even
    expected = Decimal((int(scaled < 0), tuple(int(d) for d in str(abs(scaled))), -places))
    with localcontext() as tight:
        tight.prec = 3  # text makes it exact in any context
        got = rounded(value, places)
    assert got.as_tuple() == expected.as_tuple()


@given(row_fractions)
def test_exact_money_is_the_decimal_when_one_ends_and_the_fraction_otherwise(value: Fraction) -> None:
    from plugins.holdings import exact_money

    got = exact_money(value)
    rest = value.denominator
    for prime in (2, 5):
        while rest % prime == 0:
            rest //= prime
    if rest != 1:
        assert got is value
        return
    assert isinstance(got, Decimal) and Fraction(got) == value
    places = -got.as_tuple().exponent  # type: ignore[operator]
    assert places == 0 or (value * 10 ** (places - 1)).denominator != 1  # no more places than it needs


ROUND_OVER = {
    "kind": "round.closed",
    "effective": "2024-01-01",
    "company": "co",
    "round": "a",
    "amount": "1000000000000000000000000000000",
    "currency": "USD",
    "pre_money": "1",
    "investors": [{"party": "cloud", "amount": "999999999999999999999999999999.5"}, {"party": "fund", "amount": "0.6"}],
}
"""A round whose investors add up to one tenth more than it: in 28 digits the sum rounds down to the round's amount."""


def test_a_fact_s_own_checks_add_up_exactly_whatever_context_the_caller_left(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from cli import main
    from events import Catalogue, FactError

    message = r"investors' amounts add up to 1000000000000000000000000000000.1, more than the round's"
    with localcontext(prec=28), pytest.raises(FactError, match=message):  # Python's default: rounding quietly
        Catalogue().parse(ROUND_OVER)
    # given as options on the command line, the same round is refused with the same message, and nothing written
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    options = ["--company", "co", "--round", "a", "--amount", ROUND_OVER["amount"], "--currency", "USD", "--pre-money", "1"]
    investors = '[{"party": "cloud", "amount": "999999999999999999999999999999.5"}, {"party": "fund", "amount": "0.6"}]'
    result = CliRunner().invoke(
        main, ["--url", url, "append", "round.closed", "--effective", "2024-01-01", *options, "--investors", investors]
    )
    assert result.exit_code != 0 and "add up to 1000000000000000000000000000000.1" in result.output
    with Ledger(url) as ledger:
        assert ledger.records() == []
