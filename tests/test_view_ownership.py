"""The ownership, portfolio and league views, and the ownership checks, on ledgers worked out by hand."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.errors import OptionError, ViewError
from ledger.host import load
from ledger.plugin import CapTables, fraction_out, money_out
from ledger.timeline import story
from ledger.views import Query, fold
from plugins import ownership
from plugins.league import LeagueView
from plugins.ownership import OwnershipView
from plugins.portfolio import PortfolioView
from tests.viewkit import party, records, rows

D = Decimal

PARTIES = [
    party("moonshot-ai", sectors=["ai"]),
    party("minimax", sectors=["ai"]),
    party("meituan", sectors=["retail"]),
    party("investor-a", "investor"),
    party("investor-b", "investor"),
    party("alibaba", "investor"),
    party("tencent", "investor"),
    party("xiaohongshu", "investor"),
]


def validate(story_: list) -> list:  # type: ignore[type-arg]
    """Validation as if every fact were in the batch being appended."""
    return ownership.dealledger_validate(story=story_, new=story_)


def round_closed(
    company: str, label: str, day: str, amount: str, investors: list[dict[str, Any]], **money: str
) -> dict[str, Any]:
    return {
        "kind": "round.closed",
        "effective": day,
        "company": company,
        "round": label,
        "amount": amount,
        "currency": money.pop("currency", "USD"),
        "investors": investors,
        **money,
    }


def line(investor: str, amount: str, consideration: str | None = None) -> dict[str, Any]:
    paid: dict[str, Any] = {"party": investor, "amount": amount}
    if consideration:
        paid["consideration"] = consideration
    return paid


TWO_ROUNDS = [
    *PARTIES,
    # Series A: 20M at 80M pre, so post 100M: investor-a 20/100 = 0.2, founders 0.8.
    round_closed("moonshot-ai", "series-a", "2023-01-10", "20000000", [line("investor-a", "20000000")], pre_money="80000000"),
    # Series B: 50M at 200M pre, post 250M: everyone x 200/250 = 0.8, then
    # investor-a +10/250 = 0.04, investor-b 30/250 = 0.12, the unattributed 10M -> undisclosed 0.04.
    round_closed(
        "moonshot-ai",
        "series-b",
        "2024-02-01",
        "50000000",
        [line("investor-a", "10000000"), line("investor-b", "30000000")],
        pre_money="200000000",
    ),
]


def ownership_of(facts: list[dict[str, Any]], company: str = "moonshot-ai", **cut: Any) -> list[tuple[str, Decimal, Any, Any]]:
    found = rows(OwnershipView(), facts, company=company, **cut)
    return [(row["holder"], row["fraction"], row["invested"], row["currency"]) for row in found]


def test_two_rounds_dilute_exactly() -> None:
    assert ownership_of(TWO_ROUNDS, as_of=date(2023, 12, 31)) == [
        ("founders", D("0.8"), None, None),
        ("investor-a", D("0.2"), D("20000000"), "USD"),
    ]
    assert ownership_of(TWO_ROUNDS) == [
        ("founders", D("0.64"), None, None),
        ("investor-a", D("0.2"), D("30000000"), "USD"),
        ("investor-b", D("0.12"), D("30000000"), "USD"),
        ("undisclosed", D("0.04"), D("10000000"), "USD"),
    ]


@pytest.mark.parametrize("holder", ["founders", "undisclosed"])
def test_a_built_in_holder_is_not_a_company_to_ask_about(holder: str) -> None:
    """``--company founders`` answered "founders hold all of founders"; the OCF export already refused it."""
    with pytest.raises(OptionError, match=rf"^--company: '{holder}' is a built-in holder of shares, not a company$"):
        rows(OwnershipView(), TWO_ROUNDS, company=holder)


def test_fractions_come_out_exact() -> None:
    facts = [*PARTIES, round_closed("minimax", "seed", "2023-05-01", "1", [line("investor-a", "1")], pre_money="2")]
    found = rows(OwnershipView(), facts, company="minimax")
    # 1 at 2 pre-money: post 3, investor-a 1/3, founders 2/3, exactly (no six-place rounding in the row).
    assert [(row["holder"], row["fraction"]) for row in found] == [("founders", Fraction(2, 3)), ("investor-a", Fraction(1, 3))]
    assert sum((row["fraction"] for row in found), Fraction(0)) == 1


def test_rounding_is_half_to_even_and_exact() -> None:
    assert fraction_out(Fraction(5, 10**7)) == D("0.000000")
    assert fraction_out(Fraction(15, 10**7)) == D("0.000002")
    assert fraction_out(Fraction(2, 3)) == D("0.666667")
    assert str(fraction_out(Fraction(0))) == "0.000000"
    assert money_out(D("0.125")) == D("0.125")  # recorded amounts stay exact


@pytest.mark.parametrize(
    ("value", "currency", "shown"),
    [
        (Fraction(1, 8), "USD", "0.125"),  # derived money whose decimal form ends is shown exactly...
        (Fraction(1, 200), "USD", "0.005"),  # (half a cent in dollars: nothing is cut to hundredths)
        (Fraction(1001, 1000), "KWD", "1.001"),
        (Fraction(5), "USD", "5.00"),  # ...with at least the currency's minor units
        (Fraction(5), "JPY", "5"),
        (Fraction(2, 3), "USD", "0.67"),  # one that never ends is rounded half to even to the minor units
        (Fraction(2, 3), "KWD", "0.667"),
        (Fraction(2, 3), "JPY", "1"),
        (Fraction(2, 3), "XAU", "0.67"),  # hundredths where ISO 4217 gives no minor unit
        (Fraction(2, 3), None, "0.67"),
        (Fraction(1, 2**41), "USD", "0.00000000000045474735088646411895751953125"),  # 41 places, shown whole
        (  # 40 places at a rate of 40 places: 80 places, every one of them shown
            Fraction("1.0000000000000000000000000000000000000001") * Fraction("7.1000000000000000000000000000000000000001"),
            "CNY",
            "7.10000000000000000000000000000000000000081000000000000000000000000000000000000001",
        ),
        (Fraction(1, 2**81), "USD", "0.00"),  # ends only past 80 places: rounded like an endless one
        (Fraction(5, 2**81), "USD", "0.00"),
    ],
)
def test_derived_money_is_exact_when_it_ends_else_rounded_to_the_currency_s_minor_units(
    value: Fraction, currency: str | None, shown: str
) -> None:
    assert format(money_out(value, currency), "f") == shown  # as rows write it (never in exponent form)


def test_company_before_any_fact_is_held_by_founders() -> None:
    assert ownership_of(PARTIES) == [("founders", D(1), None, None)]


def test_without_company_one_row_per_company_and_holder() -> None:
    facts = [*TWO_ROUNDS, round_closed("minimax", "seed", "2023-05-01", "10", [line("alibaba", "10")], post_money="40")]
    found = rows(OwnershipView(), facts)
    assert [(row["company"], row["holder"], row["fraction"]) for row in found] == [
        ("minimax", "founders", D("0.75")),
        ("minimax", "alibaba", D("0.25")),
        ("moonshot-ai", "founders", D("0.64")),
        ("moonshot-ai", "investor-a", D("0.2")),
        ("moonshot-ai", "investor-b", D("0.12")),
        ("moonshot-ai", "undisclosed", D("0.04")),
    ]


def test_every_company_s_rows_are_made_as_they_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """A replay writes every company's holders (179,000 rows at 1M facts, 72 MiB as a list): never held whole."""
    facts = [*TWO_ROUNDS, round_closed("minimax", "seed", "2023-05-01", "10", [line("alibaba", "10")], post_money="40")]
    query = Query(as_of=None, known_at=None, options={})
    state = fold(OwnershipView(), story(records(facts)), query)
    priced: list[str] = []
    paid = ownership._paid

    def counted(state: Any, company: str, holder: str, *rest: Any) -> Any:
        priced.append(holder)
        return paid(state, company, holder, *rest)

    monkeypatch.setattr(ownership, "_paid", counted)
    made = iter(OwnershipView().rows(state, query))
    assert next(made)["holder"] == "founders" and priced == ["founders"]
    assert len(list(made)) == 5 and len(priced) == 6


