"""The revenue view (credits and escrow, ASC 606 / IFRS 15) and its checks, on ledgers worked out by hand."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from events.cloud import CreditsGranted, EscrowDeposited, EscrowReleased
from ledger.api import Ledger
from ledger.appending import Incoming
from ledger.errors import ViewError
from ledger.exact import Fraction
from ledger.problems import Problem
from ledger.records import Recorded
from ledger.timeline import story
from ledger.views import Query
from plugins import revenue
from plugins.revenue import RevenueView
from tests.strategies import fact_dicts
from tests.viewkit import party, records, rows

D = Decimal

PARTIES = [
    party("alibaba", "investor"),
    party("alibaba-cloud", "cloud", parent="alibaba"),
    party("taobao", "company", parent="alibaba"),
    party("moonshot-ai"),
    party("minimax"),
    party("zhipu"),
]


def validate(story_: Sequence[Recorded]) -> list[Problem]:
    """Validation as if every fact were in the batch being appended."""
    return revenue.dealledger_validate(story=story_, new=story_)


def grant(grantee: str, day: str, amount: str, expires: str | None = None, currency: str = "USD", **more: str) -> dict[str, Any]:
    fact = {
        "kind": "credits.granted",
        "effective": day,
        "grantor": "alibaba-cloud",
        "grantee": grantee,
        "amount": amount,
        "currency": currency,
        **more,
    }
    if expires:
        fact["expires"] = expires
    return fact


def consume(grantee: str, day: str, amount: str, currency: str = "USD", **more: str) -> dict[str, Any]:
    return {
        "kind": "credits.consumed",
        "effective": day,
        "grantor": "alibaba-cloud",
        "grantee": grantee,
        "amount": amount,
        "currency": currency,
        **more,
    }


def deposit(day: str, amount: str, beneficiary: str = "moonshot-ai") -> dict[str, Any]:
    return {
        "kind": "escrow.deposited",
        "effective": day,
        "account": "moonshot-escrow",
        "depositor": "alibaba",
        "beneficiary": beneficiary,
        "amount": amount,
        "currency": "USD",
    }


def release(day: str, amount: str, to: str = "alibaba-cloud", **more: str) -> dict[str, Any]:
    return {
        "kind": "escrow.released",
        "effective": day,
        "account": "moonshot-escrow",
        "amount": amount,
        "currency": "USD",
        "to": to,
        **more,
    }


def invest(company: str, investor: str, day: str) -> dict[str, Any]:
    return {
        "kind": "round.closed",
        "effective": day,
        "company": company,
        "round": "a",
        "amount": "100",
        "currency": "USD",
        "pre_money": "300",
        "investors": [{"party": investor, "amount": "100"}],
    }


YEAR = [
    *PARTIES,
    invest("moonshot-ai", "alibaba", "2024-02-01"),  # the provider's parent holds moonshot-ai
    invest("minimax", "taobao", "2024-01-15"),  # a sibling of the provider holds minimax
    grant("moonshot-ai", "2024-02-01", "400", expires="2024-08-15", round="a"),
    deposit("2024-02-01", "500"),
    grant("zhipu", "2024-03-01", "100"),
    consume("moonshot-ai", "2024-05-01", "50"),
    grant("minimax", "2024-06-01", "50"),
    consume("moonshot-ai", "2024-07-10", "150"),
    consume("zhipu", "2024-07-20", "30"),
    # 2024-08-15: moonshot-ai's grant expires with 400 - 50 - 150 = 200 unused: breakage.
    release("2024-09-01", "120"),
    release("2024-09-02", "80", to="moonshot-ai"),  # paid to the start-up itself: nobody's revenue here
    consume("minimax", "2024-09-10", "20"),
]


def revenue_rows(facts: list[dict[str, Any]], **options: Any) -> list[tuple[Any, ...]]:
    """Rows as tuples: period, recognized, breakage, deferred, from_investees, currency, fx_difference, escrow_held."""
    found = rows(RevenueView(), facts, provider=options.pop("provider", "alibaba-cloud"), **options)
    return [tuple(row[column] for column in RevenueView.columns) for row in found]


def test_a_year_by_quarter() -> None:
    assert revenue_rows(YEAR, as_of=date(2024, 12, 31)) == [
        # period, recognized, breakage, deferred, from_investees, currency, fx_difference, escrow_held
        # granted 400 + 100; nothing recognised at grant or deposit; alibaba (the provider's parent) holds 500 in escrow
        ("2024-Q1", D(0), D(0), D(500), D(0), "USD", D(0), D(500)),
        ("2024-Q2", D(50), D(0), D(500), D(50), "USD", D(0), D(500)),  # consumed 50 by moonshot-ai; granted 50
        # consumed 150 + 30 + 20, released 120; breakage 200; left 70 (zhipu) + 30 (minimax);
        # from investees: moonshot-ai 150, its escrow 120, minimax 20 (held by taobao, the provider's sibling);
        # escrow held 500 - 120 (to the provider) - 80 (to moonshot-ai) = 300
        ("2024-Q3", D(320), D(200), D(100), D(290), "USD", D(0), D(300)),
        ("2024-Q4", D(0), D(0), D(100), D(0), "USD", D(0), D(300)),  # a quiet quarter still shows both balances
    ]


def test_without_as_of_the_rows_end_with_the_last_facts_period() -> None:
    assert [row[0] for row in revenue_rows(YEAR)] == ["2024-Q1", "2024-Q2", "2024-Q3"]


def test_by_month_and_by_year() -> None:
    months = revenue_rows(YEAR, period="month")
    assert [row[0] for row in months] == [f"2024-{month:02d}" for month in range(2, 10)]
    # August: breakage 200; deferred 70 + 50 (minimax's grant, nothing used yet); escrow untouched
    assert months[-2] == ("2024-08", D(0), D(200), D(120), D(0), "USD", D(0), D(500))
    # 50 + 150 + 30 + 20 consumed + 120 released = 370; 370 - 30 (zhipu, no stake) = 340
    assert revenue_rows(YEAR, period="year") == [("2024", D(370), D(200), D(100), D(340), "USD", D(0), D(300))]


def test_from_investees_counts_only_stakes_above_the_threshold() -> None:
    # Both investees are held exactly 100 / (300 + 100) = 0.25 by the provider's group; the test is "more than".
    by_threshold = {
        threshold: [row[4] for row in revenue_rows(YEAR, period="year", investee_threshold=threshold)]
        for threshold in ("0", "0.2", "0.25", "0.5")
    }
    assert by_threshold == {"0": [D(340)], "0.2": [D(340)], "0.25": [D(0)], "0.5": [D(0)]}
    for bad in ("1", "-0.1", "a lot", "NaN"):
        with pytest.raises(ViewError, match=r"^--investee-threshold: .* is not a fraction from 0 up to"):
            revenue_rows(YEAR, investee_threshold=bad)


def test_breakage_is_dated_at_expiry_even_with_no_later_fact() -> None:
    facts = [*PARTIES, grant("zhipu", "2024-02-01", "100", expires="2024-08-15"), consume("zhipu", "2024-07-10", "40")]
    assert revenue_rows(facts, as_of=date(2024, 8, 14))[-1] == ("2024-Q3", D(40), D(0), D(60), D(0), "USD", D(0), D(0))
    assert revenue_rows(facts, as_of=date(2024, 8, 15))[-1] == ("2024-Q3", D(40), D(60), D(0), D(0), "USD", D(0), D(0))


def test_credits_can_be_used_on_their_expiry_date_and_are_drawn_oldest_first() -> None:
    facts = [
        *PARTIES,
        grant("zhipu", "2024-02-01", "100", expires="2024-08-15"),
        grant("zhipu", "2024-03-01", "100"),
        consume("zhipu", "2024-08-15", "150"),  # 100 from the first grant, 50 from the second
    ]
    assert revenue_rows(facts, as_of=date(2024, 9, 30))[-1] == ("2024-Q3", D(150), D(0), D(50), D(0), "USD", D(0), D(0))
    assert validate(story(records(facts))) == []


def test_from_investees_depends_on_holdings_at_that_moment() -> None:
    def ledger(to: str) -> list[dict[str, Any]]:
        return [
            *PARTIES,
            party("other-cloud", "cloud"),
            invest("moonshot-ai", "alibaba", "2024-02-01"),
            deposit("2024-02-01", "500"),
            release("2024-03-01", "10", to=to),
            {"kind": "stake.divested", "effective": "2024-04-01", "holder": "alibaba", "company": "moonshot-ai", "portion": "1"},
            release("2024-05-01", "10", to=to),
        ]

    # escrow deposited by alibaba, the provider's parent: 500 - 10 = 490 held, then 480
    assert revenue_rows(ledger("alibaba-cloud")) == [
        ("2024-Q1", D(10), D(0), D(0), D(10), "USD", D(0), D(490)),
        ("2024-Q2", D(10), D(0), D(0), D(0), "USD", D(0), D(480)),
    ]
    # A provider outside the group: the same payments are not from its investees, and the escrow is not its group's.
    assert revenue_rows(ledger("other-cloud"), provider="other-cloud") == [
        ("2024-Q1", D(10), D(0), D(0), D(0), "USD", D(0), D(0)),
        ("2024-Q2", D(10), D(0), D(0), D(0), "USD", D(0), D(0)),
    ]


def usd_cny(day: str, rate: str) -> dict[str, Any]:
    return {"kind": "fx.rate", "effective": day, "base": "USD", "quote": "CNY", "rate": rate}


def test_the_contract_liability_keeps_the_grant_dates_rate() -> None:
    """The sample's Moonshot credits in millions: before, 45.9 of the 2,769 granted in CNY went unexplained."""
    facts = [
        *PARTIES,
        usd_cny("2024-01-01", "7.10"),
        invest("moonshot-ai", "alibaba", "2024-02-01"),  # every payment is from an investee
        grant("moonshot-ai", "2024-02-15", "390"),
        consume("moonshot-ai", "2024-03-31", "40"),
        consume("moonshot-ai", "2024-06-30", "80"),
        usd_cny("2024-07-01", "7.27"),
        consume("moonshot-ai", "2024-09-30", "100"),
        consume("moonshot-ai", "2024-12-31", "110"),
    ]
    assert revenue_rows(facts, currency="CNY") == [
        # Granted 390 x 7.10 = 2769. Q1: 40 x 7.10 = 284 recognised, liability 2769 - 284 = 2485.
        ("2024-Q1", D("284.00"), D(0), D("2485.00"), D("284.00"), "CNY", D(0), D(0)),
        # Q2: 80 x 7.10 = 568; liability 2485 - 568 = 1917.
        ("2024-Q2", D("568.00"), D(0), D("1917.00"), D("568.00"), "CNY", D(0), D(0)),
        # Q3: recognised 100 x 7.27 = 727, the liability released at the grant's rate 100 x 7.10 = 710:
        # fx_difference 710 - 727 = -17; liability 1917 - 710 = 1207.
        ("2024-Q3", D("727.00"), D(0), D("1207.00"), D("727.00"), "CNY", D("-17.00"), D(0)),
        # Q4: 110 x 7.27 = 799.70 against 110 x 7.10 = 781: fx_difference -18.70; liability 1207 - 781 = 426 = 60 x 7.10.
        # 426 + (284 + 568 + 727 + 799.70) + (-17 - 18.70) = 2769: every yuan of the consideration is explained.
        ("2024-Q4", D("799.70"), D(0), D("426.00"), D("799.70"), "CNY", D("-18.70"), D(0)),
    ]


