"""The report's charts: plotly figures built from the rows the views answered.

Exact numbers (``Decimal``, ``Fraction``) become floats here and only here, because a chart is
drawn in floating point anyway; every chart sits beside a table of the exact rows. Each builder
returns a ``Chart``: the figure and the caption that says what it shows and as of when.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ledger.report.series import Answer, History, Moment, Steps

if TYPE_CHECKING:
    import plotly.graph_objects as go

HOLDER, COMPANY, FRACTION, PERIOD, CURRENCY = "holder", "company", "fraction", "period", "currency"
"""Columns of the public view contract the charts are keyed on."""
BALANCES = frozenset({"deferred", "escrow_held"})
"""Revenue columns that are balances at a period's end (drawn as a line), not flows within it (bars)."""
LEAGUE_TOP = 25
"""Investors drawn in the league chart (the table below it lists them all)."""
DAY_MS = 86_400_000
BAN, ORDER, LIFT = "export.ban_imposed", "divestment.ordered", "export.ban_lifted"
COLOURWAY = ["#636efa", "#ef553b", "#00cc96", "#ab63fa", "#ffa15a", "#19d3f3", "#ff6692", "#b6e880", "#ff97ff", "#fecb52"]
"""Trace colours in order (plotly's own default sequence, given here because no template is used)."""


@dataclass
class Chart:
    """One figure and the caption under it."""

    key: str
    figure: go.Figure
    caption: str


def number(value: Any) -> float | None:
    """A row's exact number as a float, for drawing only."""
    if value is None or isinstance(value, bool | str):
        return None
    return float(value)


def _layout(title: str, *, height: int = 380, **extra: Any) -> dict[str, Any]:
    """Title, size and a plain white look (no named template: copying one costs tens of ms a chart)."""
    axes = {"gridcolor": "#eaeaea", "zerolinecolor": "#cccccc", "linecolor": "#cccccc"}
    settings: dict[str, Any] = {"hovermode": "x unified", **extra}
    for axis in ("xaxis", "yaxis"):
        settings[axis] = {**axes, **settings.get(axis, {})}
    return {
        "title": {"text": title, "x": 0.01},
        "height": height,
        "margin": {"l": 60, "r": 20, "t": 50, "b": 40},
        "template": "none",
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "colorway": COLOURWAY,
        **settings,
    }


def _figure(traces: list[dict[str, Any]], layout: dict[str, Any]) -> go.Figure:
    """The figure, validated once by plotly as a whole (trace objects built one by one are copied again)."""
    import plotly.graph_objects as go

    return go.Figure(data=traces, layout=layout)


def _days(days: Iterable[date]) -> list[str]:
    """Dates as ISO text: plotly reads them as dates, and copies text far faster than ``date`` objects."""
    return [day.isoformat() for day in days]


def _series(history: History, key: str, end: date | None) -> tuple[list[date], dict[str, list[float]]]:
    """Dense step series: one value per snapshot date (0 where the party held nothing), carried to ``end``."""
    days = [day for day, _ in history.points]
    names: dict[str, float] = {}
    for row in history.last:
        names.setdefault(str(row[key]), number(row[FRACTION]) or 0.0)
    for _, rows in history.points:
        for row in rows:
            names.setdefault(str(row[key]), 0.0)
    order = sorted(names, key=lambda name: (-names[name], name))
    values: dict[str, list[float]] = {name: [] for name in order}
    for _, rows in history.points:
        now = {str(row[key]): number(row[FRACTION]) or 0.0 for row in rows}
        for name in order:
            values[name].append(now.get(name, 0.0))
    if end is not None and days and end > days[-1]:
        days.append(end)
        for name in order:
            values[name].append(values[name][-1])
    return days, values


def ownership_chart(company: str, history: History, moment: Moment) -> Chart:
    days, values = _series(history, HOLDER, moment.end)
    traces: list[Any] = [
        dict(
            type="scatter",
            x=_days(days),
            y=ys,
            name=holder,
            mode="lines",
            stackgroup="holders",
            line={"shape": "hv", "width": 0.5},
            hovertemplate="%{y:.4%}",
        )
        for holder, ys in values.items()
    ]
    marks = history.marks
    traces.append(
        dict(
            type="scatter",
            x=_days(mark.day for mark in marks),
            y=[1.0] * len(marks),
            name="rounds and sales",
            mode="markers",
            marker={"symbol": "triangle-down", "size": 11, "color": "#222"},
            hovertext=[mark.label for mark in marks],
            hoverinfo="text",
        )
    )
    figure = _figure(
        traces, _layout(f"Ownership of {company}", yaxis={"range": [0, 1.06], "tickformat": ".0%", "title": "fraction"})
    )
    caption = (
        f"Who owned {company} over time: each holder's fraction, stacked to 100%, after every round and sale "
        f"(▼ marks each of the {len(marks)} round(s) and sale(s); hover for the deal); {moment.caption()}."
    )
    return Chart(f"ownership-{company}", figure, caption)


