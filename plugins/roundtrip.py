"""Round-tripping: what a cloud provider's group put into each investee, and what came back as the provider's revenue.

When a group invests in a start-up partly in its own cloud's credits, or holds the cash in
escrow until the start-up spends it on that cloud, part of the cloud's revenue is the group's
own money coming back. This view sets the two sides beside each other, per company and
period: investment by the group (cash, credits, services; from rounds and stake
acquisitions), credits the provider granted and the company consumed, escrow the group paid
in, released and still held for it, and the revenue the provider recognised from the company
with its exact share of all the provider's revenue in that period and currency. A company's
commitment to spend with the group's cloud (``spend.committed``) is set beside them: it is the
promise that turns the investment into revenue, so a reader sees it even before any is spent.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from ledger.exact import Fraction
from ledger.folds.periods import PERIODS, Period, PeriodStarts
from ledger.hookspecs import hookimpl
from ledger.options import choice, required
from ledger.views import Option, Query, Row, View
from plugins.revenue import RevenueBook, RevenueBookView

CONSIDERATIONS = ("cash", "credits", "services")
FLOWS = (
    "invested_cash",
    "invested_credits",
    "invested_services",
    "committed",
    "credits_granted",
    "credits_consumed",
    "escrow_deposited",
    "escrow_released",
    "recognized",
)
"""The columns that sum what moved during a period (``escrow_held`` is a balance at its end)."""
NO_FLOWS = dict.fromkeys(FLOWS, Decimal(0))
"""A cell's flows before anything moved: copied for each cell (a copy is faster than ``fromkeys``)."""


@dataclass(slots=True)
class Cell:
    """One company's figures for one period in one currency (a provider of a 1M-fact ledger has tens of thousands of
    them: with slots, each takes 330 bytes instead of 620)."""

    flows: dict[str, Decimal] = field(default_factory=lambda: NO_FLOWS.copy())
    undisclosed: int = 0
    held_change: Decimal = Decimal(0)


NO_SHARE = Fraction(0)
NOTHING = Cell()
"""A period in which nothing moved (read only: never added to)."""
Key = tuple[str, str | None]
"""(company, currency); the currency is None for a stake bought at an undisclosed price in no stated currency."""