def divest(holder: str, day: str, key: str | None = None, **how: str) -> dict[str, Any]:
    fact = {"kind": "stake.divested", "effective": day, "holder": holder, "company": "moonshot-ai", **how}
    if key:
        fact["key"] = key
    return fact


def test_partial_divestment_by_portion_and_by_fraction() -> None:
    facts = [
        *TWO_ROUNDS,
        # Half of investor-a's 0.2 goes to tencent.
        divest("investor-a", "2024-03-01", portion="0.5", buyer="tencent"),
        # 0.02 of the company from investor-b, buyer unreported.
        divest("investor-b", "2024-04-01", fraction="0.02", proceeds="6000000", currency="USD"),
    ]
    assert ownership_of(facts) == [
        ("founders", D("0.64"), None, None),
        ("investor-a", D("0.1"), D("30000000"), "USD"),
        ("investor-b", D("0.1"), D("30000000"), "USD"),
        ("tencent", D("0.1"), None, None),
        ("undisclosed", D("0.06"), D("10000000"), "USD"),
    ]


def test_divesting_everything_drops_the_holder() -> None:
    facts = [*TWO_ROUNDS, divest("investor-b", "2024-03-01", portion="1", buyer="alibaba")]
    holders = [holder for holder, *_ in ownership_of(facts)]
    assert "investor-b" not in holders
    assert ("alibaba", D("0.12"), None, None) in ownership_of(facts)