def portfolio_chart(investor: str, steps: Steps, moment: Moment) -> Chart:
    """One line per company, a point only where the fraction changed (the line holds its value in between)."""
    end = moment.end
    last = {company: changes[-1][1] for company, changes in steps.companies.items()}
    order = sorted(steps.companies, key=lambda company: (-(number(last[company]) or 0.0), company))
    traces = []
    for company in order:
        changes = steps.companies[company]
        days = [day for day, _ in changes]
        ys = [number(value) or 0.0 for _, value in changes]
        if end is not None and end > days[-1]:
            days.append(end)
            ys.append(ys[-1])
        traces.append(
            dict(type="scatter", x=_days(days), y=ys, name=company, mode="lines", line={"shape": "hv"}, hovertemplate="%{y:.4%}")
        )
    layout = _layout(f"Portfolio of {investor}", yaxis={"rangemode": "tozero", "tickformat": ".1%", "title": "fraction held"})
    figure = _figure(traces, layout)
    caption = (
        f"What {investor} held over time: its fraction of each company (one line per company, 0 once sold), "
        f"changing with its deals and every round that diluted it, as the ownership view answered after each; "
        f"{moment.caption()}."
    )
    return Chart(f"portfolio-{investor}", figure, caption)


def revenue_charts(provider: str, answer: Answer, moment: Moment, options: dict[str, Any]) -> list[Chart]:
    """One chart per currency the provider's rows are in (one, when ``--currency`` converts)."""
    amounts = [name for name in answer.columns if name not in (PERIOD, CURRENCY)]
    flows = ", ".join(name for name in amounts if name not in BALANCES)
    balances = ", ".join(name for name in amounts if name in BALANCES) or "no balance"
    currencies = sorted({str(row.get(CURRENCY) or "") for row in answer.rows})
    charts = []
    for currency in currencies:
        rows = [row for row in answer.rows if str(row.get(CURRENCY) or "") == currency]
        periods = [str(row[PERIOD]) for row in rows]
        traces: list[dict[str, Any]] = []
        for name in amounts:
            ys = [number(row.get(name)) for row in rows]
            if name in BALANCES:
                traces.append(dict(type="scatter", x=periods, y=ys, name=name, mode="lines+markers", line={"dash": "dot"}))
            else:
                traces.append(dict(type="bar", x=periods, y=ys, name=name))
        title = f"Revenue of {provider} in {currency}"
        figure = _figure(traces, _layout(title, barmode="group", yaxis={"title": currency, "tickformat": ",.0f"}))
        caption = (
            f"{provider}'s revenue per {options.get('period', 'quarter')} in {currency}: {flows} within each period "
            f"(bars) and {balances} at each period's end (dotted line); {moment.caption()}."
        )
        key = f"revenue-{provider}" if len(currencies) == 1 else f"revenue-{provider}-{currency}"
        charts.append(Chart(key, figure, caption))
    return charts


@dataclass
class Span:
    """One regulatory row on the timeline: a bar from ``start`` to ``end``, or a point when ``end`` is None."""

    label: str
    start: date
    end: date | None
    category: str
    hover: str
    deadline: date | None = None
    met: date | None = None


def regulatory_spans(answer: Answer, moment: Moment) -> list[Span]:
    """Bans as bars until lifted, orders as bars until met (or their deadline, or now), penalties as points."""
    spans: list[Span] = []
    stop = moment.end
    for row in answer.rows:
        kind = str(row.get("kind"))
        start = row.get("effective")
        if not isinstance(start, date) or kind == LIFT:
            continue
        label = f"{start.isoformat()} {kind.split('.')[0]}: {row.get('authority')} → {row.get('target') or '—'}"
        status = row.get("status")
        hover = f"{kind}: {row.get('detail')}" + (f"; {status}" if status else "")
        if kind == BAN:
            lifted = _day(row.get("ended"))
            state = f"lifted {lifted.isoformat()}" if lifted else "in force"
            spans.append(Span(label, start, lifted or stop, "ban lifted" if lifted else "ban in force", f"{hover}; {state}"))
        elif kind == ORDER:
            deadline, met = _day(row.get("deadline")), _day(row.get("ended"))
            if met is not None:
                spans.append(Span(label, start, met, "order met", hover, deadline, met))
            elif row.get("in_force"):
                spans.append(Span(label, start, stop, "order pending", hover, deadline))
            else:
                spans.append(Span(label, start, deadline or stop, "order missed", hover, deadline))
        else:
            spans.append(Span(label, start, None, kind, hover))
    return spans