def test_breakage_and_escrow_in_another_currency() -> None:
    facts = [
        *PARTIES,
        usd_cny("2024-01-01", "7"),
        grant("zhipu", "2024-02-01", "100", expires="2024-08-15"),
        deposit("2024-02-01", "50"),
        consume("zhipu", "2024-04-01", "30"),
        usd_cny("2024-05-01", "8"),
        release("2024-06-01", "20"),
    ]
    assert revenue_rows(facts, currency="CNY") == [
        # granted 100 x 7 = 700; escrow held 50 USD, at the quarter's closing rate 7 = 350
        ("2024-Q1", D(0), D(0), D("700.00"), D(0), "CNY", D(0), D("350.00")),
        # consumed 30 x 7 = 210 (no fx difference: same rate as the grant); released 20 x 8 = 160 (received and
        # recognised the same day); liability 700 - 210 = 490; escrow 30 USD x 8 = 240
        ("2024-Q2", D("370.00"), D(0), D("490.00"), D(0), "CNY", D(0), D("240.00")),
        # 2024-08-15: 70 expire, breakage 70 x 8 = 560, liability released 70 x 7 = 490: fx_difference -70
        # 0 + (210 + 160) + 560 - 70 = 860 = 700 granted + 160 released, each at its own date's rate
        ("2024-Q3", D(0), D("560.00"), D(0), D(0), "CNY", D("-70.00"), D("240.00")),
    ]
    # In the contract currency nothing is translated: no fx difference, and the figures add up to what was received.
    assert revenue_rows(facts) == [
        ("2024-Q1", D(0), D(0), D(100), D(0), "USD", D(0), D(50)),
        ("2024-Q2", D(50), D(0), D(70), D(0), "USD", D(0), D(30)),
        ("2024-Q3", D(0), D(70), D(0), D(0), "USD", D(0), D(30)),
    ]


