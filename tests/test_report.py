"""``dealledger report``: one HTML file that draws every chart offline, with the views' own numbers.

The sample story is loaded once per module and the report written once; a real Chromium
(Debian's, driven by playwright) opens it. Without Chromium the browser tests are skipped on a
developer's machine and fail under ``CI=true``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import date
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli import main
from ledger.api import Ledger
from ledger.exact import Fraction, parse_fraction
from ledger.rendering import cell
from ledger.report import gather
from ledger.report.figures import regulatory_spans
from ledger.views import Query

from .conftest import IN_CI

STORY = Path(__file__).parent.parent / "examples" / "story.jsonl"
AS_OF = "2024-12-31"


def dealledger(url: str, *args: str) -> Any:
    return CliRunner().invoke(main, ["--url", url, *args], catch_exceptions=False)


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """The sample ledger in a SQLite file, and its report as of the end of 2024."""
    folder = tmp_path_factory.mktemp("report")
    url = f"sqlite:///{folder / 'ledger.db'}"
    assert dealledger(url, "append", "--file", str(STORY)).exit_code == 0
    out = folder / "report.html"
    result = dealledger(url, "report", "--out", str(out), "--as-of", AS_OF)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("report: ") and result.output.rstrip().endswith(f"-> {out}")
    return url, out


class Parsed(HTMLParser):
    """The parts of the page the tests read: chart ids, captions, tables, external references."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: list[str] = []
        self.ids: list[str] = []
        self.captions: list[str] = []
        self.tables: dict[str, list[list[str]]] = {}
        self.references: list[tuple[str, str]] = []
        self.scripts = 0
        self._caption: list[str] | None = None
        self._table: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        for name in ("src", "href"):
            if found.get(name):
                self.references.append((tag, str(found[name])))
        if tag == "script":
            self.scripts += 1
        elif tag == "figure":  # by its chart's key: every figure's id is "figure-" and the key
            self.figures.append(str(found.get("id")).removeprefix("figure-"))
            self.ids.append(str(found.get("id")))
        elif tag == "figcaption":
            self._caption = []
        elif tag == "table":
            self._table = str(found.get("id"))
            self.ids.append(self._table)
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "figcaption" and self._caption is not None:
            self.captions.append("".join(self._caption))
            self._caption = None
        elif tag in ("td", "th") and self._cell is not None and self._table is not None:
            self.tables[self._table][-1].append("".join(self._cell))
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        for part in (self._caption, self._cell):
            if part is not None:
                part.append(data)


@pytest.fixture(scope="module")
def parsed(story: tuple[str, Path]) -> Parsed:
    page = Parsed()
    page.feed(story[1].read_text(encoding="utf-8"))
    return page


# --- in a real browser ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, launched once for the module (playwright's own browser download is not used)."""
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        message = "chromium is not installed (apt-get install chromium)"
        if IN_CI:
            pytest.fail(f"{message}; CI=true requires it", pytrace=False)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield launched
        launched.close()


DRAWN = """() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(plot => {
  const boxes = Array.from(plot.querySelectorAll('.main-svg')).map(svg => svg.getBoundingClientRect());
  return {id: plot.id, svgs: boxes.map(b => [b.width, b.height]), traces: plot.querySelectorAll('g.trace').length};
})"""


def drawn_charts(page: Any) -> list[dict[str, Any]]:
    page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length > 0")
    return page.evaluate(DRAWN)  # type: ignore[no-any-return]


def test_every_chart_is_drawn_without_errors(browser: Any, story: tuple[str, Path], parsed: Parsed, tmp_path: Path) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(story[1].resolve().as_uri())
    charts = drawn_charts(page)
    assert len(charts) == len(parsed.figures) >= 5
    for chart in charts:
        assert chart["svgs"], f"{chart['id']}: no plot drawn"
        assert all(width > 0 and height > 0 for width, height in chart["svgs"]), chart
        assert chart["traces"] > 0, f"{chart['id']}: no trace drawn"
    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")
    assert shot.stat().st_size > 0
    assert errors == []
    page.close()


def test_no_request_goes_anywhere_but_the_file(browser: Any, story: tuple[str, Path]) -> None:
    """The page is served under a made-up address; any other request is recorded and refused."""
    address = "http://report.invalid/report.html"
    seen: list[str] = []

    def route(handle: Any) -> None:
        seen.append(handle.request.url)
        if handle.request.url == address:
            handle.fulfill(path=str(story[1]), content_type="text/html; charset=utf-8")
        else:
            handle.abort()

    page = browser.new_page()
    page.route("**/*", route)
    page.goto(address)
    charts = drawn_charts(page)
    page.wait_for_load_state("networkidle")
    assert charts and all(chart["traces"] > 0 for chart in charts)
    assert seen == [address]
    page.close()


