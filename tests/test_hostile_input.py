"""Hostile input: whatever the bytes, the readers and the command line refuse them in one line naming the place,
write nothing, and spend time and memory in proportion to the input.

Each kind of trouble has an explicit case, through ``append --file F``, ``append --file -`` and
``import F`` where it applies; then hypothesis mutates valid facts (flipped bytes, cuts,
duplicated stretches, nesting, hostile tokens) and checks the same promises on whatever comes
out, on the reader API and (fewer examples) on the command line.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import pytest
import yaml
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings

from cli import main
from events import Catalogue
from events.readers import (
    MAX_DEPTH,
    MAX_FACT_BYTES,
    MAX_LINE_BYTES,
    MAX_NUMBER_CHARS,
    SourceError,
    printable,
    read_facts,
)
from ledger.api import Ledger
from ledger.errors import RejectedError
from ledger.exchange import MAX_EXPORT_LINE_BYTES, import_stream
from ledger.importing import incoming_from_path, incoming_from_stream
from tests.conftest import DATA

CATALOGUE = Catalogue()
SAMPLE = DATA / "catalogue.jsonl"
LINES = SAMPLE.read_bytes().splitlines(keepends=True)
FACTS = [json.loads(line) for line in LINES]
SEEDED = len(LINES)
ROOT = Path(__file__).resolve().parent.parent
ERROR = re.compile(r"Error: (?P<place>.+?):(?P<line>[0-9]+): (?P<what>.+)\n")
"""The one line every refusal prints: ``Error: <file>:<line>: <field or what>: <message>``."""

NEW_FACT = b'{"kind": "fx.rate", "effective": "2024-06-01", "key": "fx-eurusd", "base": "EUR", "quote": "USD", "rate": "1.08"}'
NEW_CSV = b"kind,effective,key,base,quote,rate\nfx.rate,2024-06-01,fx-eurusd,EUR,USD,1.08\n"
NEW_YAML = b"- kind: fx.rate\n  effective: 2024-06-01\n  key: fx-eurusd\n  base: EUR\n  quote: USD\n  rate: '1.08'\n"


# --- helpers --------------------------------------------------------------------------------------------------------


def read(data: bytes, fmt: str, path: str = "in") -> list[tuple[int, dict[str, Any]]]:
    return list(read_facts(io.BytesIO(data), path, fmt))


def refused(data: bytes, fmt: str, path: str = "in") -> SourceError:
    """The reader's error for ``data``, checked to be one printable line with a line number."""
    with pytest.raises(SourceError) as caught:
        read(data, fmt, path)
    error = caught.value
    assert str(error).isprintable(), str(error)
    assert error.line is not None and error.line >= 1
    return error


def export_line(seq: int, fact: dict[str, Any]) -> bytes:
    record = {"seq": seq, "id": f"{seq:032x}", "recorded": f"2020-01-01T00:00:{seq:02d}+00:00", "fact": fact}
    return json.dumps(record).encode() + b"\n"


def as_csv(facts: list[dict[str, Any]]) -> bytes:
    names = list(dict.fromkeys(name for fact in facts for name in fact))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(names)
    for fact in facts:
        writer.writerow([json.dumps(fact[n]) if isinstance(fact.get(n), list | dict) else fact.get(n, "") for n in names])
    return out.getvalue().encode()


def as_yaml(facts: list[dict[str, Any]]) -> bytes:
    return yaml.safe_dump(facts, allow_unicode=True, sort_keys=False).encode()