def test_translation_needs_a_rate_on_the_grants_date() -> None:
    facts = [*PARTIES, grant("zhipu", "2024-02-01", "700", currency="CNY"), usd_cny("2024-03-01", "7")]
    assert revenue_rows(facts) == [("2024-Q1", D(0), D(0), D(700), D(0), "CNY", D(0), D(0))]
    with pytest.raises(ViewError, match=r"^no fx.rate for CNY->USD on or before 2024-02-01$"):
        revenue_rows(facts, currency="USD")


def test_currencies_are_never_summed_silently() -> None:
    facts = [*PARTIES, grant("zhipu", "2024-02-01", "700", currency="CNY"), grant("zhipu", "2024-05-01", "10")]
    assert revenue_rows(facts) == [
        ("2024-Q1", D(0), D(0), D(700), D(0), "CNY", D(0), D(0)),
        ("2024-Q2", D(0), D(0), D(700), D(0), "CNY", D(0), D(0)),
        ("2024-Q2", D(0), D(0), D(10), D(0), "USD", D(0), D(0)),
    ]


def test_options_are_checked() -> None:
    with pytest.raises(ViewError, match="needs --provider"):
        rows(RevenueView(), YEAR)
    with pytest.raises(ViewError, match="--period"):
        rows(RevenueView(), YEAR, provider="alibaba-cloud", period="week")
    assert revenue_rows(PARTIES) == []


