"""``ledger.open`` for notebooks: the CLI's answers and refusals, exact values, moments read as the CLI reads them."""

from __future__ import annotations

import builtins
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import ledger
from cli import main
from ledger.errors import LedgerError, RejectedError, ViewError
from ledger.exact import Fraction
from ledger.moments import MomentError, as_of_date, known_at_time, parse_timestamp
from ledger.notebook import Notebook, Rows
from ledger.rendering import as_json

from .conftest import DATA

CATALOGUE = DATA / "catalogue.jsonl"
ROOT = Path(__file__).parent.parent
STORY = ROOT / "examples" / "story.jsonl"


@pytest.fixture
def book(tmp_path: Path) -> Any:
    with ledger.open(f"sqlite:///{tmp_path / 'ledger.db'}") as opened:
        opened.append(CATALOGUE)
        yield opened


# --- moments: one rule for the CLI and for programs -------------------------------------------


def test_moments_follow_the_cli_rule() -> None:
    end = datetime(2024, 6, 1, 23, 59, 59, 999999, tzinfo=UTC)
    assert known_at_time("2024-06-01") == known_at_time("20240601") == known_at_time(date(2024, 6, 1)) == end
    assert known_at_time(datetime(2024, 6, 1, 12)) == datetime(2024, 6, 1, 12, tzinfo=UTC)  # naive means UTC
    plus8 = datetime(2024, 6, 1, 12, tzinfo=timezone(timedelta(hours=8)))
    assert known_at_time("2024-06-01T12:00:00+08:00") == plus8 and known_at_time(plus8) is plus8
    assert known_at_time("2024-06-01T04:00:00Z") == plus8  # 12:00 at +08:00 is 04:00 UTC
    assert as_of_date("2024-03-01") == as_of_date(datetime(2024, 3, 1, 18)) == date(2024, 3, 1)
    assert as_of_date(None) is None and known_at_time(None) is None
    with pytest.raises(MomentError, match=r"^'yesterday' is not an ISO 8601 timestamp$"):
        parse_timestamp("yesterday")
    with pytest.raises(MomentError, match=r"^'2024-13-01' is not a date \(YYYY-MM-DD\)$"):
        as_of_date("2024-13-01")


def test_the_cli_reads_moments_through_the_same_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import cli

    assert cli.parse_timestamp("20240601", "--known-at") == known_at_time("2024-06-01")
    calls: list[str] = []
    real = parse_timestamp

    def spy(text: str) -> datetime:
        calls.append(text)
        return real(text)

    monkeypatch.setattr("ledger.moments.parse_timestamp", spy)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DEALLEDGER_URL", raising=False)
    assert CliRunner().invoke(main, ["append", "--file", str(STORY)], catch_exceptions=False).exit_code == 0
    result = CliRunner().invoke(main, ["log", "--known-at", "2024-06-01T12:00"], catch_exceptions=False)
    assert result.exit_code == 0 and calls == ["2024-06-01T12:00"]


# --- answers ------------------------------------------------------------------------------------


def test_a_view_answers_as_the_cli_does(book: Notebook, tmp_path: Path) -> None:
    rows = book.view("ownership", company="moonshot-ai", as_of=date(2024, 3, 1))
    assert isinstance(rows, Rows) and isinstance(rows, list)
    assert rows.columns[:4] == ("company", "holder", "fraction", "invested")
    # The US$1B round at US$2.5B post-money: each investor gets amount / post, founders keep 1 - 1/2.5
    # alibaba 800M / 2.5B = 8/25, the unattributed 200M / 2.5B = 2/25, founders 3/5.
    assert {row["holder"]: row["fraction"] for row in rows} == {
        "founders": Fraction(3, 5),
        "alibaba": Fraction(8, 25),
        "undisclosed": Fraction(2, 25),
    }
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    args = ["--url", url, "view", "ownership", "--company", "moonshot-ai", "--as-of", "2024-03-01", "--format", "json"]
    assert as_json(rows) == CliRunner().invoke(main, args).output  # the very same answer, written the same way
    assert book.view("ownership", company="moonshot-ai", as_of="2024-03-01") == rows  # ISO text works the same


def test_options_are_checked_like_the_cli(book: Notebook) -> None:
    with pytest.raises(ViewError, match=r"^view ownership: unknown option 'compny'; did you mean 'company'\?"):
        book.view("ownership", compny="moonshot-ai")
    with pytest.raises(ViewError, match=r"^--company: unknown party 'moonshot'; did you mean 'moonshot-ai'\?$"):
        book.view("ownership", company="moonshot")
    with pytest.raises(ViewError, match=r"^view portfolio: option 'investor' is required"):
        book.view("portfolio")
    with pytest.raises(ViewError, match=r"^view league: option 'currency': 'XYZ' is not an ISO 4217 currency code$"):
        book.view("league", currency="XYZ")
    with pytest.raises(ViewError, match=r"^view revenue: option 'period': 'week' is not one of month, quarter, year$"):
        book.view("revenue", provider="alibaba-cloud", period="week")
    with pytest.raises(ViewError, match=r"^as_of: '2024-02-30' is not a date \(YYYY-MM-DD\)$"):
        book.view("league", as_of="2024-02-30")
    with pytest.raises(ViewError, match=r"^known_at: 'soon' is not an ISO 8601 timestamp$"):
        book.view("league", known_at="soon")
    with pytest.raises(LedgerError, match="nosuchview"):
        book.view("nosuchview")
    assert book.view("league", currency="usd") == book.view("league", currency="USD")  # upper-cased, as the CLI does
    with pytest.raises(ViewError, match=r"^view portfolio: option 'group': 'False' is not True or False$"):
        book.view("portfolio", investor="alibaba-cloud", group="False")


