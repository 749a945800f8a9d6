"""Reading facts from JSON Lines, CSV and YAML: the mappings, their line numbers, and errors that name the place."""

from __future__ import annotations

import io
import re
from decimal import Decimal
from typing import Any

import pytest

from events import Catalogue
from events.codecs import Boolean, Text
from events.errors import FactError
from events.readers import FORMATS, MAX_LINE_BYTES, SourceError, guess_format, read_facts, sniff
from tests.facts import fact

CATALOGUE = Catalogue()


def read(text: str, fmt: str, path: str = "facts") -> list[tuple[int, dict[str, Any]]]:
    return list(read_facts(io.StringIO(text), path, fmt))


def source_error(text: str, fmt: str, path: str = "in.txt") -> SourceError:
    with pytest.raises(SourceError) as caught:
        read(text, fmt, path)
    return caught.value


# --- JSON Lines ---------------------------------------------------------------------------------------------------

JSONL = """\
# facts about Moonshot AI
{"kind": "party.registered", "effective": "2023-03-01", "party": "moonshot-ai", "name": "Moonshot AI", "type": "company"}

{"kind": "fx.rate", "effective": "2024-01-02", "base": "USD", "quote": "CNY", "rate": 7.1}
   {"kind": "valuation.marked", "effective": "2024-06-01", "company": "moonshot-ai", "valuation": 3000000000, "currency": "USD"}
"""


def test_jsonl_yields_each_object_with_its_line() -> None:
    rows = read(JSONL, "jsonl")
    assert [line for line, _ in rows] == [2, 4, 5]
    assert [mapping["kind"] for _, mapping in rows] == ["party.registered", "fx.rate", "valuation.marked"]
    for _, mapping in rows:
        CATALOGUE.parse(mapping)


def test_jsonl_numbers_are_exact() -> None:
    rows = read(JSONL, "jsonl")
    rate = rows[1][1]["rate"]
    assert type(rate) is Decimal
    assert rate == Decimal("7.1")
    assert rows[2][1]["valuation"] == 3000000000
    assert CATALOGUE.parse(rows[1][1]).to_dict()["rate"] == "7.1"


def test_jsonl_malformed_line_names_path_and_line() -> None:
    text = '{"kind": "fx.rate"}\n\n{"kind": "fx.rate", "rate": 7.1\n'
    error = source_error(text, "jsonl", "fx.jsonl")
    assert (error.path, error.line) == ("fx.jsonl", 3)
    assert "not valid JSON" in error.message
    assert str(error).startswith("fx.jsonl:3: not valid JSON")


def test_jsonl_line_must_be_an_object() -> None:
    error = source_error('{"kind": "fx.rate"}\n["fx.rate"]\n', "jsonl", "a.jsonl")
    assert (error.path, error.line) == ("a.jsonl", 2)
    assert "each line must be one JSON object" in error.message


def test_jsonl_is_streamed_up_to_the_bad_line() -> None:
    rows = read_facts(io.StringIO('{"kind": "a"}\nnot json\n'), "s.jsonl", "jsonl")
    assert next(rows) == (1, {"kind": "a"})
    with pytest.raises(SourceError) as caught:
        next(rows)
    assert caught.value.line == 2


# --- CSV ----------------------------------------------------------------------------------------------------------


def test_csv_rows_with_json_and_list_cells() -> None:
    text = (
        "kind,effective,company,round,amount,currency,post_money,investors,items,targets,authority,rule\n"
        "round.closed,2024-02-15,moonshot-ai,series-b,1000000000,USD,2500000000,"
        '"[{""party"": ""alibaba"", ""amount"": 600000000.5}]",,,,\n'
        "export.ban_imposed,2023-10-17,,,,,,,nvidia-a800;nvidia-h800, CN ; alibaba-cloud ,us-bis,ear-2023\n"
    )
    rows = read(text, "csv", "mixed.csv")
    assert [line for line, _ in rows] == [2, 3]
    round_, ban = (mapping for _, mapping in rows)
    assert round_ == fact("round.closed", investors=[{"party": "alibaba", "amount": Decimal("600000000.5")}])
    assert set(ban) == {"kind", "effective", "items", "targets", "authority", "rule"}  # blank cells are absent
    parsed_round = CATALOGUE.parse(round_)
    assert parsed_round.investors[0].amount == Decimal("600000000.5")  # type: ignore[attr-defined]
    parsed_ban = CATALOGUE.parse(ban)
    assert parsed_ban.items == ("nvidia-a800", "nvidia-h800")  # type: ignore[attr-defined]
    assert parsed_ban.targets == ("CN", "alibaba-cloud")  # type: ignore[attr-defined]