def test_validation_rejects_over_consumption_and_over_release() -> None:
    facts = [
        *PARTIES,
        grant("moonshot-ai", "2024-02-01", "400", expires="2024-08-15"),
        deposit("2024-02-01", "500"),
        consume("moonshot-ai", "2024-03-01", "450", key="greedy"),
        consume("moonshot-ai", "2024-08-16", "1", key="too-late"),
        release("2024-09-01", "600", key="drained"),
    ]
    ledger = records(facts)
    problems = validate(story(ledger))
    assert [problem.message for problem in problems] == [
        "credits.consumed 'greedy' of 2024-03-01: "
        "moonshot-ai has 400 USD of alibaba-cloud credits outstanding, cannot consume 450",
        "credits.consumed 'too-late' of 2024-08-16: moonshot-ai has 0 USD of alibaba-cloud credits outstanding, cannot consume 1",
        "escrow.released 'drained' of 2024-09-01: escrow account 'moonshot-escrow' holds 500 USD, cannot release 600",
    ]
    assert [problem.facts for problem in problems] == [(ledger[-3].id,), (ledger[-2].id,), (ledger[-1].id,)]
    # Recognised revenue never exceeds the consideration: only what was there counts.
    assert revenue_rows(facts)[-1][:2] == ("2024-Q3", D(500))
    assert revenue.dealledger_check(story=story(ledger)) == problems