def _length(span: Span) -> int:
    """A bar's length in milliseconds (a date axis counts in them); at least a day, so a same-day bar shows."""
    assert span.end is not None
    return max((span.end - span.start).days, 1) * DAY_MS


def _day(value: Any) -> date | None:
    """A row's date cell, or None when it is empty."""
    return value if isinstance(value, date) else None


COLOURS = {
    "ban in force": "#c0392b",
    "ban lifted": "#95a5a6",
    "order pending": "#2e86de",
    "order met": "#27ae60",
    "order missed": "#e67e22",
}


def regulatory_chart(answer: Answer, moment: Moment) -> Chart:
    spans = regulatory_spans(answer, moment)
    traces: list[dict[str, Any]] = []
    bars = [span for span in spans if span.end is not None]
    for category in sorted({span.category for span in bars}):
        chosen = [span for span in bars if span.category == category]
        traces.append(
            dict(
                type="bar",
                orientation="h",
                base=[span.start.isoformat() for span in chosen],
                x=[_length(span) for span in chosen],
                y=[span.label for span in chosen],
                name=category,
                marker={"color": COLOURS.get(category)},
                hovertext=[span.hover for span in chosen],
                hoverinfo="text",
            )
        )
    deadlines = [span for span in bars if span.deadline is not None]
    if deadlines:
        traces.append(
            dict(
                type="scatter",
                x=_days(span.deadline for span in deadlines if span.deadline is not None),
                y=[span.label for span in deadlines],
                mode="markers",
                name="deadline",
                marker={"symbol": "line-ns-open", "size": 18, "line": {"width": 3}, "color": "#000"},
                hovertext=[f"deadline {span.deadline}" for span in deadlines],
                hoverinfo="text",
            )
        )
    points = [span for span in spans if span.end is None]
    if points:
        traces.append(
            dict(
                type="scatter",
                x=_days(span.start for span in points),
                y=[span.label for span in points],
                mode="markers",
                name="penalties and other one-off facts",
                marker={"symbol": "x", "size": 11, "color": "#8e44ad"},
                hovertext=[span.hover for span in points],
                hoverinfo="text",
            )
        )
    labels = [span.label for span in sorted(spans, key=lambda span: span.start)]
    height = max(260, 90 + 26 * len(labels))
    layout = _layout(
        "Regulatory timeline",
        height=height,
        hovermode="closest",
        barmode="overlay",
        xaxis={"type": "date"},
        yaxis={"categoryorder": "array", "categoryarray": labels, "autorange": "reversed", "automargin": True},
    )
    figure = _figure(traces, layout)
    caption = (
        "Export bans as bars while in force (until lifted, or to the report's date), divestment orders as bars until met "
        f"(or until their deadline when missed; | marks the deadline), penalties as ×; {moment.caption()}."
    )
    return Chart("regulatory", figure, caption)


def league_charts(answer: Answer, moment: Moment, options: dict[str, Any]) -> list[Chart]:
    """One chart per currency: amounts in different currencies are never drawn on one axis."""
    splits = [name for name in answer.columns if _is_split(name, answer.rows)]
    priced = [row for row in answer.rows if row.get(CURRENCY)]
    charts = []
    for currency in sorted({str(row[CURRENCY]) for row in priced}):
        rows = [row for row in priced if row[CURRENCY] == currency]
        drawn = rows[:LEAGUE_TOP]
        traces: list[dict[str, Any]] = []
        for name in splits:
            traces.append(
                {
                    "type": "bar",
                    "orientation": "h",
                    "y": [str(row.get("investor")) for row in drawn],
                    "x": [number(row.get(name)) for row in drawn],
                    "name": name,
                }
            )
        layout = _layout(
            f"League of investors in {currency}",
            height=max(260, 110 + 26 * len(drawn)),
            hovermode="closest",
            barmode="stack",
            yaxis={"autorange": "reversed", "automargin": True},
            xaxis={"tickformat": ",.0f", "title": currency},
        )
        figure = _figure(traces, layout)
        converted = f"converted to {currency}" if options.get("currency") else f"deals paid in {currency}"
        caption = (
            f"Capital committed by each investor, {converted} ({len(drawn)} of {len(rows)} drawn, largest first), "
            f"split into {', '.join(splits) or 'nothing'}; {moment.caption()}."
        )
        charts.append(Chart(f"league-{currency}", figure, caption))
    return charts


def _is_split(name: str, rows: Sequence[dict[str, Any]]) -> bool:
    """A league column that is a part of the total: money (Decimal) and not the total itself."""
    return name != "total" and any(isinstance(row.get(name), Decimal) for row in rows)