class RoundTripView(RevenueBookView):
    """Per investee and period: the provider's group's money in, and the provider's revenue out of it."""

    name = "roundtrip"
    help = (
        "Per company and period, what a cloud provider's group invested in it (cash, credits, services), what the "
        "company committed to spend with the group, the credits the provider granted and the company consumed, "
        "escrow the group deposited, released and still holds for it, and the revenue the provider recognised from "
        "it with its exact share of the provider's revenue. "
        "Example: dealledger view roundtrip --provider alibaba-cloud --period year --as-of 2024-12-31"
    )
    columns = (
        "period",
        "company",
        *FLOWS[:3],
        "undisclosed",
        *FLOWS[3:8],
        "escrow_held",
        "recognized",
        "share_of_revenue",
        "currency",
    )
    options = (
        Option(
            "provider",
            "the cloud provider; its group is everyone under its top parent",
            kind="party",
            required=True,
            replay_over=("cloud",),
        ),
        Option("period", "length of each row's period", kind="choice", choices=PERIODS, default="quarter"),
    )

    def rows(self, state: RevenueBook, query: Query) -> Iterator[Row]:
        """The rows one by one (a million-fact ledger gives a provider some 80,000 of them): the figures of every
        company and period are worked out first, and each row's dict is made only as it is handed on."""
        provider = required(query, "provider", self.name)
        length = choice(query, "period", PERIODS, "quarter")
        book = state
        if book.last_day is None:
            return
        through = query.as_of or book.last_day
        group = book.parties.root(provider)
        cells: dict[Key, dict[int, Cell]] = {}  # periods by their first month: the length is the question's
        starts = PeriodStarts(length)
        related: set[str] = set()

        def cell(company: str, currency: str | None, day: date) -> Cell:
            periods = cells.setdefault((company, currency), {})
            period = starts[day]
            found = periods.get(period)
            if found is None:
                found = periods[period] = Cell()
            return found

        revenue: dict[tuple[str, int], Decimal] = {}
        for entry in book.entries.get(provider, ()):
            if entry.kind in ("consumed", "released"):
                period_key = (entry.currency, starts[entry.day])
                revenue[period_key] = revenue.get(period_key, Decimal(0)) + entry.amount
                if entry.stake > 0 and entry.payer is not None:
                    related.add(entry.payer)
            if entry.payer is None:
                continue
            flows = cell(entry.payer, entry.currency, entry.day).flows
            if entry.kind == "granted":
                flows["credits_granted"] += entry.amount
            elif entry.kind == "consumed":
                flows["credits_consumed"] += entry.amount
                flows["recognized"] += entry.amount
            elif entry.kind == "released":
                flows["recognized"] += entry.amount
        for investment in state.investments.get(group, ()):
            related.add(investment.company)
            target = cell(investment.company, investment.currency, investment.day)
            if investment.amount is None:
                target.undisclosed += 1
            else:
                target.flows[f"invested_{investment.consideration}"] += investment.amount
        for commitment in state.commitments.get(group, ()):
            related.add(commitment.company)
            cell(commitment.company, commitment.currency, commitment.day).flows["committed"] += commitment.amount
        for move in book.group_moves(group):
            if move.beneficiary is None:
                continue
            related.add(move.beneficiary)
            target = cell(move.beneficiary, move.currency, move.day)
            target.held_change += move.change
            if move.kind in ("deposited", "released"):
                target.flows[f"escrow_{move.kind}"] += move.amount
        last = Period.of(through, length)
        step = last.length
        shown: dict[int, list[tuple[str, str | None, Cell, Decimal]]] = {}  # by period, in (company, currency) order
        for (company, currency), periods in sorted(cells.items(), key=_company_then_currency):
            if company not in related:
                continue
            held = Decimal(0)
            for start in range(min(periods), last.start + 1, step):
                found = periods.get(start)
                if found is None:  # nothing moved: a row only for what escrow still holds (most periods are these)
                    if held:
                        shown.setdefault(start, []).append((company, currency, NOTHING, held))
                    continue
                held += found.held_change
                if held or found.undisclosed or any(found.flows.values()):
                    shown.setdefault(start, []).append((company, currency, found, held))
        for start in sorted(shown):
            label = Period(start, step).label
            totals: dict[str, Fraction] = {}  # the period's revenue in each currency, made exact once for its companies
            for company, currency, found, held in shown[start]:
                total = totals.get(currency or "")
                if total is None:
                    total = totals[currency or ""] = Fraction(revenue.get((currency or "", start), Decimal(0)))
                flows = found.flows
                recognized = flows["recognized"]
                share = (Fraction(recognized) / total if recognized else NO_SHARE) if total else None
                yield {
                    "period": label,
                    "company": company,
                    "invested_cash": flows["invested_cash"],
                    "invested_credits": flows["invested_credits"],
                    "invested_services": flows["invested_services"],
                    "undisclosed": found.undisclosed,
                    "committed": flows["committed"],
                    "credits_granted": flows["credits_granted"],
                    "credits_consumed": flows["credits_consumed"],
                    "escrow_deposited": flows["escrow_deposited"],
                    "escrow_released": flows["escrow_released"],
                    "escrow_held": held,
                    "recognized": recognized,
                    "share_of_revenue": share,
                    "currency": currency,
                }


def _company_then_currency(item: tuple[Key, dict[int, Cell]]) -> tuple[str, str]:
    company, currency = item[0]
    return company, currency or ""


@hookimpl
def dealledger_views() -> list[View[Any]]:
    return [RoundTripView()]