def test_a_back_dated_release_is_checked_against_later_ones() -> None:
    facts = [*PARTIES, deposit("2024-02-01", "500"), release("2024-06-01", "400", key="later")]
    assert validate(story(records(facts))) == []
    back_dated = [*facts, release("2024-03-01", "200", key="early")]
    [problem] = validate(story(records(back_dated)))
    assert problem.message.startswith("escrow.released 'later' of 2024-06-01: escrow account 'moonshot-escrow' holds 300 USD")


@st.composite
def credit_facts(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Grants, consumption and escrow movements on random days, some of them asking for more than is there."""
    facts: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(min_value=1, max_value=15))):
        day = date(2024, draw(st.integers(1, 12)), draw(st.integers(1, 28)))
        amount = str(draw(st.integers(min_value=1, max_value=100)))
        who = draw(st.sampled_from(["moonshot-ai", "zhipu"]))
        what = draw(st.sampled_from(["grant", "consume", "deposit", "release"]))
        currency = draw(st.sampled_from(["USD", "EUR"]))
        if what == "grant":
            days = draw(st.none() | st.integers(min_value=1, max_value=200))
            expiry = date.fromordinal(day.toordinal() + days).isoformat() if days else None
            facts.append(grant(who, day.isoformat(), amount, expires=expiry, currency=currency))
        elif what == "consume":
            facts.append(consume(who, day.isoformat(), amount, currency=currency))
        elif what == "deposit":
            facts.append(deposit(day.isoformat(), amount, beneficiary=who))
        else:
            facts.append(release(day.isoformat(), amount, to=draw(st.sampled_from(["alibaba-cloud", who]))))
    return facts


@settings(max_examples=100, deadline=None)
@given(credit_facts())
def test_credits_and_escrow_are_conserved(facts: list[dict[str, Any]]) -> None:
    ledger = story(records([*PARTIES, *facts]))
    book = revenue.RevenueBook()
    for record in ledger:
        book.apply(record)
    assert book.credits.conservation() == []
    assert book.escrow.conservation() == []
    for grant_ in book.credits.grants:
        assert grant_.consumed + grant_.expired + grant_.outstanding == grant_.amount
        assert min(grant_.consumed, grant_.expired, grant_.outstanding) >= 0
    for account in book.escrow.accounts.values():
        assert account.released + account.held == account.deposited and account.held >= 0
    found = rows(RevenueView(), ledger, provider="alibaba-cloud", as_of=date(2025, 12, 31), period="year")
    granted = sum((grant_.amount for grant_ in book.credits.grants), D(0))
    released = sum((account.released for account in book.escrow.accounts.values()), D(0))
    recognized = sum((row["recognized"] + row["breakage"] for row in found), D(0))
    assert recognized <= granted + released  # recognised never exceeds the consideration
    for currency in {row["currency"] for row in found}:
        last = [row for row in found if row["currency"] == currency][-1]
        never_expire = [g for g in book.credits.grants if g.expires is None and g.currency == currency]
        assert last["deferred"] == sum((g.outstanding for g in never_expire), D(0))


@st.composite
def ledgers_with_rates(draw: st.DrawFn) -> tuple[list[dict[str, Any]], dict[str, list[tuple[date, D]]]]:
    """Credit and escrow facts in USD and EUR, and rates of both into CNY that move during the year.

    Rates have two decimals and amounts are whole, so every translated amount is exact in hundredths.
    """
    rates: dict[str, list[tuple[date, D]]] = {}
    facts: list[dict[str, Any]] = []
    for base in ("USD", "EUR"):
        days = draw(st.sets(st.dates(date(2024, 1, 2), date(2025, 6, 30)), max_size=6))
        for day in [date(2024, 1, 1), *sorted(days)]:
            rate = D(draw(st.integers(min_value=100, max_value=999))) / 100
            rates.setdefault(base, []).append((day, rate))
            facts.append({"kind": "fx.rate", "effective": day.isoformat(), "base": base, "quote": "CNY", "rate": str(rate)})
    return [*facts, *draw(credit_facts())], rates


@settings(max_examples=100, deadline=None)
@given(ledgers_with_rates())
def test_translated_figures_add_up_to_the_consideration_at_its_own_rates(
    drawn: tuple[list[dict[str, Any]], dict[str, list[tuple[date, D]]]],
) -> None:
    facts, rates = drawn

    def rate(currency: str, day: date) -> D:
        return [value for since, value in rates[currency] if since <= day][-1]

    ledger = story(records([*PARTIES, *facts]))
    # The consideration, worked out without the view: every grant, and what escrow really paid the provider.
    held = D(0)
    received: dict[str, D] = {}  # contract currency -> amount
    in_cny = D(0)  # each amount at the rate of the day it was received
    for record in ledger:
        fact = record.fact
        if isinstance(fact, CreditsGranted):
            received[fact.currency] = received.get(fact.currency, D(0)) + fact.amount
            in_cny += fact.amount * rate(fact.currency, fact.effective)
        elif isinstance(fact, EscrowDeposited):
            held += fact.amount
        elif isinstance(fact, EscrowReleased):
            paid = min(held, fact.amount)
            held -= paid
            if fact.to == "alibaba-cloud" and paid:
                received[fact.currency] = received.get(fact.currency, D(0)) + paid
                in_cny += paid * rate(fact.currency, fact.effective)
    as_of = date(2025, 12, 31)
    native = rows(RevenueView(), ledger, provider="alibaba-cloud", as_of=as_of, period="year")
    for currency in received:
        mine = [row for row in native if row["currency"] == currency]
        recognized = sum((row["recognized"] for row in mine), D(0))
        breakage = sum((row["breakage"] for row in mine), D(0))
        assert recognized <= received[currency]  # never more than the consideration, in the contract's currency
        assert mine[-1]["deferred"] + recognized + breakage == received[currency]
        assert all(row["fx_difference"] == 0 for row in mine)
    translated = rows(RevenueView(), ledger, provider="alibaba-cloud", as_of=as_of, period="year", currency="CNY")
    if not translated:
        assert in_cny == 0
        return
    flows = sum((row["recognized"] + row["breakage"] + row["fx_difference"] for row in translated), D(0))
    assert translated[-1]["deferred"] + flows == in_cny


def test_without_as_of_breakage_still_to_come_is_shown() -> None:
    """The current view runs to the last expiry the facts already schedule, not only to the last fact."""
    facts = [*PARTIES, grant("zhipu", "2024-02-01", "100", expires="2024-08-15"), consume("zhipu", "2024-02-10", "30")]
    assert revenue_rows(facts) == [
        ("2024-Q1", D(30), D(0), D(70), D(0), "USD", D(0), D(0)),
        ("2024-Q2", D(0), D(0), D(70), D(0), "USD", D(0), D(0)),
        ("2024-Q3", D(0), D(70), D(0), D(0), "USD", D(0), D(0)),
    ]
    assert revenue_rows(facts, as_of=date(2024, 9, 30)) == revenue_rows(facts)


def test_consumption_draws_the_oldest_grants_first_across_several_and_a_pool_used_up_opens_again() -> None:
    book = revenue.RevenueBook(books=False)
    facts = [
        grant("moonshot-ai", "2024-01-01", "10"),
        grant("moonshot-ai", "2024-02-01", "20"),
        grant("moonshot-ai", "2024-03-01", "30"),
        consume("moonshot-ai", "2024-04-01", "35"),  # all of the first two, 5 of the third
        consume("moonshot-ai", "2024-05-01", "25"),  # the rest of the third: the pool is used up
        grant("moonshot-ai", "2024-06-01", "7"),
        consume("moonshot-ai", "2024-07-01", "8"),  # 7 there, 1 missing
    ]
    for record in records(facts):
        book.apply(record)
    consumed = [grant.consumed for grant in book.credits.grants]
    assert consumed == [Decimal(10), Decimal(20), Decimal(30), Decimal(7)]
    assert book.credits.outstanding(("alibaba-cloud", "moonshot-ai", "USD")) == 0
    assert [problem.message.split(": ", 1)[1] for problem in book.problems] == [
        "moonshot-ai has 7 USD of alibaba-cloud credits outstanding, cannot consume 8"
    ]


def test_through_the_store_without_as_of_breakage_and_periods_run_to_the_last_fact_of_any_kind(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    mark = {"kind": "valuation.marked", "effective": "2024-11-30", "company": "zhipu", "valuation": "1", "currency": "USD"}
    facts = [*PARTIES, grant("zhipu", "2024-02-01", "100", expires="2024-08-15"), consume("zhipu", "2024-03-10", "40"), mark]
    with Ledger(sqlite_url) as ledger:
        ledger.append([Incoming(f"test:{n}", ledger.catalogue.parse(fact)) for n, fact in enumerate(facts, 1)])
        asked: list[frozenset[str] | None] = []
        read = ledger.store.effective_between
        monkeypatch.setattr(ledger.store, "effective_between", lambda *args: asked.append(args[3]) or read(*args))
        answered = ledger.view("revenue", Query(options={"provider": "alibaba-cloud"}))
    assert asked == [RevenueView.kinds] and "valuation.marked" not in RevenueView.kinds
    assert answered == rows(RevenueView(), facts, provider="alibaba-cloud")
    assert [row["period"] for row in answered] == ["2024-Q1", "2024-Q2", "2024-Q3", "2024-Q4"]  # to the mark's quarter
    assert answered[2]["breakage"] == D(60)


STAKE_PARTIES = ("ant", "bee", "cat", "dog", "founders", "undisclosed")
STAKE_KINDS = ("party.registered",) * 3 + ("stake.acquired",) * 3 + ("stake.divested", "round.closed", "ownership.asserted")
"""Mostly registrations (parties moving between groups) and purchases (holders in several companies)."""


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.sampled_from(STAKE_KINDS).flatmap(
            lambda kind: fact_dicts(kind, parties=STAKE_PARTIES, effective=st.just(date(2021, 1, 1)))
        ),
        min_size=1,
        max_size=25,
    )
)
def test_a_group_s_stake_is_what_its_holders_hold_together_after_every_fact(facts: list[dict[str, Any]]) -> None:
    """``RevenueBook.stake`` (kept between facts, and read from the group's members or the company's holders,
    whichever is shorter) is at every step the sum of what each holder whose group it is holds, as the tables and
    parent links then stand: through rounds, sales, re-registrations that move a party to another group, and loops."""
    view = RevenueView()
    book = view.initial(Query())
    slugs = [slug for slug in STAKE_PARTIES if slug != "undisclosed"]
    for record in story(records(facts)):
        book = view.apply(book, record)
        groups = {book.parties.root(slug) for slug in slugs} | set(slugs)
        for group in sorted(groups):
            for company in slugs:
                expected = sum(
                    (
                        book.tables.held(holder, company)
                        for holder in list(book.tables.stakeholders(company))
                        if book.parties.root(holder) == group
                    ),
                    Fraction(0),
                )
                assert book.stake(group, company) == expected, (group, company)