def test_csv_cells_are_stripped_and_text_stays_text() -> None:
    text = "kind,effective,fact,reason\nfact.retracted, 2024-03-01 ,fx-1, [citation needed] \n"
    [(line, mapping)] = read(text, "csv")
    assert line == 2
    assert mapping == {"kind": "fact.retracted", "effective": "2024-03-01", "fact": "fx-1", "reason": "[citation needed]"}


def test_csv_line_numbers_count_multi_line_cells_and_blank_lines() -> None:
    text = (
        "kind,effective,fact,reason\n"  # 1
        'fact.retracted,2024-03-01,a,"two\n'  # 2
        'lines"\n'  # 3
        "\n"  # 4
        "fact.retracted,2024-03-02,b,x\n"  # 5
        ",,,\n"  # 6: every cell blank: no fact
        "\n"  # 7
        "\n"  # 8
        "fact.retracted,2024-03-03,c,y\n"  # 9
    )
    rows = read(text, "csv")
    assert [line for line, _ in rows] == [2, 5, 9]
    assert rows[0][1]["reason"] == "two\nlines"
    assert [mapping["fact"] for _, mapping in rows] == ["a", "b", "c"]


def test_csv_short_rows_leave_fields_absent() -> None:
    [(_, mapping)] = read("kind,effective,fact,reason\nfact.retracted,2024-03-01\n", "csv")
    assert mapping == {"kind": "fact.retracted", "effective": "2024-03-01"}


def test_csv_row_with_too_many_cells() -> None:
    text = "kind,effective,fact,reason\nfact.retracted,2024-03-01,a,b\n\nfact.retracted,2024-03-01,a,b,extra\n"
    error = source_error(text, "csv", "rows.csv")
    assert (error.path, error.line) == ("rows.csv", 4)
    assert "more cells than the header's 4 columns" in error.message
    assert str(error).startswith("rows.csv:4: ")


def test_a_value_under_an_unnamed_column_names_the_column() -> None:
    """An empty name in the header was taken for a field named "": "unknown field" said which field, not which column."""
    text = "kind,,effective,fact\nfact.retracted,,2024-03-01,a\nfact.retracted,x,2024-03-01,a\n"
    error = source_error(text, "csv", "rows.csv")
    assert str(error) == "rows.csv:3: column 2 holds a value but has no name in the header (line 1)"
    [(_, mapping)] = read("kind,effective,fact,\nfact.retracted,2024-03-01,a,\n", "csv")  # a trailing comma's column
    assert mapping == {"kind": "fact.retracted", "effective": "2024-03-01", "fact": "a"}


def test_csv_header_needs_a_kind_column() -> None:
    error = source_error("type,effective\nfx.rate,2024-01-01\n", "csv", "h.csv")
    assert (error.line, error.message) == (1, "the header has no 'kind' column")


def test_csv_empty_file_has_no_facts() -> None:
    assert read("", "csv") == []
    assert read("kind,effective\n", "csv") == []


def test_csv_unreadable_text_is_a_source_error() -> None:
    huge = "x" * 200_000  # past the csv module's field size limit
    error = source_error(f"kind,effective,note\nfx.rate,2024-01-01,{huge}\n", "csv", "big.csv")
    assert error.path == "big.csv"
    assert error.line == 2
    assert "not valid CSV" in error.message


def test_csv_a_quote_never_closed_is_an_error_at_its_row_not_a_cell_holding_the_rest_of_the_file() -> None:
    rows = [
        "kind,effective,base,quote,rate,note",
        'fx.rate,2021-01-01,USD,EUR,1.1,"Reuters, 5 Jan',
        "fx.rate,2021-02-01,USD,EUR,1.2,",
        "fx.rate,2021-03-01,USD,EUR,1.3,",
    ]
    error = source_error("\n".join(rows) + "\n", "csv", "rates.csv")
    assert (error.path, error.line) == ("rates.csv", 2)
    assert "not valid CSV" in error.message
    # a quoted cell may hold line breaks: closed, it is one cell and the next rows are rows
    closed = [*rows[:1], 'fx.rate,2021-01-01,USD,EUR,1.1,"Reuters,\n5 Jan"', *rows[2:]]
    assert [line for line, _ in read("\n".join(closed) + "\n", "csv")] == [2, 4, 5]


