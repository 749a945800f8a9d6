"""The interchange round trip: parse, dump, parse again; through JSON Lines and YAML; against the JSON Schema."""

from __future__ import annotations

import io
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events import BUILT_IN_KINDS, Catalogue, Fact, FactError
from events.readers import read_facts
from tests.facts import fact as example
from tests.strategies import CORRECTABLE_KINDS, KINDS, SLUGS, decimal_strings, fact_dicts, fractions

CATALOGUE = Catalogue()
SCHEMA = CATALOGUE.json_schema()
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
DEFAULTED = {"tolerance", "investors"}  # fields to_dict() writes even when the input left them out
SAMPLE = Path(__file__).parent / "data" / "catalogue.jsonl"

EXAMPLES = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def resolve(data: Any, path: str) -> Any:
    """The value at a field path such as ``replacement.investors[1].party`` inside an interchange dict."""
    for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", path):
        data = data[name] if name else data[int(index)]
    return data


def assert_same_but_defaults(original: Any, dumped: Any, path: str = "") -> None:
    """``dumped`` holds every value of ``original`` unchanged, plus at most defaulted fields (at any depth)."""
    if isinstance(original, dict):
        assert isinstance(dumped, dict), path
        assert set(dumped) - set(original) <= DEFAULTED, (path, set(dumped) - set(original))
        for name, value in original.items():
            assert name in dumped, f"{path}.{name}"
            assert_same_but_defaults(value, dumped[name], f"{path}.{name}")
    elif isinstance(original, list):
        assert isinstance(dumped, list) and len(dumped) == len(original), path
        for index, (before, after) in enumerate(zip(original, dumped, strict=True)):
            assert_same_but_defaults(before, after, f"{path}[{index}]")
    else:
        assert type(dumped) is type(original) and dumped == original, (path, original, dumped)


def test_strategies_cover_every_built_in_kind() -> None:
    assert set(KINDS) == {kind.kind for kind in BUILT_IN_KINDS}
    assert set(CORRECTABLE_KINDS) == set(KINDS) - {"fact.corrected", "fact.retracted"}


@pytest.mark.parametrize("kind", KINDS)
@EXAMPLES
@given(data=st.data())
def test_parse_dump_parse_is_the_identity(kind: str, data: st.DataObject) -> None:
    original = data.draw(fact_dicts(kind))
    fact = CATALOGUE.parse(original)
    assert isinstance(fact, Fact)
    assert fact.kind == kind
    assert type(fact) is CATALOGUE.kinds[kind]

    dumped = fact.to_dict()
    assert next(iter(dumped)) == "kind"
    again = CATALOGUE.parse(dumped)
    assert again == fact
    assert hash(again) == hash(fact)
    assert again.to_dict() == dumped

    # the strategies draw canonical dicts: every given field comes back as it was, only defaults are added
    assert_same_but_defaults(original, dumped)


@pytest.mark.parametrize("kind", KINDS)
@EXAMPLES
@given(data=st.data())
def test_a_stored_fact_reads_back_slot_by_slot_as_built(kind: str, data: st.DataObject) -> None:
    """Reading a stored fact fills its slots directly (``load_record``); it must equal the fact as parsed and as
    the class itself would make it from the same values."""
    from events.layout import _called, load_record

    fact = CATALOGUE.parse(data.draw(fact_dicts(kind)))
    stored = json.loads(json.dumps(fact.to_dict()))
    loaded = CATALOGUE.load(stored)
    assert loaded == fact and hash(loaded) == hash(fact) and type(loaded) is type(fact)
    assert _called(type(fact), stored, CATALOGUE) == loaded
    with pytest.raises(TypeError, match="missing required field 'effective'"):
        load_record(type(fact), {k: v for k, v in stored.items() if k != "effective"}, CATALOGUE)


def test_a_record_that_must_be_called_to_be_made_is_called() -> None:
    """A plugin's record with ``__post_init__``, a default factory or no slots is built by calling it."""
    import dataclasses

    from events import fields
    from events.layout import load_record

    @dataclasses.dataclass(frozen=True)
    class Unslotted:
        name: str = fields.text()

    @dataclasses.dataclass(frozen=True, slots=True)
    class Checked:
        name: str = fields.text()

        def __post_init__(self) -> None:
            object.__setattr__(self, "name", self.name.upper())

    @dataclasses.dataclass(frozen=True, slots=True, init=False)
    class Initialised:
        name: str = fields.text()

        def __init__(self, name: str) -> None:
            object.__setattr__(self, "name", name.upper())

    assert load_record(Unslotted, {"name": "a"}, CATALOGUE) == Unslotted(name="a")
    assert load_record(Checked, {"name": "a"}, CATALOGUE).name == "A"
    assert load_record(Initialised, {"name": "a"}, CATALOGUE).name == "A"


