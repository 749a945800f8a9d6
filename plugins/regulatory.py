"""What governments and regulators did, and what was still in force: export bans, lifts, penalties, divestment orders.

Whether a ban or order is in force is judged at the query's ``as_of`` or, without one, at the
latest effective date folded, so the answer depends on the facts alone, never on today's date.
A divestment order is met on the day the stakes of the target's whole group — the target and
every party below it through ``parent`` links, as they stand that day — in the ordered companies
(listed, or every company the group held when ordered) reach zero, by a divestment or by a sale
to another holder. An order against a parent whose stake sits in a subsidiary is therefore met
only when the subsidiary has sold too; a subsidiary that leaves the group takes its stakes out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from events import Fact
from events.codecs import plain_decimal
from events.funding import StakeAcquired, StakeDivested
from events.parties import PartyRegistered
from events.regulation import DivestmentOrdered, ExportBanImposed, ExportBanLifted, PenaltyImposed
from ledger.folds.captable import OWNERSHIP_FACTS, OWNERSHIP_KINDS, CapTables
from ledger.folds.groups import Parties
from ledger.folds.parts import pickled_by_fields
from ledger.hookspecs import hookimpl
from ledger.records import Recorded
from ledger.views import Query, Row, View

REGULATORY_KINDS = frozenset(
    {
        PartyRegistered.kind,
        *OWNERSHIP_KINDS,
        ExportBanImposed.kind,
        ExportBanLifted.kind,
        PenaltyImposed.kind,
        DivestmentOrdered.kind,
    }
)
"""The kinds the timeline folds: the actions, and the parent links and stakes an order is met by. The date the
story reached, which judges what is in force without ``--as-of``, comes through ``reach``."""


@pickled_by_fields
@dataclass(eq=False, slots=True)
class Action:
    """One regulatory fact as a row, with what later facts said about it (lifted, met)."""

    fact: Fact
    authority: str
    target: str | None
    detail: str
    lifted: date | None = None
    companies: tuple[str, ...] = ()
    deadline: date | None = None
    met: date | None = None


@dataclass
class Regulation:
    """The fold behind ``regulatory``: the actions, open bans by (rule, authority), orders still being watched."""

    actions: list[Action] = field(default_factory=list)
    bans: dict[tuple[str, str], list[Action]] = field(default_factory=dict)
    watched: dict[str, list[Action]] = field(default_factory=dict)
    watching: dict[str, set[str]] = field(default_factory=dict)
    """For each company, the targets of watched orders that cover it: a change of its table reviews only those."""
    tables: CapTables = field(default_factory=CapTables)
    parties: Parties = field(default_factory=Parties)
    last_day: date | None = None

    def apply(self, record: Recorded) -> None:
        fact = record.fact
        self.last_day = fact.effective
        if isinstance(fact, PartyRegistered):
            if self.parties.add(fact):  # a parent link changed: a group may have lost its last stake
                self._review(fact.effective, None, None)
        elif fact.kind in OWNERSHIP_KINDS:
            self.tables.apply(fact)
            self._divested(fact)
        elif isinstance(fact, ExportBanImposed):
            detail = f"items {', '.join(fact.items)}; rule {fact.rule}"
            action = self._add(Action(fact, fact.authority, ", ".join(fact.targets), detail))
            self.bans.setdefault((fact.rule, fact.authority), []).append(action)
        elif isinstance(fact, ExportBanLifted):
            lifted = self.bans.pop((fact.rule, fact.authority), [])
            targets = ", ".join(dict.fromkeys(ban.target for ban in lifted if ban.target))
            self._add(Action(fact, fact.authority, targets or None, f"rule {fact.rule}"))
            for ban in lifted:
                ban.lifted = fact.effective
        elif isinstance(fact, PenaltyImposed):
            reason = f": {fact.reason}" if fact.reason else ""
            self._add(Action(fact, fact.authority, fact.target, f"{plain_decimal(fact.amount)} {fact.currency}{reason}"))
        elif isinstance(fact, DivestmentOrdered):
            self._ordered(fact)

    def _add(self, action: Action) -> Action:
        self.actions.append(action)
        return action

    def _ordered(self, fact: DivestmentOrdered) -> None:
        if fact.companies is not None:
            companies = tuple(fact.companies)
            detail = f"companies {', '.join(companies)}; deadline {fact.deadline.isoformat()}"
        else:
            group = self.parties.members(fact.target)
            held = self.tables.companies
            companies = tuple(sorted(c for c in held if any(m in self.tables.stakeholders(c) for m in group)))
            detail = f"all stakes held ({', '.join(companies) or 'none'}); deadline {fact.deadline.isoformat()}"
        order = self._add(Action(fact, fact.authority, fact.target, detail, companies=companies, deadline=fact.deadline))
        if self._cleared(fact.target, companies):
            order.met = fact.effective
        else:
            self.watched.setdefault(fact.target, []).append(order)
            for company in companies:
                self.watching.setdefault(company, set()).add(fact.target)

    def _divested(self, fact: Fact) -> None:
        """After a sale, see whether it met any order on the seller or on a party above it; after any other change
        of the company's table (a round that wipes out its holders), whether it met an order covering the company."""
        if isinstance(fact, StakeDivested):
            seller, company = fact.holder, fact.company
        elif isinstance(fact, StakeAcquired) and fact.seller is not None:
            seller, company = fact.seller, fact.company
        elif isinstance(fact, OWNERSHIP_FACTS):
            seller, company = None, fact.company
        else:
            return
        self._review(fact.effective, seller, company)

    def _review(self, day: date, seller: str | None, company: str | None) -> None:
        """Mark met the watched orders whose group no longer holds any ordered company (all of them when a parent changed)."""
        # a change of one company's table concerns only the orders covering it
        only_company = seller is None and company is not None
        targets = sorted(self.watching.get(company or "", ())) if only_company else list(self.watched)
        for target in targets:
            if seller is not None and not self.parties.within(seller, target):
                continue
            orders = self.watched.get(target, [])
            for order in list(orders):
                if order.deadline is not None and day > order.deadline:
                    orders.remove(order)
                elif (company is None or company in order.companies) and self._cleared(target, order.companies):
                    order.met = day
                    orders.remove(order)

    def _cleared(self, target: str, companies: tuple[str, ...]) -> bool:
        group = self.parties.members(target)
        return not any(member in self.tables.stakeholders(company) for company in companies for member in group)


