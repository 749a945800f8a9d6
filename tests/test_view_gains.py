"""Exits: cost relieved pro rata, proceeds and realised gains, in portfolio and in the gains view, worked out by hand."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest

from ledger.errors import ViewError
from ledger.host import load
from plugins.gains import GainsView
from plugins.portfolio import PortfolioView
from tests.facts import bought
from tests.viewkit import party, rows

D = Decimal

PARTIES = [
    party("alibaba", "company"),
    party("taobao-china", "investor", parent="alibaba"),
    party("tencent", "company"),
    party("xpeng"),
    party("bilibili"),
]


def sold(holder: str, company: str, day: str, proceeds: str | None = None, currency: str = "USD", **how: str) -> dict[str, Any]:
    fact: dict[str, Any] = {"kind": "stake.divested", "effective": day, "holder": holder, "company": company, **how}
    if proceeds is not None:
        fact |= {"proceeds": proceeds, "currency": currency}
    return fact


TWO_SALES = [
    *PARTIES,
    bought("taobao-china", "xpeng", "2020-08-27", "0.2", "300"),
    # A quarter of the holding (0.05 of the company) for 120: relieves 300 x 1/4 = 75, gain 120 - 75 = 45, 225 kept.
    sold("taobao-china", "xpeng", "2024-03-20", "120", portion="0.25"),
    # 0.05 of the company out of 0.15 held = 1/3 of the holding for 100: relieves 225 x 1/3 = 75, gain 25, 150 kept.
    sold("taobao-china", "xpeng", "2024-11-02", "100", fraction="0.05"),
]


def test_a_partial_sale_relieves_cost_pro_rata_and_records_the_gain() -> None:
    [row] = rows(PortfolioView(), TWO_SALES, investor="taobao-china")
    # Still 0.1 held; paid 300, 150 kept; proceeds 120 + 100 = 220; gains 45 + 25 = 70 (= 220 - 150 relieved).
    assert (row["fraction"], row["invested"], row["cost"], row["proceeds"], row["realised_gain"]) == (
        Fraction(1, 10),
        D(300),
        D(150),
        D(220),
        D(70),
    )


def test_gains_per_period() -> None:
    found = rows(GainsView(), TWO_SALES, investor="taobao-china", period="quarter")
    assert found == [
        {
            "period": "2024-Q1",
            "disposals": 1,
            "proceeds": D(120),
            "cost_relieved": D(75),
            "realised_gain": D(45),
            "undetermined": 0,
            "currency": "USD",
        },
        {
            "period": "2024-Q4",
            "disposals": 1,
            "proceeds": D(100),
            "cost_relieved": D(75),
            "realised_gain": D(25),
            "undetermined": 0,
            "currency": "USD",
        },
    ]
    [year] = rows(GainsView(), TWO_SALES, investor="taobao-china")
    assert (year["period"], year["disposals"], year["proceeds"], year["cost_relieved"], year["realised_gain"]) == (
        "2024",
        2,
        D(220),
        D(150),
        D(70),
    )


def test_an_inexact_ratio_keeps_cost_and_gain_exact() -> None:
    facts = [
        *PARTIES,
        bought("tencent", "bilibili", "2020-01-01", "0.3", "100"),
        sold("tencent", "bilibili", "2024-01-02", "50", fraction="0.1"),
    ]
    [row] = rows(GainsView(), facts, investor="tencent")
    # 0.1 of 0.3 = 1/3 of the holding: relieves 100/3 (no finite decimal), gain 50 - 100/3 = 50/3: exact, never rounded.
    assert (row["cost_relieved"], row["realised_gain"]) == (Fraction(100, 3), Fraction(50, 3))
    [held] = rows(PortfolioView(), facts, investor="tencent")
    assert held["cost"] == Fraction(200, 3)  # 100/3 relieved + 200/3 kept = 100 paid


def test_cost_in_another_currency_is_converted_at_the_sale_date() -> None:
    rate = {"kind": "fx.rate", "effective": "2024-01-01", "base": "USD", "quote": "CNY", "rate": "7"}
    facts = [
        *PARTIES,
        bought("tencent", "bilibili", "2020-01-01", "0.1", "700", "CNY"),
        rate,
        sold("tencent", "bilibili", "2024-03-01", "150", portion="1"),
    ]
    [row] = rows(GainsView(), facts, investor="tencent")
    # 700 CNY at 7 CNY per USD on the sale date = 100 USD relieved; gain 150 - 100 = 50 USD.
    assert (row["proceeds"], row["cost_relieved"], row["realised_gain"], row["currency"]) == (D(150), D(100), D(50), "USD")
    # Without a rate on or before the sale date the gain is unknown, not guessed.
    early = [
        *PARTIES,
        bought("tencent", "bilibili", "2020-01-01", "0.1", "700", "CNY"),
        sold("tencent", "bilibili", "2023-03-01", "150", portion="1"),
    ]
    [row] = rows(GainsView(), early, investor="tencent")
    assert (row["proceeds"], row["cost_relieved"], row["realised_gain"], row["undetermined"]) == (D(150), None, None, 1)


def test_with_currency_each_amount_converts_at_its_own_date() -> None:
    rates = [
        {"kind": "fx.rate", "effective": "2019-01-01", "base": "USD", "quote": "CNY", "rate": "7"},
        {"kind": "fx.rate", "effective": "2024-01-01", "base": "USD", "quote": "CNY", "rate": "8"},
    ]
    facts = [
        *PARTIES,
        *rates,
        bought("tencent", "bilibili", "2020-01-01", "0.1", "700", "CNY"),
        sold("tencent", "bilibili", "2024-03-01", "800", "CNY", portion="1"),
    ]
    [row] = rows(GainsView(), facts, investor="tencent", currency="USD")
    # cost 700 CNY at 7 (paid 2020) = 100 USD; proceeds 800 CNY at 8 (2024) = 100 USD; gain 0.
    assert (row["proceeds"], row["cost_relieved"], row["realised_gain"], row["currency"]) == (D(100), D(100), D(0), "USD")
    with pytest.raises(ViewError, match=r"no fx\.rate for CNY->EUR"):
        rows(GainsView(), facts, investor="tencent", currency="EUR")


def test_with_currency_amounts_already_in_it_or_converted_at_a_recorded_rate_stay_exact() -> None:
    """``--currency USD`` over dollars and fractions of a cent: nothing to convert, so nothing is cut to hundredths;
    a dinar amount converted at a recorded rate ends too, and keeps every digit."""
    facts = [
        *PARTIES,
        {"kind": "fx.rate", "effective": "2019-01-01", "base": "KWD", "quote": "USD", "rate": "3.257"},
        bought("tencent", "bilibili", "2020-01-01", "0.1", "0.005"),
        sold("tencent", "bilibili", "2024-03-01", "1.001", "KWD", portion="1"),
    ]
    [row] = rows(GainsView(), facts, investor="tencent", currency="USD")
    # proceeds 1.001 KWD x 3.257 = 3.260257 USD, cost 0.005 USD: gain 3.255257, every digit shown
    assert (row["proceeds"], row["cost_relieved"], row["realised_gain"]) == (D("3.260257"), D("0.005"), D("3.255257"))
    [row] = rows(GainsView(), facts, investor="tencent", currency="KWD")
    # the cost converted at the inverse rate never ends: rounded to the dinar's three places (0.005 / 3.257 = 0.00153...)
    assert (row["proceeds"], row["cost_relieved"], row["currency"]) == (D("1.001"), D("0.002"), "KWD")


def test_unknown_cost_or_proceeds_leave_the_gain_unknown() -> None:
    facts = [
        *PARTIES,
        bought("alibaba", "bilibili", "2019-02-14", "0.08", None),  # no price reported
        sold("alibaba", "bilibili", "2024-03-21", "357.8", portion="1"),
        bought("tencent", "xpeng", "2020-01-01", "0.1", "50"),
        sold("tencent", "xpeng", "2021-09-23", None, portion="1"),  # no proceeds reported
    ]
    [bili] = rows(PortfolioView(), facts, investor="alibaba")
    # what it paid is unknown, and so is its gain; once it sold everything, the shares it still holds cost nothing
    assert (bili["fraction"], bili["invested"], bili["cost"], bili["proceeds"], bili["realised_gain"]) == (
        0,
        None,
        D(0),
        D("357.8"),
        None,
    )
    [xpeng] = rows(GainsView(), facts, investor="tencent")
    # The whole 50 is relieved; no proceeds, so no gain.
    assert (xpeng["proceeds"], xpeng["cost_relieved"], xpeng["realised_gain"], xpeng["undetermined"]) == (None, D(50), None, 1)


def test_a_secondary_sale_brings_its_price_as_proceeds() -> None:
    facts = [
        *PARTIES,
        bought("tencent", "xpeng", "2020-01-01", "0.2", "100"),
        {
            "kind": "stake.acquired",
            "effective": "2022-01-01",
            "holder": "alibaba",
            "company": "xpeng",
            "fraction": "0.05",
            "seller": "tencent",
            "price": "40",
            "currency": "USD",
        },
    ]
    [row] = rows(GainsView(), facts, investor="tencent")
    # 0.05 of 0.2 held = 1/4: relieves 25; the buyer's price 40 is the seller's proceeds: gain 15.
    assert (row["proceeds"], row["cost_relieved"], row["realised_gain"]) == (D(40), D(25), D(15))


def test_after_a_full_exit_shares_bought_again_at_a_price_have_a_known_cost() -> None:
    facts = [
        *PARTIES,
        bought("tencent", "xpeng", "2021-01-01", "0.1", None),  # no price: the cost of these shares is unknown
        sold("tencent", "xpeng", "2021-06-01", "100", portion="1"),
        bought("tencent", "xpeng", "2022-01-01", "0.2", "200"),
        sold("tencent", "xpeng", "2022-06-01", "150", portion="0.5"),
    ]
    first, second = rows(GainsView(), facts, investor="tencent", period="year")
    assert (first["cost_relieved"], first["realised_gain"], first["undetermined"]) == (None, None, 1)
    # every share sold in 2022 was bought for 200: half of it relieved, 150 - 100 gained
    assert (second["proceeds"], second["cost_relieved"], second["realised_gain"], second["undetermined"]) == (
        D(150),
        D(100),
        D(50),
        0,
    )
    [row] = rows(PortfolioView(), facts, investor="tencent")
    assert (row["cost"], row["realised_gain"]) == (D(100), None)  # 2021's gain is unknown, so the sum is too


def test_a_lot_sold_before_needs_no_rate_to_relieve_nothing() -> None:
    facts = [
        *PARTIES,
        bought("tencent", "xpeng", "2021-01-01", "0.1", "100", currency="EUR"),
        sold("tencent", "xpeng", "2021-06-01", "150", currency="EUR", portion="1"),
        bought("tencent", "xpeng", "2022-01-01", "0.2", "200"),
        sold("tencent", "xpeng", "2022-06-01", "150", portion="0.5"),  # in USD, and no EUR rate anywhere
    ]
    first, second = rows(GainsView(), facts, investor="tencent", period="year")
    assert (first["currency"], first["realised_gain"]) == ("EUR", D(50))
    assert (second["currency"], second["cost_relieved"], second["realised_gain"]) == ("USD", D(100), D(50))


def test_a_sale_to_a_named_buyer_is_the_buyer_s_purchase_at_its_proceeds() -> None:
    facts = [
        *PARTIES,
        bought("tencent", "xpeng", "2021-01-01", "0.1", "100"),
        sold("tencent", "xpeng", "2021-06-01", "300", portion="1", buyer="alibaba"),
        sold("alibaba", "xpeng", "2022-06-01", "500", portion="1"),
    ]
    [row] = rows(PortfolioView(), facts, investor="alibaba")
    assert (row["invested"], row["proceeds"], row["realised_gain"]) == (D(300), D(500), D(200))
    # recorded as the buyer's acquisition from the seller instead, the same figures
    acquired = {**bought("alibaba", "xpeng", "2021-06-01", "0.1", "300"), "seller": "tencent"}
    [same] = rows(PortfolioView(), [*facts[:-2], acquired, facts[-1]], investor="alibaba")
    assert (same["invested"], same["proceeds"], same["realised_gain"]) == (D(300), D(500), D(200))


def test_shares_cancelled_by_a_round_at_a_pre_money_of_0_are_written_off() -> None:
    restart = {
        "kind": "round.closed",
        "effective": "2022-01-01",
        "company": "xpeng",
        "round": "restart",
        "amount": "500",
        "currency": "USD",
        "pre_money": "0",
        "investors": [{"party": "alibaba", "amount": "500"}],
    }
    facts = [
        *PARTIES,
        bought("tencent", "xpeng", "2021-01-01", "0.1", "100"),
        bought("alibaba", "xpeng", "2021-01-01", "0.2", "80"),
        restart,
    ]
    [row] = rows(GainsView(), facts, investor="tencent")
    assert (row["proceeds"], row["cost_relieved"], row["realised_gain"]) == (D(0), D(100), D(-100))
    [held] = rows(PortfolioView(), facts, investor="tencent")
    assert (held["fraction"], held["cost"], held["realised_gain"]) == (0, D(0), D(-100))
    # alibaba's old shares are written off; the shares its 500 bought in the round keep their cost
    [owner] = rows(PortfolioView(), facts, investor="alibaba")
    assert (owner["fraction"], owner["invested"], owner["cost"], owner["realised_gain"]) == (1, D(580), D(500), D(-80))


def test_gains_for_a_group_add_up_its_entities() -> None:
    facts = [
        *TWO_SALES,
        bought("alibaba", "bilibili", "2019-01-01", "0.1", "10"),
        sold("alibaba", "bilibili", "2024-05-01", "30", portion="1"),
    ]
    [group] = rows(GainsView(), facts, investor="alibaba", group=True)
    [own] = rows(GainsView(), facts, investor="alibaba")
    [sub] = rows(GainsView(), facts, investor="taobao-china")
    # alibaba: 30 - 10 = 20; taobao-china: 70; the group: 3 disposals, 250 proceeds, 160 relieved, 90 gain.
    assert (group["disposals"], group["proceeds"], group["cost_relieved"], group["realised_gain"]) == (3, D(250), D(160), D(90))
    for column in ("disposals", "proceeds", "cost_relieved", "realised_gain"):
        assert group[column] == own[column] + sub[column]


def test_gains_needs_an_investor_and_is_a_registered_view() -> None:
    with pytest.raises(ViewError, match="needs --investor"):
        rows(GainsView(), TWO_SALES)
    assert load(entry_points=False).view_providers["gains"] == "plugins.ownership"
    assert rows(GainsView(), TWO_SALES, investor="taobao-china", as_of=date(2024, 1, 1)) == []