@pytest.mark.parametrize("kind", KINDS)
@EXAMPLES
@given(data=st.data())
def test_json_lines_round_trip(kind: str, data: st.DataObject) -> None:
    fact = CATALOGUE.parse(data.draw(fact_dicts(kind)))
    text = "# a comment line\n\n" + json.dumps(fact.to_dict(), ensure_ascii=False) + "\n"
    [(line, mapping)] = list(read_facts(io.StringIO(text), "facts.jsonl", "jsonl"))
    assert line == 3
    assert CATALOGUE.parse(mapping) == fact


@pytest.mark.parametrize("kind", KINDS)
@EXAMPLES
@given(data=st.data())
def test_yaml_round_trip(kind: str, data: st.DataObject) -> None:
    fact = CATALOGUE.parse(data.draw(fact_dicts(kind)))
    text = yaml.safe_dump([fact.to_dict()], allow_unicode=True, sort_keys=False)
    [(line, mapping)] = list(read_facts(io.StringIO(text), "facts.yaml", "yaml"))
    assert line == 1
    assert CATALOGUE.parse(mapping) == fact


@pytest.mark.parametrize("kind", KINDS)
@EXAMPLES
@given(data=st.data())
def test_schema_accepts_every_valid_fact_and_its_dump(kind: str, data: st.DataObject) -> None:
    original = data.draw(fact_dicts(kind))
    VALIDATOR.validate(original)
    VALIDATOR.validate(CATALOGUE.parse(original).to_dict())


@pytest.mark.parametrize("kind", KINDS)
@EXAMPLES
@given(data=st.data())
def test_party_fields_point_at_the_slugs(kind: str, data: st.DataObject) -> None:
    original = data.draw(fact_dicts(kind))
    fact = CATALOGUE.parse(original)
    found = fact.party_fields()
    assert [slug for _, slug in found] == fact.parties()
    for path, slug in found:
        assert resolve(original, path) == slug
        assert slug in SLUGS


def test_party_fields_of_a_correction_are_inside_the_replacement() -> None:
    replacement = example(
        "round.closed", investors=[{"party": "alibaba", "amount": "600000000"}, {"party": "tencent", "amount": "1"}]
    )
    fact = CATALOGUE.parse(example("fact.corrected", fact="moonshot-b", replacement=replacement))
    assert fact.party_fields() == [
        ("replacement.company", "moonshot-ai"),
        ("replacement.investors[0].party", "alibaba"),
        ("replacement.investors[1].party", "tencent"),
    ]


def test_export_ban_targets_tell_countries_from_parties() -> None:
    fact = CATALOGUE.parse(
        {
            "kind": "export.ban_imposed",
            "effective": "2023-10-17",
            "rule": "ear-2023",
            "authority": "us-bis",
            "items": "nvidia-a800; nvidia-h800",
            "targets": ["CN", "alibaba-cloud", "MO"],
        }
    )
    assert fact.items == ("nvidia-a800", "nvidia-h800")
    assert fact.targets == ("CN", "alibaba-cloud", "MO")
    assert fact.party_fields() == [("authority", "us-bis"), ("targets[1]", "alibaba-cloud")]


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    for kind in CATALOGUE.kinds.values():
        jsonschema.Draft202012Validator.check_schema(kind.json_schema())
    assert [branch["properties"]["kind"]["const"] for branch in SCHEMA["oneOf"]] == list(KINDS)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"kind": "fx.rates"}, "unknown kind"),
        ({"rte": "7.1"}, "unknown field"),
        ({"rate": "-7.1"}, "negative number"),
        ({"rate": -5}, "a negative number as a number"),
        ({"rate": "0"}, "zero where it must be positive"),
        ({"rate": "000.00e5"}, "zero written longer"),
        ({"rate": 0}, "zero as a number"),
        ({"rate": "7.1e"}, "a broken exponent"),
        ({"base": "US Dollar"}, "not a currency code"),
        ({"effective": "2024-02-30"}, "no such day"),
        ({"effective": 20240102}, "date as a number"),
        ({"key": ""}, "empty text"),
    ],
)
def test_the_schema_rejects_malformed_facts(change: dict[str, Any], why: str) -> None:
    fact = {"kind": "fx.rate", "effective": "2024-01-02", "key": "fx-1", "base": "USD", "quote": "CNY", "rate": "7.1"}
    VALIDATOR.validate(fact)
    with pytest.raises(jsonschema.ValidationError):
        VALIDATOR.validate({**fact, **change})