def acquired(holder: str, day: str, fraction: str, **more: str) -> dict[str, Any]:
    return {"kind": "stake.acquired", "effective": day, "holder": holder, "company": "moonshot-ai", "fraction": fraction, **more}


def test_secondary_transfer_moves_the_stake_without_diluting() -> None:
    facts = [*TWO_ROUNDS, acquired("alibaba", "2024-05-01", "0.14", seller="founders", price="35000000", currency="USD")]
    assert ownership_of(facts) == [
        ("founders", D("0.5"), None, None),
        ("investor-a", D("0.2"), D("30000000"), "USD"),
        ("alibaba", D("0.14"), D("35000000"), "USD"),
        ("investor-b", D("0.12"), D("30000000"), "USD"),
        ("undisclosed", D("0.04"), D("10000000"), "USD"),
    ]


def test_new_shares_dilute_everyone() -> None:
    facts = [*TWO_ROUNDS, acquired("alibaba", "2024-05-01", "0.5")]
    assert [(holder, fraction) for holder, fraction, *_ in ownership_of(facts)] == [
        ("alibaba", D("0.5")),
        ("founders", D("0.32")),
        ("investor-a", D("0.1")),
        ("investor-b", D("0.06")),
        ("undisclosed", D("0.02")),
    ]


def test_a_holder_paying_in_two_currencies_gets_a_row_per_currency() -> None:
    facts = [*TWO_ROUNDS, acquired("investor-a", "2024-05-01", "0.1", seller="founders", price="700000000", currency="CNY")]
    assert ownership_of(facts)[:3] == [
        ("founders", D("0.54"), None, None),
        ("investor-a", D("0.3"), D("700000000"), "CNY"),
        ("investor-a", D("0.3"), D("30000000"), "USD"),
    ]


def test_ownership_replays_as_known_at_a_moment() -> None:
    ledger = records(TWO_ROUNDS)
    correction = {
        "kind": "fact.corrected",
        "effective": "2024-06-01",
        "fact": ledger[-1].id,
        "replacement": round_closed(
            "moonshot-ai", "series-b", "2024-02-01", "50000000", [line("investor-b", "50000000")], pre_money="200000000"
        ),
    }
    ledger += records([correction], start=len(ledger) + 1)
    before = rows(OwnershipView(), ledger, company="moonshot-ai", known_at=ledger[-2].recorded)
    after = rows(OwnershipView(), ledger, company="moonshot-ai")
    assert [(row["holder"], row["fraction"]) for row in before][:2] == [("founders", D("0.64")), ("investor-a", D("0.2"))]
    assert [(row["holder"], row["fraction"]) for row in after] == [
        ("founders", D("0.64")),
        ("investor-b", D("0.2")),
        ("investor-a", D("0.16")),
    ]


# --- portfolio ---------------------------------------------------------------------------


def valuation(company: str, day: str, amount: str, currency: str) -> dict[str, Any]:
    return {"kind": "valuation.marked", "effective": day, "company": company, "valuation": amount, "currency": currency}


def test_portfolio_implied_value_uses_the_latest_valuation() -> None:
    facts = [
        *TWO_ROUNDS,
        round_closed(
            "minimax", "seed", "2023-05-01", "10", [line("investor-a", "10", "credits")], post_money="40", currency="CNY"
        ),
    ]
    found = rows(PortfolioView(), facts, investor="investor-a")
    assert found == [
        {
            "company": "minimax",
            "fraction": D("0.25"),
            "invested": D("10"),
            "currency": "CNY",
            "implied_value": D("10.00"),
            "implied_currency": "CNY",
            "cost": D("10"),
            "proceeds": None,
            "realised_gain": None,
            "held_by": "investor-a",
        },
        {
            "company": "moonshot-ai",
            "fraction": D("0.2"),
            "invested": D("30000000"),
            "currency": "USD",
            # 0.2 of the series-b post-money of 250M
            "implied_value": D("50000000"),
            "implied_currency": "USD",
            "cost": D("30000000"),
            "proceeds": None,
            "realised_gain": None,
            "held_by": "investor-a",
        },
    ]
    marked = valuation("moonshot-ai", "2024-09-01", "400000000", "USD")
    found = rows(PortfolioView(), [*facts, marked], investor="investor-a")
    assert found[1]["implied_value"] == D("80000000")
    # A later round wins over an earlier mark.
    later = round_closed("moonshot-ai", "series-c", "2024-10-01", "100000000", [], post_money="1000000000")
    found = rows(PortfolioView(), [*facts, marked, later], investor="investor-a")
    assert (found[1]["fraction"], found[1]["implied_value"]) == (D("0.18"), D("180000000"))