# --- YAML ---------------------------------------------------------------------------------------------------------

YAML_LIST = """\
# a list of facts
- kind: party.registered
  effective: 2023-03-01
  party: moonshot-ai
  name: Moonshot AI
  type: company
  sectors: [ai]

- kind: fx.rate
  effective: 2024-01-02
  base: USD
  quote: CNY
  rate: 0.1
  note: null
- {kind: round.closed, effective: 2024-02-15, company: moonshot-ai, round: series-b, amount: 1_000_000_000, currency: USD,
   post_money: "2500000000", investors: [{party: alibaba, amount: 6.0e+8, lead: yes}]}
"""


def test_yaml_list_with_lines() -> None:
    rows = read(YAML_LIST, "yaml", "facts.yaml")
    assert [line for line, _ in rows] == [2, 9, 15]
    party, fx, round_ = (mapping for _, mapping in rows)
    assert party["effective"] == "2023-03-01"  # dates stay text
    assert party["sectors"] == ["ai"]
    assert fx["rate"] == "0.1"  # numbers as written: the field's codec reads them (exactly), as a CSV cell's
    assert fx["note"] is None
    assert round_["amount"] == "1_000_000_000"
    assert round_["post_money"] == "2500000000"  # quoted: a string all the same
    assert round_["investors"] == [{"party": "alibaba", "amount": "6.0e+8", "lead": "yes"}]
    parsed = [CATALOGUE.parse(mapping) for _, mapping in rows]
    assert type(parsed[1].rate) is Decimal  # type: ignore[attr-defined]
    assert parsed[1].rate == Decimal("0.1")  # type: ignore[attr-defined]
    assert parsed[2].amount == Decimal(1_000_000_000)  # type: ignore[attr-defined]
    assert parsed[2].investors[0].amount == Decimal("6.0e+8")  # type: ignore[attr-defined]
    assert parsed[1].note is None
    assert parsed[2].investors[0].lead is True  # type: ignore[attr-defined]


def test_yaml_multi_document() -> None:
    text = """\
---
kind: fx.rate
effective: 2024-01-02
base: USD
quote: CNY
rate: 7.1
---
---
kind: fact.retracted
effective: '2024-03-01'
fact: fx-1
reason: wrong
...
"""
    rows = read(text, "yaml")
    assert [line for line, _ in rows] == [2, 9]
    assert [mapping["kind"] for _, mapping in rows] == ["fx.rate", "fact.retracted"]
    assert rows[0][1]["rate"] == "7.1"
    assert rows[1][1]["effective"] == "2024-03-01"


@pytest.mark.parametrize(("word", "value"), [("true", True), ("no", False), ("On", True), ("FALSE", False)])
def test_yaml_booleans_are_kept_as_written_and_read_by_the_field(word: str, value: bool) -> None:
    [(_, mapping)] = read(f"- lead: {word}\n", "yaml")
    assert mapping["lead"] == word  # YAML 1.1 would read NO (Norway) as false; the field decides
    assert Boolean().parse(word, Catalogue()) is value


@pytest.mark.parametrize("written", ["017", "-017", "0_17", "00"])
def test_a_yaml_integer_with_a_leading_zero_is_refused_not_read_as_decimal(written: str) -> None:
    """YAML 1.1 reads 017 as octal 15, and the ledger read it as 17: any other YAML tool would disagree with the
    amount recorded. It is refused, naming the line and field; quoted, it is text, and read as decimal."""
    text = f"kind: valuation.marked\nvaluation: {written}\n"
    with pytest.raises(SourceError, match=rf"^f.yaml:2: valuation: {written} has a leading zero, which YAML reads as octal"):
        list(read_facts(io.StringIO(text), "f.yaml", "yaml"))
    quoted = list(read_facts(io.StringIO(f"kind: valuation.marked\nvaluation: '{written}'\n"), "f.yaml", "yaml"))
    assert quoted[0][1]["valuation"] == written
    [(_, zero)] = read_facts(io.StringIO("kind: x\nvaluation: 0\n"), "f.yaml", "yaml")
    assert zero["valuation"] == "0"


