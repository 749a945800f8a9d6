"""What a reader sees: exact JSON and CSV, six-place tables, rich on a terminal, progress only there."""

from __future__ import annotations

import csv
import fractions
import io
import json
import subprocess
import sys
import tracemalloc
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st

import cli
from ledger import rendering
from ledger.exact import Fraction
from ledger.rendering import (
    as_csv,
    as_json,
    as_table,
    cell,
    exact_text,
    numeric_columns,
    plain,
    print_table,
    table_text,
    write_csv,
    write_json,
    write_rows,
)

from .conftest import DATA

CATALOGUE = str(DATA / "catalogue.jsonl")
ROOT = Path(__file__).parent.parent


# --- exact numbers in JSON and CSV ------------------------------------------------------------

decimals = st.builds(
    lambda sign, digits, exponent: Decimal((sign, tuple(int(d) for d in str(digits)), exponent)),
    st.integers(0, 1),
    st.integers(0, 10**45),
    st.integers(-60, 60),
)
quick_fractions = st.builds(Fraction, st.integers(-(10**30), 10**30), st.integers(1, 10**12))
std_fractions = st.builds(fractions.Fraction, st.integers(-(10**30), 10**30), st.integers(1, 10**12))
terminating = st.builds(
    lambda n, twos, fives: Fraction(n, 2**twos * 5**fives), st.integers(-(10**20), 10**20), st.integers(0, 40), st.integers(0, 40)
)


@given(st.one_of(decimals, quick_fractions, std_fractions, terminating))
def test_json_and_csv_read_back_exactly_the_number_written(value: Any) -> None:
    text = json.loads(as_json([{"x": value}]))[0]["x"]
    assert isinstance(text, str)
    assert fractions.Fraction(text) == fractions.Fraction(value)
    assert "e" not in text.lower()  # never exponent notation
    row = list(csv.reader(io.StringIO(as_csv([{"x": value}], ["x"]))))[1]
    assert row == [text]


row_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(),
    decimals,
    quick_fractions,
    std_fractions,
    st.dates(),
    st.datetimes(),
)
rows_of = st.lists(st.dictionaries(st.sampled_from(["a", "b", "c"]), row_values), max_size=5)


@given(rows_of)
def test_rows_streamed_to_a_file_are_the_text_written_whole(rows: list[dict[str, Any]]) -> None:
    # replay --out writes a row at a time; the text must be what one json.dumps / csv.writer gives.
    streamed_json, streamed_csv = io.StringIO(), io.StringIO()
    assert write_json(streamed_json, iter(rows)) == len(rows)
    assert streamed_json.getvalue() == json.dumps([plain(row) for row in rows], indent=2, ensure_ascii=False) + "\n"
    assert write_csv(streamed_csv, iter(rows), ["a", "b", "c"]) == len(rows)
    assert streamed_csv.getvalue() == as_csv(rows, ["a", "b", "c"])
    assert list(csv.reader(io.StringIO(streamed_csv.getvalue(), newline="")))[1:] == [
        [cell(row.get(name)) for name in "abc"] for row in rows
    ]


