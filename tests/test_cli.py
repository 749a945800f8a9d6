"""The command line end to end, as a user runs it: exact exit codes and messages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli import main

from .conftest import DATA

CATALOGUE = str(DATA / "catalogue.jsonl")


def test_append_a_file_then_again_is_a_no_op(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    first = run("append", "--file", CATALOGUE)
    assert first.exit_code == 0
    assert first.output == "appended 23 facts; ledger head #23\n"
    assert (tmp_path / "dealledger.db").exists()
    again = run("append", "--file", CATALOGUE)
    assert again.exit_code == 0
    assert again.output == "nothing appended: all 23 fact(s) already recorded, unchanged\n"


def test_a_bad_line_gives_file_line_and_field_and_writes_nothing(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    lines = Path(CATALOGUE).read_text().splitlines()
    lines[6] = lines[6].replace('"quote": "CNY"', '"quote": "CNX"')
    (tmp_path / "facts.jsonl").write_text("\n".join(lines) + "\n")
    result = run("append", "--file", "facts.jsonl")
    assert result.exit_code == 1
    assert result.output == "Error: facts.jsonl:7: quote: 'CNX' is not an ISO 4217 currency code (fx.rate)\n"
    assert not (tmp_path / "dealledger.db").exists()  # nothing written: not even an empty ledger


def test_money_of_the_past_is_recorded_in_its_withdrawn_iso_code_and_round_trips(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A 2020 rate of the Croatian kuna (HRK, withdrawn from ISO 4217 when Croatia took the euro in 2023) and a 1999
    one of the Deutsche Mark were refused as "not an ISO 4217 currency code": a ledger records deals of the past."""
    for day, code in [("2020-06-30", "HRK"), ("1999-12-31", "DEM")]:
        added = run("append", "fx.rate", "--effective", day, "--base", "USD", "--quote", code.lower(), "--rate", "7.5")
        assert added.exit_code == 0, added.output
    rates = json.loads(run("log", "--format", "json").output)
    assert [row["quote"] for row in rates] == ["HRK", "DEM"]
    assert run("view", "league", "--currency", "HRK", "--format", "csv").exit_code == 0  # a withdrawn code to convert into
    run("export", "--out", "ledger.jsonl")
    again = run("--url", f"sqlite:///{tmp_path / 'copy.db'}", "import", "ledger.jsonl")
    assert again.exit_code == 0 and "imported 2 fact(s)" in again.output
    assert (
        run("append", "fx.rate", "--effective", "2020-06-30", "--base", "USD", "--quote", "HRX", "--rate", "7.5").exit_code != 0
    )


def test_unknown_party_suggests_the_closest_slug(run) -> None:  # type: ignore[no-untyped-def]
    run("append", "--file", CATALOGUE)
    result = run(
        "append",
        "valuation.marked",
        "--company",
        "moonshot",
        "--valuation",
        "1",
        "--currency",
        "USD",
        "--effective",
        "2024-01-01",
    )
    assert result.exit_code == 1
    assert result.output == (
        "Error: command line: company: unknown party 'moonshot' (register it first with a party.registered fact); "
        "did you mean 'moonshot-ai'?\n"
    )


def test_append_one_fact_from_flags(run) -> None:  # type: ignore[no-untyped-def]
    result = run(
        "append",
        "party.registered",
        "--party",
        "zhipu-ai",
        "--name",
        "Zhipu AI",
        "--type",
        "company",
        "--effective",
        "2019-06-11",
        "--sectors",
        "ai",
        "--sectors",
        "llm",
        "--key",
        "p-zhipu",
    )
    assert result.exit_code == 0, result.output
    assert result.output == "appended 1 fact; ledger head #1\n"
    rows = json.loads(run("log", "--format", "json").output)
    assert rows[0]["party"] == "zhipu-ai" and rows[0]["sectors"] == ["ai", "llm"] and rows[0]["key"] == "p-zhipu"