@pytest.mark.parametrize("written", ["1__0", "100_", ".5", "5.", "+5", '!!int "\\u0661\\u0662"', '!!float "\\uff11\\uff12.5"'])
def test_a_yaml_number_is_held_to_the_rules_a_json_or_csv_amount_is(written: str) -> None:
    """YAML's own reading took ``1__0`` as 10, ``.5`` as 0.5 and, behind a tag, other scripts' digits as a number:
    stored changed where JSON and CSV refuse them. They are refused the same way, naming the field."""
    text = f"kind: valuation.marked\neffective: 2024-01-01\ncompany: acme\nvaluation: {written}\ncurrency: USD\n"
    [(_, mapping)] = read_facts(io.StringIO(text), "f.yaml", "yaml")
    with pytest.raises(FactError, match=r"expected a decimal number") as refused:
        CATALOGUE.parse(mapping)
    assert refused.value.field == "valuation"


def test_a_yaml_value_tagged_null_is_refused_not_dropped() -> None:
    with pytest.raises(SourceError, match=r"^f.yaml:2: note: 'important' is tagged !!null, which would drop it"):
        list(read_facts(io.StringIO('kind: x\nnote: !!null "important"\n'), "f.yaml", "yaml"))
    [(_, mapping)] = read_facts(io.StringIO("kind: x\nnote: !!null ''\nother: ~\n"), "f.yaml", "yaml")
    assert mapping == {"kind": "x", "note": None, "other": None}


def test_yaml_norway_stays_a_country() -> None:
    [(_, mapping)] = read("- targets: [NO, CN]\n", "yaml")
    assert mapping["targets"] == ["NO", "CN"]


def test_yaml_empty_file_has_no_facts() -> None:
    assert read("", "yaml") == []
    assert read("# nothing yet\n", "yaml") == []


def test_yaml_malformed_names_path_and_line() -> None:
    text = "- kind: fx.rate\n  effective: 2024-01-02\n  base: [USD\n  quote: CNY\n- kind: x: y\n"
    error = source_error(text, "yaml", "bad.yaml")
    assert error.path == "bad.yaml"
    assert error.line is not None
    assert 3 <= error.line <= 5
    assert "not valid YAML" in error.message
    assert str(error).startswith(f"bad.yaml:{error.line}: not valid YAML")


def test_yaml_bad_indentation_is_reported_on_its_line() -> None:
    text = "kind: fx.rate\neffective: 2024-01-02\n  base: USD\n"
    error = source_error(text, "yaml", "indent.yaml")
    assert error.line == 3
    assert "not valid YAML" in error.message


def test_yaml_items_must_be_mappings() -> None:
    error = source_error("- kind: fx.rate\n- just text\n", "yaml", "l.yaml")
    assert (error.path, error.line) == ("l.yaml", 2)
    assert "each fact must be a mapping of fields" in error.message


def test_yaml_scalar_document_is_rejected() -> None:
    error = source_error("fx.rate\n", "yaml", "s.yaml")
    assert error.line == 1
    assert "mapping" in error.message


# --- formats ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "fmt"),
    [
        ("facts.jsonl", "jsonl"),
        ("facts.ndjson", "jsonl"),
        ("facts.json", "jsonl"),
        ("FACTS.JSONL", "jsonl"),
        ("dir/facts.yaml", "yaml"),
        ("facts.YML", "yaml"),
        ("facts.csv", "csv"),
        ("Facts.CSV", "csv"),
    ],
)
def test_guess_format_from_the_name(path: str, fmt: str) -> None:
    assert guess_format(path) == fmt
    assert guess_format(path, "{ this head is ignored when the name tells") == fmt


@pytest.mark.parametrize(
    ("head", "fmt"),
    [
        ('{"kind": "fx.rate", "effective": "2024-01-02"}\n', "jsonl"),
        ('\n   {"kind": "fx.rate"}', "jsonl"),
        ('# exported facts\n{"kind": "fx.rate"}\n', "jsonl"),
        ("kind,effective,base,quote,rate\nfx.rate,2024-01-02,USD,CNY,7.1\n", "csv"),
        ('"kind","effective"\n', "csv"),
        ("- kind: fx.rate\n  effective: 2024-01-02\n", "yaml"),
        ("kind: fx.rate\neffective: 2024-01-02\n", "yaml"),
        ("---\nkind: fx.rate\n", "yaml"),
        ("- {kind: fx.rate, effective: 2024-01-02}\n", "yaml"),
        ("", "yaml"),
    ],
)
def test_guess_format_from_the_head_of_stdin(head: str, fmt: str) -> None:
    assert guess_format("-", head) == fmt
    assert guess_format("<stdin>", head) == fmt