def test_portfolio_converts_at_each_amounts_own_date() -> None:
    facts = [
        *PARTIES,
        {"kind": "fx.rate", "effective": "2023-01-01", "base": "USD", "quote": "CNY", "rate": "7"},
        round_closed("minimax", "seed", "2023-05-01", "70", [line("alibaba", "70")], post_money="280", currency="CNY"),
        {"kind": "fx.rate", "effective": "2024-01-01", "base": "USD", "quote": "CNY", "rate": "8"},
        valuation("minimax", "2024-06-01", "800", "CNY"),
    ]
    [row] = rows(PortfolioView(), facts, investor="alibaba", currency="USD")
    # invested 70 CNY at 7 = 10 USD; value 0.25 x 800 CNY at 8 = 25 USD.
    assert (row["fraction"], row["invested"], row["currency"], row["implied_value"], row["implied_currency"]) == (
        D("0.25"),
        D("10"),
        "USD",
        D("25"),
        "USD",
    )


def test_portfolio_keeps_exited_stakes_at_zero_and_needs_an_investor() -> None:
    facts = [*TWO_ROUNDS, divest("investor-b", "2024-03-01", portion="1", proceeds="45000000", currency="USD")]
    [row] = rows(PortfolioView(), facts, investor="investor-b")
    # investor-b paid 30M for 0.12 and sold all of it for 45M: cost relieved 30M, gain 45M - 30M = 15M, none kept.
    assert (row["company"], row["fraction"], row["invested"], row["cost"], row["proceeds"], row["realised_gain"]) == (
        "moonshot-ai",
        0,
        D("30000000"),
        D("0"),
        D("45000000"),
        D("15000000"),
    )
    with pytest.raises(ViewError, match="needs --investor"):
        rows(PortfolioView(), facts)


# --- league ------------------------------------------------------------------------------

LEAGUE = [
    *PARTIES,
    round_closed(
        "moonshot-ai",
        "series-b",
        "2024-02-01",
        "1000",
        [line("alibaba", "600", None), line("alibaba", "400", "credits")],
        post_money="2500",
    ),
    round_closed(
        "minimax",
        "series-a",
        "2023-03-01",
        "300",
        [line("tencent", "250"), line("xiaohongshu", "50", "services")],
        pre_money="900",
    ),
    acquired("alibaba", "2024-06-01", "0.01", seller="founders", price="50", currency="USD"),
    round_closed("meituan", "pre-ipo", "2022-06-01", "700", [line("tencent", "700")], pre_money="7000", currency="CNY"),
]


def league(facts: list[dict[str, Any]], **options: Any) -> list[tuple[Any, ...]]:
    return [tuple(row[column] for column in LeagueView.columns) for row in rows(LeagueView(), facts, **options)]


def test_league_counts_deals_per_currency_and_ranks_within_each_currency() -> None:
    assert league(LEAGUE) == [
        # investor, deals, cash, credits, services, total, currency, undisclosed_deals, rank, entities
        # CNY first: tencent's one CNY deal (meituan, 700), rank 1 among CNY rows only.
        ("tencent", 1, D(700), D(0), D(0), D(700), "CNY", 0, 1, None),
        # USD: alibaba's moonshot round (600 cash + 400 credits, one deal) and its 50 stake: 2 deals, 1050.
        ("alibaba", 2, D(650), D(400), D(0), D(1050), "USD", 0, 1, None),
        # tencent's USD row counts only its USD deal (minimax 250), not its CNY one.
        ("tencent", 1, D(250), D(0), D(0), D(250), "USD", 0, 2, None),
        ("xiaohongshu", 1, D(0), D(0), D(50), D(50), "USD", 0, 3, None),
    ]


def test_league_counts_a_purchase_recorded_as_a_sale_to_a_named_buyer() -> None:
    """Tencent sells its minimax stake to investor-b for 80: investor-b's secondary purchase, as if it had acquired it."""
    sale = {
        "kind": "stake.divested",
        "effective": "2024-03-01",
        "holder": "tencent",
        "company": "minimax",
        "portion": "1",
        "buyer": "investor-b",
        "proceeds": "80",
        "currency": "USD",
    }
    assert ("investor-b", 1, D(80), D(0), D(0), D(80), "USD", 0, 3, None) in league([*LEAGUE, sale])
    as_acquired = acquired("investor-b", "2024-03-01", "0.2", seller="tencent", price="80", currency="USD")
    assert league([*LEAGUE, sale]) == league([*LEAGUE, as_acquired])


def test_league_filters_by_sector_and_date() -> None:
    assert league(LEAGUE, sector="ai", since=date(2024, 1, 1)) == [
        ("alibaba", 2, D(650), D(400), D(0), D(1050), "USD", 0, 1, None)
    ]
    assert [row[0] for row in league(LEAGUE, sector="retail")] == ["tencent"]
    assert league(LEAGUE, since="2023-01-01")[-1] == ("xiaohongshu", 1, D(0), D(0), D(50), D(50), "USD", 0, 3, None)