class Endless:
    """A stream that never ends (``head``, then ``pattern`` forever), counting what was read from it."""

    def __init__(self, head: bytes, pattern: bytes) -> None:
        self.head, self.pattern, self.given = head, pattern, 0

    def read(self, size: int = -1) -> bytes:
        if self.head:
            chunk, self.head = self.head, b""
        else:
            size = size if size > 0 else 1 << 16
            chunk = (self.pattern * (size // len(self.pattern) + 1))[:size]
        self.given += len(chunk)
        return chunk


class Cli:
    """``dealledger`` on its own copy of a ledger holding the sample's facts."""

    def __init__(self, folder: Path, seeded: Path | None) -> None:
        self.folder = folder
        if seeded is not None:
            for part in seeded.glob("ledger.db*"):
                shutil.copy(part, folder / part.name)
        self.url = f"sqlite:///{folder / 'ledger.db'}"
        self.runner = CliRunner()

    def run(self, *args: str, input: bytes | None = None) -> Result:
        return self.runner.invoke(main, ["--url", self.url, *args], input=input)

    def facts(self) -> int:
        """The facts the ledger holds; none where no ledger was made (a refused first append or import makes none)."""
        if not (self.folder / "ledger.db").exists():
            return 0
        result = self.run("log", "--format", "json")
        assert result.exit_code == 0, result.output
        return len(json.loads(result.stdout))

    def refuses(self, *args: str, input: bytes | None = None, place: str, line: int | None, says: str) -> None:
        before = self.facts()
        result = self.run(*args, input=input)
        assert_refused(result, place, line, says)
        assert self.facts() == before


def crashed(result: Result) -> str:
    if result.exception is None or isinstance(result.exception, SystemExit):
        return ""
    return "".join(traceback.format_exception(result.exception))


def assert_refused(result: Result, place: str, line: int | None, says: str) -> None:
    """Exit 1, nothing on stdout, one line on stderr naming ``place`` (and ``line``) that says ``says``."""
    assert not crashed(result), crashed(result)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert result.stdout == ""
    if line is None:
        assert result.stderr == f"Error: {place}: {says}\n"
        return
    match = ERROR.fullmatch(result.stderr)
    assert match and result.stderr[:-1].isprintable(), repr(result.stderr[:500])
    assert (match["place"], int(match["line"])) == (place, line), result.stderr
    assert says in match["what"], result.stderr


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A ledger holding the sample's 23 facts, and its export; each test works on a copy."""
    folder = tmp_path_factory.mktemp("seeded")
    url = f"sqlite:///{folder / 'ledger.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("DEALLEDGER_URL", raising=False)
        patch.delenv("DEALLEDGER_PLUGINS", raising=False)
        runner = CliRunner()
        appended = runner.invoke(main, ["--url", url, "append", "--file", str(SAMPLE)])
        assert appended.exit_code == 0, appended.output
        exported = runner.invoke(main, ["--url", url, "export"])
        assert exported.exit_code == 0, exported.output
        (folder / "export.jsonl").write_text(exported.stdout, encoding="utf-8")
        yield folder


@pytest.fixture
def cli(seeded: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DEALLEDGER_URL", raising=False)
    monkeypatch.delenv("DEALLEDGER_PLUGINS", raising=False)
    return Cli(tmp_path, seeded)


def exported(seeded: Path) -> list[bytes]:
    return (seeded / "export.jsonl").read_bytes().splitlines(keepends=True)


# --- JSON Lines, through every route --------------------------------------------------------------------------------

JSONL_CASES = [
    # (id, the bad line, what the error says, whether the reader itself refuses it (so import says the same))
    ("not-utf8", b'{"kind": "fx.rate", "note": "caf\xe9"}\n', "text: not UTF-8: byte 0xe9 at column 33", True),
    ("nul-byte", b'{"kind": "fx.rate",\x00 "note": "x"}\n', "text: a NUL byte at column 20", True),
    ("deep-nesting", b"[" * 100_000 + b"\n", f"nesting: nested deeper than {MAX_DEPTH} levels", True),
    ("deep-in-a-field", b'{"kind": "fx.rate", "note": ' + b"[" * 40 + b"]" * 40 + b"}\n", "nested deeper than", True),
    ("ten-million-digits", b'{"kind": "fx.rate", "rate": ' + b"9" * 10_000_000 + b"}\n", "line: longer than", True),
    (
        "long-integer",
        b'{"kind": "fx.rate", "rate": ' + b"9" * 5000 + b"}\n",
        "rate: a number longer than 600 characters at column 29",
        True,
    ),
    ("long-decimal", b'{"kind": "fx.rate", "rate": 0.' + b"1" * 700 + b"}\n", "rate: a number longer than 600 characters", True),
    ("huge-exponent", b'{"kind": "fx.rate", "rate": 1e99999999999999999999}\n', "rate: a number out of any range", True),
    ("long-line", b'{"note": "' + b"x" * (MAX_EXPORT_LINE_BYTES + 1) + b'"}\n', "line: longer than", True),
    # longer than a fact's line, within an export's (which wraps a fact in seq, id and recorded): refused on append
    ("line-past-a-fact", b'{"note": "' + b"x" * (MAX_LINE_BYTES - 10) + b'"}\n', "line: longer than 1,048,576", False),
    ("escaped-nul", b'{"kind": "fx.rate", "note": "x\\u0000y"}\n', "note: holds a NUL character", True),
    ("lone-surrogate", b'{"kind": "fx.rate", "note": "x\\ud800"}\n', "note: holds a lone surrogate \\ud800", True),
    ("surrogate-name", b'{"kind": "fx.rate", "x\\udfff": 1}\n', "text: a field name holds a lone surrogate", True),
    ("field-twice", b'{"kind": "fx.rate", "rate": 1, "rate": 2}\n', "rate: the field is given twice", True),
    ("not-an-object", b"[1, 2]\n", "each line must be one JSON object", True),
    ("broken-json", b'{"kind": "fx.rate", \n', "not valid JSON", True),
    (
        "newline-in-a-field-name",
        b'{"kind": "fx.rate", "effective": "2024-01-01", "na\\nme": 1}\n',
        "na\\nme: unknown field",
        False,
    ),
    ("long-slug", b'{"kind": "fx.rate", "effective": "2024-01-01", "base": "' + b"x\\n" * 100_000 + b'"}\n', "base:", False),
]


@pytest.mark.parametrize(("line", "says", "by_reader"), [c[1:] for c in JSONL_CASES], ids=[c[0] for c in JSONL_CASES])
def test_jsonl_refused_on_its_line_through_every_route(cli: Cli, seeded: Path, line: bytes, says: str, by_reader: bool) -> None:
    data = b"".join(LINES[:2]) + line + LINES[2]  # two facts already recorded, then the bad line
    Path("bad.jsonl").write_bytes(data)
    cli.refuses("append", "--file", "bad.jsonl", place="bad.jsonl", line=3, says=says)
    cli.refuses("append", "--file", "-", input=data, place="<stdin>", line=3, says=says)
    if by_reader:
        Path("bad-export.jsonl").write_bytes(b"".join(exported(seeded)[:2]) + line)
        cli.refuses("import", "bad-export.jsonl", place="bad-export.jsonl", line=3, says=says)
        cli.refuses("import", "-", input=b"".join(exported(seeded)[:2]) + line, place="<stdin>", line=3, says=says)


def test_a_utf16_file_is_named_as_such(cli: Cli) -> None:
    Path("wide.jsonl").write_bytes(NEW_FACT.decode().encode("utf-16"))
    cli.refuses("append", "--file", "wide.jsonl", place="wide.jsonl", line=1, says="text: not UTF-8 but UTF-16")
    cli.refuses("import", "wide.jsonl", place="wide.jsonl", line=1, says="text: not UTF-8 but UTF-16")


def test_a_file_name_with_a_line_break_stays_on_one_line(cli: Cli) -> None:
    Path("two\nlines.jsonl").write_bytes(b"[]\n")
    cli.refuses("append", "--file", "two\nlines.jsonl", place="two\\nlines.jsonl", line=1, says="one JSON object")


# --- YAML -----------------------------------------------------------------------------------------------------------

LAUGHS = b'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + b"".join(
    f"{c}: &{c} [{','.join([f'*{p}'] * 9)}]\n".encode() for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)
"""Nine levels of nine aliases: 800 bytes that PyYAML's SafeLoader expands to 9**9 (387 million) strings."""

YAML_CASES = [
    ("billion-laughs", LAUGHS, 2, "b[0]: YAML aliases (*a) are not accepted"),
    ("recursive-alias", b"- kind: &a [*a]\n", 1, "kind[0]: YAML aliases (*a) are not accepted"),
    (
        "alias-fact",
        b"- &f {kind: fx.rate, effective: 2024-06-01, base: EUR, quote: USD, rate: '1.08'}\n- *f\n",
        2,
        "alias: YAML aliases (*f) are not accepted",
    ),
    ("alias-key", b"- {&k kind: fx.rate, *k : x}\n", 1, "YAML aliases (*k) are not accepted"),
    ("python-tag", b"- kind: !!python/object/apply:os.system [echo]\n", 1, "kind: the YAML tag !!python/object/apply:os.system"),
    ("local-tag", b"- !fact {kind: fx.rate}\n", 1, "tag: the YAML tag !fact is not accepted"),
    ("binary-tag", b"- kind: fx.rate\n  note: !!binary aGk=\n", 2, "note: the YAML tag !!binary is not accepted"),
    ("sequence-key", b"- kind: fx.rate\n  ? [a, b]\n  : c\n", 2, "a field name must be plain text"),
    ("mapping-key", b"- {kind: fx.rate, {a: 1}: x}\n", 1, "a field name must be plain text"),
    ("flow-nesting", b"- kind: " + b"[" * 100_000 + b"\n", 1, "nest"),
    (
        "block-nesting",
        b"- kind: fx.rate\n  note:\n" + b"".join(b"  " * (i + 2) + b"- \n" for i in range(60)),
        None,
        "nested deeper",
    ),
    ("not-utf8", b"- kind: fx.rate\n  note: caf\xe9\n", 2, "text: not UTF-8: byte 0xe9 at column 12"),
    ("nul-byte", b"- kind: fx.rate\n  note: a\x00b\n", 2, "text: a NUL byte at column 10"),
    ("control-character", b"- kind: fx.rate\n  note: a\x07b\n", 2, "text: a control character \\x07 at column 10"),
    ("escaped-nul", b'- kind: fx.rate\n  note: "a\\0b"\n', 2, "note: holds a NUL character"),
    ("long-number", b"- kind: fx.rate\n  rate: " + b"9" * 700 + b"\n", 2, "rate: longer than 600 characters"),
    ("long-line", b"- kind: fx.rate\n  note: " + b"x" * (MAX_LINE_BYTES + 1) + b"\n", 2, "line: longer than 1,048,576"),
    (
        "long-fact",
        b"- kind: fx.rate\n  note: |\n" + (b"    " + b"x" * 1000 + b"\n") * 2200,
        1,
        "fact: longer than 1,048,576 bytes",
    ),
    ("field-twice", b"- kind: fx.rate\n  rate: 1\n  rate: 2\n", 3, "rate: the field is given twice"),
    ("broken", b"- kind: fx.rate\n  base: [USD\n- x: y: z\n", None, "not valid YAML"),
]


@pytest.mark.parametrize(("data", "line", "says"), [c[1:] for c in YAML_CASES], ids=[c[0] for c in YAML_CASES])
def test_yaml_refused_on_its_line_through_every_route(cli: Cli, data: bytes, line: int | None, says: str) -> None:
    started = time.perf_counter()
    error = refused(data, "yaml", "bad.yaml")
    assert time.perf_counter() - started < 5
    line = line or error.line
    Path("bad.yaml").write_bytes(data)
    cli.refuses("append", "--file", "bad.yaml", place="bad.yaml", line=line, says=says)
    cli.refuses("append", "--file", "-", "--input-format", "yaml", input=data, place="<stdin>", line=line, says=says)


def test_billion_laughs_take_neither_time_nor_memory() -> None:
    tracemalloc.start()
    started = time.perf_counter()
    try:
        refused(LAUGHS, "yaml")
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert elapsed < 1
    assert peak < 2 << 20


def test_yaml_without_libyaml_refuses_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(yaml, "CSafeLoader", raising=False)  # the pure-Python parser
    assert "YAML aliases (*a)" in refused(LAUGHS, "yaml").message
    assert "the YAML tag !fact" in refused(b"- !fact {kind: fx.rate}\n", "yaml").message
    assert refused(b"- kind: fx.rate\n  note: a\x07b\n", "yaml").line == 2
    surrogate = refused(b'- kind: fx.rate\n  note: "a\\ud800"\n', "yaml")  # libyaml refuses the escape itself
    assert (surrogate.line, surrogate.field) == (2, "note")
    assert surrogate.message == "holds a lone surrogate \\ud800, which is not a character"
    [(line, fact)] = read(NEW_YAML, "yaml")
    assert (line, fact["rate"]) == (1, "1.08")


# --- CSV ------------------------------------------------------------------------------------------------------------

CSV_CASES = [
    ("enormous-cell", b'kind,note\nfx.rate,"' + b"x" * 200_000 + b'"\n', 2, "not valid CSV (field larger than field limit"),
    (
        "enormous-row",
        b"kind,"
        + b",".join(b"c%d" % i for i in range(12))
        + b"\nfx.rate"
        + b"".join(b',"' + b"y" * 50_000 + b"\n" + b"y" * 50_000 + b'"' for _ in range(12))
        + b"\n",
        2,
        "row: longer than 1,048,576 bytes",
    ),
    ("repeated-columns", b"kind," + b",".join([b"a"] * 200_000) + b"\n", 1, "the header names a more than once"),
    ("nul-byte", b"kind,note\nfx.rate,a\x00b\n", 2, "text: a NUL byte at column 10"),
    ("not-utf8", b"kind,note\nfx.rate,caf\xe9\n", 2, "text: not UTF-8: byte 0xe9 at column 12"),
    ("deep-json-cell", b"kind,investors\nround.closed," + b"[" * 100_000 + b"\n", 2, "investors: nested deeper than 32"),
    (
        "long-number-cell",
        b'kind,investors\nround.closed,"[{""amount"": ' + b"9" * 700 + b'}]"\n',
        2,
        "investors[0].amount: a number longer than 600",
    ),
    ("escaped-nul-cell", b'kind,investors\nround.closed,"[""a\\u0000""]"\n', 2, "investors[0]: holds a NUL character"),
    ("long-line", b"kind,note\nfx.rate," + b"x" * (MAX_LINE_BYTES + 1) + b"\n", 2, "line: longer than 1,048,576"),
    ("too-many-cells", b"kind,note\nfx.rate,a,b\n", 2, "more cells than the header's 2 columns"),
]


CELLS_READ_AS_TEXT = {"deep-json-cell", "long-number-cell", "escaped-nul-cell"}
"""Cells of JSON beyond the limits: the reader hands them on as text (a text field takes any text), and the field
that reads JSON refuses them when the fact is made, on the same line, saying the same."""


@pytest.mark.parametrize(("case", "data", "line", "says"), CSV_CASES, ids=[c[0] for c in CSV_CASES])
def test_csv_refused_on_its_line_through_every_route(cli: Cli, case: str, data: bytes, line: int, says: str) -> None:
    started = time.perf_counter()
    if case not in CELLS_READ_AS_TEXT:
        refused(data, "csv", "bad.csv")
    assert time.perf_counter() - started < 5
    Path("bad.csv").write_bytes(data)
    cli.refuses("append", "--file", "bad.csv", place="bad.csv", line=line, says=says)
    cli.refuses("append", "--file", "-", "--input-format", "csv", input=data, place="<stdin>", line=line, says=says)


# --- given but empty: refused, never read as left out ---------------------------------------------------------------

STAKE = b'{"kind": "stake.acquired", "effective": "2024-05-01", "holder": "alibaba", "company": "moonshot-ai", "fraction": "0.01"'
EMPTY_CASES = [
    # (file, its bytes, the line named, the field named). Left out, each would mean something else: a seller, new
    # shares instead of a transfer; a key, a fact appended again on every run; a consideration, an investment in cash.
    ("seller.jsonl", STAKE + b', "seller": ""}\n', 1, "seller"),
    ("key.jsonl", NEW_FACT.replace(b'"fx-eurusd"', b'""') + b"\n", 1, "key"),
    (
        "seller.yaml",
        b"- kind: stake.acquired\n  effective: 2024-05-01\n  holder: alibaba\n  company: moonshot-ai\n"
        b"  fraction: '0.01'\n  seller: ''\n",
        6,  # the field's own line
        "seller",
    ),
    (
        "investor.csv",
        b"kind,effective,company,round,amount,currency,post_money,investors\nround.closed,2024-05-01,"
        b'moonshot-ai,c,1,USD,10,"[{""party"": ""alibaba"", ""amount"": ""1"", ""consideration"": """"}]"\n',
        2,
        "investors[0].consideration",
    ),
]


@pytest.mark.parametrize(("name", "data", "line", "field"), EMPTY_CASES, ids=[c[0] for c in EMPTY_CASES])
def test_an_empty_string_is_refused_not_read_as_left_out(cli: Cli, name: str, data: bytes, line: int, field: str) -> None:
    Path(name).write_bytes(data)
    says = f"{field}: must not be empty"
    cli.refuses("append", "--file", name, place=name, line=line, says=says)
    cli.refuses("append", "--file", "-", input=data, place="<stdin>", line=line, says=says)


def test_an_empty_option_on_the_command_line_is_refused() -> None:
    fields = ["--holder", "alibaba", "--company", "moonshot-ai", "--fraction", "0.01", "--effective", "2024-05-01"]
    with tempfile.TemporaryDirectory() as folder:
        cli = Cli(Path(folder), None)
        for seller in (["--seller", ""], ["--seller="]):
            result = cli.run("append", "stake.acquired", *fields, *seller)
            assert_refused(result, "command line", None, "seller: must not be empty")


def test_a_blank_csv_cell_and_a_yaml_null_are_still_left_out(cli: Cli) -> None:
    Path("blank.csv").write_bytes(
        b"kind,effective,holder,company,fraction,seller,key\nstake.acquired,2024-05-01,alibaba,moonshot-ai,0.01,,k1\n"
    )
    Path("null.yaml").write_bytes(
        b"- kind: stake.acquired\n  effective: 2024-05-01\n  holder: alibaba\n"
        b"  company: moonshot-ai\n  fraction: '0.01'\n  seller:\n  key: k2\n"
    )
    for name in ("blank.csv", "null.yaml"):
        result = cli.run("append", "--file", name)
        assert result.stdout.startswith("appended 1 fact"), result.output
        fact = json.loads(cli.run("export").stdout.splitlines()[-1])["fact"]
        assert "seller" not in fact and fact["holder"] == "alibaba"


# --- the format of a file whose name does not tell it ---------------------------------------------------------------


def test_the_format_is_told_past_a_long_head_of_comments(cli: Cli) -> None:
    """More than the first read of comments (a licence, a note) before the facts: still JSON Lines, every byte read."""
    other = NEW_FACT.replace(b"EUR", b"GBP").replace(b"fx-eurusd", b"fx-gbpusd")
    data = b"# " + b"x" * 5000 + b"\n\n" + NEW_FACT + b"\n" + other + b"\n"
    Path("facts").write_bytes(data)
    result = cli.run("append", "--file", "-", input=data)
    assert (result.exit_code, result.stdout) == (0, f"appended 2 facts; ledger head #{SEEDED + 2}\n"), result.output
    again = cli.run("append", "--file", "facts")
    assert again.stdout == "nothing appended: all 2 fact(s) already recorded, unchanged\n", again.output
    Path("broken").write_bytes(data + b"{broken\n")
    cli.refuses("append", "--file", "broken", place="broken", line=5, says="not valid JSON")


def test_a_head_of_nothing_but_comments_is_refused_after_bounded_reading(cli: Cli) -> None:
    comments = b"#\n" * (MAX_LINE_BYTES // 2 + 10)
    says = "only comments and blank lines in the first 1,048,576 bytes, so the format cannot be told"
    cli.refuses("append", "--file", "-", input=comments + NEW_FACT, place="<stdin>", line=MAX_LINE_BYTES // 2 + 1, says=says)
    assert cli.run("append", "--file", "-", "--input-format", "jsonl", input=comments + NEW_FACT).exit_code == 0


# --- files that cannot be read --------------------------------------------------------------------------------------


def test_a_directory_is_not_a_file(cli: Cli) -> None:
    Path("folder.jsonl").mkdir()
    cli.refuses("append", "--file", "folder.jsonl", place="folder.jsonl", line=None, says="cannot read: Is a directory")
    cli.refuses("import", "folder.jsonl", place="folder.jsonl", line=None, says="cannot read: Is a directory")


def test_a_path_through_a_file_or_to_nothing(cli: Cli) -> None:
    Path("plain.jsonl").write_bytes(NEW_FACT + b"\n")
    through = "plain.jsonl/x.jsonl"
    cli.refuses("append", "--file", through, place=through, line=None, says="cannot read: Not a directory")
    cli.refuses("append", "--file", "absent.csv", place="absent.csv", line=None, says="cannot read: No such file or directory")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_file(cli: Cli) -> None:
    Path("secret.jsonl").write_bytes(NEW_FACT + b"\n")
    Path("secret.jsonl").chmod(0)
    cli.refuses("append", "--file", "secret.jsonl", place="secret.jsonl", line=None, says="cannot read: Permission denied")


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_an_endless_device_is_refused_after_one_line(cli: Cli) -> None:
    started = time.perf_counter()
    cli.refuses("append", "--file", "/dev/zero", place="/dev/zero", line=1, says="line: longer than 1,048,576")
    assert time.perf_counter() - started < 10


def test_a_name_with_a_nul_is_refused() -> None:
    with pytest.raises(RejectedError, match=r"^a\\x00b: cannot read: "):
        list(incoming_from_path(CATALOGUE, "a\x00b"))


# --- standard input -------------------------------------------------------------------------------------------------


def dealledger(tmp_path: Path, *args: str, stdin: bytes | None, closed: bool = False) -> subprocess.CompletedProcess[bytes]:
    """The command in a process of its own, its standard input a pipe (or closed)."""
    command = [sys.executable, "-c", "from cli import main; main()", "--url", f"sqlite:///{tmp_path / 'own.db'}", *args]
    if closed:
        command = ["/bin/sh", "-c", 'exec "$@" <&-', "sh", *command]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("DEALLEDGER_URL", None)
    env.pop("DEALLEDGER_PLUGINS", None)
    return subprocess.run(command, input=stdin, capture_output=True, cwd=tmp_path, env=env, timeout=60, check=False)


@pytest.mark.skipif(not Path("/bin/sh").exists(), reason="needs a POSIX shell to close standard input")
@pytest.mark.parametrize("args", [("append", "--file", "-"), ("import", "-")], ids=["append", "import"])
def test_closed_standard_input(tmp_path: Path, args: tuple[str, ...]) -> None:
    done = dealledger(tmp_path, *args, stdin=None, closed=True)
    assert (done.returncode, done.stdout, done.stderr) == (1, b"", b"Error: <stdin>: cannot read: standard input is closed\n")


def answered_to(tmp_path: Path, redirect: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    """The ``dealledger`` command (``cli.run``, as the console script runs it) with its standard output redirected by
    the shell (``>/dev/full``, ``>&-``), over the sample ledger."""
    url = f"sqlite:///{tmp_path / 'sample.db'}"
    with Ledger(url) as ledger:
        if not ledger.records():
            ledger.append(incoming_from_path(ledger.catalogue, str(ROOT / "examples" / "story.jsonl")))
    command = [sys.executable, "-c", "from cli import run; run()", "--url", url, *args]
    shell = ["/bin/sh", "-c", f'exec "$@" {redirect}', "sh", *command]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(shell, capture_output=True, cwd=tmp_path, env=env, timeout=120, check=False)


@pytest.mark.skipif(not Path("/dev/full").exists() or not Path("/bin/sh").exists(), reason="needs /dev/full and a shell")
@pytest.mark.parametrize(
    "args",
    [
        *[("log",), ("schema",), ("verify",), ("view", "league", "--currency", "USD"), ("view", "regulatory")],
        *[("--help",), ("--version",)],  # written by click itself, before any command runs
    ],
)
def test_an_answer_that_cannot_be_written_is_one_line_and_a_failure(tmp_path: Path, args: tuple[str, ...]) -> None:
    """A full device took a traceback (or, for a small answer, a traceback at exit and status 120)."""
    done = answered_to(tmp_path, ">/dev/full", *args)
    assert (done.returncode, done.stderr) == (1, b"Error: cannot write to standard output: No space left on device\n")


@pytest.mark.skipif(not Path("/bin/sh").exists(), reason="needs a POSIX shell to close standard output")
def test_closed_standard_output_is_refused_before_anything_is_done(tmp_path: Path) -> None:
    """Every answer went nowhere and the command said it succeeded (or failed on a missing attribute)."""
    for args in (("log",), ("report", "--out", "-"), ("append", "--file", str(ROOT / "examples" / "story.jsonl"))):
        done = answered_to(tmp_path, ">&-", *args)
        assert (done.returncode, done.stderr) == (1, b"Error: standard output is closed: there is nowhere to write the answer\n")
    with Ledger(f"sqlite:///{tmp_path / 'sample.db'}") as ledger:
        assert len(ledger.records()) == 83  # the append did nothing


def test_standard_input_that_is_not_utf8(tmp_path: Path) -> None:
    done = dealledger(tmp_path, "append", "--file", "-", stdin=NEW_FACT + b"\n" + NEW_FACT.replace(b"EUR", b"\xe9UR") + b"\n")
    column = NEW_FACT.index(b"EUR") + 1
    assert done.returncode == 1
    says = f"Error: <stdin>:2: text: not UTF-8: byte 0xe9 at column {column} (invalid continuation byte)\n"
    assert done.stderr == says.encode()
    assert not (tmp_path / "own.db").exists()  # nothing written: not even an empty ledger


def test_standard_input_closed_or_text_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", None)
    with pytest.raises(RejectedError, match=r"^<stdin>: cannot read: standard input is closed$"):
        list(incoming_from_path(CATALOGUE, "-"))
    # text with no bytes under it, as a terminal in a C locale gives it (undecodable bytes as surrogates)
    monkeypatch.setattr(sys, "stdin", io.StringIO(NEW_FACT.decode() + "\n" + '{"note": "caf\udce9"}\n'))
    with pytest.raises(RejectedError, match=r"^<stdin>:2: text: not UTF-8: byte 0xe9 at column 14$"):
        list(incoming_from_path(CATALOGUE, "-"))


# --- what is accepted: byte-order marks, line endings, the limits themselves ----------------------------------------

BOM = b"\xef\xbb\xbf"


@pytest.mark.parametrize(
    ("name", "data"),
    [("bom.jsonl", BOM + NEW_FACT + b"\n"), ("bom.csv", BOM + NEW_CSV), ("bom.yaml", BOM + NEW_YAML)],
    ids=["jsonl", "csv", "yaml"],
)
def test_a_byte_order_mark_is_not_data(cli: Cli, name: str, data: bytes) -> None:
    Path(name).write_bytes(data)
    assert cli.run("append", "--file", name).stdout == f"appended 1 fact; ledger head #{SEEDED + 1}\n"
    again = cli.run("append", "--file", "-", input=data)  # the format guessed from the text after the mark; same key
    assert again.stdout == "nothing appended: all 1 fact(s) already recorded, unchanged\n", again.output


def test_joined_files_keep_their_byte_order_marks() -> None:
    data = BOM + LINES[0] + BOM + LINES[1]
    assert [line for line, _ in read(data, "jsonl")] == [1, 2]


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "yaml"])
def test_mixed_line_endings_count_as_lines(fmt: str) -> None:
    texts = {
        "jsonl": LINES[0].rstrip() + b"\r\n" + LINES[1].rstrip() + b"\r" + LINES[2].rstrip() + b"\n" + b"{bad\r\n",
        "csv": b"kind,effective,fact,reason\r\nfact.retracted,2024-01-01,a,x\rfact.retracted,2024-01-01,b,y\n"
        b'fact.retracted,2024-01-01,c,"two\r\nlines"\rfact.retracted,2024-01-01,d,z,extra\n',
        "yaml": b"- kind: fact.retracted\r\n  fact: a\r- kind: fact.retracted\n  fact: b\r\n- x: y: z\r- kind: x\n",
    }
    lines = {"jsonl": [1, 2, 3], "csv": [2, 3, 4], "yaml": [1, 3]}
    bad = {"jsonl": 4, "csv": 6, "yaml": 5}
    reader = read_facts(io.BytesIO(texts[fmt]), "mixed", fmt)
    assert [next(reader)[0] for _ in lines[fmt]] == lines[fmt]
    with pytest.raises(SourceError) as caught:
        next(reader)
    assert caught.value.line == bad[fmt]


def test_mixed_line_endings_through_the_command_line(cli: Cli) -> None:
    other = NEW_FACT.replace(b"EUR", b"GBP").replace(b"fx-eurusd", b"fx-gbpusd")
    Path("mixed.jsonl").write_bytes(LINES[0].rstrip() + b"\r\n" + NEW_FACT + b"\r" + other + b"\r\n")
    assert cli.run("append", "--file", "mixed.jsonl").stdout == (
        f"appended 2 facts (1 already recorded, unchanged); ledger head #{SEEDED + 2}\n"
    )


def nested(depth: int) -> bytes:
    return b'{"note": ' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}\n"


def test_the_limits_are_where_they_say() -> None:
    assert read(nested(MAX_DEPTH), "jsonl")
    assert "nested deeper than 32" in refused(nested(MAX_DEPTH + 1), "jsonl").message
    yaml_nested = b"- note: " + b"[" * (MAX_DEPTH - 1) + b"]" * (MAX_DEPTH - 1) + b"\n"
    assert read(yaml_nested, "yaml")
    assert "nested deeper" in refused(yaml_nested.replace(b"[", b"[[", 1).replace(b"]", b"]]", 1), "yaml").message
    number = b"1" * MAX_NUMBER_CHARS
    assert read(b'{"rate": ' + number + b"}\n", "jsonl") == [(1, {"rate": int(number)})]
    assert read(b"- rate: " + number + b"\n", "yaml")[0][1]["rate"] == number.decode()  # as written, for its codec
    assert refused(b'{"rate": ' + number + b"1}\n", "jsonl").field == "rate"  # the field it stands in
    assert refused(b"- rate: " + number + b"1\n", "yaml").field == "rate"
    filler = b"x" * (MAX_LINE_BYTES - len(b'{"note": ""}'))
    assert read(b'{"note": "' + filler + b'"}\r\n', "jsonl")[0][1]["note"] == filler.decode()
    assert refused(b'{"note": "' + filler + b'x"}\n', "jsonl").field == "line"


@pytest.mark.parametrize(
    ("fmt", "head", "pattern"),
    [
        ("jsonl", b"", b"["),
        ("jsonl", b'{"rate": ', b"9"),
        ("jsonl", b"", b"\xff"),
        ("yaml", b"- kind: fx.rate\n  note: |\n", b"    " + b"x" * 1000 + b"\n"),
        ("yaml", b"--- |\n", b"  " + b"x" * 1000 + b"\n"),
        ("yaml", b"- kind: ", b"["),
        ("csv", b'kind,note\nfx.rate,"', b"x" * 1000 + b"\n"),
        ("csv", b"kind,note\n", b"x,"),
    ],
    ids=[
        "jsonl-brackets",
        "jsonl-digits",
        "jsonl-bad-bytes",
        "yaml-block",
        "yaml-document",
        "yaml-flow",
        "csv-cell",
        "csv-cells",
    ],
)
def test_an_endless_stream_is_refused_after_bounded_reading(fmt: str, head: bytes, pattern: bytes) -> None:
    stream = Endless(head, pattern)
    tracemalloc.start()
    try:
        with pytest.raises(SourceError):
            list(read_facts(stream, "endless", fmt))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert stream.given <= 2 * MAX_FACT_BYTES + 2 * MAX_LINE_BYTES + (1 << 17)
    assert peak < 64 << 20


def test_messages_are_one_printable_line() -> None:
    assert printable("a\nb\r\x00\u2028") == "a\\nb\\r\\x00\\u2028"
    assert len(printable("x" * 10_000)) == 200
    error = SourceError("we\nird.jsonl", 3, "bad\nthing", "fie\nld")
    assert str(error) == "we\\nird.jsonl:3: fie\\nld: bad\\nthing"


# --- fuzz -----------------------------------------------------------------------------------------------------------

TOKENS = [
    b"\x00",
    b"\r",
    b"\r\n",
    b"\n",
    BOM,
    b"\xff",
    b"\xc3",
    b"\xed\xa0\x80",
    b"\\ud800",
    b"\\u0000",
    b'"',
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"\\n",
    b"9" * 700,
    b"1e99999999999999999999",
    b"NaN",
    b"-Infinity",
    b"&a ",
    b"*a",
    b"!!python/object:os.system ",
    b"!x ",
    b"? ",
    b"- ",
    b"|\n",
    b"---\n",
    b"#",
    b"\t",
    b"\xc2\x85",
    b"\xe2\x80\xa8",
    b'""',
    b"null",
    b"true",
    b"\x07",
]
OPERATIONS = ("flip", "set", "truncate", "duplicate", "nest", "token", "line", "delete")
FORMATS = ("jsonl", "yaml", "csv", "import")


def mutate(data: bytes, operations: list[tuple[str, int, int, int]]) -> bytes:
    out = bytearray(data)
    for name, where, byte, count in operations:
        at = where % (len(out) + 1)
        if name == "flip" and out:
            out[at % len(out)] ^= 1 << (byte % 8)
        elif name == "set" and out:
            out[at % len(out)] = byte
        elif name == "truncate":
            del out[at:]
        elif name == "duplicate":
            out[at:at] = out[at : at + count]
        elif name == "nest":
            out[at:at] = (b"[" if byte % 2 else b'{"a": ') * count
        elif name == "token":
            out[at:at] = TOKENS[byte % len(TOKENS)]
        elif name == "line":
            out[at:at] = LINES[byte % len(LINES)]
        elif name == "delete":
            del out[at : at + count]
    return bytes(out)


def render(fmt: str, picks: list[int]) -> bytes:
    facts = [FACTS[i] for i in picks]
    if fmt == "yaml":
        return as_yaml(facts)
    if fmt == "csv":
        return as_csv(facts)
    if fmt == "import":
        return b"".join(export_line(seq, fact) for seq, fact in enumerate(facts, start=1))
    return b"".join(LINES[i] for i in picks)


@st.composite
def hostile(draw: st.DrawFn) -> tuple[str, bytes]:
    """A format, and bytes that began as valid facts in it (or as nothing at all) before being mangled."""
    fmt = draw(st.sampled_from(FORMATS))
    if draw(st.integers(0, 9)) == 0:
        return fmt, draw(st.binary(max_size=300))
    picks = sorted(draw(st.lists(st.integers(0, len(FACTS) - 1), min_size=1, max_size=4)))
    operations = draw(
        st.lists(
            st.tuples(st.sampled_from(OPERATIONS), st.integers(0, 1 << 16), st.integers(0, 255), st.integers(1, 120)),
            min_size=1,
            max_size=6,
        )
    )
    return fmt, mutate(render(fmt, picks), operations)


def check_reader_api(fmt: str, data: bytes) -> None:
    """Only the project's own errors escape, each one printable line with a line number."""
    reader_fmt = "jsonl" if fmt == "import" else fmt
    streams: list[Any] = [io.BytesIO(data), io.StringIO(data.decode("utf-8", "surrogateescape"))]
    for stream in streams:
        try:
            list(read_facts(stream, "fuzz", reader_fmt))
        except SourceError as error:
            assert str(error).isprintable() and error.line is not None and error.line >= 1, str(error)
    for stream in (io.BytesIO(data), io.StringIO(data.decode("utf-8", "surrogateescape"))):
        try:
            if fmt == "import":
                list(import_stream(CATALOGUE, stream, "fuzz"))
            else:
                list(incoming_from_stream(CATALOGUE, stream, "fuzz", fmt))
        except RejectedError as error:
            assert str(error).isprintable() and re.match(r"fuzz:[0-9]+: ", str(error)), str(error)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(sample=hostile())
def test_fuzz_the_reader_api(sample: tuple[str, bytes]) -> None:
    check_reader_api(*sample)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(sample=hostile())
def test_fuzz_the_command_line(seeded: Path, sample: tuple[str, bytes]) -> None:
    fmt, data = sample
    with tempfile.TemporaryDirectory() as folder:
        # an export goes into an empty ledger (its recorded times are in the past); facts onto the sample
        cli = Cli(Path(folder), None if fmt == "import" else seeded)
        name = str(Path(folder) / f"fuzz.{'jsonl' if fmt == 'import' else fmt}")
        Path(name).write_bytes(data)
        if fmt == "import":
            runs = [(("import", name), None, name), (("import", "-"), data, "<stdin>")]
        else:
            runs = [(("append", "--file", name), None, name), (("append", "--file", "-", "--input-format", fmt), data, "<stdin>")]
        for args, given_input, place in runs:
            before = cli.facts()
            result = cli.run(*args, input=given_input)
            assert not crashed(result), crashed(result)
            assert result.exit_code in (0, 1, 2), result.output
            assert "Traceback" not in result.output
            if result.exit_code == 0:
                assert cli.facts() >= before
                continue
            match = ERROR.fullmatch(result.stderr)
            assert match and match["place"].startswith(place), repr(result.stderr[:500])
            assert result.stderr[:-1].isprintable(), repr(result.stderr[:500])
            assert cli.facts() == before
