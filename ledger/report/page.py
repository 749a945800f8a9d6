"""The report's HTML page: one file with everything inline, so it opens anywhere, offline, forever.

The charting library's JavaScript is written into the page once (``include_plotlyjs=True`` on
the first chart), and nothing else is ever loaded: no fonts, styles or scripts from elsewhere,
so the file shows the same thing on an air-gapped laptop as on the day it was written. Tables
hold the views' exact strings (what ``--format csv`` prints) and sort on a click of a header.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape
from string import Template
from typing import Any

from ledger.rendering import cell, numeric_columns
from ledger.report.figures import Chart

PLOT_CONFIG = {"displaylogo": False, "responsive": True}

SORTING = """
document.addEventListener("click", function (event) {
  var th = event.target.closest("table.rows th");
  if (!th) return;
  var table = th.closest("table"), body = table.tBodies[0], index = th.cellIndex;
  var ascending = th.getAttribute("aria-sort") !== "ascending";
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (c) { c.removeAttribute("aria-sort"); });
  th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  function key(row) {
    var text = row.cells[index].textContent.trim(), parts = text.split("/");
    var value = parts.length === 2 ? Number(parts[0]) / Number(parts[1]) : Number(text);
    return text !== "" && !isNaN(value) ? value : text;
  }
  var rows = Array.prototype.slice.call(body.rows);
  rows.sort(function (a, b) {
    var x = key(a), y = key(b), order;
    if (typeof x === "number" && typeof y === "number") order = x - y;
    else order = String(x).localeCompare(String(y));
    return ascending ? order : -order;
  });
  rows.forEach(function (row) { body.appendChild(row); });
});
"""

STYLE = """
body { font-family: system-ui, sans-serif; margin: 0 auto; max-width: 1200px; padding: 1rem 2rem; color: #222; }
h1 { margin-bottom: .2rem; } .moment { color: #555; margin-top: 0; }
nav a { margin-right: 1rem; } section { margin-top: 2.5rem; }
figure { margin: 1.5rem 0; border-top: 1px solid #ddd; padding-top: .5rem; }
figcaption { color: #444; font-size: .92rem; margin: .3rem 0 .6rem; }
table.rows { border-collapse: collapse; font-size: .85rem; margin-top: .4rem; }
table.rows th, table.rows td { padding: .2rem .6rem; border-bottom: 1px solid #eee; text-align: left; }
table.rows th { cursor: pointer; background: #f5f5f5; user-select: none; }
table.rows th[aria-sort=ascending]::after { content: " ▲"; } table.rows th[aria-sort=descending]::after { content: " ▼"; }
table.rows td { white-space: nowrap; } table.rows td.text { white-space: normal; min-width: 16rem; }
table.rows td.num { text-align: right; font-variant-numeric: tabular-nums; }
p.empty { color: #777; font-style: italic; }
"""

PAGE = Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title>
<style>$style</style>
</head>
<body>
<h1>$title</h1>
<p class="moment">$moment</p>
<nav>$nav</nav>
$sections
<script>$sorting</script>
</body>
</html>
""")


@dataclass
class Section:
    """A titled part of the page: its charts and tables, in order."""

    key: str
    title: str
    intro: str
    parts: list[str] = field(default_factory=list)


class Page:
    """Builds the page, writing the charting library into it once, with the first chart."""

    def __init__(self) -> None:
        self.library_written = False

    def figure(self, chart: Chart, table: str = "") -> str:
        import plotly.io as pio

        div = pio.to_html(
            chart.figure,
            include_plotlyjs=not self.library_written,
            full_html=False,
            config=PLOT_CONFIG,
            div_id=f"chart-{_slug(chart.key)}",
        )
        self.library_written = True
        return (
            f'<figure id="figure-{escape(_slug(chart.key))}" class="chart">{div}'
            f"<figcaption>{escape(chart.caption)}</figcaption>{table}</figure>"
        )

    def render(self, title: str, moment: str, sections: Sequence[Section]) -> str:
        nav = "".join(f'<a href="#{escape(s.key)}">{escape(s.title)}</a>' for s in sections)
        body = "\n".join(
            f'<section id="{escape(s.key)}"><h2>{escape(s.title)}</h2><p>{escape(s.intro)}</p>'
            + ("".join(s.parts) or '<p class="empty">Nothing to show at this moment.</p>')
            + "</section>"
            for s in sections
        )
        return PAGE.substitute(title=escape(title), style=STYLE, moment=escape(moment), nav=nav, sections=body, sorting=SORTING)


def table(columns: Sequence[str], rows: Sequence[dict[str, Any]], caption: str = "", key: str = "") -> str:
    """Rows as a sortable HTML table of exact strings (a fraction that never ends is written ``n/d``)."""
    numeric = numeric_columns(rows, columns)
    texts = [[cell(row.get(name)) for name in columns] for row in rows]
    wide = [any(len(text[i]) > 40 for text in texts) for i in range(len(columns))]
    classes = [' class="num"' if num else ' class="text"' if long else "" for num, long in zip(numeric, wide, strict=True)]
    head = "".join(f'<th scope="col">{escape(name)}</th>' for name in columns)
    lines = ["<tr>" + "".join(f"<td{c}>{escape(t)}</td>" for c, t in zip(classes, text, strict=True)) + "</tr>" for text in texts]
    label = f"<caption>{escape(caption)}</caption>" if caption else ""
    ident = f' id="{escape(_slug(key))}"' if key else ""
    return f'<table class="rows"{ident}>{label}<thead><tr>{head}</tr></thead><tbody>{"".join(lines)}</tbody></table>'


def _slug(text: str) -> str:
    """``text`` as an element id, one for one: letters, digits, ``-`` and ``_`` as they are, any other character as
    ``.hex.`` (``x.ai`` is ``x.2e.ai``, never ``x-ai``'s id: two companies got one chart when both became ``x-ai``)."""
    return "".join(ch if (ch.isascii() and ch.isalnum()) or ch in "-_" else f".{ord(ch):x}." for ch in text)