def test_table_headers_sort_their_rows(browser: Any, story: tuple[str, Path]) -> None:
    page = browser.new_page()
    page.goto(story[1].resolve().as_uri())
    header = page.locator("#table-league th", has_text="investor").first
    column = "Array.from(document.querySelectorAll('#table-league tbody tr')).map(r => r.cells[0].textContent)"
    header.click()
    ascending = page.evaluate(f"() => {column}")
    header.click()
    descending = page.evaluate(f"() => {column}")
    assert ascending == sorted(ascending) and descending == sorted(ascending, reverse=True)
    assert len(set(ascending)) > 1
    page.close()


# --- the file's content --------------------------------------------------------------------


def test_every_chart_has_a_caption_with_the_moment(parsed: Parsed) -> None:
    assert len(parsed.captions) == len(parsed.figures)
    for caption in parsed.captions:
        assert f"as of {AS_OF}, as known now (ledger head #" in caption, caption


def test_a_chart_for_every_company_investor_provider_regulation_and_league(story: tuple[str, Path], parsed: Parsed) -> None:
    url = story[0]

    def rows(view: str) -> list[dict[str, Any]]:
        return json.loads(dealledger(url, "view", view, "--as-of", AS_OF, "--format", "json").output)  # type: ignore[no-any-return]

    expected = {f"ownership-{row['company']}" for row in rows("ownership")}
    expected |= {f"league-{row['currency']}" for row in rows("league") if row["currency"]}
    expected |= {"portfolio-alibaba", "revenue-alibaba-cloud", "regulatory"}
    assert len(expected) > 5 and expected <= set(parsed.figures)


def test_top_draws_the_busiest_companies_and_investors_and_says_so(story: tuple[str, Path], tmp_path: Path) -> None:
    url = story[0]
    out = tmp_path / "top.html"
    assert dealledger(url, "report", "--out", str(out), "--as-of", AS_OF, "--top", "2").exit_code == 0
    page = Parsed()
    page.feed(out.read_text(encoding="utf-8"))
    companies = [f for f in page.figures if f.startswith("ownership-")]
    investors = [f for f in page.figures if f.startswith("portfolio-")]
    assert len(companies) == 2 and len(investors) == 2
    # rounds and sales per company, counted from the file (its one correction replaces a stake with one of the same company)
    deals = Counter(
        fact["company"]
        for fact in map(json.loads, STORY.read_text().splitlines())
        if fact["kind"] in ("round.closed", "stake.acquired", "stake.divested")
    )
    busiest = sorted(deals, key=lambda company: (-deals[company], company))[:2]
    assert sorted(companies) == sorted(f"ownership-{company}" for company in busiest)
    assert "portfolio-alibaba" in investors  # alibaba holds the most companies
    text = out.read_text(encoding="utf-8")
    assert "Showing the 2 companies with the most rounds and sales of" in text
    assert "Showing the 2 investors with the most companies held of" in text
    assert "Showing the" not in story[1].read_text(encoding="utf-8")  # the default draws the whole sample


def test_the_league_table_is_the_league_view(story: tuple[str, Path], parsed: Parsed) -> None:
    expected = json.loads(dealledger(story[0], "view", "league", "--as-of", AS_OF, "--format", "json").output)
    header, *rows = parsed.tables["table-league"]
    assert expected and header == list(expected[0])
    assert rows == [["" if value is None else str(value) for value in row.values()] for row in expected]


def test_nothing_is_loaded_from_elsewhere(parsed: Parsed, story: tuple[str, Path]) -> None:
    """No script, style or link points outside the file; the charting library is inline."""
    outside = [(tag, target) for tag, target in parsed.references if not target.startswith("#")]
    assert outside == []
    assert parsed.scripts >= 2  # the library once, then one per chart
    assert story[1].read_text(encoding="utf-8").count("Plotly=") <= 2  # inline once, not per chart


