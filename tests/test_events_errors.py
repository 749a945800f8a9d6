"""Every rejection rule of the catalogue: the exact field a ``FactError`` names, and what its message says."""

from __future__ import annotations

import copy
import functools
import json
import operator
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from events import Catalogue, FactError
from events.codecs import MAX_KEY_LENGTH, MAX_SLUG_LENGTH
from events.readers import MAX_FACT_BYTES
from tests.facts import VALID, fact
from tests.strategies import fact_dicts

CATALOGUE = Catalogue()


def rejected(data: dict[str, Any], field: str | None, *fragments: str) -> FactError:
    """Parsing ``data`` fails on ``field`` with a message containing every fragment."""
    with pytest.raises(FactError) as caught:
        CATALOGUE.parse(data)
    error = caught.value
    assert error.field == field, str(error)
    for fragment in fragments:
        assert fragment in error.message, (fragment, error.message)
    return error


@pytest.mark.parametrize("kind", sorted(VALID))
def test_the_baseline_facts_are_valid(kind: str) -> None:
    assert CATALOGUE.parse(VALID[kind]).kind == kind


def test_every_kind_has_a_baseline() -> None:
    assert set(VALID) == set(CATALOGUE.kinds)


# --- kind ---------------------------------------------------------------------------------------------------------


def test_unknown_kind_suggests_the_closest() -> None:
    error = rejected(
        fact("round.closed", kind="round.close"), "kind", "unknown kind 'round.close'", "did you mean 'round.closed'?"
    )
    assert str(error) == "kind: unknown kind 'round.close'; did you mean 'round.closed'?"


def test_unknown_kind_far_from_any_suggests_nothing() -> None:
    error = rejected({"kind": "zzzz", "effective": "2024-01-01"}, "kind", "unknown kind 'zzzz'")
    assert "did you mean" not in error.message


@pytest.mark.parametrize("kind", [None, ""])
def test_missing_kind(kind: str | None) -> None:
    rejected(fact("fx.rate", kind=kind), "kind", "missing required field")


def test_kind_that_is_not_text() -> None:
    rejected(fact("fx.rate", kind=7), "kind", "unknown kind 7")
    rejected(fact("fx.rate", kind=["fx.rate"]), "kind", "unknown kind")


# --- unknown and missing fields -----------------------------------------------------------------------------------


def test_unknown_field_suggests_the_closest() -> None:
    rejected(fact("round.closed", ammount="5"), "ammount", "unknown field", "did you mean 'amount'?")


def test_unknown_field_far_from_any_lists_the_known_ones() -> None:
    error = rejected(fact("fx.rate", zzzz="5"), "zzzz", "unknown field", "known fields:")
    for name in ("base", "quote", "rate", "effective"):
        assert name in error.message


def test_unknown_field_in_an_investor() -> None:
    data = fact("round.closed")
    data["investors"][1]["amnt"] = "5"
    rejected(data, "investors[1].amnt", "unknown field", "did you mean 'amount'?")


@pytest.mark.parametrize(
    ("kind", "name"), [("fx.rate", "rate"), ("round.closed", "currency"), ("fx.rate", "effective"), ("fact.retracted", "reason")]
)
def test_missing_required_field(kind: str, name: str) -> None:
    rejected(fact(kind, **{name: None}), name, "missing required field")


def test_a_null_value_counts_as_missing() -> None:
    rejected(fact("fx.rate") | {"rate": None}, "rate", "missing required field")


def test_a_null_optional_field_is_absent() -> None:
    parsed = CATALOGUE.parse(fact("fx.rate") | {"key": None, "note": None})
    assert parsed.key is None
    assert parsed.note is None


def _with_investor_change(name: str, value: str) -> dict[str, Any]:
    data = fact("round.closed")
    data["investors"][0][name] = value
    return data


