"""The revenue view (credits and escrow, ASC 606 / IFRS 15) and its checks, on ledgers worked out by hand."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.errors import ViewError
from ledger.timeline import story
from plugins import revenue
from plugins.revenue import RevenueView
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


def validate(story_: list) -> list:  # type: ignore[type-arg]
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
    found = rows(RevenueView(), facts, provider=options.pop("provider", "alibaba-cloud"), **options)
    return [tuple(row[column] for column in RevenueView.columns) for row in found]


def test_a_year_by_quarter() -> None:
    assert revenue_rows(YEAR, as_of=date(2024, 12, 31)) == [
        # period, recognized, breakage, deferred, from_investees, currency
        ("2024-Q1", D(0), D(0), D(500), D(0), "USD"),  # granted 400 + 100; nothing recognised at grant or deposit
        ("2024-Q2", D(50), D(0), D(500), D(50), "USD"),  # consumed 50 by moonshot-ai (alibaba's investee); granted 50
        # consumed 150 + 30 + 20, released 120; breakage 200; left 70 (zhipu) + 30 (minimax);
        # from investees: moonshot-ai 150, its escrow 120, minimax 20 (held by taobao, the provider's sibling)
        ("2024-Q3", D(320), D(200), D(100), D(290), "USD"),
        ("2024-Q4", D(0), D(0), D(100), D(0), "USD"),  # a quiet quarter still shows the liability
    ]


def test_without_as_of_the_rows_end_with_the_last_facts_period() -> None:
    assert [row[0] for row in revenue_rows(YEAR)] == ["2024-Q1", "2024-Q2", "2024-Q3"]


def test_by_month_and_by_year() -> None:
    months = revenue_rows(YEAR, period="month")
    assert [row[0] for row in months] == [f"2024-{month:02d}" for month in range(2, 10)]
    assert months[-2] == ("2024-08", D(0), D(200), D(120), D(0), "USD")
    assert revenue_rows(YEAR, period="year") == [("2024", D(370), D(200), D(100), D(340), "USD")]


def test_breakage_is_dated_at_expiry_even_with_no_later_fact() -> None:
    facts = [*PARTIES, grant("zhipu", "2024-02-01", "100", expires="2024-08-15"), consume("zhipu", "2024-07-10", "40")]
    assert revenue_rows(facts, as_of=date(2024, 8, 14))[-1] == ("2024-Q3", D(40), D(0), D(60), D(0), "USD")
    assert revenue_rows(facts, as_of=date(2024, 8, 15))[-1] == ("2024-Q3", D(40), D(60), D(0), D(0), "USD")


def test_credits_can_be_used_on_their_expiry_date_and_are_drawn_oldest_first() -> None:
    facts = [
        *PARTIES,
        grant("zhipu", "2024-02-01", "100", expires="2024-08-15"),
        grant("zhipu", "2024-03-01", "100"),
        consume("zhipu", "2024-08-15", "150"),  # 100 from the first grant, 50 from the second
    ]
    assert revenue_rows(facts, as_of=date(2024, 9, 30))[-1] == ("2024-Q3", D(150), D(0), D(50), D(0), "USD")
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

    assert revenue_rows(ledger("alibaba-cloud")) == [
        ("2024-Q1", D(10), D(0), D(0), D(10), "USD"),
        ("2024-Q2", D(10), D(0), D(0), D(0), "USD"),
    ]
    # A provider outside the group: the same payments are not from its investees.
    assert revenue_rows(ledger("other-cloud"), provider="other-cloud") == [
        ("2024-Q1", D(10), D(0), D(0), D(0), "USD"),
        ("2024-Q2", D(10), D(0), D(0), D(0), "USD"),
    ]


def test_conversion_uses_each_amounts_date_and_the_period_end_for_deferred() -> None:
    facts = [
        *PARTIES,
        {"kind": "fx.rate", "effective": "2024-01-01", "base": "USD", "quote": "CNY", "rate": "7"},
        grant("zhipu", "2024-02-01", "700", currency="CNY"),
        consume("zhipu", "2024-04-01", "350", currency="CNY"),
        {"kind": "fx.rate", "effective": "2024-05-01", "base": "USD", "quote": "CNY", "rate": "8"},
    ]
    assert revenue_rows(facts) == [
        ("2024-Q1", D(0), D(0), D(700), D(0), "CNY"),
        ("2024-Q2", D(350), D(0), D(350), D(0), "CNY"),
    ]
    assert revenue_rows(facts, currency="USD") == [
        ("2024-Q1", D(0), D(0), D(100), D(0), "USD"),
        ("2024-Q2", D(50), D(0), D("43.75"), D(0), "USD"),  # 350 CNY at 7, then 350 CNY still owed at 8
    ]
    with pytest.raises(ViewError, match=r"^no fx.rate for CNY->EUR on or before 2024-04-01$"):
        revenue_rows(facts, currency="EUR")


def test_currencies_are_never_summed_silently() -> None:
    facts = [*PARTIES, grant("zhipu", "2024-02-01", "700", currency="CNY"), grant("zhipu", "2024-05-01", "10")]
    assert revenue_rows(facts) == [
        ("2024-Q1", D(0), D(0), D(700), D(0), "CNY"),
        ("2024-Q2", D(0), D(0), D(700), D(0), "CNY"),
        ("2024-Q2", D(0), D(0), D(10), D(0), "USD"),
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
        if what == "grant":
            days = draw(st.none() | st.integers(min_value=1, max_value=200))
            expiry = date.fromordinal(day.toordinal() + days).isoformat() if days else None
            facts.append(grant(who, day.isoformat(), amount, expires=expiry))
        elif what == "consume":
            facts.append(consume(who, day.isoformat(), amount))
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
    if found:
        assert found[-1]["deferred"] == sum((g.outstanding for g in book.credits.grants if g.expires is None), D(0))


def test_without_as_of_breakage_still_to_come_is_shown() -> None:
    """The current view runs to the last expiry the facts already schedule, not only to the last fact."""
    facts = [*PARTIES, grant("zhipu", "2024-02-01", "100", expires="2024-08-15"), consume("zhipu", "2024-02-10", "30")]
    assert revenue_rows(facts) == [
        ("2024-Q1", D(30), D(0), D(70), D(0), "USD"),
        ("2024-Q2", D(0), D(0), D(70), D(0), "USD"),
        ("2024-Q3", D(0), D(70), D(0), D(0), "USD"),
    ]
    assert revenue_rows(facts, as_of=date(2024, 9, 30)) == revenue_rows(facts)