def table_held_whole(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """The plain table as written before it was streamed, every row held: the reference ``write_table`` must match."""
    if not rows:
        return "(no rows)\n"
    texts = [[rendering._one_line(cell(row.get(name), exact=False)) for name in columns] for row in rows]
    numeric = numeric_columns(rows, columns)
    width = rendering._width
    widths = [max(width(name), *(width(t[i]) for t in texts)) for i, name in enumerate(columns)]
    lines = ["  ".join(name + " " * (w - width(name)) for name, w in zip(columns, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for text in texts:
        parts = [
            " " * (w - width(t)) + t if num else t + " " * (w - width(t)) for t, w, num in zip(text, widths, numeric, strict=True)
        ]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines) + "\n"


@given(st.lists(st.dictionaries(st.sampled_from(["a", "b", "c"]), row_values), max_size=12))
def test_a_table_written_as_the_rows_come_is_the_table_written_whole(rows: list[dict[str, Any]]) -> None:
    """``replay`` writes a table without holding its rows: spooled three at a time here, the text is the same."""
    for spooled in (3, rendering.SPOOLED_ROWS):
        with mock.patch.object(rendering, "SPOOLED_ROWS", spooled):
            out = io.StringIO()
            assert write_rows(out, iter(rows), "table", ["a", "b", "c"]) == len(rows)
            assert out.getvalue() == table_held_whole(rows, ["a", "b", "c"])


def test_a_table_is_written_where_no_temporary_file_can_be() -> None:
    rows = [{"a": f"company-{n}", "b": Decimal(n) / 8} for n in range(10)]
    out = io.StringIO()
    with (
        mock.patch.object(rendering, "SPOOLED_ROWS", 3),
        mock.patch.object(rendering.tempfile, "TemporaryFile", side_effect=OSError("read-only file system")),
    ):
        assert write_rows(out, iter(rows), "table", ["a", "b"]) == 10
    assert out.getvalue() == table_held_whole(rows, ["a", "b"])


def test_a_long_table_is_written_without_holding_its_rows(tmp_path: Path) -> None:
    rows = [{"a": f"company-{n}", "b": Decimal(n) / 7, "c": date(2024, 1, 1)} for n in range(60_000)]

    def peak(write: Any, path: Path) -> int:
        with path.open("w", encoding="utf-8") as out:
            tracemalloc.start()
            try:
                write(out)
                return tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()

    streamed = peak(lambda out: write_rows(out, iter(rows), "table", ["a", "b", "c"]), tmp_path / "streamed.txt")
    whole = peak(lambda out: out.write(table_held_whole(rows, ["a", "b", "c"])), tmp_path / "whole.txt")
    assert (tmp_path / "streamed.txt").read_text() == (tmp_path / "whole.txt").read_text()
    assert streamed * 3 < whole, (streamed, whole)  # a batch of rows at a time, against all of them


@given(row_values)
def test_a_cell_written_by_its_type_is_the_general_rule(value: Any) -> None:
    # The lookup by type is a shortcut: exact cells are str(plain(value)), booleans yes/no, None empty.
    expected = "" if value is None else ("yes" if value else "no") if isinstance(value, bool) else str(plain(value))
    assert cell(value) == expected
    if isinstance(value, (Fraction, fractions.Fraction)):
        assert cell(value, exact=False) == table_text(value)


@given(st.one_of(quick_fractions, terminating))
def test_a_fraction_is_a_ratio_exactly_when_its_decimal_never_ends(value: Fraction) -> None:
    denominator = value.denominator
    while denominator % 2 == 0:
        denominator //= 2
    while denominator % 5 == 0:
        denominator //= 5
    assert ("/" in exact_text(value)) == (denominator != 1)


def test_worked_examples_of_exact_text() -> None:
    # 21/64: 64 = 2**6, so 21/64 = 21 * 5**6 / 10**6 = 328125 / 10**6 = 0.328125
    assert exact_text(Fraction(21, 64)) == "0.328125"
    # 53/165: 165 = 3 * 5 * 11, a factor other than 2 and 5: the decimal repeats, so the ratio is written
    assert exact_text(Fraction(53, 165)) == "53/165"
    assert exact_text(fractions.Fraction(-3, 40)) == "-0.075"  # 3/40 = 75/1000
    assert exact_text(Fraction(7)) == "7"
    assert exact_text(Decimal("1E+3")) == "1000"  # written in full, never 1E+3
    assert exact_text(Decimal("1.50")) == "1.50"  # money as given: the trailing zero stays
    assert exact_text(Decimal("-1.5E-7")) == "-0.00000015"
    row = {"holder": "alibaba", "fraction": Fraction(8, 25), "ratio": Fraction(53, 165), "invested": Decimal("8E+8")}
    assert json.loads(as_json([row])) == [{"holder": "alibaba", "fraction": "0.32", "ratio": "53/165", "invested": "800000000"}]
    assert as_csv([row], list(row)) == "holder,fraction,ratio,invested\nalibaba,0.32,53/165,800000000\n"


def test_tables_show_six_places_rounded_half_to_even() -> None:
    # 53/165 = 0.32121212...: the seventh place is 1, so six places give 0.321212
    assert table_text(Fraction(53, 165)) == "0.321212"
    # 1/2000000 = 0.0000005 exactly, half-way: to the even neighbour 0.000000; 3/2000000 = 0.0000015: to 0.000002
    assert table_text(Fraction(1, 2_000_000)) == "0.000000"
    assert table_text(Fraction(3, 2_000_000)) == "0.000002"
    assert table_text(Fraction(-1, 2_000_000)) == "0.000000"  # never "-0.000000"
    # 2/3 = 0.6666666...: the seventh place is 6, up to 0.666667
    assert table_text(fractions.Fraction(2, 3)) == "0.666667"
    assert table_text(Fraction(8, 25)) == "0.320000"


def test_the_plain_table_is_unchanged_for_decimal_and_text_rows() -> None:
    rows = [
        {"company": "moonshot-ai", "holder": "alibaba", "fraction": Decimal("0.320000"), "invested": Decimal("800000000")},
        {"company": "moonshot-ai", "holder": "founders", "fraction": Decimal("0.600000"), "invested": None},
    ]
    assert as_table(rows, ["company", "holder", "fraction", "invested"]) == (
        "company      holder    fraction  invested\n"
        "-----------  --------  --------  ---------\n"
        "moonshot-ai  alibaba   0.320000  800000000\n"
        "moonshot-ai  founders  0.600000\n"
    )
    fractions_too = [{"holder": "alibaba", "fraction": Fraction(8, 25)}, {"holder": "x", "fraction": Fraction(53, 165)}]
    assert as_table(fractions_too, ["holder", "fraction"]) == (
        "holder   fraction\n-------  --------\nalibaba  0.320000\nx        0.321212\n"
    )
    assert as_table([], ["a"]) == "(no rows)\n"


# --- rich on a terminal -----------------------------------------------------------------------


def test_rich_draws_the_table_with_numbers_right_aligned() -> None:
    from rich.console import Console

    out = io.StringIO()
    console = Console(file=out, force_terminal=True, color_system=None, width=80)
    rows = [{"holder": "[Beta] Corp", "fraction": Fraction(1, 3)}, {"holder": "alibaba", "fraction": Fraction(8, 25)}]
    print_table(rows, ["holder", "fraction"], console)
    lines = out.getvalue().splitlines()
    assert [name.strip() for name in lines[0].split("┃")] == ["holder", "fraction"]
    assert set(lines[1]) <= {"━", "╇", "─", "┼"}  # the rule under the styled header
    body = [line.split("│") for line in lines[2:]]
    assert [cells[0].strip() for cells in body] == ["[Beta] Corp", "alibaba"]  # brackets are data, not markup
    assert [cells[1] for cells in body] == [" 0.333333", " 0.320000"]  # right-aligned: same width, padded left


def test_the_cli_draws_with_rich_only_on_a_terminal(run, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    run("append", "--file", CATALOGUE)
    args = ("view", "ownership", "--company", "moonshot-ai", "--as-of", "2024-03-01")
    piped = run(*args).output
    assert piped.splitlines()[1].startswith("-----------  ") and "│" not in piped
    monkeypatch.setattr(cli, "stdout_is_terminal", lambda: True)
    drawn = run(*args).output
    assert "┃" in drawn and "│" in drawn and "-----------" not in drawn
    assert [line.split("│")[1].strip() for line in drawn.splitlines()[2:]] == ["founders", "alibaba", "undisclosed"]
    assert run(*args, "--format", "json").output == run(*args, "--format", "json").output  # JSON is never drawn
    assert json.loads(run(*args, "--format", "json").output)[1]["fraction"] == "0.32"


def test_a_piped_table_never_imports_rich(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    script = (
        "import sys\nfrom cli import main\n"
        f"args = ['--url', 'sqlite:///{db}']\n"
        f"try:\n    main(args + ['append', '--file', {CATALOGUE!r}])\nexcept SystemExit:\n    pass\n"
        "try:\n    main(args + ['view', 'ownership', '--company', 'moonshot-ai'])\nexcept SystemExit:\n    pass\n"
        "print('rich' in sys.modules, 'rich.progress' in sys.modules, file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
    assert "moonshot-ai  alibaba" in done.stdout
    assert done.stderr.strip().splitlines()[-1] == "False False"


# --- --format on every command that prints rows -----------------------------------------------


def test_every_command_that_prints_rows_takes_format(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("append", "--file", CATALOGUE)
    for args in (
        ["log"],
        ["view", "league"],
        ["replay", "--as-of", "2024-12-31"],
        ["checkpoints"],
        ["plugins"],
        ["check"],
        ["verify"],
    ):
        table = run(*args, "--format", "table")
        assert table.exit_code == 0, (args, table.output)
        as_csv_text = run(*args, "--format", "csv")
        assert as_csv_text.exit_code == 0, (args, as_csv_text.output)
        if args[0] != "replay":  # replay prints several answers, each under a heading
            json.loads(run(*args, "--format", "json").output)
    assert json.loads(run("check", "--format", "json").output) == []
    verified = json.loads(run("verify", "--format", "json").output)
    assert [(row["intact"], row["facts"], row["problem"]) for row in verified] == [(True, 23, None)]
    assert len(verified[0]["head_hash"]) == 64
    (tmp_path / "claim.jsonl").write_text(
        '{"kind": "ownership.asserted", "effective": "2024-04-03", "key": "press-claim", "holder": "alibaba",'
        ' "company": "moonshot-ai", "fraction": "0.36"}\n'
    )
    run("append", "--file", "claim.jsonl")
    bad = run("check", "--format", "json")
    assert bad.exit_code == 1 and bad.stderr == "Error: 1 problem found\n"
    [problem] = json.loads(bad.stdout)
    assert problem["plugin"] == "plugins.ownership" and "asserted 0.36" in problem["message"]
    assert len(problem["facts"]) >= 1


# --- progress ---------------------------------------------------------------------------------


def test_progress_is_counted_in_the_core_and_ends_full(tmp_path: Path) -> None:
    from ledger.api import Ledger
    from ledger.importing import incoming_from_path, line_count
    from ledger.progress import counted
    from ledger.replaying import replay_all

    seen: list[tuple[int, int | None]] = []
    assert list(counted(range(1201), lambda done, total: seen.append((done, total)), 1300)) == list(range(1201))
    # reports at the start, every 500 items, and the true total at the end
    assert seen == [(0, 1300), (500, 1300), (1000, 1300), (1201, 1201)]
    assert line_count(CATALOGUE) == 23
    (tmp_path / "no-newline.jsonl").write_bytes(b"{}\n{}")
    assert line_count(str(tmp_path / "no-newline.jsonl")) == 2
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        lines: list[tuple[int, int | None]] = []
        facts = list(incoming_from_path(ledger.catalogue, CATALOGUE, progress=lambda d, t: lines.append((d, t))))
        assert len(facts) == 23 and lines[0] == (1, 23) and lines[-1] == (23, 23)
        ledger.append(facts)
        folded: list[tuple[int, int | None]] = []
        with_progress = replay_all(ledger, date(2024, 12, 31), None, progress=lambda d, t: folded.append((d, t)))
        assert with_progress == replay_all(ledger, date(2024, 12, 31), None)
        assert folded[0] == (0, 23) and folded[-1][0] == folded[-1][1] and 0 < folded[-1][0] <= 23


def test_a_progress_total_never_reads_what_is_not_a_regular_file(tmp_path: Path) -> None:
    """``import <(cat export.jsonl)`` on a terminal imported nothing: counting the lines for the progress bar read the
    pipe to its end first. A pipe, a FIFO or a device has no total, and is left whole for the reader."""
    import os

    from ledger.importing import line_count

    reading, writing = os.pipe()
    try:
        os.write(writing, b"{}\n{}\n")
        os.close(writing)
        assert line_count(f"/dev/fd/{reading}") is None
        assert os.read(reading, 100) == b"{}\n{}\n"  # still there for the reader
    finally:
        os.close(reading)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert line_count(str(fifo)) is None  # opening it would wait for a writer
    assert line_count("/dev/zero") is None  # reading it would never end
    assert line_count(str(tmp_path / "missing.jsonl")) is None


def test_progress_bars_only_on_a_terminal(run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    run("append", "--file", CATALOGUE)
    run("export", "--out", "ledger.jsonl")
    piped = run("--url", f"sqlite:///{tmp_path / 'copy.db'}", "import", "ledger.jsonl")
    assert (piped.stdout, piped.stderr) == ("imported 23 fact(s); 0 already there, unchanged\n", "")
    assert run("replay", "--as-of", "2024-12-31", "--out", "out").stderr == ""
    with cli.progress_tasks() as task:
        assert task("anything") is None  # not a terminal: no bar, and nothing for the core to count
    monkeypatch.setattr(cli, "stderr_is_terminal", lambda: True)
    drawn = run("--url", f"sqlite:///{tmp_path / 'third.db'}", "import", "ledger.jsonl")
    assert drawn.stdout == "imported 23 fact(s); 0 already there, unchanged\n"  # the bar never reaches stdout
    replayed = run("replay", "--as-of", "2024-12-31", "--out", "out2")
    assert replayed.exit_code == 0 and "folding facts" not in replayed.stdout
    exported = run("export", "--out", "again.jsonl")  # the bar goes to stderr; the file is the same export
    assert exported.exit_code == 0 and "writing facts" not in exported.stdout
    assert (tmp_path / "again.jsonl").read_text() == (tmp_path / "ledger.jsonl").read_text()


def test_a_plain_table_keeps_each_row_on_one_line_and_its_columns_aligned() -> None:
    """Scripts read a plain table line by line and column by column: a line break in a name is shown escaped, and a
    wide (East Asian) character counts for the two columns it takes on a terminal."""
    rows = [{"key": "注册-acme", "n": 1}, {"key": "plain", "n": 22}, {"key": "Acme\nLtd\r\n\tx\x00", "n": 3}]
    lines = as_table(rows, ["key", "n"]).splitlines()
    escaped = "Acme\\nLtd\\r\\n\\tx\\x00"  # 20 columns, the widest
    assert lines == [
        "key" + " " * 17 + "  " + "n",
        "-" * 20 + "  " + "--",
        "注册-acme" + " " * 11 + "  " + " 1",  # 9 columns wide: two for each of the first two characters
        "plain" + " " * 15 + "  " + "22",
        escaped + "  " + " 3",
    ]


def test_a_plain_table_escapes_unicode_line_breaks_and_text_direction_overrides() -> None:
    """``str.splitlines`` (and any reader that splits lines as Unicode does) breaks a row at NEL, U+2028 and U+2029
    as at a line feed; a right-to-left override would show the columns after it reversed. Each is escaped."""
    rows = [{"key": "A\u2028B\x85C\u2029D\u202eE\u2066F\x9b", "n": 1}]
    table = as_table(rows, ["key", "n"])
    assert len(table.splitlines()) == 3
    assert table.splitlines()[2] == "A\\u2028B\\x85C\\u2029D\\u202eE\\u2066F\\x9b  1"