@pytest.mark.parametrize("fmt", FORMATS)
def test_guessed_format_reads_its_own_kind_of_text(fmt: str) -> None:
    texts = {
        "jsonl": '{"kind": "fact.retracted", "effective": "2024-03-01", "fact": "fx-1", "reason": "wrong"}\n',
        "csv": "kind,effective,fact,reason\nfact.retracted,2024-03-01,fx-1,wrong\n",
        "yaml": "- kind: fact.retracted\n  effective: 2024-03-01\n  fact: fx-1\n  reason: wrong\n",
    }
    text = texts[fmt]
    assert guess_format("-", text[:200]) == fmt
    [(line, mapping)] = read(text, fmt)
    assert line == (2 if fmt == "csv" else 1)
    assert CATALOGUE.parse(mapping).to_dict() == {
        "kind": "fact.retracted",
        "effective": "2024-03-01",
        "fact": "fx-1",
        "reason": "wrong",
    }


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_file_whose_name_does_not_tell_is_read_by_its_first_lines(fmt: str, tmp_path: Any) -> None:
    from ledger.importing import incoming_from_path

    texts = {
        "jsonl": '{"kind": "fact.retracted", "effective": "2024-03-01", "fact": "fx-1", "reason": "wrong"}\n',
        "csv": "kind,effective,fact,reason\nfact.retracted,2024-03-01,fx-1,wrong\n",
        "yaml": "- kind: fact.retracted\n  effective: 2024-03-01\n  fact: fx-1\n  reason: wrong\n",
    }
    path = tmp_path / "facts.txt"
    path.write_text(texts[fmt], encoding="utf-8")
    [item] = incoming_from_path(CATALOGUE, str(path))
    assert (item.place, item.fact.kind) == (f"{path}:{2 if fmt == 'csv' else 1}", "fact.retracted")


class Pipe:
    """A stream that gives at most ``chunk`` bytes a read, as a pipe may, and can be read only once."""

    def __init__(self, data: bytes, chunk: int = 1000) -> None:
        self.data, self.chunk = data, chunk

    def read(self, size: int = -1) -> bytes:
        size = self.chunk if size < 0 else min(size, self.chunk)
        given, self.data = self.data[:size], self.data[size:]
        return given


HEADS = {
    "jsonl": '{"kind": "fact.retracted", "effective": "2024-03-01", "fact": "fx-1", "reason": "wrong"}\n' * 2,
    "csv": "kind,effective,fact,reason\nfact.retracted,2024-03-01,fx-1,wrong\nfact.retracted,2024-03-01,fx-2,wrong\n",
    "yaml": "- kind: fact.retracted\n  fact: fx-1\n- kind: fact.retracted\n  fact: fx-2\n",
}


COMMENTS = {
    "one": "# facts\n",
    "long": "# " + "x" * 5000 + "\n",  # longer than the first read
    "many": "# a licence, line after line\n" * 20_000,  # many reads
}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("comments", COMMENTS.values(), ids=COMMENTS.keys())
def test_the_format_is_told_by_the_first_line_past_any_comments(fmt: str, comments: str) -> None:
    """A long head of comments and blank lines is read past, and handed on to the reader whole."""
    head = comments + "\n\r\n#\n"
    facts = head.count("\n") + (2 if fmt == "csv" else 1)
    for stream in (Pipe(head.encode() + HEADS[fmt].encode()), io.StringIO(head + HEADS[fmt])):
        told, rest = sniff(stream, "<stdin>")
        assert told == fmt
        lines = [line for line, _ in read_facts(rest, "<stdin>", told)]
        assert lines == [facts, facts + (2 if fmt == "yaml" else 1)]


def test_a_head_of_nothing_but_comments_is_read_so_far_and_no_further() -> None:
    comments = b"# a licence, line after line\n" * 40_000  # 1,160,000 bytes
    stream = Pipe(comments + HEADS["jsonl"].encode(), chunk=1 << 16)
    with pytest.raises(SourceError) as caught:
        sniff(stream, "<stdin>")
    assert str(caught.value) == (
        f"<stdin>:{MAX_LINE_BYTES // 29 + 1}: only comments and blank lines in the first 1,048,576 bytes, "
        "so the format cannot be told; give it (jsonl, yaml or csv)"
    )
    assert len(stream.data) == len(comments) + len(HEADS["jsonl"]) - MAX_LINE_BYTES  # read no further