EMPTY = [
    (fact("stake.acquired", seller=""), "seller"),  # left out, it would be new shares
    (fact("fx.rate", key=""), "key"),  # left out, appending the fact again would add it again
    (fact("fx.rate", rate=""), "rate"),
    (fact("fx.rate", note=""), "note"),
    (fact("fx.rate", confidence=""), "confidence"),
    (fact("party.registered", sectors=""), "sectors"),
    (fact("divestment.ordered", companies=""), "companies"),  # left out, every company would have to be sold
    (_with_investor_change("consideration", ""), "investors[0].consideration"),
    (_with_investor_change("party", ""), "investors[0].party"),
    (fact("fact.corrected", replacement=fact("stake.acquired", seller="")), "replacement.seller"),
    (fact("fact.corrected", replacement=""), "replacement"),
]


@pytest.mark.parametrize(("data", "field"), EMPTY, ids=[field for _, field in EMPTY])
def test_an_empty_string_is_refused_not_read_as_absent(data: dict[str, Any], field: str) -> None:
    """Given but empty is not left out: it is refused as a blank one is, naming the field."""
    assert str(rejected(data, field, "must not be empty")) == f"{field}: must not be empty"


def test_slugs_and_keys_longer_than_the_index_holds_are_refused_on_every_backend() -> None:
    """The index keeps each party a fact names and each key: PostgreSQL refused a slug past 255 characters and a
    key past 2,704 bytes only as the batch was written, naming no fact, while SQLite took them (so that ledger
    could not be imported there). Both are held to limits as they are read, whatever the backend."""
    company, key = "a" * MAX_SLUG_LENGTH, "é" * MAX_KEY_LENGTH
    CATALOGUE.parse(fact("valuation.marked", company=company, key=key))  # up to the limits: taken
    rejected(fact("valuation.marked", company=company + "b"), "company", f"longer than {MAX_SLUG_LENGTH} characters")
    rejected(fact("valuation.marked", key=key + "e"), "key", f"longer than {MAX_KEY_LENGTH} characters")
    investor = _with_investor_change("party", company + "b")
    rejected(investor, "investors[0].party", f"longer than {MAX_SLUG_LENGTH} characters")
    assert len(key.encode()) < 2704  # what PostgreSQL holds in one index entry


# --- size ---------------------------------------------------------------------------------------------------------


def stored_size(data: dict[str, Any]) -> int:
    """The bytes a fact takes as stored and exported: its compact JSON, as the standard ``json`` writes it."""
    return len(json.dumps(CATALOGUE.parse(data).to_dict(), ensure_ascii=False, separators=(",", ":")).encode())


def with_stored_size(data: dict[str, Any], size: int) -> dict[str, Any]:
    """``data`` with a note that makes it take ``size`` bytes as stored (a tab and an "é" take more than one)."""
    note = "a\té"
    return data | {"note": note + "x" * (size - stored_size(data | {"note": note}))}


def test_a_fact_is_held_to_its_size_as_stored() -> None:
    mark = fact("valuation.marked")  # "3e9" is stored as 3000000000: a fact may grow from its input
    assert stored_size(with_stored_size(mark, MAX_FACT_BYTES)) == MAX_FACT_BYTES
    error = rejected(with_stored_size(mark, MAX_FACT_BYTES + 1), "note")
    assert error.message == "the fact would take 1,048,577 bytes as stored, more than the 1,048,576 one fact may hold"
    correction = fact("fact.corrected", replacement=with_stored_size(fact("fx.rate"), MAX_FACT_BYTES + 1))
    rejected(correction, "replacement.note", "more than the 1,048,576 one fact may hold")


def _exponents(data: dict[str, Any]) -> dict[str, Any]:
    """Every number of the fact written in the shortest exponent form (``"1000"`` as ``"1E+3"``): how input grows
    most. Only where the fact read stays the same: a slug or a name made of digits (``"1"``) is text, not a number."""
    read = CATALOGUE.parse(data)
    written = copy.deepcopy(data)
    for path in list(_digit_strings(written)):
        *within, last = path
        holder = functools.reduce(operator.getitem, within, written)
        digits = holder[last]
        if not Decimal(digits):
            continue
        holder[last] = format(Decimal(digits).normalize(), "E")
        try:
            same = CATALOGUE.parse(written) == read
        except FactError:
            same = False
        if not same:
            holder[last] = digits
    return written