def test_a_flag_set_false_is_off(tmp_path: Path) -> None:
    """``group=False`` is the answer without ``--group``, and ``group=True`` the one with it, as on the command line."""
    with ledger.open(f"sqlite:///{tmp_path / 'story.db'}") as book:
        book.append(STORY)
        for view, options in (("portfolio", {"investor": "alibaba-cloud"}), ("ownership", {"company": "moonshot-ai"})):
            flag = "group" if view == "portfolio" else "split_undisclosed"
            alone, off, on = (book.view(view, **options, **given) for given in ({}, {flag: False}, {flag: True}))
            assert off == alone != on


def test_the_story_tells_when_each_fact_became_known(book: Notebook) -> None:
    """As ``log`` does: the moment its batch was committed, what ``known_at`` goes by, after it was recorded."""
    rows = book.story()
    assert all(row["known"] > row["recorded"] for row in rows)
    last = rows[-1]["known"]
    assert len(book.story(known_at=last)) == len(rows)
    assert book.story(known_at=last - timedelta(microseconds=1)) == []


def test_known_at_a_bare_date_is_the_end_of_that_day(book: Notebook) -> None:
    recorded = book.story()[0]["recorded"]
    assert book.view("ownership", company="moonshot-ai", known_at=recorded.date()) == book.view(
        "ownership", company="moonshot-ai"
    )
    before = book.view("ownership", company="moonshot-ai", known_at=recorded.date() - timedelta(days=1))
    assert [(row["holder"], row["fraction"]) for row in before] == [("founders", 1)]  # nothing recorded yet


def test_to_pandas_keeps_exact_values(book: Notebook) -> None:
    pytest.importorskip("pandas")
    rows = book.view("ownership", company="moonshot-ai", as_of="2024-03-01")
    frame = rows.to_pandas()
    assert list(frame.columns) == list(rows.columns)
    assert frame["fraction"].dtype == object and frame["invested"].dtype == object
    assert list(frame["fraction"]) == [row["fraction"] for row in rows]
    assert all(isinstance(v, Fraction) for v in frame["fraction"])
    assert all(v is None or isinstance(v, Decimal) for v in frame["invested"])
    counts = Rows([{"n": 1, "big": 2**70}, {"n": 2, "big": 3}]).to_pandas()
    assert counts["n"].dtype == "int64" and counts["big"].dtype == object and counts["big"][0] == 2**70
    assert Rows([], ("a", "b")).to_pandas().columns.tolist() == ["a", "b"]


def test_to_pandas_without_pandas_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_pandas(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "pandas":
            raise ImportError("No module named 'pandas'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pandas)
    with pytest.raises(LedgerError, match=r"^to_pandas\(\) needs pandas: pip install 'dealledger\[notebook\]'$"):
        Rows([{"a": 1}]).to_pandas()


def test_append_checks_facts_and_writes_all_or_nothing(book: Notebook) -> None:
    head = len(book.story())
    good = {"kind": "party.registered", "effective": "2020-01-01", "party": "zhipu-ai", "name": "Zhipu", "type": "company"}
    bad = {"kind": "fx.rate", "effective": "2024-01-02", "base": "USD", "quote": "CNX", "rate": "7.1"}
    with pytest.raises(RejectedError, match=r"^facts\[1\]: quote: 'CNX' is not an ISO 4217 currency code$"):
        book.append([good, bad])
    assert len(book.story()) == head  # nothing written
    result = book.append(good)
    assert len(result.added) == 1 and len(book.story()) == head + 1
    with pytest.raises(RejectedError, match=r"^facts\[0\]: expected a dict of fields, got str$"):
        book.append(["not a fact"])
    assert book.append(CATALOGUE).unchanged == 23  # a file again: every key already there


def test_story_is_the_resolved_facts_in_effective_order(book: Notebook) -> None:
    story = book.story()
    days = [row["effective"] for row in story]
    assert days == sorted(days)
    assert "fact.corrected" not in {row["kind"] for row in story}  # corrections arrive applied
    early = book.story(as_of="2021-12-31")
    assert early and all(row["effective"] <= date(2021, 12, 31) for row in early)
    assert book.story(known_at="2000-01-01") == []


def test_the_example_notebook_runs(tmp_path: Path) -> None:
    env = {"DEALLEDGER_URL": f"sqlite:///{tmp_path / 'example.db'}", "PATH": "", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "notebook.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    stored = sum(1 for line in STORY.read_text().splitlines() if line.strip())
    assert lines[0] == f"{stored} facts added, 0 already there"
    # Moonshot's 2024-02 round: US$1B at US$2.5B post; alibaba 800M / 2.5B = 0.32, shown to six places
    assert "alibaba 0.320000 (exactly 8/25)" in lines[1]
    assert lines[3].split()[:2] == ["investor", "deals"] and lines[4].split()[0] == "alibaba"  # Alibaba leads