def test_league_converts_into_one_currency_and_ranks_everyone() -> None:
    rate = {"kind": "fx.rate", "effective": "2022-01-01", "base": "USD", "quote": "CNY", "rate": "7"}
    assert league([rate, *LEAGUE], currency="USD") == [
        ("alibaba", 2, D(650), D(400), D(0), D(1050), "USD", 0, 1, None),
        ("tencent", 2, D(350), D(0), D(0), D(350), "USD", 0, 2, None),  # 250 USD + 700 CNY / 7, two deals
        ("xiaohongshu", 1, D(0), D(0), D(50), D(50), "USD", 0, 3, None),
    ]


def test_league_without_a_rate_names_the_pair_and_date() -> None:
    late = {"kind": "fx.rate", "effective": "2023-01-01", "base": "USD", "quote": "CNY", "rate": "7"}
    with pytest.raises(ViewError, match=r"^no fx.rate for CNY->USD on or before 2022-06-01$"):
        rows(LeagueView(), [late, *LEAGUE], currency="USD")


def test_a_portfolio_without_a_rate_names_the_earliest_payment_missing_one() -> None:
    """``undisclosed`` both pays a round's unattributed rest and, named as an investor, holds lots of its own:
    its payments are taken by date, so the error names the 2020 rest, not the 2021 lot."""
    facts = [
        *PARTIES,
        round_closed("moonshot-ai", "a", "2020-01-01", "10", [line("investor-a", "5")], currency="EUR", pre_money="90"),
        round_closed("moonshot-ai", "b", "2021-01-01", "10", [line("undisclosed", "10")], currency="GBP", pre_money="190"),
    ]
    with pytest.raises(ViewError, match=r"^no fx.rate for EUR->USD on or before 2020-01-01$"):
        rows(PortfolioView(), facts, investor="undisclosed", currency="USD")


def test_league_counts_unpriced_deals_as_undisclosed_never_as_zero_and_skips_builtin_holders() -> None:
    facts = [*PARTIES, acquired("tencent", "2024-01-01", "0.1", seller="founders")]
    assert league(facts) == [("tencent", 1, None, None, None, None, None, 1, None, None)]
    facts = [*PARTIES, round_closed("minimax", "seed", "2024-01-01", "10", [], pre_money="10")]
    assert league(facts) == []


def test_league_counts_two_rounds_that_share_a_label_as_two_deals() -> None:
    """A label names a round for people (and for the credits a round promises); two rounds are two deals however
    they are labelled, as two stake purchases are."""
    facts = [
        *PARTIES,
        round_closed("minimax", "seed", "2021-01-01", "100", [line("alibaba", "100")], pre_money="200"),
        round_closed("minimax", "seed", "2023-01-01", "100", [line("alibaba", "100")], pre_money="900"),
    ]
    assert league(facts) == [("alibaba", 2, D(200), D(0), D(0), D(200), "USD", 0, 1, None)]


# --- validation and check ----------------------------------------------------------------


def test_validation_rejects_a_divestment_beyond_the_holding() -> None:
    facts = [
        *PARTIES,
        acquired("alibaba", "2024-01-01", "0.1"),
        divest("alibaba", "2024-03-01", key="k9", fraction="0.2"),
    ]
    ledger = records(facts)
    problems = validate(story(ledger))
    assert [problem.message for problem in problems] == [
        "stake.divested 'k9' of 2024-03-01: alibaba holds 0.1 of moonshot-ai, cannot divest 0.2"
    ]
    assert problems[0].facts == (ledger[-1].id,)


def test_validation_catches_a_back_dated_sale_that_breaks_a_later_one() -> None:
    facts = [
        *PARTIES,
        acquired("alibaba", "2024-01-01", "0.1"),
        divest("alibaba", "2024-06-01", key="later", fraction="0.1"),
    ]
    ledger = records(facts)
    assert validate(story(ledger)) == []
    ledger += records([divest("alibaba", "2024-03-01", key="back-dated", portion="0.5")], start=len(ledger) + 1)
    [problem] = validate(story(ledger))
    assert problem.message == "stake.divested 'later' of 2024-06-01: alibaba holds 0.05 of moonshot-ai, cannot divest 0.1"


def test_validation_catches_a_secondary_sale_beyond_the_sellers_holding() -> None:
    facts = [*TWO_ROUNDS, acquired("alibaba", "2024-05-01", "0.13", seller="investor-b", key="too-much")]
    [problem] = validate(story(records(facts)))
    assert problem.message == "stake.acquired 'too-much' of 2024-05-01: investor-b holds 0.12 of moonshot-ai, cannot sell 0.13"