def test_ownership_history_is_the_view_at_each_date(story: tuple[str, Path]) -> None:
    """Folding once and snapshotting answers exactly what asking the view at each date answers."""
    with Ledger(story[0]) as ledger:
        gathered = gather(ledger, date(2024, 12, 31), None)
        history = gathered.ownership["moonshot-ai"]
        for day, rows in history.points:
            assert rows == ledger.view("ownership", Query(day, None, {"company": "moonshot-ai"}))
    first_day, first = history.points[0]
    # The 2024-02 round: US$1B at US$2.5B post-money, US$800M of it from alibaba:
    # alibaba 800/2500 = 8/25, the unattributed 200/2500 = 2/25 to undisclosed, founders keep 1500/2500 = 3/5.
    assert first_day == date(2024, 2, 15)
    assert {row["holder"]: parse_fraction(cell(row["fraction"])) for row in first} == {
        "alibaba": Fraction(8, 25),
        "undisclosed": Fraction(2, 25),
        "founders": Fraction(3, 5),
    }
    # alibaba's portfolio line for moonshot-ai starts at the same 8/25 on the same day
    day, fraction = gathered.portfolio["alibaba"].companies["moonshot-ai"][0]
    assert (day, parse_fraction(cell(fraction))) == (date(2024, 2, 15), Fraction(8, 25))
    assert history.marks[0].day == date(2024, 2, 15) and history.marks[0].kind == "round.closed"


def test_a_lifted_ban_ends_on_its_lift_and_a_met_order_on_its_sale(tmp_path: Path) -> None:
    facts = [
        {"kind": "party.registered", "effective": "2000-01-01", "party": "us-bis", "name": "BIS", "type": "regulator"},
        {"kind": "party.registered", "effective": "2000-01-01", "party": "samr", "name": "SAMR", "type": "regulator"},
        {"kind": "party.registered", "effective": "2000-01-01", "party": "alibaba", "name": "Alibaba", "type": "investor"},
        {"kind": "party.registered", "effective": "2000-01-01", "party": "zhipu", "name": "Zhipu", "type": "company"},
        {"kind": "stake.acquired", "effective": "2022-01-01", "holder": "alibaba", "company": "zhipu", "fraction": "0.1"},
        {
            "kind": "export.ban_imposed",
            "effective": "2023-01-10",
            "rule": "r1",
            "authority": "us-bis",
            "items": ["a800"],
            "targets": ["CN"],
        },
        {
            "kind": "divestment.ordered",
            "effective": "2023-02-01",
            "authority": "samr",
            "target": "alibaba",
            "deadline": "2023-12-31",
        },
        {"kind": "export.ban_lifted", "effective": "2023-06-01", "rule": "r1", "authority": "us-bis"},
        {"kind": "stake.divested", "effective": "2023-07-15", "holder": "alibaba", "company": "zhipu", "portion": "1"},
    ]
    source = tmp_path / "facts.jsonl"
    source.write_text("".join(json.dumps(fact) + "\n" for fact in facts))
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    assert dealledger(url, "append", "--file", str(source)).exit_code == 0
    with Ledger(url) as ledger:
        gathered = gather(ledger, date(2024, 1, 31), None)
    spans = {span.category: span for span in regulatory_spans(gathered.regulatory, gathered.moment)}
    ban, order = spans["ban lifted"], spans["order met"]
    assert (ban.start, ban.end) == (date(2023, 1, 10), date(2023, 6, 1))
    assert (order.start, order.end, order.deadline) == (date(2023, 2, 1), date(2023, 7, 15), date(2023, 12, 31))
    # alibaba's line for zhipu: 0.1 from its purchase, 0 after the sale
    assert [(d, parse_fraction(cell(f))) for d, f in gathered.portfolio["alibaba"].companies["zhipu"]] == [
        (date(2022, 1, 1), Fraction(1, 10)),
        (date(2023, 7, 15), Fraction(0)),
    ]