def _digit_strings(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """The paths to the strings that read as decimals (``"1000"``, ``"0.5"``)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _digit_strings(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _digit_strings(item, (*path, index))
    elif isinstance(value, str) and value[:1].isdigit() and value.replace(".", "", 1).isdigit():
        yield path


def _values(value: Any) -> int:
    if isinstance(value, dict):
        return sum(map(_values, value.values()))
    if isinstance(value, list):
        return sum(map(_values, value))
    return 1


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(data=fact_dicts())
def test_a_fact_kept_grows_from_its_input_by_at_most_the_bound_that_spares_measuring_it(data: dict[str, Any]) -> None:
    """``build`` measures a fact as kept only when its input could grow past ``MAX_FACT_BYTES``: that bound must hold
    for every kind, with numbers written in exponent form (``1E+3`` kept as ``1000``)."""
    import orjson

    from events.layout import GROWTH_PER_VALUE, ROOM_FOR_DEFAULTS, interchange_json

    for given_as in (data, _exponents(data)):
        kept = interchange_json(CATALOGUE.parse(given_as).to_dict())
        assert len(kept) <= len(orjson.dumps(given_as)) + GROWTH_PER_VALUE * _values(given_as) + ROOM_FOR_DEFAULTS


def test_a_fact_that_grows_past_the_limit_as_stored_is_refused() -> None:
    """Little more than half a megabyte of input, over a megabyte as stored: each 0E-40 is kept as 42 digits."""
    investors = [{"party": f"p{n}", "amount": "0E-40"} for n in range(16_000)]
    data = fact("round.closed", investors=investors)
    assert len(json.dumps(data, separators=(",", ":"))) < 0.6 * MAX_FACT_BYTES
    rejected(data, "investors", "bytes as stored, more than the 1,048,576 one fact may hold")


# --- types --------------------------------------------------------------------------------------------------------


def test_text_must_be_text() -> None:
    rejected(fact("round.closed", round=5), "round", "expected text, got 5")


def test_text_must_not_be_blank() -> None:
    rejected(fact("fact.retracted", reason="   "), "reason", "must not be empty")


def test_long_values_are_shortened_in_messages() -> None:
    error = rejected(fact("round.closed", round=["x" * 200]), "round", "expected text, got ['xxxx")
    assert len(error.message) < 80


def test_choice_must_be_one_of_the_list() -> None:
    rejected(
        fact("party.registered", type="bank"),
        "type",
        "expected one of company, investor, cloud, regulator, government, other",
        "'bank'",
    )
    rejected(fact("fx.rate", confidence="certain"), "confidence", "expected one of high, medium, low")


def test_flag_must_be_a_boolean() -> None:
    data = fact("round.closed")
    data["investors"][0]["lead"] = "maybe"
    rejected(data, "investors[0].lead", "expected true or false, got 'maybe'")
    data["investors"][0]["lead"] = 1
    rejected(data, "investors[0].lead", "expected true or false, got 1")


def test_flag_words_are_read() -> None:
    data = fact("round.closed")
    data["investors"][0]["lead"] = "yes"
    data["investors"][1]["lead"] = "False"
    parsed = CATALOGUE.parse(data)
    assert [i.lead for i in parsed.investors] == [True, False]  # type: ignore[attr-defined]


@pytest.mark.parametrize("value", [True, [1], {"a": 1}, "seven", "1.2.3", "١٢", "１２"])
def test_decimal_must_be_a_number(value: Any) -> None:
    rejected(fact("fx.rate", rate=value), "rate", "expected a decimal number")


@pytest.mark.parametrize("value", ["1_e_3", "_1_", "0_._5", "1__0", "1_", "+5", ".5", "5.", "0x10", "1,000", "5 5"])
def test_decimal_text_is_read_as_the_schema_writes_it(value: str) -> None:
    """``Decimal`` alone takes "+5", ".5" and "5.", and took "1_e_3" as 1000 once underscores were dropped: the
    schema allows none of them, so a file a validator refuses is refused here too."""
    rejected(fact("fx.rate", rate=value), "rate", "expected a decimal number")


@pytest.mark.parametrize("value", ["1e999999999999999999999999999", "1E-99999999999999999999999999999"])
def test_an_exponent_past_any_decimal_is_out_of_range(value: str) -> None:
    rejected(fact("fx.rate", rate=value), "rate", "out of range")


@pytest.mark.parametrize(("field", "value"), [("currency", "u\u017fd"), ("currency", "\uff55sd"), ("jurisdiction", "\u0131n")])
def test_a_code_is_ascii_letters_not_whatever_upper_cases_to_one(field: str, value: str) -> None:
    """``"uſd".upper()`` is ``"USD"`` and ``"ın".upper()`` is ``"IN"``: such text is no ISO code."""
    kind = "valuation.marked" if field == "currency" else "party.registered"
    rejected(fact(kind, **{field: value}), field, "is not an ISO")


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-inf", float("nan"), float("inf")])
def test_decimal_must_be_finite(value: Any) -> None:
    rejected(fact("valuation.marked", valuation=value), "valuation", "finite")


def test_list_must_be_a_list() -> None:
    rejected(fact("party.registered", aliases=5), "aliases", "expected a list, got 5")
    rejected(fact("round.closed", investors="alibaba"), "investors", "expected a list, got 'alibaba'")


def test_list_items_must_be_objects_where_records_are_expected() -> None:
    rejected(
        fact("round.closed", investors=[{"party": "alibaba", "amount": "1"}, "tencent"]),
        "investors[1]",
        "expected an object, got 'tencent'",
    )


def test_list_minimum_length() -> None:
    rejected(fact("export.ban_imposed", items=[]), "items", "needs at least 1 item(s)")
    rejected(fact("export.ban_imposed", targets=" ; "), "targets", "needs at least 1 item(s)")


# --- dates --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["2024-1-1", "2024/01/01", "01-01-2024", "2024-01-01T00:00:00", 20240101, "yesterday"])
def test_dates_must_be_iso_dates(value: Any) -> None:
    rejected(fact("fx.rate", effective=value), "effective", "expected an ISO date YYYY-MM-DD")


@pytest.mark.parametrize("value", ["2024-02-30", "2023-02-29", "2024-13-01", "2024-00-10"])
def test_dates_must_exist(value: str) -> None:
    rejected(fact("fx.rate", effective=value), "effective", f"{value!r} is not a valid date")


def test_every_date_field_is_checked() -> None:
    rejected(fact("credits.granted", expires="2026-2-15"), "expires", "expected an ISO date")
    rejected(fact("divestment.ordered", deadline="2022-02-31"), "deadline", "is not a valid date")


def test_a_leap_day_is_a_date() -> None:
    assert str(CATALOGUE.parse(fact("fx.rate", effective=" 2024-02-29 ")).effective) == "2024-02-29"


# --- amounts and fractions ----------------------------------------------------------------------------------------


def test_amounts_cannot_be_negative() -> None:
    rejected(fact("valuation.marked", valuation="-1"), "valuation", "must be zero or more, got -1")
    rejected(fact("stake.acquired", price="-0.01", currency="USD"), "price", "must be zero or more")


@pytest.mark.parametrize("value", ["-5", "0", "0.00", 0])
def test_positive_amounts_must_be_above_zero(value: Any) -> None:
    rejected(fact("penalty.imposed", amount=value), "amount", "must be positive")


def test_zero_is_allowed_where_amounts_may_be_zero() -> None:
    assert CATALOGUE.parse(fact("valuation.marked", valuation="0")).valuation == 0  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("kind", "name", "value"),
    [("stake.acquired", "fraction", "1.01"), ("stake.divested", "portion", "2"), ("ownership.asserted", "tolerance", 1.5)],
)
def test_fractions_cannot_exceed_one(kind: str, name: str, value: Any) -> None:
    rejected(fact(kind, **{name: value}), name, "must be a fraction between 0 and 1")


def test_fractions_cannot_be_negative() -> None:
    rejected(fact("ownership.asserted", fraction="-0.1"), "fraction", "must be zero or more")


@pytest.mark.parametrize(
    ("kind", "name", "what"),
    [("stake.acquired", "fraction", "purchase"), ("stake.divested", "fraction", "sale"), ("stake.divested", "portion", "sale")],
)
def test_a_stake_bought_or_sold_is_more_than_nothing(kind: str, name: str, what: str) -> None:
    """A purchase or sale of 0 moved nothing and would count as a deal: refused, where a filing may say 0 is held."""
    other = "portion" if name == "fraction" else "fraction"
    given = {name: "0.000", other: None} if kind == "stake.divested" else {name: "0.000"}
    rejected(fact(kind, **given), name, f"must be more than 0: a {'stake' if what == 'purchase' else what} of nothing")
    assert CATALOGUE.parse(fact("ownership.asserted", fraction="0")).fraction == 0


@pytest.mark.parametrize("value", ["0", "1", "1.000", "0.5"])
def test_fraction_bounds_are_inclusive(value: str) -> None:
    assert CATALOGUE.parse(fact("ownership.asserted", fraction=value)).fraction == Decimal(value)  # type: ignore[attr-defined]


# --- codes --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["US$", "ZZZ", "dollar", "U S D", 840])
def test_unknown_currency(value: Any) -> None:
    rejected(fact("fx.rate", base=value), "base", "is not an ISO 4217 currency code")


@pytest.mark.parametrize("value", ["XXX", "xts"])
def test_the_codes_for_no_currency_and_for_testing_are_no_money(value: str) -> None:
    rejected(fact("valuation.marked", currency=value), "currency", "is ISO 4217's code for no currency or for testing")


def test_currency_codes_are_upper_cased() -> None:
    parsed = CATALOGUE.parse(fact("fx.rate", base=" usd ", quote="cny"))
    assert (parsed.base, parsed.quote) == ("USD", "CNY")  # type: ignore[attr-defined]


@pytest.mark.parametrize("value", ["XX", "China", "CHN", 86])
def test_unknown_country(value: Any) -> None:
    rejected(fact("party.registered", jurisdiction=value), "jurisdiction", "is not an ISO 3166 alpha-2 country code")


def test_unknown_country_in_export_targets() -> None:
    rejected(fact("export.ban_imposed", targets=["CN", "ZZ"]), "targets[1]", "'ZZ' is not an ISO 3166 alpha-2 country code")


def test_lower_case_export_targets_are_parties() -> None:
    parsed = CATALOGUE.parse(fact("export.ban_imposed", targets=["cn"]))
    assert parsed.targets == ("cn",)  # type: ignore[attr-defined]
    assert ("targets[0]", "cn") in parsed.party_fields()


# --- slugs --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["Moonshot AI", "moonshot--ai", "-moonshot", "moonshot-", "Alibaba", "a b", "月之暗面"])
def test_bad_slug(value: str) -> None:
    rejected(fact("valuation.marked", company=value), "company", "is not a slug")


def test_bad_slug_inside_a_list() -> None:
    rejected(fact("export.ban_imposed", items=["nvidia-a800", "Nvidia H800"]), "items[1]", "'Nvidia H800' is not a slug")
    rejected(fact("divestment.ordered", companies="ant-group;Lazada"), "companies[1]", "'Lazada' is not a slug")
    rejected(fact("party.registered", aliases=["aliyun", "Ali Yun"]), "aliases[1]", "is not a slug")


def test_slugs_may_use_dots_underscores_and_digits() -> None:
    assert CATALOGUE.parse(fact("valuation.marked", company="01.ai_2-x")).company == "01.ai_2-x"  # type: ignore[attr-defined]


# --- nested records -----------------------------------------------------------------------------------------------


def test_nested_error_names_the_investor_and_field() -> None:
    data = fact("round.closed")
    data["investors"][1]["amount"] = "-3"
    error = rejected(data, "investors[1].amount", "must be zero or more, got -3")
    assert str(error) == "investors[1].amount: must be zero or more, got -3"


def test_nested_missing_field() -> None:
    data = fact("round.closed")
    del data["investors"][1]["party"]
    rejected(data, "investors[1].party", "missing required field")


def test_nested_bad_choice_and_slug() -> None:
    data = fact("round.closed")
    data["investors"][0]["consideration"] = "shares"
    rejected(data, "investors[0].consideration", "expected one of cash, credits, services")
    data = fact("round.closed")
    data["investors"][1]["party"] = "Tencent"
    rejected(data, "investors[1].party", "is not a slug")


# --- corrections --------------------------------------------------------------------------------------------------


def test_replacement_field_error_is_located_in_the_replacement() -> None:
    data = fact("fact.corrected")
    data["replacement"]["quote"] = "XYZ1"
    rejected(data, "replacement.quote", "is not an ISO 4217 currency code")


def test_replacement_check_error_is_located_in_the_replacement() -> None:
    data = fact("fact.corrected")
    data["replacement"]["quote"] = "usd"
    rejected(data, "replacement.quote", "base and quote must differ")


def test_replacement_nested_error_keeps_the_whole_path() -> None:
    replacement = fact("round.closed")
    replacement["investors"][1]["amount"] = "abc"
    rejected(fact("fact.corrected", replacement=replacement), "replacement.investors[1].amount", "expected a decimal number")


def test_replacement_unknown_kind_and_field() -> None:
    rejected(
        fact("fact.corrected", replacement={"kind": "fx.rat", "effective": "2024-01-02"}),
        "replacement.kind",
        "did you mean 'fx.rate'?",
    )
    replacement = fact("fx.rate", rat="7")
    rejected(fact("fact.corrected", replacement=replacement), "replacement.rat", "unknown field", "did you mean 'rate'?")
    rejected(fact("fact.corrected", replacement={"effective": "2024-01-02"}), "replacement.kind", "missing required field")


def test_replacement_must_be_an_object() -> None:
    rejected(fact("fact.corrected", replacement="fx-2"), "replacement", "expected a whole fact as an object, got 'fx-2'")


@pytest.mark.parametrize("inner", ["fact.corrected", "fact.retracted"])
def test_a_correction_cannot_replace_a_correction_or_retraction(inner: str) -> None:
    rejected(fact("fact.corrected", replacement=VALID[inner]), "replacement.kind", "cannot replace a correction or retraction")


# --- parties ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("holder", ["founders", "undisclosed"])
def test_built_in_holders_cannot_be_registered(holder: str) -> None:
    rejected(fact("party.registered", party=holder), "party", f"{holder!r} is a built-in holder and cannot be registered")


@pytest.mark.parametrize(
    ("kind", "field"),
    [
        ("round.closed", "company"),
        ("stake.acquired", "company"),
        ("stake.divested", "company"),
        ("ownership.asserted", "company"),
        ("party.registered", "parent"),
        ("credits.granted", "grantee"),
        ("credits.granted", "grantor"),
        ("escrow.deposited", "beneficiary"),
        ("penalty.imposed", "target"),
        ("export.ban_imposed", "targets[1]"),
    ],
)
@pytest.mark.parametrize("holder", ["founders", "undisclosed"])
def test_built_in_holders_hold_shares_and_are_named_nowhere_else(kind: str, field: str, holder: str) -> None:
    """``founders`` holding a third of a company called ``founders`` said nothing true: a built-in holder is no
    company, parent, provider, beneficiary or target."""
    given = {"targets": ["CN", holder]} if field == "targets[1]" else {field: holder}
    rejected(fact(kind, **given), field, f"{holder!r} is a built-in holder of shares, not a party that can be named here")


def test_built_in_holders_need_no_registration_to_be_named() -> None:
    parsed = CATALOGUE.parse(fact("stake.divested", holder="founders", buyer="undisclosed"))
    assert parsed.parties() == ["founders", "zhipu", "undisclosed"]


def test_a_party_cannot_be_its_own_parent() -> None:
    rejected(fact("party.registered", parent="moonshot-ai"), "parent", "own parent")


# --- cross-field rules (check()) ----------------------------------------------------------------------------------


def test_round_needs_pre_or_post_money() -> None:
    rejected(fact("round.closed", post_money=None), "pre_money", "give exactly one of pre_money or post_money")


def test_round_cannot_have_both_pre_and_post_money() -> None:
    rejected(fact("round.closed", pre_money="1500000000"), "post_money", "give exactly one of pre_money or post_money")


def test_round_post_money_cannot_be_below_the_amount() -> None:
    rejected(fact("round.closed", post_money="999999999.99"), "post_money", "below the round's amount")
    assert CATALOGUE.parse(fact("round.closed", post_money="1000000000")).post == Decimal(1000000000)  # type: ignore[attr-defined]


def test_round_post_is_pre_plus_amount() -> None:
    parsed = CATALOGUE.parse(fact("round.closed", post_money=None, pre_money="1500000000"))
    assert parsed.post == Decimal(2500000000)  # type: ignore[attr-defined]


def test_round_investors_cannot_exceed_the_amount() -> None:
    data = fact("round.closed")
    data["investors"][1]["amount"] = "400000000.01"
    rejected(data, "investors", "add up to 1000000000.01, more than the round's 1000000000")
    data["investors"][1]["amount"] = "400000000"
    assert len(CATALOGUE.parse(data).investors) == 2  # type: ignore[attr-defined]  # exactly the amount is fine


def test_round_investor_listed_twice_with_the_same_consideration() -> None:
    data = fact("round.closed")
    data["investors"][1]["party"] = "alibaba"  # both pay cash: one explicitly, one by default
    rejected(data, "investors[1].party", "'alibaba' is listed twice paying in cash")


def test_round_investor_may_pay_in_cash_and_in_credits() -> None:
    data = fact("round.closed")
    data["investors"][1] = {"party": "alibaba", "amount": "100000000", "consideration": "credits"}
    parsed = CATALOGUE.parse(data)
    assert [i.paid_in for i in parsed.investors] == ["cash", "credits"]  # type: ignore[attr-defined]


def test_round_company_cannot_invest_in_itself() -> None:
    data = fact("round.closed")
    data["investors"][1]["party"] = "moonshot-ai"
    rejected(data, "investors[1].party", "cannot invest in its own round")


def test_stake_price_needs_a_currency() -> None:
    rejected(fact("stake.acquired", price="100"), "currency", "required when price is given")


def test_stake_holder_cannot_be_the_company() -> None:
    rejected(fact("stake.acquired", holder="zhipu"), "holder", "cannot hold itself")


def test_stake_seller_cannot_be_the_holder() -> None:
    rejected(fact("stake.acquired", seller="alibaba"), "seller", "seller and holder are the same")


def test_new_shares_cannot_be_the_whole_company() -> None:
    rejected(fact("stake.acquired", fraction="1"), "fraction", "new shares cannot make up the whole company")
    assert CATALOGUE.parse(fact("stake.acquired", fraction="1", seller="founders")).seller == "founders"  # type: ignore[attr-defined]


def test_divestment_needs_fraction_or_portion() -> None:
    rejected(fact("stake.divested", portion=None), "fraction", "give exactly one of fraction or portion")


def test_divestment_cannot_have_both_fraction_and_portion() -> None:
    rejected(fact("stake.divested", fraction="0.1"), "portion", "give exactly one of fraction or portion")


def test_divestment_proceeds_need_a_currency() -> None:
    rejected(fact("stake.divested", proceeds="100"), "currency", "required when proceeds is given")


def test_divestment_buyer_cannot_be_the_holder() -> None:
    rejected(fact("stake.divested", buyer="alibaba"), "buyer", "buyer and holder are the same")


@pytest.mark.parametrize("expires", ["2024-02-15", "2024-02-14"])
def test_credits_must_expire_after_they_are_granted(expires: str) -> None:
    rejected(fact("credits.granted", expires=expires), "expires", "must be after the grant's effective date")


def test_credits_grantor_and_grantee_differ() -> None:
    rejected(fact("credits.granted", grantee="alibaba-cloud"), "grantee", "grantor and grantee are the same")


def test_fx_base_and_quote_differ() -> None:
    rejected(fact("fx.rate", quote="USD"), "quote", "base and quote must differ")
    rejected(fact("fx.rate", quote="usd"), "quote", "base and quote must differ")


def test_fx_rate_must_be_positive() -> None:
    rejected(fact("fx.rate", rate="0"), "rate", "must be positive, got 0")


# --- the error object ---------------------------------------------------------------------------------------------


def test_fact_error_within() -> None:
    assert FactError("bad").within("rate").field == "rate"
    assert FactError("bad", "amount").within("[1]").field == "[1].amount"
    assert FactError("bad", "[1].amount").within("investors").field == "investors[1].amount"
    assert FactError("bad", "investors[1].amount").within("replacement").field == "replacement.investors[1].amount"
    assert str(FactError("bad")) == "bad"
    assert isinstance(FactError("bad"), ValueError)


def test_credits_consumed_by_the_grantor_itself() -> None:
    rejected(fact("credits.consumed", grantee="alibaba-cloud"), "grantee", "grantor and grantee are the same")


def test_escrow_depositor_and_beneficiary_differ() -> None:
    data = fact("escrow.deposited")
    rejected({**data, "beneficiary": data["depositor"]}, "beneficiary", "depositor and beneficiary are the same")


def test_a_regulator_does_not_fine_itself() -> None:
    data = fact("penalty.imposed")
    rejected({**data, "target": data["authority"]}, "target", "authority and target are the same")


def test_a_divestment_deadline_is_not_before_the_order() -> None:
    rejected(fact("divestment.ordered", deadline="2021-04-09"), "deadline", "the deadline is before the order itself")


def test_a_company_does_not_divest_or_sell_itself() -> None:
    data = fact("stake.divested")
    rejected({**data, "holder": data["company"]}, "holder", "a company cannot hold itself")
    acquired = fact("stake.acquired")
    rejected({**acquired, "seller": acquired["company"]}, "seller", "cannot sell a stake in itself")


def test_the_first_unknown_field_in_the_input_is_named() -> None:
    rejected({**fact("fx.rate"), "zzz": 1, "aaa": 2}, "zzz", "unknown field")


@pytest.mark.parametrize("value", ["1e-300000000", "1e999999999", "1" + "0" * 41])
def test_absurd_magnitudes_are_refused(value: str) -> None:
    rejected(fact("fx.rate", rate=value), "rate", "is out of range")


# --- spending commitments ----------------------------------------------------------------------------------------


def test_a_spending_commitment_names_two_different_parties() -> None:
    rejected(fact("spend.committed", provider="anthropic"), "provider", "customer and provider are the same")


def test_a_spending_commitment_has_one_term() -> None:
    both = fact("spend.committed", term_end="2028-11-01")
    rejected(both, "years", "give either term_end or years, not both")
    rejected(fact("spend.committed", years=None, term_end="2023-11-01"), "term_end", "must be after")
    rejected(fact("spend.committed", years="0"), "years", "must be positive")
    rejected(fact("spend.committed", amount="0"), "amount", "must be positive")
    assert CATALOGUE.parse(fact("spend.committed", years=None, term_end="2028-11-01")).to_dict()["term_end"] == "2028-11-01"
