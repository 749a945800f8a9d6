"""The report's numbers: every view's rows, and their history, from one fold over the story.

A chart of ownership over time needs the rows at every date a company's holders changed. Asking
the ledger once per date would fold the story once per date; instead the views fold the story
once, in effective order, and their rows are taken as snapshots at the end of each date that
matters: a company's ``ownership`` rows after each of its rounds and sales, an investor's
``portfolio`` after a change in a company it holds or held, the ``regulatory`` rows on the days a
ban is lifted. Views that need a party (``portfolio``, ``revenue``) answer every party from the
same state. Everything is answered through the engine's checked ``answer``, inside the exact
decimal context: the numbers are the views' own.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ledger.engine import ORIGIN, Folding, answer, start
from ledger.exact import exact_decimals
from ledger.folds.captable import OWNERSHIP_FACTS
from ledger.memory import collector_paused
from ledger.records import Recorded
from ledger.replaying import parties_of_type
from ledger.views import Query, Row, View

if TYPE_CHECKING:
    from ledger.api import Ledger

VIEWS = ("ownership", "portfolio", "revenue", "regulatory", "league")
"""The views the report draws; each must be installed (the built-in plugins provide them)."""
HOLDER, FRACTION = "holder", "fraction"
"""The ``ownership`` columns (public contract) that an investor's history is read from."""


@dataclass(frozen=True)
class Moment:
    """The moment the report answers for, and what the ledger held then (for every caption)."""

    as_of: date | None
    known_at: datetime | None
    head: int
    first_day: date | None
    last_day: date | None

    @property
    def end(self) -> date | None:
        """Where time axes end: the as-of date, or the last fact's date."""
        return self.as_of or self.last_day

    def caption(self) -> str:
        """``as of 2024-12-31, as known at 2026-11-28T09:30:00+00:00 (ledger head #78)``."""
        if self.as_of is not None:
            as_of = f"as of {self.as_of.isoformat()}"
        elif self.last_day is not None:
            as_of = f"as of the last fact ({self.last_day.isoformat()})"
        else:
            as_of = "as of now (no facts)"
        known = f"as known at {self.known_at.isoformat()}" if self.known_at is not None else "as known now"
        return f"{as_of}, {known} (ledger head #{self.head})"


@dataclass(frozen=True)
class Mark:
    """A round or sale on a company's timeline."""

    day: date
    kind: str
    label: str


@dataclass
class History:
    """One party's rows over time: ``(date, rows after that date)`` in date order, plus marks."""

    points: list[tuple[date, list[Row]]] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)

    @property
    def last(self) -> list[Row]:
        return self.points[-1][1] if self.points else []


@dataclass
class Steps:
    """An investor's fraction of each company, as a list of ``(date, fraction)`` changes per company."""

    companies: dict[str, list[tuple[date, Any]]] = field(default_factory=dict)

    def add(self, day: date, company: str, fraction: Any) -> None:
        self.companies.setdefault(company, []).append((day, fraction))


@dataclass
class Answer:
    """A view's columns and rows at the report's moment."""

    columns: tuple[str, ...]
    rows: list[Row]


@dataclass
class Gathered:
    """Everything the report shows, as the views answered it."""

    moment: Moment
    options: dict[str, Any]
    ownership: dict[str, History]
    portfolio: dict[str, Steps]
    portfolio_now: dict[str, Answer]
    revenue: dict[str, Answer]
    regulatory: Answer
    """Regulatory row index -> the date it stopped being in force (seen in a snapshot)."""
    league: Answer
    columns: dict[str, tuple[str, ...]]


def gather(ledger: Ledger, as_of: date | None, known_at: datetime | None, currency: str | None = None) -> Gathered:
    """Fold the story once, as known at ``known_at``, up to ``as_of``, and collect every view's rows and their history."""
    host = ledger.host
    views = {name: host.view(name) for name in VIEWS}
    plugins = {name: host.view_providers[name] for name in VIEWS}
    head = ledger.store.known_position(known_at)
    registrations = ledger.registrations(None, head=head)  # a party's facts may come before its registration's date
    with collector_paused(), exact_decimals():
        folding = _Folding(views, plugins, as_of, known_at, currency, registrations)
        first = last = None
        for day, records in _days(ledger.engine.story_after(None, as_of, head)):
            first = first or day
            last = day
            folding.day(day, records)
        moment = Moment(as_of, known_at, head, first, last)
        return folding.finish(moment)


def _days(story: Iterator[Recorded]) -> Iterator[tuple[date, list[Recorded]]]:
    """The story grouped by effective date (the engine yields it in effective order)."""
    day: date | None = None
    batch: list[Recorded] = []
    for record in story:
        if record.fact.effective != day:
            if batch and day is not None:
                yield day, batch
            day, batch = record.fact.effective, []
        batch.append(record)
    if batch and day is not None:
        yield day, batch