def test_a_name_that_tells_the_format_reads_nothing_to_guess() -> None:
    stream = Pipe(b"# " + b"x" * 5000 + b"\n" + HEADS["jsonl"].encode())
    told, rest = sniff(stream, "facts.yaml")
    assert (told, rest, len(stream.data)) == ("yaml", stream, 5003 + len(HEADS["jsonl"]))


def test_unknown_format() -> None:
    with pytest.raises(ValueError, match="unknown format 'xml'"):
        read_facts(io.StringIO(""), "x.xml", "xml")


def test_source_error_without_a_line() -> None:
    error = SourceError("x.yaml", None, "broken", field="rate")
    assert str(error) == "x.yaml: rate: broken"
    assert isinstance(error, ValueError)


def test_a_field_given_twice_is_an_error_not_a_silent_choice() -> None:
    line = '{"kind": "fx.rate", "effective": "2024-01-01", "rate": "7", "rate": "700"}\n'
    error = source_error(line, "jsonl", "twice.jsonl")
    assert (error.line, error.field, error.message) == (1, "rate", "the field is given twice")
    error = source_error("- kind: fx.rate\n  rate: 7\n  rate: 8\n", "yaml", "twice.yaml")
    assert (error.line, error.field) == (3, "rate")
    # inside a list of objects: the field is named where it is
    nested = '{"kind": "round.closed", "investors": [{"party": "a"}, {"party": "b", "amount": "1", "amount": "2"}]}\n'
    assert source_error(nested, "jsonl", "twice.jsonl").field == "investors[1].amount"
    # in a CSV cell: refused by a field that reads JSON, the cell's own refusal told before any other of its fact's
    cell = 'kind,investors\nround.closed,"[{""party"": ""a"", ""party"": ""b""}]"\n'
    [(_, row)] = read(cell, "csv")
    with pytest.raises(FactError) as refused:
        CATALOGUE.parse(row)
    assert (refused.value.field, refused.value.message) == ("investors[0].party", "the field is given twice")


@pytest.mark.parametrize(
    "cell",
    ['{"a": 1, "a": 2}', "[" * 40 + "]" * 40, "[" + "9" * 700 + "]", '{"n": 1' + "0" * 700 + "}", '["a\\u0000"]'],
)
def test_a_cell_of_json_beyond_the_limits_is_still_text_to_a_text_field(cell: str) -> None:
    """A note is any text: one that reads as JSON with a key given twice, too deep or with too long a number was
    refused as if the note had to be JSON. A field that reads JSON (sectors) still refuses it, saying why."""
    quoted = cell.replace('"', '""')
    text = f'kind,effective,party,name,type,note\nparty.registered,2020-01-01,acme,Acme,company,"{quoted}"\n'
    [(_, row)] = read(text, "csv")
    assert CATALOGUE.parse(row).to_dict()["note"] == cell
    [(_, row)] = read(text.replace(",note\n", ",sectors\n"), "csv")
    with pytest.raises(FactError) as refused:
        CATALOGUE.parse(row)
    assert refused.value.field is not None and refused.value.field.startswith("sectors")
    assert "not a slug" not in refused.value.message  # the JSON's own problem, not its text taken as a slug


def test_a_byte_order_mark_is_not_data() -> None:
    [(line, mapping)] = read('\ufeff{"kind": "fx.rate"}\n', "jsonl")
    assert (line, mapping) == (1, {"kind": "fx.rate"})


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ('[\n  {"kind": "fx.rate"}\n]\n', "jq -c '.[]' writes an array's facts so"),
        ('{\n  "kind": "fx.rate"\n}\n', "jq -c . writes each fact on one line"),
        ('[{"kind": "fx.rate"}]\n', "jq -c '.[]' writes an array's facts so"),
    ],
)
def test_a_json_document_over_many_lines_is_told_how_to_become_json_lines(text: str, hint: str) -> None:
    """A pretty-printed JSON file (valid JSON, not JSON Lines) was only "not valid JSON (Expecting value at column 2)"."""
    with pytest.raises(SourceError, match=r"^f\.json:1: .*; a file holds one fact a line \(JSON Lines\): ") as raised:
        list(read_facts(io.StringIO(text), "f.json", "jsonl"))
    assert str(raised.value).endswith(hint)


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ('{"kind": "fx.rate", "effective": "2024-01-01"}\n{"kind": "fx.rate", "effective": "2024-', 2),
        ('{"kind": "fx.rate", "effective": "2024-01-01",', 1),
        ('{"kind": "fx.rate", "effective": "2024-01-01",\n\n  \n', 1),
    ],
)
def test_a_file_that_ends_inside_a_fact_is_told_it_may_be_cut_short(text: str, number: int) -> None:
    """A copy that did not finish was told to run jq, as if its last fact were written over many lines."""
    with pytest.raises(SourceError) as raised:
        list(read_facts(io.StringIO(text), "f.jsonl", "jsonl"))
    message = str(raised.value)
    assert message.startswith(f"f.jsonl:{number}: not valid JSON (") and "jq" not in message
    assert message.endswith("; the file ends inside this fact: was it cut short?")


