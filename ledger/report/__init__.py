"""``dealledger report``: the ledger at a moment as one self-contained HTML page of charts and tables.

Three steps, one module each: ``series`` folds the story once and collects every view's rows
and their history; ``figures`` draws them with plotly; ``page`` lays them out in one HTML file
that needs nothing but itself. The page is built whole in memory and then moved into place,
so a failure leaves no half-written report behind.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ledger.errors import LedgerError
from ledger.outfolder import let_go, partial_file, put_in_place, sweep
from ledger.report.series import Gathered, gather

if TYPE_CHECKING:
    from ledger.api import Ledger

__all__ = ["Written", "build", "gather", "write_report"]


@dataclass(frozen=True)
class Written:
    """What a report holds, for the command's one-line summary."""

    path: Path
    charts: int
    tables: int
    bytes: int


TOP = 50
"""Companies and investors drawn by default: a ledger of 500 companies would otherwise be a page of 600 charts."""


def busiest(counts: dict[str, int], top: int | None) -> list[str]:
    """The ``top`` keys with the highest counts (ties by name), in name order; all of them when ``top`` is None or 0."""
    if not top or len(counts) <= top:
        return sorted(counts)
    return sorted(sorted(counts, key=lambda key: (-counts[key], key))[:top])


def _shown(what: str, shown: int, total: int, by: str) -> str:
    """A section's note on what it leaves out, so a reader never mistakes a selection for the whole."""
    if shown == total:
        return ""
    return f" Showing the {shown} {what} with the most {by} of {total} (report --top 0 draws every one)."


def build(gathered: Gathered, top: int | None = TOP) -> tuple[str, int, int]:
    """The page's HTML, and how many charts and tables it holds (``top``: at most that many companies and investors)."""
    from ledger.report import figures
    from ledger.report.page import Page, Section, table

    page = Page()
    moment, columns = gathered.moment, gathered.columns
    charts = tables = 0

    def add(section: Section, chart: figures.Chart, rows_table: str) -> None:
        nonlocal charts, tables
        section.parts.append(page.figure(chart, rows_table))
        charts += 1
        tables += bool(rows_table)

    companies = busiest({company: len(history.marks) for company, history in gathered.ownership.items()}, top)
    ownership = Section(
        "ownership",
        "Ownership over time",
        "One chart per company with an ownership fact."
        + _shown("companies", len(companies), len(gathered.ownership), "rounds and sales"),
    )
    for company in companies:
        history = gathered.ownership[company]
        rows = table(
            columns["ownership"],
            history.last,
            f"Holders of {company} at the report's moment (exact)",
            f"table-ownership-{company}",
        )
        add(ownership, figures.ownership_chart(company, history, moment), rows)
    investors = busiest({investor: len(steps.companies) for investor, steps in gathered.portfolio.items()}, top)
    portfolio = Section(
        "portfolio",
        "Portfolios over time",
        "One chart per investor that has held a stake."
        + _shown("investors", len(investors), len(gathered.portfolio), "companies held"),
    )
    for investor in investors:
        steps = gathered.portfolio[investor]
        now = gathered.portfolio_now[investor]
        rows = table(
            now.columns, now.rows, f"Portfolio of {investor} at the report's moment (exact)", f"table-portfolio-{investor}"
        )
        add(portfolio, figures.portfolio_chart(investor, steps, moment), rows)
    revenue = Section("revenue", "Revenue per quarter", "One chart per cloud provider with credits or escrow revenue.")
    for provider, answer in sorted(gathered.revenue.items()):
        rows = table(answer.columns, answer.rows, f"Revenue of {provider} (exact)", f"table-revenue-{provider}")
        charts_of = figures.revenue_charts(provider, answer, moment, {"period": "quarter", **gathered.options})
        for index, chart in enumerate(charts_of, 1):
            add(revenue, chart, rows if index == len(charts_of) else "")
    regulatory = Section("regulatory", "Regulatory timeline", "Bans, lifts, penalties and divestment orders.")
    if gathered.regulatory.rows:
        answer = gathered.regulatory
        rows = table(answer.columns, answer.rows, "Regulatory facts (exact)", "table-regulatory")
        add(regulatory, figures.regulatory_chart(answer, moment), rows)
    league = Section("league", "League table", "Investors ranked by capital committed.")
    if gathered.league.rows:
        answer = gathered.league
        for chart in figures.league_charts(answer, moment, gathered.options):
            add(league, chart, "")
        league.parts.append(
            table(answer.columns, answer.rows, f"League of investors, {moment.caption()} (exact)", "table-league")
        )
        tables += 1
    caption = moment.caption()
    html = page.render(
        "dealledger report", caption[:1].upper() + caption[1:], [ownership, portfolio, revenue, regulatory, league]
    )
    return html, charts, tables


def write_report(
    ledger: Ledger,
    path: Path,
    *,
    as_of: date | None = None,
    known_at: datetime | None = None,
    currency: str | None = None,
    top: int | None = TOP,
) -> Written:
    """Gather, draw and write the report to ``path`` (replaced whole, or left as it was on any failure); ``-``:
    standard output, once the whole page is built."""
    html, charts, tables = build(gather(ledger, as_of, known_at, currency), top)
    data = html.encode("utf-8")
    if str(path) == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return Written(path, charts, tables, len(data))
    if path.is_symlink() and path.is_file():  # written through the link, which goes on naming the new page
        path = Path(os.path.realpath(path))
    folder = path.parent if str(path.parent) else Path(".")
    written: Path | None = None
    try:
        sweep(folder)  # what a run killed outright left behind (``ledger.outfolder``)
        written = partial_file(folder, path.name)
        with written.open("wb") as out:
            out.write(data)
        put_in_place([(written, path)])  # the report is final once in place
    except OSError as error:
        raise LedgerError(f"{path}: cannot write the report: {error.strerror or error}") from None
    finally:
        if written is not None:
            let_go(written)
    return Written(path, charts, tables, len(data))