def test_stdin_yaml_and_csv_are_read_too(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    yaml_text = "- kind: party.registered\n  effective: 2020-01-01\n  party: alibaba\n  name: Alibaba\n  type: investor\n"
    assert run("append", "--file", "-", input=yaml_text).output == "appended 1 fact; ledger head #1\n"
    (tmp_path / "more.csv").write_text(
        "kind,effective,party,name,type,base,quote,rate\n"
        "party.registered,2020-01-01,tencent,Tencent,investor,,,\n"
        "fx.rate,2024-01-02,,,,USD,CNY,7.1\n"
    )
    assert run("append", "--file", "more.csv").output == "appended 2 facts; ledger head #3\n"


def test_csv_keeps_escape_sequences_for_a_pipe_and_shows_them_on_a_terminal(run, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """A note holding ESC [2J (clear the screen) came out of ``log --format csv`` into a pipe without its ESC
    sequences (click strips what looks like colour codes there), and raw on a terminal."""
    import cli

    run(
        "append",
        "party.registered",
        "--party",
        "acme",
        "--name",
        "Acme",
        "--type",
        "company",
        "--effective",
        "2024-01-01",
        "--note",
        "\x1b[2J\x1b[31mPWNED",
    )
    piped = run("log", "--format", "csv").output
    assert "\x1b[2J\x1b[31mPWNED" in piped  # exact, as JSON is
    monkeypatch.setattr(cli, "stdout_is_terminal", lambda: True)
    shown = run("log", "--format", "csv").output
    assert "\x1b" not in shown and "\\x1b[2J\\x1b[31mPWNED" in shown
    # a carriage return writes over the line, a right-to-left override reorders it: shown, not obeyed
    run(
        "append",
        "party.registered",
        "--party",
        "bigco",
        "--name",
        "Big\rCo\u202e\x1b[2J",
        "--type",
        "company",
        "--effective",
        "2024-01-01",
    )
    shown = run("log", "--format", "csv").output
    assert "\r" not in shown and "\u202e" not in shown and "Big\\x0dCo\\u202e\\x1b[2J" in shown
    monkeypatch.setenv("COLUMNS", "400")  # wide enough that no cell is folded
    drawn = run("log").output  # the table drawn for a terminal, by rich
    assert "\x1b[2J" not in drawn and "\u202e" not in drawn and "\r" not in drawn
    assert "Big\\x0dCo\\u202e\\x1b[2J" in drawn


def test_log_filters(run) -> None:  # type: ignore[no-untyped-def]
    run("append", "--file", CATALOGUE)
    kinds = [row["kind"] for row in json.loads(run("log", "--kind", "escrow", "--format", "json").output)]
    assert kinds == ["escrow.deposited", "escrow.released"]
    tencent = [row["key"] for row in json.loads(run("log", "--party", "tencent", "--format", "json").output)]
    assert tencent == ["p-tencent", "tencent-buys", "tencent-sells"]
    early = json.loads(run("log", "--as-of", "2021-12-31", "--format", "json").output)
    assert {row["key"] for row in early} >= {"samr-fine", "samr-order"}
    assert all(row["effective"] <= "2021-12-31" for row in early)
    assert json.loads(run("log", "--known-at", "2000-01-01", "--format", "json").output) == []
    assert run("log", "--known-at", "2000-01-01", "--format", "csv").output == "seq,id,key,kind,effective,recorded,known,status\n"
    csv_text = run("log", "--kind", "fx", "--format", "csv").output
    assert csv_text.splitlines()[0].startswith("seq,id,key,kind,effective,recorded,known,status")
    table = run("log", "--kind", "fact").output
    assert "fact.corrected" in table and "fact.retracted" in table
    marked = json.loads(run("log", "--kind", "valuation", "--format", "json").output)
    assert marked[0]["status"].startswith("corrected by ")


def test_bad_dates_and_usage(run) -> None:  # type: ignore[no-untyped-def]
    result = run("log", "--as-of", "2024-13-01")
    assert result.exit_code == 2
    assert "Invalid value for '--as-of': '2024-13-01' is not a date (YYYY-MM-DD)" in result.output
    result = run("append")
    assert result.exit_code == 2
    assert "give either --file PATH or a KIND with --field value pairs" in result.output
    result = run("append", "--file", "nope.jsonl")
    assert result.exit_code == 1
    assert result.output == "Error: nope.jsonl: cannot read: No such file or directory\n"
    assert run("append", "--file", "nope.jsonl", "--extra", "x").exit_code == 2
    assert list(Path().iterdir()) == []  # refused before any ledger was opened: none was created


def test_a_file_that_cannot_be_read_creates_no_ledger_at_the_url(tmp_path: Path, run) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    assert run("--url", url, "append", "--file", "nope.jsonl").exit_code == 1
    assert not (tmp_path / "elsewhere.db").exists()


def test_a_fact_from_flags_is_read_as_a_csv_cell_and_checked_before_any_ledger_is_made(tmp_path: Path, run) -> None:  # type: ignore[no-untyped-def]
    """A value that reads as JSON is still text to a text field (a note ``[2024]`` was refused), and a fact that is
    refused creates no ledger at a mistyped ``--url``."""
    url = f"sqlite:///{tmp_path / 'mistyped.db'}"
    flags = ["party.registered", "--party", "acme", "--name", "Acme", "--type", "company"]
    refused = run("--url", url, "append", *flags, "--effective", "2019-02-30")
    assert (refused.exit_code, refused.output.startswith("Error: command line: effective:")) == (1, True)
    assert not any(path.name.startswith("mistyped") for path in tmp_path.iterdir())
    added = run("append", *flags, "--effective", "2019-01-01", "--note", "[2024]", "--sectors", '["ai", "cloud"]')
    assert added.exit_code == 0, added.output
    [row] = json.loads(run("log", "--format", "json").output)
    assert (row["note"], row["sectors"]) == ("[2024]", ["ai", "cloud"])


def test_a_file_of_no_facts_or_a_malformed_one_creates_no_ledger(tmp_path: Path, run) -> None:  # type: ignore[no-untyped-def]
    """An append or an import reads its file whole before opening the ledger: a mistyped ``--url`` with a bad file
    left a new, empty ledger behind."""
    (tmp_path / "empty.jsonl").write_text("")
    (tmp_path / "bad.jsonl").write_text('{"kind": "fx.rate", "effective": "2024-02-30"}\n')
    (tmp_path / "bad-export.jsonl").write_text('{"seq": 1, "id": "x"\n')
    url = f"sqlite:///{tmp_path / 'mistyped.db'}"
    assert run("--url", url, "append", "--file", "empty.jsonl").output == "nothing appended: empty.jsonl holds no facts\n"
    assert run("--url", url, "append", "--file", "bad.jsonl").output.startswith("Error: bad.jsonl:1: effective:")
    assert run("--url", url, "import", "bad-export.jsonl").output.startswith("Error: bad-export.jsonl:1:")
    assert run("--url", url, "import", "empty.jsonl").output == "nothing imported: empty.jsonl holds no facts\n"
    assert not any(path.name.startswith("mistyped") for path in tmp_path.iterdir())


@pytest.mark.parametrize("scheme", ["sqlite", "sqlite+pysqlite"])
def test_a_batch_the_ledger_refuses_creates_no_ledger_at_a_new_path(tmp_path: Path, run, scheme: str) -> None:  # type: ignore[no-untyped-def]
    """Facts that read well but that the ledger refuses (a party never registered, an export that does not start at
    #1) are checked against the empty ledger a new file would hold before the file is made: a mistyped ``--url``
    is left with nothing. Accepted, the same facts are stored as they are in a ledger that already exists."""
    (tmp_path / "unknown.jsonl").write_text(
        '{"kind": "valuation.marked", "effective": "2024-01-01", "company": "nobody", "valuation": "1", "currency": "USD"}\n'
    )
    assert run("append", "--file", CATALOGUE).exit_code == 0
    exported = run("export").output.splitlines(keepends=True)
    (tmp_path / "tail.jsonl").write_text("".join(exported[2:]))
    (tmp_path / "whole.jsonl").write_text("".join(exported))
    url = f"{scheme}:///{tmp_path / 'mistyped.db'}"
    refused = run("--url", url, "append", "--file", "unknown.jsonl")
    assert (refused.exit_code, refused.output.count("\n")) == (1, 1) and "nobody" in refused.output
    refused = run("--url", url, "import", "tail.jsonl")
    assert (refused.exit_code, refused.output) == (
        1,
        "Error: tail.jsonl:1: seq: the ledger's next position is #1, not #3; "
        "an export can only be imported into an empty ledger or one it continues\n",
    )
    assert not any(path.name.startswith("mistyped") for path in tmp_path.iterdir())
    assert run("--url", url, "import", "whole.jsonl").exit_code == 0
    assert run("--url", url, "export").output.splitlines(keepends=True) == exported
    assert run("--url", url, "verify").output.startswith("ok: ")


def test_a_batch_built_for_a_new_file_is_checked_again_when_another_writer_filled_it(tmp_path: Path) -> None:
    """The batch built against the empty ledger is written as built only if the file is still empty once opened: a
    writer that made the file and stored facts in between has them checked against, as any append would."""
    from ledger.api import Ledger, built_for_new_file
    from ledger.host import load
    from ledger.importing import incoming_from_path

    host = load(())
    url = f"sqlite:///{tmp_path / 'raced.db'}"
    incoming = list(incoming_from_path(host.catalogue, str(CATALOGUE), None))
    prebuilt = built_for_new_file(url, host, incoming)
    assert prebuilt is not None and len(prebuilt.built[0]) == len(incoming)
    with Ledger(url, host=host) as other:
        first = other.append(incoming[:5])
    with Ledger(url, host=host) as ledger:
        result = ledger.append(incoming, prebuilt=prebuilt)
        assert result.unchanged == 5 and [record.seq for record in result.added] == list(range(6, len(incoming) + 1))
        assert [record.id for record in first.added] == [record.id for record in ledger.records()[:5]]
    assert built_for_new_file(url, host, incoming) is None  # the file exists now: nothing is built beforehand


def test_a_question_at_a_path_with_no_ledger_is_refused_and_makes_none(tmp_path: Path, run) -> None:  # type: ignore[no-untyped-def]
    """Only appending or importing makes a ledger: ``verify`` at a mistyped path made an empty one and said "ok", and
    every view answered from it."""
    url = f"sqlite:///{tmp_path / 'ledgr.db'}"
    for args in (("verify",), ("log",), ("view", "league"), ("replay", "--as-of", "2024-12-31"), ("export",), ("check",)):
        result = run("--url", url, *args)
        assert (result.exit_code, result.output) == (
            1,
            f"Error: no ledger at {url}: {tmp_path / 'ledgr.db'} does not exist (append or import facts to start one)\n",
        )
    assert list(tmp_path.iterdir()) == []
    assert run("--url", url, "append", "--file", CATALOGUE).exit_code == 0
    assert run("--url", url, "verify").output.startswith("ok: 23 facts")


@pytest.mark.parametrize(
    ("url", "says", "code"),
    [
        ("sqlite:", "the store sqlite: is kept in memory and gone when the command ends: name a file", 1),
        ("sqlite://", "the store sqlite:// is kept in memory and gone when the command ends: name a file", 1),
        ("sqlite:///:memory:", "the store sqlite:///:memory: is kept in memory and gone when the command ends", 1),
        ("sqlite:///", "bad SQLite URL 'sqlite:///': it names no file; write sqlite:///relative/path.db", 1),
        ("sqlite+pysqlite:x.db", "bad store URL 'sqlite+pysqlite:x.db': Could not parse SQLAlchemy URL", 1),
        ("sqlite+pysqlite:///:memory:", "the store sqlite+pysqlite:///:memory: is kept in memory and gone", 1),
        ("", "--url (or DEALLEDGER_URL) is empty (an unset variable?): name a store, such as sqlite:///ledger.db", 2),
    ],
)
def test_a_url_that_keeps_nothing_is_refused(tmp_path: Path, run, url: str, says: str, code: int) -> None:  # type: ignore[no-untyped-def]
    """``sqlite:`` appended 83 facts to a store in memory and said so; an empty ``--url`` (an unset variable) wrote to
    ./dealledger.db; ``sqlite:///`` told the library's own message and left a lock file."""
    result = run("--url", url, "append", "--file", CATALOGUE)
    assert (result.exit_code, result.output.startswith(f"Error: {says}"), result.output.count("\n")) == (code, True, 1)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ("append", "--file", CATALOGUE, "--file", CATALOGUE),
            "--file is given twice: give it once (see 'dealledger append --help')",
        ),
        (
            ("--url", "sqlite:///a.db", "--url=sqlite:///b.db", "log"),
            "--url is given twice: give it once (see 'dealledger --help')",
        ),
        (
            ("--url", "sqlite:///a.db", "--plugin", "tests.local_plugin", "--url", "sqlite:///b.db", "log"),
            "--url is given twice: give it once (see 'dealledger --help')",
        ),
        (
            ("view", "league", "--currency", "USD", "--currency=CNY"),
            "--currency is given twice: give it once (see 'dealledger view league --help')",
        ),
        (("log", "--format", "csv", "--format", "json"), "--format is given twice: give it once (see 'dealledger log --help')"),
    ],
)
def test_an_option_that_takes_one_value_given_twice_is_refused(run, args: tuple[str, ...], says: str) -> None:  # type: ignore[no-untyped-def]
    """click keeps the last value silently: ``--file a --file b`` appended b alone and said nothing of a."""
    result = run(*args)
    assert (result.exit_code, result.output) == (2, f"Error: {says}\n".replace("'dealledger", "'main"))  # the runner's name
    assert list(Path().iterdir()) == []