def test_a_line_cut_inside_a_text_mid_file_gets_no_hint() -> None:
    """A text never spans lines in JSON: a line that stops inside one is no fact written over many lines."""
    with pytest.raises(SourceError) as raised:
        list(read_facts(io.StringIO('{"kind": "fx.rate", "note": "a\nb"}\n'), "f.jsonl", "jsonl"))
    assert str(raised.value) == "f.jsonl:1: not valid JSON (Unterminated string starting at column 29)"


def test_a_bad_json_line_that_is_no_document_gets_no_hint() -> None:
    with pytest.raises(SourceError) as raised:
        list(read_facts(io.StringIO('{"kind": "fx.rate", }\n'), "f.jsonl", "jsonl"))
    assert "jq" not in str(raised.value)


ROUND_OVER_LINES = """\
- kind: round.closed
  effective: 2024-02-15
  company: moonshot-ai
  round: series-b
  amount: 100
  currency: USD
  investors:
    - party: alibaba
      amount: 60
    - party: tencent
      amount: {amount}
"""


@pytest.mark.parametrize(
    ("text", "told"),
    [
        (ROUND_OVER_LINES.format(amount="-5"), "facts.yaml:11: investors[1].amount: must be zero or more, got -5"),
        (
            ROUND_OVER_LINES.format(amount="5").replace("- party: tencent\n      amount", "- amount"),
            "facts.yaml:10: investors[1].party: missing",
        ),
        (ROUND_OVER_LINES.format(amount="5").replace("  company: moonshot-ai\n", ""), "facts.yaml:1: company: missing"),
        (  # YAML also breaks lines at U+2028, U+2029 and U+0085; the file's lines are what an error names
            ROUND_OVER_LINES.format(amount="-5").replace("  company:", '  note: "a\u2028b\u2029c\x85d"\n  company:'),
            "facts.yaml:12: investors[1].amount: must be zero or more, got -5",
        ),
    ],
)
def test_a_yaml_fact_s_error_names_the_line_of_its_field(text: str, told: str) -> None:
    """A YAML fact spans lines: an error in one of its fields names that field's line (or, for a field missing,
    the line of what should hold it), not the fact's first."""
    from ledger.errors import RejectedError
    from ledger.importing import incoming_from_stream

    with pytest.raises(RejectedError, match="^" + re.escape(told)):
        list(incoming_from_stream(CATALOGUE, io.StringIO(text), "facts.yaml", "yaml"))


@pytest.mark.parametrize(
    ("field", "written"),
    [("party", "\x1cacme"), ("party", "acme\u3000"), ("name", "Acme\xa0"), ("key", "k-1\x85"), ("effective", "\u20032019-01-01")],
)
def test_an_invisible_character_at_either_end_of_a_value_is_refused_not_taken_off(field: str, written: str) -> None:
    """``str.strip`` took these off, so the value was stored other than given (``"\\x1cacme"`` as ``acme``) and an
    error quoting it showed nothing amiss. Typed spaces, tabs and line breaks are still taken off."""
    given = {"kind": "party.registered", "effective": "2019-01-01", "party": "acme", "name": "Acme", "type": "company"}
    with pytest.raises(FactError) as refused:
        CATALOGUE.parse({**given, field: written})
    assert refused.value.field == field
    spaced = CATALOGUE.parse({**given, field: f" \t{written.strip()}\n"})
    assert getattr(spaced, field) == (written.strip() if field != "effective" else CATALOGUE.parse(given).effective)