def order_status(action: Action, reference: date) -> str:
    """``met YYYY-MM-DD`` once the stakes were gone by the deadline, ``missed`` after it, else ``pending``."""
    if action.met is not None:
        return f"met {action.met.isoformat()}"
    return "missed" if action.deadline is not None and reference > action.deadline else "pending"


class RegulatoryView(View[Regulation]):
    """Regulatory facts in effective order, each with whether it was still in force."""

    name = "regulatory"
    state_version = "8"  # a fine's amount in positional notation (0.0000001, not 1E-7)
    help = (
        "Export bans and lifts, penalties and divestment orders effective on or before --as-of, with whether each was "
        "in force then (a ban until lifted, an order until met or past its deadline) and each order's status. "
        "Example: dealledger view regulatory --as-of 2023-11-01"
    )
    columns = ("effective", "kind", "authority", "target", "detail", "in_force", "status", "deadline", "ended")
    options = ()
    kinds = REGULATORY_KINDS

    def initial(self, query: Query) -> Regulation:
        return Regulation()

    def apply(self, state: Regulation, record: Recorded) -> Regulation:
        state.apply(record)
        return state

    def reach(self, state: Regulation, day: date) -> Regulation:
        """Without ``--as-of``, bans and orders are judged at the last date of the whole story, whatever its kind."""
        if state.last_day is None or day > state.last_day:
            state.last_day = day
        return state

    def rows(self, state: Regulation, query: Query) -> list[Row]:
        reference = query.as_of or state.last_day
        rows: list[Row] = []
        for action in state.actions:
            fact = action.fact
            status = None
            if isinstance(fact, ExportBanImposed):
                in_force = action.lifted is None
            elif isinstance(fact, DivestmentOrdered) and reference is not None:
                status = order_status(action, reference)
                in_force = status == "pending"
            else:
                in_force = False
            rows.append(
                {
                    "effective": fact.effective,
                    "kind": fact.kind,
                    "authority": action.authority,
                    "target": action.target,
                    "detail": action.detail,
                    "in_force": in_force,
                    "status": status,
                    "deadline": action.deadline,
                    "ended": action.lifted or action.met,
                }
            )
        return rows


@hookimpl
def dealledger_views() -> list[View[Any]]:
    return [RegulatoryView()]