def test_a_flag_may_be_given_twice(run) -> None:  # type: ignore[no-untyped-def]
    assert run("append", "--file", CATALOGUE).exit_code == 0
    assert run("view", "ownership", "--company", "moonshot-ai", "--split-undisclosed", "--split-undisclosed").exit_code == 0


def test_schema_is_json_schema_of_every_kind(run) -> None:  # type: ignore[no-untyped-def]
    schema = json.loads(run("schema").output)
    kinds = {option["properties"]["kind"]["const"] for option in schema["oneOf"]}
    assert "round.closed" in kinds and "fact.corrected" in kinds and len(kinds) == 18


def test_store_url_from_option_and_environment(run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    assert run("--url", url, "append", "--file", CATALOGUE).exit_code == 0
    assert (tmp_path / "elsewhere.db").exists() and not (tmp_path / "dealledger.db").exists()
    monkeypatch.setenv("DEALLEDGER_URL", url)
    assert len(json.loads(run("log", "--format", "json").output)) == 23


def test_export_then_import_into_another_store(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("append", "--file", CATALOGUE)
    assert run("export", "--out", "ledger.jsonl").output == "exported 23 facts to ledger.jsonl\n"
    copy = f"sqlite:///{tmp_path / 'copy.db'}"
    result = run("--url", copy, "import", "ledger.jsonl")
    assert (result.exit_code, result.output) == (0, "imported 23 fact(s); 0 already there, unchanged\n")
    assert run("--url", copy, "export").output == (tmp_path / "ledger.jsonl").read_text()
    assert run("--url", copy, "log", "--format", "json").output == run("log", "--format", "json").output


def test_view_with_options_and_formats(run) -> None:  # type: ignore[no-untyped-def]
    run("append", "--file", CATALOGUE)
    rows = json.loads(run("view", "ownership", "--company", "moonshot-ai", "--as-of", "2024-03-01", "--format", "json").output)
    assert {row["holder"]: row["fraction"] for row in rows} == {  # exact: JSON carries no rounding
        "founders": "0.6",
        "alibaba": "0.32",
        "undisclosed": "0.08",
    }
    table = run("view", "ownership", "--company", "moonshot-ai", "--as-of", "2024-03-01").output
    assert "0.320000" in table  # tables show six places
    csv_text = run("view", "revenue", "--provider", "alibaba-cloud", "--period", "year", "--format", "csv").output
    assert csv_text.splitlines()[0] == "period,recognized,breakage,deferred,from_investees,currency,fx_difference,escrow_held"
    table = run("view", "regulatory", "--as-of", "2024-01-01").output
    assert "export.ban_imposed" in table and "divestment.ordered" in table
    missing = run("view", "portfolio")
    assert missing.exit_code == 2 and "Missing option '--investor'" in missing.output
    unknown = run("view", "ownershp")  # a misuse, as an unknown command: exit 2, naming the help that lists views
    assert unknown.exit_code == 2
    assert unknown.output == "Error: no view named 'ownershp'; did you mean 'ownership'? (see 'main view --help')\n"


def test_replay_writes_one_file_per_view(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("append", "--file", CATALOGUE)
    result = run("replay", "--as-of", "2024-12-31", "--out", "out", "--format", "json")
    assert result.exit_code == 0, result.output
    written = {p.name for p in (tmp_path / "out").iterdir()}
    assert written >= {"league.json", "ownership.json", "portfolio.json", "regulatory.json", "revenue.json"}
    revenue = json.loads((tmp_path / "out" / "revenue.json").read_text())
    assert {row["provider"] for row in revenue} == {"alibaba-cloud"}
    portfolio = json.loads((tmp_path / "out" / "portfolio.json").read_text())
    assert {row["investor"] for row in portfolio} == {"alibaba", "tencent"}
    printed = run("replay", "--as-of", "2024-12-31").output
    assert "== ownership (" in printed and "== revenue (" in printed
    # the files are written a row at a time; they hold what `view` answers whole
    run("replay", "--as-of", "2024-12-31", "--out", "csv", "--format", "csv")
    league = run("view", "league", "--as-of", "2024-12-31", "--format", "csv").output
    assert (tmp_path / "csv" / "league.csv").read_text() == league
    as_json = run("view", "league", "--as-of", "2024-12-31", "--format", "json").output
    assert (tmp_path / "out" / "league.json").read_text() == as_json


def test_replay_writes_the_columns_of_a_view_that_declares_none(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("append", "--file", CATALOGUE)
    result = run("--plugin", "tests.replay_plugin", "replay", "--as-of", "2024-12-31", "--out", "out", "--format", "csv")
    assert result.exit_code == 0, result.output
    lines = (tmp_path / "out" / "kind-count.csv").read_text().splitlines()
    assert lines[0] == "kind,facts" and "round.closed,1" in lines


def test_a_replay_that_fails_writes_no_file(run, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    run("append", "--file", CATALOGUE)
    run("--plugin", "tests.replay_plugin", "replay", "--as-of", "2023-12-31", "--out", "out", "--format", "csv")
    before = {p.name: p.read_text() for p in (tmp_path / "out").iterdir()}
    monkeypatch.setenv("DEALLEDGER_TEST_FAIL", "1")
    failed = CliRunner().invoke(
        main, ["--plugin", "tests.replay_plugin", "replay", "--as-of", "2024-12-31", "--out", "out", "--format", "csv"]
    )
    assert failed.exit_code != 0 and "told to fail" in failed.output
    # every file is the earlier replay's, whole: none of 2024's, no partial file
    assert {p.name: p.read_text() for p in (tmp_path / "out").iterdir()} == before


def test_check_passes_then_reports_a_mismatch(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("append", "--file", CATALOGUE)
    ok = run("check")
    assert (ok.exit_code, ok.output) == (0, "ok: 23 facts checked, no problems\n")
    early = run("check", "--as-of", "1990-01-01")  # the facts in force by then: none, not the ledger's size
    assert (early.exit_code, early.output) == (0, "ok: 0 facts checked, no problems\n")
    (tmp_path / "claim.jsonl").write_text(
        '{"kind": "ownership.asserted", "effective": "2024-04-03", "key": "press-claim", "holder": "alibaba",'
        ' "company": "moonshot-ai", "fraction": "0.36"}\n'
    )
    run("append", "--file", "claim.jsonl")
    bad = run("check")
    assert bad.exit_code == 1
    assert bad.output.splitlines() == [
        "[plugins.ownership] ownership.asserted 'press-claim' of 2024-04-03: alibaba holds 0.32 of moonshot-ai"
        " by the ledger, asserted 0.36 (tolerance 0.005)",
        "Error: 1 problem found",
    ]
    assert run("check", "--as-of", "2024-04-02").exit_code == 0


def test_plugins_lists_views_and_kinds_with_their_providers(run) -> None:  # type: ignore[no-untyped-def]
    rows = json.loads(run("plugins", "--format", "json").output)
    views = {row["name"]: row["plugin"] for row in rows if row["type"] == "view"}
    kinds = {row["name"]: row["plugin"] for row in rows if row["type"] == "kind"}
    built_in = {name: plugin for name, plugin in views.items() if plugin.startswith("plugins.")}
    assert built_in == {
        "ownership": "plugins.ownership",
        "portfolio": "plugins.ownership",
        "league": "plugins.ownership",
        "gains": "plugins.ownership",
        "revenue": "plugins.revenue",
        "regulatory": "plugins.regulatory",
        "roundtrip": "plugins.roundtrip",
    }
    assert len(kinds) == 18 and kinds["round.closed"] == "dealledger (built in)"


def test_a_local_plugin_module_by_option(run) -> None:  # type: ignore[no-untyped-def]
    run("append", "--file", CATALOGUE)
    result = run("--plugin", "tests.local_plugin", "view", "local-count", "--format", "json")
    # 23 stored; the correction and the retraction fold away, and so does the fact retracted
    assert json.loads(result.output) == [{"facts": 20}]


def test_view_options_are_checked(run) -> None:  # type: ignore[no-untyped-def]
    run("append", "--file", CATALOGUE)
    typo = run("view", "ownership", "--company", "moonshot")
    assert (typo.exit_code, typo.output) == (1, "Error: --company: unknown party 'moonshot'; did you mean 'moonshot-ai'?\n")
    currency = run("view", "league", "--currency", "usx")
    assert currency.exit_code == 2 and "'usx' is not an ISO 4217 currency code" in currency.output
    long_s = run("view", "league", "--currency", "u\u017fd")  # upper-cased as Unicode does, "uſd" would be "USD"
    assert long_s.exit_code == 2 and "is not an ISO 4217 currency code" in long_s.output
    since = json.loads(run("view", "league", "--since", "2024-03-01", "--currency", "usd", "--format", "json").output)
    assert [(row["investor"], row["total"], row["currency"]) for row in since] == [("tencent", "60000000.00", "USD")]
    no_rate = run("view", "league", "--currency", "EUR")
    assert no_rate.exit_code == 1 and no_rate.output.startswith("Error: no fx.rate for ")


def test_log_names_unknown_kinds_and_parties(run) -> None:  # type: ignore[no-untyped-def]
    run("append", "--file", CATALOGUE)
    kind = run("log", "--kind", "rond")
    assert (kind.exit_code, kind.output) == (1, "Error: --kind: unknown kind 'rond'; did you mean 'round'?\n")
    party = run("log", "--party", "tencnt")
    assert (party.exit_code, party.output) == (1, "Error: --party: unknown party 'tencnt'; did you mean 'tencent'?\n")


def test_an_empty_file_appends_nothing_and_says_so(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "empty.jsonl").write_text("")
    result = run("append", "--file", "empty.jsonl")
    assert (result.exit_code, result.output) == (0, "nothing appended: empty.jsonl holds no facts\n")


def test_errors_go_to_stderr_and_results_to_stdout(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "bad.csv").write_text("# exported by hand\nkind,effective,base,quote,rate\nfx.rate,2024-01-02,USD,CNX,7.1\n")
    result = run("append", "--file", "bad.csv")
    assert (result.exit_code, result.stdout, result.stderr) == (
        1,
        "",
        "Error: bad.csv:3: quote: 'CNX' is not an ISO 4217 currency code (fx.rate)\n",
    )
    ok = run("append", "--file", CATALOGUE)
    assert ok.stderr == "" and ok.stdout.startswith("appended 23 facts")


def test_a_plugin_adds_a_command(run, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    run("append", "--file", CATALOGUE)
    assert run("count-facts").exit_code == 2  # not there without the plugin
    monkeypatch.setenv("DEALLEDGER_PLUGINS", "tests.local_plugin")
    assert run("count-facts").output == "23 facts\n"
    assert "count-facts" in run("--help").output
    monkeypatch.delenv("DEALLEDGER_PLUGINS")
    assert "count-facts" in run("--plugin", "tests.local_plugin", "--help").output  # --help runs before --plugin is read
    assert "count-facts" in run("--plugin=tests.local_plugin", "--help").output
    assert "count-facts" not in run("--help").output


def test_a_plugin_command_is_held_to_the_rules_of_the_built_in_ones(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """An option given twice, or a value of the wrong form, is a misuse (exit 2, naming the command's help); standard
    output full is standard output's failure, not the plugin's; a reader that stops reading ends it quietly."""
    run("append", "--file", CATALOGUE)
    twice = run("--plugin", "tests.local_plugin", "list-facts", "--times", "1", "--times", "2")
    assert (twice.exit_code, twice.output) == (2, "Error: --times is given twice: give it once (see 'main list-facts --help')\n")
    wrong = run("--plugin", "tests.local_plugin", "list-facts", "--times", "two")
    assert (wrong.exit_code, wrong.output) == (2, "Error: --times: 'two' is not a whole number (see 'main list-facts --help')\n")
    assert run("--plugin", "tests.local_plugin", "list-facts").output.splitlines()[0] == "p-alibaba"
    if Path("/bin/sh").exists() and Path("/dev/full").exists():
        root = str(Path(__file__).resolve().parent.parent)
        env = {**os.environ, "PYTHONPATH": root, "DEALLEDGER_URL": f"sqlite:///{tmp_path / 'dealledger.db'}"}
        command = f'"{sys.executable}" -c "from cli import run; run()" --plugin tests.local_plugin list-facts --times 5000'
        full = subprocess.run(["/bin/sh", "-c", f"{command} >/dev/full"], capture_output=True, env=env, timeout=120, check=False)
        assert (full.returncode, full.stderr) == (1, b"Error: cannot write to standard output: No space left on device\n")
        piped = subprocess.run(["/bin/sh", "-c", f"{command} | head -1"], capture_output=True, env=env, timeout=120, check=False)
        assert (piped.stdout, piped.stderr) == (b"p-alibaba\n", b"")


def test_a_plugin_group_or_pass_through_command_takes_the_options_of_what_follows(run) -> None:  # type: ignore[no-untyped-def]
    """What follows a group's command name, or a pass-through command's first argument, is not its own to count."""
    group = run("--plugin", "tests.local_plugin", "local-group", "--format", "json", "show", "--format", "csv")
    assert (group.exit_code, group.output) == (0, "show csv\n")
    passed = run("--plugin", "tests.local_plugin", "pass-on", "--label", "a", "prog", "--label", "b")
    assert (passed.exit_code, passed.output) == (0, "a prog --label b\n")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_plugin_s_own_file_that_cannot_be_written_is_the_plugin_s_failure(run) -> None:  # type: ignore[no-untyped-def]
    result = run("--plugin", "tests.local_plugin", "write-to", "/dev/full")
    assert (result.exit_code, result.output) == (
        1,
        "Error: plugin tests.local_plugin: command write-to failed: OSError: [Errno 28] No space left on device\n",
    )


def test_an_empty_file_is_no_ledger_to_ask_about(tmp_path: Path, run) -> None:  # type: ignore[no-untyped-def]
    """SQLite takes an empty file for a new database: a question made a ledger of someone's empty notes."""
    (tmp_path / "notes.txt").write_bytes(b"")
    result = run("--url", f"sqlite:///{tmp_path / 'notes.txt'}", "log")
    assert (result.exit_code, result.output.endswith("notes.txt is empty (append or import facts to start one)\n")) == (1, True)
    assert [path.name for path in tmp_path.iterdir()] == ["notes.txt"] and (tmp_path / "notes.txt").read_bytes() == b""
    (tmp_path / "unknown.jsonl").write_text(
        '{"kind": "valuation.marked", "effective": "2024-01-01", "company": "nobody", "valuation": "1", "currency": "USD"}\n'
    )
    refused = run("--url", f"sqlite:///{tmp_path / 'notes.txt'}", "append", "--file", "unknown.jsonl")
    assert refused.exit_code == 1 and (tmp_path / "notes.txt").read_bytes() == b""  # refused: still no ledger
    assert not (tmp_path / "notes.txt.lock").exists()
    assert run("--url", f"sqlite:///{tmp_path / 'notes.txt'}", "append", "--file", CATALOGUE).exit_code == 0


def test_a_bare_date_means_the_end_of_that_day_in_either_iso_form() -> None:
    from datetime import UTC, datetime

    from cli import parse_timestamp

    end = datetime(2026, 11, 28, 23, 59, 59, 999999, tzinfo=UTC)
    assert parse_timestamp("2026-11-28", "--known-at") == parse_timestamp("20261128", "--known-at") == end
    assert parse_timestamp("2026-11-28T10:00", "--known-at") == datetime(2026, 11, 28, 10, tzinfo=UTC)


def test_the_shell_completes_party_slugs_from_the_ledger(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("append", "--file", CATALOGUE)
    url = f"sqlite:///{tmp_path / 'dealledger.db'}"
    words = f"dealledger --url {url} view ownership --company moon"
    env = {"_DEALLEDGER_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": str(len(words.split()) - 1)}
    result = CliRunner().invoke(main, [], env=env, prog_name="dealledger")
    assert result.output.split() == ["plain,moonshot-ai"]


@pytest.mark.parametrize(
    ("args", "told"),
    [
        (
            ["view", "ownership", "--as-of", "garbage"],
            "Invalid value for '--as-of': 'garbage' is not a date (YYYY-MM-DD) (see 'dealledger view ownership --help')",
        ),
        (["view", "portfolio"], "Missing option '--investor' (see 'dealledger view portfolio --help')"),
        (
            ["replay", "--jobs", "0", "--out", "x"],
            "Invalid value for '--jobs': 0 is not in the range x>=1 (see 'dealledger replay --help')",
        ),
        (["--bogus", "log"], "No such option '--bogus' (see 'dealledger --help')"),
        (["nosuchcommand"], "No such command 'nosuchcommand' (see 'dealledger --help')"),
    ],
)
def test_a_misused_command_is_told_in_one_line(
    args: list[str], told: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Like every other error: one line on stderr naming what and where, exit 2 (click's usage, hint and blank line
    would make it four)."""
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, args, prog_name="dealledger")
    assert (result.exit_code, result.stderr) == (2, f"Error: {told}\n")


def test_an_argument_or_setting_that_is_not_utf8_is_refused_before_anything_is_written(run, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A shell hands bytes that are not UTF-8 on as lone surrogates; each place one can come in is named."""
    run("append", "--file", CATALOGUE)
    before = run("export").output
    named = ["append", "party.registered", "--party", "p9", "--name", "a\udcff", "--type", "company", "--effective", "2020-01-01"]
    result = run(*named)
    assert (result.exit_code, result.stderr) == (2, "Error: the value of --name is not UTF-8 text: byte 0xff at character 2\n")
    result = run("view", "ownership", "--company", "\udcffx")
    assert (result.exit_code, result.stderr) == (2, "Error: the value of --company is not UTF-8 text: byte 0xff at character 1\n")
    result = run("log", "--party=x\ud800")
    assert (result.exit_code, result.stderr) == (
        2,
        "Error: argument 2 is not UTF-8 text: lone surrogate \\ud800 at character 10\n",
    )
    # a file's name may be any bytes: the system takes them as they came
    latin1 = Path("caf\udce9.jsonl")
    latin1.write_bytes(Path(CATALOGUE).read_bytes())
    assert run("append", "--file", str(latin1)).exit_code == 0
    assert run("replay", "--as-of", "2024-12-31", "--out", "d\udce9", "--format", "csv").exit_code == 0
    assert run("export", "--out=caf\udce9.out.jsonl").exit_code == 0
    before = run("export").output
    monkeypatch.setenv("DEALLEDGER_URL", "sqlite:///\udcfe.db")
    result = run("log")
    assert (result.exit_code, result.stderr) == (2, "Error: DEALLEDGER_URL is not UTF-8 text: byte 0xfe at character 11\n")
    monkeypatch.delenv("DEALLEDGER_URL")
    assert run("export").output == before


def test_dates_and_times_are_read_once_for_every_command(run) -> None:  # type: ignore[no-untyped-def]
    run("append", "--file", CATALOGUE)
    for args in (["view", "league"], ["replay"], ["check"], ["log"]):
        bad = run(*args, "--as-of", "2024-13-01")
        assert bad.exit_code == 2 and "'2024-13-01' is not a date (YYYY-MM-DD)" in bad.stderr
    for args in (["view", "league"], ["log"], ["export"]):
        bad = run(*args, "--known-at", "yesterday")
        assert bad.exit_code == 2 and "'yesterday' is not an ISO 8601 timestamp" in bad.stderr


def acme_and_two_investors(round_on: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """acme, inv1 and inv2 registered, and acme's round r1 on ``round_on``, inv1 its investor; the round's own
    fields (without its investors and money), to write a correction of it from."""
    facts = [
        {"kind": "party.registered", "effective": "2020-01-01", "key": f"p-{slug}", "party": slug, "name": slug, "type": kind}
        for slug, kind in (("acme", "company"), ("inv1", "investor"), ("inv2", "investor"))
    ]
    round_ = {"kind": "round.closed", "effective": round_on, "key": "r1", "company": "acme", "round": "A"}
    facts.append({**round_, **round_money("inv1")})
    return facts, round_


def round_money(investor: str) -> dict[str, Any]:
    return {"amount": "100", "currency": "USD", "post_money": "400", "investors": [{"party": investor, "amount": "100"}]}


def appended_from_file(run, tmp_path: Path, facts: list[dict[str, Any]]) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "facts.jsonl").write_text("\n".join(json.dumps(fact) for fact in facts) + "\n")
    appended = run("append", "--file", "facts.jsonl")
    assert appended.exit_code == 0, appended.output


def test_log_of_a_party_shows_the_corrections_and_retractions_of_its_facts(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A correction that takes a party out of a fact, and a retraction (which names no party), are about the
    parties of the fact they name: ``log --party`` shows them, as the views about that party read them."""
    facts, round_ = acme_and_two_investors("2023-01-01")
    stake = {"kind": "stake.acquired", "effective": "2023-02-01", "key": "s1", "holder": "inv2", "company": "acme"}
    facts.append({**stake, "fraction": "0.1"})
    replacement = {**round_, **round_money("inv2")}
    facts.append({"kind": "fact.corrected", "effective": "2024-01-01", "key": "c1", "fact": "r1", "replacement": replacement})
    facts.append({"kind": "fact.retracted", "effective": "2024-01-01", "key": "x1", "fact": "s1", "reason": "never happened"})
    appended_from_file(run, tmp_path, facts)
    keys = {
        party: [row["key"] for row in json.loads(run("log", "--party", party, "--format", "json").output)]
        for party in ("inv1", "inv2")
    }
    assert keys == {"inv1": ["p-inv1", "r1", "c1"], "inv2": ["p-inv2", "s1", "c1", "x1"]}


def corrected_to_another_and_retracted(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """s1, inv1's purchase, corrected to be inv2's (c1), then retracted (x1); and a round of acme's (r1)."""
    facts, _ = acme_and_two_investors("2021-01-01")
    stake = {"kind": "stake.acquired", "effective": "2021-06-01", "holder": "inv1", "company": "acme", "fraction": "0.1"}
    facts.append({**stake, "key": "s1"})
    inv2s = {**stake, "holder": "inv2"}
    facts.append({"kind": "fact.corrected", "effective": "2022-01-01", "key": "c1", "fact": "s1", "replacement": inv2s})
    facts.append({"kind": "fact.retracted", "effective": "2022-02-01", "key": "x1", "fact": "s1", "reason": "never happened"})
    appended_from_file(run, tmp_path, facts)


def test_log_of_a_party_shows_the_retraction_of_a_fact_only_its_correction_gave_that_party(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """s1 named inv2 only once corrected; its retraction is about inv2 as much as the correction was."""
    corrected_to_another_and_retracted(run, tmp_path)
    keys = [row["key"] for row in json.loads(run("log", "--party", "inv2", "--format", "json").output)]
    assert keys == ["p-inv2", "c1", "x1"]


def test_log_of_a_kind_shows_the_corrections_and_retractions_of_its_facts(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """As ``--party`` does: the history of the stake facts, their corrections and retractions with them."""
    corrected_to_another_and_retracted(run, tmp_path)
    keys = [row["key"] for row in json.loads(run("log", "--kind", "stake", "--format", "json").output)]
    assert keys == ["s1", "c1", "x1"]
    assert [row["key"] for row in json.loads(run("log", "--kind", "round", "--format", "json").output)] == ["r1"]


@pytest.mark.parametrize(
    ("odd", "args", "told"),
    [
        ("single-view", ["log"], "plugin tests.odd_plugin: dealledger_views returned Optioned <"),
        ("option-dashes", ["log"], "plugin tests.odd_plugin: view 'optioned' has an option named 'min-facts': use letters"),
        ("option-format", ["log"], "plugin tests.odd_plugin: view 'optioned' has an option named 'format', which the commands"),
        (
            "command-fails",
            ["odd-command"],
            "plugin tests.odd_plugin: command odd-command failed: RuntimeError: the command broke",
        ),
        ("command-clash", ["odd-command"], "plugin tests.odd_plugin: command 'view' takes the name of a built-in command"),
        ("not-a-command", ["odd-command"], "plugin tests.odd_plugin: dealledger_commands returned <function"),
        (
            "command-fails-loudly",
            ["odd-command"],
            "plugin tests.odd_plugin: command odd-command failed: RuntimeError: line one\\nline two",
        ),
        (
            "command-duplicate",
            ["--plugin", "tests.local_plugin", "count-facts"],
            "plugin tests.odd_plugin: command 'count-facts' takes the name of plugin tests.local_plugin's command",
        ),
    ],
)
def test_a_plugin_that_gets_its_hooks_wrong_is_told_in_one_line(run, monkeypatch, odd: str, args: list[str], told: str) -> None:  # type: ignore[no-untyped-def]
    """A hook answering one object where a list belongs, an option the command line cannot take or that takes over
    one of its own, a command that fails, shadows a built-in or is not one: each a one-line error, not a traceback
    nor a command silently missing."""
    monkeypatch.setenv("DEALLEDGER_TEST_ODD", odd)
    result = run("--plugin", "tests.odd_plugin", *args)
    assert result.exit_code == 1 and result.stderr.startswith(f"Error: {told}"), result.stderr
    assert result.stderr.count("\n") == 1


def test_a_plugin_that_cannot_be_loaded_is_told_when_its_command_is_asked_for(run) -> None:  # type: ignore[no-untyped-def]
    result = run("--plugin", "tests.no_such_plugin_module", "odd-command")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: cannot load plugin module 'tests.no_such_plugin_module'")