def test_the_schema_names_built_in_holders_only_where_shares_are_held() -> None:
    stake = {"kind": "stake.acquired", "effective": "2024-05-01", "holder": "founders", "company": "zhipu", "fraction": "0.1"}
    VALIDATOR.validate({**stake, "seller": "undisclosed"})  # a holder and a seller may be built-in holders
    CATALOGUE.parse({**stake, "seller": "undisclosed"})
    with pytest.raises(jsonschema.ValidationError):  # a company may not, as parsing says too
        VALIDATOR.validate({**stake, "company": "founders"})
    with pytest.raises(FactError, match="built-in holder"):
        CATALOGUE.parse({**stake, "company": "founders"})


def test_the_schema_holds_a_fraction_to_one_where_it_can() -> None:
    stake = {"kind": "stake.acquired", "effective": "2024-05-01", "holder": "alibaba", "company": "zhipu", "fraction": "0.1"}
    VALIDATOR.validate(stake)
    VALIDATOR.validate({**stake, "fraction": 1})
    with pytest.raises(jsonschema.ValidationError):
        VALIDATOR.validate({**stake, "fraction": 5})


def test_the_schema_requires_the_kinds_required_fields() -> None:
    fact = {"kind": "round.closed", "effective": "2024-02-15", "company": "moonshot-ai", "round": "b", "amount": "1"}
    with pytest.raises(jsonschema.ValidationError):
        VALIDATOR.validate(fact)  # no currency
    VALIDATOR.validate({**fact, "currency": "USD"})


def test_the_schema_validates_a_correction_s_replacement_as_a_whole_fact() -> None:
    correction = {
        "kind": "fact.corrected",
        "effective": "2024-03-01",
        "fact": "fx-1",
        "replacement": {"kind": "fx.rate", "effective": "2024-01-02", "base": "USD", "quote": "CNY", "rate": "7.2"},
    }
    VALIDATOR.validate(correction)
    with pytest.raises(jsonschema.ValidationError):
        VALIDATOR.validate({**correction, "replacement": {**correction["replacement"], "rate": "seven"}})


def test_the_catalogue_sample_parses_and_round_trips() -> None:
    with SAMPLE.open(encoding="utf-8") as stream:
        rows = list(read_facts(stream, str(SAMPLE), "jsonl"))
    assert rows
    kinds = set()
    for _, mapping in rows:
        fact = CATALOGUE.parse(mapping)
        kinds.add(fact.kind)
        assert CATALOGUE.parse(fact.to_dict()) == fact
        VALIDATOR.validate(mapping)
    assert kinds == set(KINDS)


# --- Decimal exactness -------------------------------------------------------------------------------------------


def _rate(value: Any) -> Decimal:
    fact = CATALOGUE.parse({"kind": "fx.rate", "effective": "2024-01-02", "base": "USD", "quote": "CNY", "rate": value})
    return fact.rate  # type: ignore[attr-defined, no-any-return]


def test_decimal_strings_stay_exact() -> None:
    rate = _rate("0.1")
    assert isinstance(rate, Decimal)
    assert rate == Decimal("0.1")
    assert rate.as_tuple() == Decimal("0.1").as_tuple()
    assert _rate("0.1") + _rate("0.2") == Decimal("0.3")
    assert _rate("7.10").as_tuple() == Decimal("7.10").as_tuple()  # trailing zeros kept
    assert _rate("123456789012345678901234567890.123456789") == Decimal("123456789012345678901234567890.123456789")


def test_a_json_number_read_by_read_facts_stays_exact() -> None:
    line = '{"kind": "fx.rate", "effective": "2024-01-02", "base": "USD", "quote": "CNY", "rate": 0.1}\n'
    [(_, mapping)] = list(read_facts(io.StringIO(line), "-", "jsonl"))
    assert type(mapping["rate"]) is Decimal
    assert mapping["rate"] == Decimal("0.1")
    assert _rate(mapping["rate"]) == Decimal("0.1")
    assert CATALOGUE.parse(mapping).to_dict()["rate"] == "0.1"


def test_floats_and_ints_are_read_through_their_shortest_form() -> None:
    assert _rate(0.1) == Decimal("0.1")  # not 0.1000000000000000055511151231257827...
    assert _rate(7) == Decimal(7)
    assert _rate(1e-07) == Decimal("1E-7")