def test_a_csv_cell_keeps_an_invisible_character_for_its_field_to_refuse() -> None:
    text = "kind,effective,party,name,type\nparty.registered,2019-01-01,acme\u00a0,Acme,company\n"
    [(line, mapping)] = read_facts(io.StringIO(text), "f.csv", "csv")
    with pytest.raises(FactError, match=r"invisible character \(U\+00A0\)") as refused:
        CATALOGUE.parse(mapping)
    assert (line, refused.value.field) == (2, "party")
    [(_, block)] = read_facts(io.StringIO("kind: x\nnote: |\n  kept as written\n"), "f.yaml", "yaml")
    assert Text().parse(block["note"], CATALOGUE) == "kept as written"  # a YAML block's last line break is typed


def test_an_error_quotes_numbers_as_written_and_look_alike_letters_by_their_code() -> None:
    """A number is quoted as written (``[1, 2]``), not as Python's ``[Decimal('1'), Decimal('2')]``; a kind or a slug
    with a letter from another script that looks like a Latin one shows its code, where the message looked as if
    it refused the right name."""
    given = {"kind": "valuation.marked", "effective": "2024-01-01", "company": "acme", "currency": "USD"}
    with pytest.raises(FactError, match=r"^valuation: expected a decimal number, got \[1, 2\]$"):
        CATALOGUE.parse({**given, "valuation": [Decimal(1), Decimal(2)]})
    with pytest.raises(FactError, match=r"unknown kind 'valuation\.mark\\u0435d'; did you mean 'valuation\.marked'"):
        CATALOGUE.parse({**given, "kind": "valuation.mark\u0435d", "valuation": "1"})
    with pytest.raises(FactError, match=r"^company: '\\u0430cme' is not a slug"):
        CATALOGUE.parse({**given, "company": "\u0430cme", "valuation": "1"})


def test_a_csv_cell_that_reads_as_json_is_still_text_to_a_text_field() -> None:
    """A cell written as JSON gives a list or an object to the fields that hold one (sectors, investors); a text
    field takes the cell's text (a note ``[2024]``, a name ``{"a": 1}``), which it refused as not text."""
    header = "kind,effective,party,name,type,sectors,note\n"
    text = header + 'party.registered,2019-01-01,acme,"{""a"": 1}",company,"[""ai"", ""cloud""]",[2024]\n'
    [(_, mapping)] = read_facts(io.StringIO(text), "f.csv", "csv")
    parsed = CATALOGUE.parse(mapping)
    assert (parsed.name, parsed.note) == ('{"a": 1}', "[2024]")  # type: ignore[attr-defined]
    assert parsed.sectors == ("ai", "cloud")  # type: ignore[attr-defined]


def test_a_csv_cell_of_only_an_invisible_character_is_a_value_its_field_refuses_not_a_blank() -> None:
    """Counted as blank, it left the field out: a seller given as U+00A0 made a sale new shares, with no word."""
    text = "kind,effective,party,name,type,note\nparty.registered,2019-01-01,acme,Acme,company,\u00a0\n"
    [(_, mapping)] = read_facts(io.StringIO(text), "f.csv", "csv")
    with pytest.raises(FactError, match=r"invisible character \(U\+00A0\)") as refused:
        CATALOGUE.parse(mapping)
    assert refused.value.field == "note"


def test_codes_choices_and_numbers_lose_typed_spaces_and_line_breaks_as_text_does() -> None:
    """A YAML block gives ``company\\n``, JSON may give ``" high"``: taken as every text value is, where codes, choices
    and numbers refused what a name or a note took."""
    parsed = CATALOGUE.parse(
        {
            "kind": "party.registered",
            "effective": "2019-01-01\n",
            "party": "acme",
            "name": "Acme",
            "type": "company\n",
            "confidence": " high",
            "jurisdiction": "CN\n",
        }
    )
    assert (parsed.type, parsed.confidence, parsed.jurisdiction) == ("company", "high", "CN")  # type: ignore[attr-defined]
    rate = CATALOGUE.parse({"kind": "fx.rate", "effective": "2024-01-01", "base": "USD\n", "quote": "EUR", "rate": "0.9\n"})
    assert (rate.base, rate.rate) == ("USD", Decimal("0.9"))  # type: ignore[attr-defined]


def test_yaml_refuses_exactly_the_characters_outside_its_printable_set() -> None:
    """``_YAML_REFUSES`` is written as the characters YAML leaves out (it compiles in a millisecond, where the
    printable set negated took nine): it must find every character outside that set and none inside it."""
    from events.readers import _YAML_REFUSES

    printable = re.compile("[\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
    every = "".join(map(chr, range(0x110000)))
    assert _YAML_REFUSES.findall(every) == [c for c in every if not printable.fullmatch(c)]