def test_validation_flags_a_portion_of_nothing() -> None:
    [problem] = validate(story(records([*PARTIES, divest("tencent", "2024-05-01", portion="0.5")])))
    assert "tencent holds nothing of moonshot-ai" in problem.message


def test_check_reports_an_assertion_the_fold_disagrees_with() -> None:
    asserted = [
        {
            "kind": "ownership.asserted",
            "effective": "2024-03-01",
            "holder": "investor-a",
            "company": "moonshot-ai",
            "fraction": "0.203",
        },
        {
            "kind": "ownership.asserted",
            "effective": "2024-03-01",
            "key": "press",
            "holder": "investor-b",
            "company": "moonshot-ai",
            "fraction": "0.15",
        },
        {
            "kind": "ownership.asserted",
            "effective": "2023-06-01",
            "holder": "investor-a",
            "company": "moonshot-ai",
            "fraction": "0.21",
            "tolerance": "0.01",
        },
    ]
    problems = ownership.dealledger_check(story=story(records([*TWO_ROUNDS, *asserted])))
    assert [problem.message for problem in problems] == [
        "ownership.asserted 'press' of 2024-03-01: "
        "investor-b holds 0.12 of moonshot-ai by the ledger, asserted 0.15 (tolerance 0.005)"
    ]


def test_a_failed_assertion_shows_the_ledger_s_stake_finely_enough_to_see_the_gap() -> None:
    """Shown to six places, a third held against an assertion of forty threes read "0.333333 ... asserted
    0.3333333333333333333333333333333333333333": the gap, past the fortieth place, could not be seen."""
    third = [*PARTIES, round_closed("moonshot-ai", "seed", "2023-01-10", "10", [line("investor-a", "10")], pre_money="20")]
    asserted = {
        "kind": "ownership.asserted",
        "effective": "2023-06-01",
        "key": "filing",
        "holder": "investor-a",
        "company": "moonshot-ai",
        "fraction": "0." + "3" * 40,
        "tolerance": "0",
    }
    problems = ownership.dealledger_check(story=story(records([*third, asserted])))
    assert [problem.message for problem in problems] == [
        f"ownership.asserted 'filing' of 2023-06-01: investor-a holds 0.{'3' * 42}... (1/3) of moonshot-ai by the "
        f"ledger, asserted 0.{'3' * 40} (tolerance 0)"
    ]


def test_the_host_registers_the_three_views_and_hooks() -> None:
    host = load(entry_points=False)
    assert {"ownership", "portfolio", "league"} <= set(host.views)
    assert host.view_providers["ownership"] == "plugins.ownership"
    facts = [*PARTIES, acquired("alibaba", "2024-01-01", "0.1"), divest("alibaba", "2024-03-01", key="k9", fraction="0.2")]
    everything = story(records(facts))
    problems = host.validate(everything, everything)
    assert [problem.plugin for problem in problems] == ["plugins.ownership"]
    assert host.validate(everything, []) == []  # nothing new, nothing to check


# --- invariants, with hypothesis ---------------------------------------------------------

HOLDERS = ("alibaba", "tencent", "investor-a", "investor-b", "founders", "undisclosed")
INVESTORS = HOLDERS[:4]


def thousandths(at_most: Fraction = Fraction(1)) -> st.SearchStrategy[Decimal]:
    """Fractions with three decimals, more than 0 (a stake bought or sold) and no larger than ``at_most`` (at least
    a thousandth)."""
    return st.integers(min_value=1, max_value=int(at_most * 1000)).map(lambda n: D(n) / 1000)