class _Folding:
    """The five views folding side by side, and the snapshots taken at the end of each date."""

    def __init__(
        self,
        views: dict[str, View[Any]],
        plugins: dict[str, str],
        as_of: date | None,
        known_at: datetime | None,
        currency: str | None,
        registrations: Sequence[Recorded],
    ) -> None:
        self.views = views
        self.plugins = plugins
        self.as_of = as_of
        self.known_at = known_at
        self.foldings = {
            name: Folding(view, plugins[name], start(view, plugins[name], ORIGIN), None) for name, view in views.items()
        }
        self.options = {"currency": currency} if currency else {}
        self.investor_option = _party_option(views["portfolio"])
        self.provider_option = _party_option(views["revenue"])
        self.investors = set(parties_of_type(registrations, self.investor_option.replay_over, as_of))
        self.providers = parties_of_type(registrations, self.provider_option.replay_over, as_of)
        self.ownership: dict[str, History] = {}
        self.portfolio: dict[str, Steps] = {}

    def _answer(self, name: str, day: date | None, **options: Any) -> list[Row]:
        view = self.views[name]
        accepted = {option.name for option in view.options}
        asked = {key: value for key, value in {**self.options, **options}.items() if key in accepted}
        defaults = {option.name: option.default for option in view.options if option.default is not None}
        query = Query(day, self.known_at, {**defaults, **asked})
        return answer(view, self.plugins[name], self.foldings[name].state, query)

    def day(self, day: date, records: list[Recorded]) -> None:
        for record in records:
            for folding in self.foldings.values():
                folding.apply(record)
        changed: dict[str, list[Mark]] = {}
        for record in records:
            if isinstance(record.fact, OWNERSHIP_FACTS):
                company = record.fact.company
                changed.setdefault(company, []).append(Mark(day, record.kind, _label(record)))
        for company, marks in changed.items():
            history = self.ownership.setdefault(company, History())
            before = _fractions(history.last)
            rows = self._answer("ownership", day, company=company)
            history.points.append((day, rows))
            history.marks.extend(marks)
            after = _fractions(rows)
            for holder in sorted((before.keys() | after.keys()) & self.investors):
                self.portfolio.setdefault(holder, Steps()).add(day, company, after.get(holder, 0))

    def finish(self, moment: Moment) -> Gathered:
        portfolio_now = {
            investor: Answer(
                self.views["portfolio"].columns, self._answer("portfolio", self.as_of, **{self.investor_option.name: investor})
            )
            for investor in self.portfolio
        }
        revenue: dict[str, Answer] = {}
        for provider in self.providers:
            rows = self._answer("revenue", self.as_of, **{self.provider_option.name: provider})
            if rows:
                revenue[provider] = Answer(self.views["revenue"].columns, rows)
        regulatory = Answer(self.views["regulatory"].columns, self._answer("regulatory", self.as_of))
        league = Answer(self.views["league"].columns, self._answer("league", self.as_of))
        return Gathered(
            moment=moment,
            options=dict(self.options),
            ownership=self.ownership,
            portfolio=self.portfolio,
            portfolio_now=portfolio_now,
            revenue=revenue,
            regulatory=regulatory,
            league=league,
            columns={name: view.columns for name, view in self.views.items()},
        )


def _fractions(rows: list[Row]) -> dict[str, Any]:
    """Each holder's fraction in ``ownership`` rows (a holder paid in several currencies has several rows)."""
    return {str(row[HOLDER]): row[FRACTION] for row in rows}


def _party_option(view: View[Any]) -> Any:
    """The view's required party option: the one ``replay`` answers once per party of its ``replay_over`` types."""
    for option in view.options:
        if option.required and option.replay_over:
            return option
    raise LookupError(f"view {view.name} has no required party option to answer per party")


def _label(record: Recorded) -> str:
    """What a marker says about a round or sale, from the fact's own fields."""
    fact: Any = record.fact
    money = ""
    amount = getattr(fact, "amount", None) or getattr(fact, "price", None) or getattr(fact, "proceeds", None)
    if isinstance(amount, Decimal) and getattr(fact, "currency", None):
        money = f" for {format(amount, 'f')} {fact.currency}"
    if record.kind == "round.closed":
        investors = ", ".join(investment.party for investment in fact.investors) or "undisclosed"
        return f"{fact.round} round{money}: {investors}"
    if record.kind == "stake.acquired":
        seller = f" from {fact.seller}" if fact.seller else " (new shares)"
        return f"{fact.holder} acquired {format(fact.fraction, 'f')}{seller}{money}"
    share = f"{format(fact.fraction, 'f')} of the company" if fact.fraction is not None else f"{fact.portion} of its stake"
    return f"{fact.holder} divested {share} to {fact.buyer or 'undisclosed'}{money}"