@pytest.mark.parametrize(
    ("given", "written"),
    [
        ("1e3", "1000"),
        ("1E+3", "1000"),
        ("0.00000001", "0.00000001"),
        ("1_000.50", "1000.50"),
        (" 7.1 ", "7.1"),
        ("7.100", "7.100"),
    ],
)
def test_money_is_written_as_a_plain_decimal_string(given: str, written: str) -> None:
    fact = CATALOGUE.parse(
        {"kind": "valuation.marked", "effective": "2024-01-02", "company": "zhipu", "valuation": given, "currency": "usd"}
    )
    dumped = fact.to_dict()
    assert dumped["valuation"] == written
    assert dumped["currency"] == "USD"
    VALIDATOR.validate(dumped)


def test_negative_zero_is_written_as_zero() -> None:
    fact = CATALOGUE.parse(
        {"kind": "valuation.marked", "effective": "2024-01-02", "company": "zhipu", "valuation": "-0", "currency": "USD"}
    )
    assert fact.to_dict()["valuation"] == "0"


# --- the strategies themselves -----------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_decimal_strings_stay_in_range(data: st.DataObject) -> None:
    low = data.draw(st.integers(-1000, 1000))
    high = low + data.draw(st.integers(0, 1000))
    places = data.draw(st.integers(0, 4))
    text = data.draw(decimal_strings(low, high, places))
    value = Decimal(text)
    assert low <= value <= high
    assert "E" not in text
    assert -value.as_tuple().exponent <= places  # type: ignore[operator]


@settings(max_examples=200, deadline=None)
@given(fractions(6))
def test_fractions_are_in_the_unit_interval(text: str) -> None:
    assert Decimal(0) <= Decimal(text) <= Decimal(1)


def test_default_tolerance_is_filled_in() -> None:
    fact = CATALOGUE.parse(
        {"kind": "ownership.asserted", "effective": "2024-01-02", "holder": "alibaba", "company": "zhipu", "fraction": "0.1"}
    )
    assert fact.tolerance == Decimal("0.005")  # type: ignore[attr-defined]
    assert fact.to_dict()["tolerance"] == "0.005"


def test_facts_read_back_share_their_repeated_values() -> None:
    """A million facts' states hold each slug, code and date once: what is read back from the store is shared."""
    first, second = (
        CATALOGUE.parse({"kind": "valuation.marked", "effective": "2024-03-01", "company": "moonshot-ai", **extra})
        for extra in ({"valuation": "2500000000", "currency": "USD"}, {"valuation": "3000000000", "currency": "USD"})
    )
    # as a store hands them back: decoded from JSON text, each value a new object
    a, b = (CATALOGUE.load(json.loads(json.dumps(fact.to_dict()))) for fact in (first, second))
    assert a == first and b == second
    assert a.company is b.company and a.currency is b.currency and a.effective is b.effective


def test_facts_parsed_from_input_share_their_repeated_values_too() -> None:
    """A million-fact append holds every parsed fact until it is written: each slug, code, word and date once."""
    first, second = (
        CATALOGUE.parse(json.loads(text))  # each value a new object, as read from a file
        for text in (
            '{"kind": "round.closed", "effective": "2024-03-01", "company": "moonshot-ai", "round": "a", "amount": "1",'
            ' "currency": "usd", "pre_money": "9", "investors": [{"party": "tencent", "consideration": "cash"}]}',
            '{"kind": "round.closed", "effective": " 2024-03-01", "company": "moonshot-ai", "round": "b", "amount": "2",'
            ' "currency": "USD ", "pre_money": "9", "investors": [{"party": "tencent", "consideration": "cash"}]}',
        )
    )
    assert first.company is second.company and first.currency is second.currency == "USD"
    assert first.effective is second.effective
    assert first.investors[0].party is second.investors[0].party
    assert first.investors[0].consideration is second.investors[0].consideration == "cash"


def test_shared_values_are_handed_out_from_a_bounded_table(monkeypatch: pytest.MonkeyPatch) -> None:
    from events import codecs

    monkeypatch.setattr(codecs, "_TEXTS", {})
    monkeypatch.setattr(codecs, "TEXTS_SHARED", 1)
    slug = codecs.Slug()
    first, again = slug.load("".join(["moon", "shot"]), CATALOGUE), slug.load("".join(["moon", "shot"]), CATALOGUE)
    assert first is again and first == "moonshot"
    other = "".join(["mini", "max"])
    assert slug.load(other, CATALOGUE) is other and len(codecs._TEXTS) == 1  # full: handed back as it came