@st.composite
def ownership_facts(draw: st.DrawFn) -> list[dict[str, Any]]:
    """A valid sequence of rounds, acquisitions and divestments in one company: sales never exceed the holding."""
    facts: list[dict[str, Any]] = []
    for n in range(draw(st.integers(min_value=1, max_value=12))):
        tables = CapTables()
        for record in records(facts):
            tables.apply(record.fact)
        held = tables.holders("moonshot-ai")
        day = date(2020 + n // 12, n % 12 + 1, 1).isoformat()
        what = draw(st.sampled_from(["round", "new-shares", "secondary", "divest-fraction", "divest-portion"]))
        if what == "round":
            amount = draw(st.integers(min_value=1, max_value=10**6))
            lines, left = [], amount
            for name in draw(st.lists(st.sampled_from(INVESTORS), max_size=3, unique=True)):
                paid = draw(st.integers(min_value=0, max_value=left))
                left -= paid
                lines.append(line(name, str(paid), draw(st.sampled_from([None, "cash", "credits", "services"]))))
            named = {paid["party"] for paid in lines}
            silent = draw(st.lists(st.sampled_from([name for name in INVESTORS if name not in named]), max_size=2, unique=True))
            lines += [{"party": name} for name in silent]  # co-investors named without an amount
            pre = draw(st.integers(min_value=0, max_value=10**7))
            facts.append(round_closed("moonshot-ai", f"r{n}", day, str(amount), lines, pre_money=str(pre)))
        elif what == "new-shares":
            fraction = draw(thousandths(Fraction(999, 1000)))
            facts.append(acquired(draw(st.sampled_from(INVESTORS)), day, str(fraction)))
        else:
            seller = draw(st.sampled_from(sorted(held)))
            if held[seller] < Fraction(1, 1000):  # too little to sell a thousandth of the company: a part of it
                what = "divest-portion"
            if what == "secondary":
                buyer = draw(st.sampled_from([name for name in INVESTORS if name != seller]))
                facts.append(acquired(buyer, day, str(draw(thousandths(held[seller]))), seller=seller))
            elif what == "divest-fraction":
                facts.append(divest(seller, day, fraction=str(draw(thousandths(held[seller])))))
            else:
                buyer = draw(st.sampled_from([name for name in HOLDERS if name != seller]))
                facts.append(divest(seller, day, portion=str(draw(thousandths())), buyer=buyer))
    return facts


@settings(max_examples=150, deadline=None)
@given(ownership_facts())
def test_ownership_sums_to_one_and_never_goes_negative(facts: list[dict[str, Any]]) -> None:
    view = OwnershipView()
    query = Query(options={"company": "moonshot-ai"})
    state = view.initial(query)
    ledger = story(records([*PARTIES, *facts]))
    for record in ledger:
        state = view.apply(state, record)
        holders = state.tables.holders("moonshot-ai")
        assert sum(holders.values(), Fraction(0)) == 1
        assert all(share > 0 for share in holders.values())
        split = state.tables.holders("moonshot-ai", split=True)
        assert sum(split.values(), Fraction(0)) == 1  # splitting pools among participants keeps the whole
        assert all(split.get(holder, 0) >= share for holder, share in holders.items() if holder != "undisclosed")
    assert validate(ledger) == []
    assert ownership.dealledger_check(story=ledger) == []
    for options in ({}, {"split_undisclosed": True}):
        asked = Query(options={"company": "moonshot-ai", **options})
        shares = {row["holder"]: row["fraction"] for row in view.rows(state, asked)}  # one per holder, whatever currencies
        assert sum(shares.values(), Fraction(0)) == 1  # exact in the rows too


@settings(max_examples=50, deadline=None)
@given(ownership_facts(), st.data())
def test_selling_more_than_the_holding_is_always_reported(facts: list[dict[str, Any]], data: st.DataObject) -> None:
    tables = CapTables()
    for record in records(facts):
        tables.apply(record.fact)
    holder = data.draw(st.sampled_from(sorted(tables.holders("moonshot-ai"))))
    held = tables.held(holder, "moonshot-ai")
    if held >= Fraction(999, 1000):
        return
    too_much = data.draw(st.integers(min_value=int(held * 1000) + 1, max_value=1000).map(lambda n: D(n) / 1000))
    ledger = story(records([*PARTIES, *facts, divest(holder, "2030-01-01", key="over", fraction=str(too_much))]))
    [problem] = validate(ledger)
    assert problem.message.startswith(f"stake.divested 'over' of 2030-01-01: {holder} holds ")


# --- co-investors named without an amount --------------------------------------------------

WITH_PARTICIPANTS = [
    *PARTIES,
    # 300 at 3300 post (3000 pre): founders keep 3000/3300 = 10/11; alibaba named with 100 -> 100/3300 = 1/33;
    # tencent and investor-a named without amounts: the unattributed 200 -> 200/3300 = 2/33 stays with undisclosed.
    round_closed(
        "moonshot-ai",
        "2024-08",
        "2024-08-05",
        "300",
        [{"party": "alibaba", "amount": "100", "lead": True}, {"party": "tencent"}, {"party": "investor-a"}],
        pre_money="3000",
    ),
]


def test_a_participant_without_an_amount_holds_nothing_by_default() -> None:
    found = rows(OwnershipView(), WITH_PARTICIPANTS, company="moonshot-ai")
    assert [(r["holder"], r["fraction"], r["invested"]) for r in found] == [
        ("founders", Fraction(10, 11), None),
        ("undisclosed", Fraction(2, 33), D(200)),
        ("alibaba", Fraction(1, 33), D(100)),
    ]
    assert rows(PortfolioView(), WITH_PARTICIPANTS, investor="tencent") == []


def test_split_undisclosed_divides_the_unattributed_money_equally_among_the_participants() -> None:
    found = rows(OwnershipView(), WITH_PARTICIPANTS, company="moonshot-ai", split_undisclosed=True)
    # 200 unattributed / 2 participants = 100 each -> 100/3300 = 1/33 each; undisclosed keeps nothing.
    assert [(r["holder"], r["fraction"], r["invested"]) for r in found] == [
        ("founders", Fraction(10, 11), None),
        ("alibaba", Fraction(1, 33), D(100)),
        ("investor-a", Fraction(1, 33), D(100)),
        ("tencent", Fraction(1, 33), D(100)),
    ]
    assert sum((r["fraction"] for r in found), Fraction(0)) == 1
    [row] = rows(PortfolioView(), WITH_PARTICIPANTS, investor="tencent", split_undisclosed=True)
    assert (row["fraction"], row["invested"], row["cost"]) == (Fraction(1, 33), D(100), None)  # cost undisclosed


def test_a_split_pool_is_diluted_like_any_holding() -> None:
    later = round_closed("moonshot-ai", "2025", "2025-01-01", "1100", [line("investor-b", "1100")], pre_money="3300")
    found = {r["holder"]: r["fraction"] for r in rows(OwnershipView(), [*WITH_PARTICIPANTS, later], split_undisclosed=True)}
    # post 4400: everyone x 3300/4400 = 3/4; tencent 1/33 x 3/4 = 1/44; investor-b 1100/4400 = 1/4.
    assert found["tencent"] == Fraction(1, 44) and found["investor-b"] == Fraction(1, 4)
    assert sum(found.values(), Fraction(0)) == 1
    # tencent pays for shares of its own too: the cost of what it holds is still unknown with its share of the pool
    own = round_closed("moonshot-ai", "2025", "2025-01-01", "1100", [line("tencent", "1100")], pre_money="3300")
    [row] = rows(PortfolioView(), [*WITH_PARTICIPANTS, own], investor="tencent", split_undisclosed=True)
    assert (row["invested"], row["cost"]) == (D(1200), None)
    [row] = rows(PortfolioView(), [*WITH_PARTICIPANTS, own], investor="tencent")
    assert (row["invested"], row["cost"]) == (D(1100), D(1100))


def test_undisclosed_selling_takes_from_its_pools_pro_rata() -> None:
    sale = divest("undisclosed", "2024-09-01", fraction="0.01", buyer="investor-b")
    # undisclosed held 2/33 (all of it the pool); after 1/100 goes: 2/33 - 1/100 = 167/3300, split in two.
    found = {r["holder"]: r["fraction"] for r in rows(OwnershipView(), [*WITH_PARTICIPANTS, sale], split_undisclosed=True)}
    assert found["tencent"] == found["investor-a"] == Fraction(167, 6600)
    assert found["investor-b"] == Fraction(1, 100)
    assert sum(found.values(), Fraction(0)) == 1


def test_league_counts_a_participant_without_an_amount_as_an_undisclosed_deal() -> None:
    found = {r["investor"]: r for r in rows(LeagueView(), WITH_PARTICIPANTS)}
    # alibaba: 100 disclosed; tencent: one deal, no amount: None, never 0, and no rank.
    assert (found["alibaba"]["total"], found["alibaba"]["undisclosed_deals"], found["alibaba"]["rank"]) == (D(100), 0, 1)
    tencent = found["tencent"]
    assert (tencent["deals"], tencent["undisclosed_deals"], tencent["cash"], tencent["total"], tencent["rank"]) == (
        1,
        1,
        None,
        None,
        None,
    )
    assert tencent["currency"] == "USD"


def test_a_round_reads_participants_without_amounts() -> None:
    [record] = records([WITH_PARTICIPANTS[-1]])
    fact = record.fact
    assert fact.attributed == D(100)  # type: ignore[attr-defined]
    assert fact.undisclosed_participants == ("tencent", "investor-a")  # type: ignore[attr-defined]
    assert "amount" not in fact.to_dict()["investors"][1]


def test_cap_tables_saved_before_pools_existed_still_load() -> None:
    """A plugin's checkpoint of CapTables from before undisclosed participants reads as tables without pools."""
    import pickle

    tables = CapTables()
    for record in records(TWO_ROUNDS):
        tables.apply(record.fact)
    older = pickle.loads(pickle.dumps(tables))
    del older.__dict__["participations"], older.__dict__["last_pool"]
    table = older.companies["moonshot-ai"]
    object.__delattr__(table, "pools")
    from unittest import mock

    from ledger.folds.captable import Table

    with mock.patch.object(Table, "__reduce_ex__", object.__reduce_ex__):  # a table pickled as the code of then did
        old_bytes = pickle.dumps(older)
    again = pickle.loads(old_bytes)
    # founders 0.64, investor-a 0.2, investor-b 0.12, undisclosed 0.04, as before; a new round with a participant works.
    assert again.holders("moonshot-ai") == tables.holders("moonshot-ai")
    [record] = records([WITH_PARTICIPANTS[-1]])
    again.apply(record.fact)
    assert sum(again.holders("moonshot-ai", split=True).values(), Fraction(0)) == 1
