"""The ``gains`` view: an investor's (or group's) disposals per period, with proceeds, cost relieved and realised gain.

A sale relieves ``cost x sold / held`` of the holding's cost; its realised gain is its proceeds
less that cost, in the proceeds' currency (cost paid in another currency is converted at the
sale date). A gain that cannot be known — no proceeds reported, shares whose price was never
reported, no rate for the date — is left out of the sums and counted in ``undetermined``.
"""

from __future__ import annotations

from ledger.exact import Fraction
from ledger.folds.money import Money, Number
from ledger.folds.periods import PERIODS, Period
from ledger.options import choice, required
from ledger.views import Option, Query, Row
from plugins.holdings import Holdings, HoldingsView, money_cell
from plugins.portfolio import CURRENCY_OPTION, GROUP_OPTION


class GainsView(HoldingsView):
    """Disposals, proceeds, cost relieved and realised gain per period, for one investor or its group."""

    name = "gains"
    help = (
        "Realised gains of an investor's sales per period: disposals, proceeds, cost relieved (cost x sold/held) and "
        "realised gain (proceeds - cost relieved), per currency unless --currency converts; undetermined counts the "
        "sales whose gain is unknown. Example: dealledger view gains --investor alibaba --group --period year"
    )
    columns = ("period", "disposals", "proceeds", "cost_relieved", "realised_gain", "undetermined", "currency")
    options = (
        Option("investor", "the investor", kind="party", required=True, replay_over=("investor", "company", "cloud", "other")),
        Option("period", "month, quarter or year", kind="choice", choices=PERIODS, default="year"),
        CURRENCY_OPTION,
        GROUP_OPTION,
    )

    def rows(self, state: Holdings, query: Query) -> list[Row]:
        investor = required(query, "investor", self.name)
        period = choice(query, "period", PERIODS, "year")
        money = Money(state.rates, query.get("currency"))
        holders = set(state.parties.members(state.parties.root(investor))) if query.get("group", False) else {investor}
        sums: dict[tuple[Period, str | None], list[Number | int | None]] = {}
        for disposal in state.disposals_of(holders):
            figures = state.figures(disposal, money)
            line = sums.setdefault((Period.of(disposal.day, period), figures.currency), [0, None, None, None, 0])
            line[0] = int(line[0] or 0) + 1
            for index, value in ((1, figures.proceeds), (2, figures.relieved)):
                if value is not None:
                    line[index] = Fraction(line[index] or 0) + value
            if figures.gain is None:
                line[4] = int(line[4] or 0) + 1
            else:
                line[3] = Fraction(line[3] or 0) + figures.gain
        return [
            {
                "period": when.label,
                "disposals": line[0],
                "proceeds": money_cell(line[1], money),
                "cost_relieved": money_cell(line[2], money),
                "realised_gain": money_cell(line[3], money),
                "undetermined": line[4],
                "currency": currency,
            }
            for (when, currency), line in sorted(sums.items(), key=lambda item: (item[0][0], item[0][1] or ""))
        ]