def test_companies_whose_slugs_differ_by_a_dot_get_a_chart_each(parsed: Parsed, tmp_path: Path) -> None:
    """``x.ai`` and ``x-ai`` once both became the element id ``x-ai``: the first company's chart was drawn under the
    second's caption. Every id on a page names one element."""
    facts = [
        {"kind": "party.registered", "effective": "2020-01-01", "party": slug, "name": slug, "type": kind}
        for slug, kind in (("x.ai", "company"), ("x-ai", "company"), ("inv", "investor"))
    ]
    facts += [
        {"kind": "round.closed", "effective": "2021-01-01", "company": company, "round": "a", "amount": "100",
         "currency": "USD", "post_money": "1000", "investors": [{"party": "inv", "amount": "100"}]}
        for company in ("x.ai", "x-ai")
    ]  # fmt: skip
    source = tmp_path / "facts.jsonl"
    source.write_text("".join(json.dumps(fact) + "\n" for fact in facts))
    url, out = f"sqlite:///{tmp_path / 'ledger.db'}", tmp_path / "report.html"
    assert dealledger(url, "append", "--file", str(source)).exit_code == 0
    assert dealledger(url, "report", "--out", str(out)).exit_code == 0
    page = Parsed()
    page.feed(text := out.read_text(encoding="utf-8"))
    assert {"ownership-x.2e.ai", "ownership-x-ai"} <= set(page.figures)
    charts = re.findall(r'<div id="(chart-[^"]+)"', text)
    assert len(charts) == len(set(charts)) == len(page.figures)
    for ids, html in ((page.ids, text), (parsed.ids, None)):  # figures and tables, and the sections beside them
        assert len(ids) == len(set(ids))
        if html is not None:
            assert not set(ids) & set(re.findall(r'<section id="([^"]+)"', html))


def test_out_dash_writes_the_page_to_standard_output(story: tuple[str, Path], tmp_path: Path) -> None:
    """``--out -`` is standard output, as for ``export``: the same page, the summary on standard error, no file."""
    command = [str(Path(sys.executable).parent / "dealledger"), "--url", story[0], "report", "--out", "-", "--as-of", AS_OF]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, check=False, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout == story[1].read_bytes()
    assert done.stderr.decode().startswith("report: ") and done.stderr.decode().rstrip().endswith("-> -")
    assert list(tmp_path.iterdir()) == []


def test_a_report_written_again_replaces_the_page_and_clears_what_a_killed_run_left(
    story: tuple[str, Path], tmp_path: Path
) -> None:
    """The page goes to a file of the run's own first and is moved into place whole; the file a run killed outright
    left beside it (no process holds it) is removed by the next run, and the folder holds the page alone."""
    out = tmp_path / "report.html"
    out.write_text("an older page")
    left = tmp_path / ".report.html.0badf00d.partial"
    left.write_text("half a page")
    os.utime(left, (time.time() - 60, time.time() - 60))
    result = CliRunner().invoke(main, ["--url", story[0], "report", "--out", str(out), "--as-of", AS_OF])
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == story[1].read_bytes()
    assert [path.name for path in tmp_path.iterdir()] == ["report.html"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask  # an ordinary new file, as before


def test_a_pipe_is_not_replaced_and_a_link_is_written_through(story: tuple[str, Path], tmp_path: Path) -> None:
    """A page moved into place replaced whatever had the name: a named pipe, a device (``/dev/full``, as root), the
    link ``/dev/stdout``. A pipe or a device is refused, naming it; a link to a file is written through, so the
    link goes on naming the new page."""
    pipe = tmp_path / "pipe.html"
    os.mkfifo(pipe)
    result = CliRunner().invoke(main, ["--url", story[0], "report", "--out", str(pipe), "--as-of", AS_OF])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {pipe}: cannot write the report: not a regular file (a device, a pipe or a socket), which no file may replace\n"
    )
    assert stat.S_ISFIFO(pipe.lstat().st_mode)
    (tmp_path / "2024.html").write_text("an older page")
    (tmp_path / "latest.html").symlink_to("2024.html")
    result = CliRunner().invoke(main, ["--url", story[0], "report", "--out", str(tmp_path / "latest.html"), "--as-of", AS_OF])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "latest.html").is_symlink() and (tmp_path / "2024.html").read_bytes() == story[1].read_bytes()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["2024.html", "latest.html", "pipe.html"]


def test_an_unwritable_place_is_one_line_and_writes_nothing(story: tuple[str, Path], tmp_path: Path) -> None:
    target = tmp_path / "missing" / "report.html"
    result = CliRunner().invoke(main, ["--url", story[0], "report", "--out", str(target)])
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {target}: cannot write the report: ") and result.output.count("\n") == 1
    assert not target.parent.exists()
    assert CliRunner().invoke(main, ["--url", story[0], "report"]).exit_code == 2


def test_known_at_before_the_story_is_an_empty_report_that_says_so(story: tuple[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "early.html"
    result = dealledger(story[0], "report", "--out", str(out), "--known-at", "2000-01-01T00:00:00Z")
    assert result.exit_code == 0
    text = out.read_text(encoding="utf-8")
    assert "as known at 2000-01-01T00:00:00+00:00 (ledger head #0)" in text
    assert "Nothing to show at this moment." in text
