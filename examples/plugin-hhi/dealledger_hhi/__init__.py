"""The ``concentration`` view: how concentrated each company's ownership is.

The Herfindahl-Hirschman index (HHI) of a company is the sum of its holders' squared
fractions: 1 when one holder owns everything, 1/n when n holders own equal parts. It is
computed exactly from the same cap tables the built-in ``ownership`` view uses.
"""

from __future__ import annotations

from typing import Any

from ledger.plugin import CapTables, Fraction, Option, Query, Recorded, View, fraction_out, hookimpl


class ConcentrationView(View[CapTables]):
    name = "concentration"
    help = "Ownership concentration per company: the Herfindahl-Hirschman index (sum of squared fractions)."
    columns = ("company", "hhi", "holders")
    options = (Option("company", "Only this company.", kind="party"),)

    def initial(self, query: Query) -> CapTables:
        return CapTables()

    def apply(self, state: CapTables, record: Recorded) -> CapTables:
        state.apply(record.fact)
        return state

    def rows(self, state: CapTables, query: Query) -> list[dict[str, Any]]:
        wanted = query.get("company")
        rows = []
        for company in sorted(state.companies):
            if wanted is not None and company != wanted:
                continue
            shares = [share for share in state.holders(company).values() if share > 0]
            hhi = sum((share * share for share in shares), Fraction(0))
            rows.append({"company": company, "hhi": fraction_out(hhi), "holders": len(shares)})
        return rows


@hookimpl
def dealledger_views() -> list[View[Any]]:
    return [ConcentrationView()]
