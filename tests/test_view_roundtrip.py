"""The roundtrip view and the reconciliation of credits promised in rounds, on ledgers worked out by hand."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ledger.exact import Fraction
from ledger.timeline import story
from plugins import revenue
from plugins.roundtrip import RoundTripView
from tests.viewkit import party, records, rows

D = Decimal

PARTIES = [
    party("alibaba", "investor"),
    party("alibaba-cloud", "cloud", parent="alibaba"),
    party("taobao", "investor", parent="alibaba"),
    party("tencent", "investor"),
    party("other-cloud", "cloud"),
    party("moonshot-ai"),
    party("minimax"),
    party("zhipu"),
]


def fact(kind: str, day: str, **fields: Any) -> dict[str, Any]:
    return {"kind": kind, "effective": day, **fields}


def cloud(kind: str, day: str, grantee: str, amount: str, **more: Any) -> dict[str, Any]:
    return fact(kind, day, grantor="alibaba-cloud", grantee=grantee, amount=amount, currency="USD", **more)


def escrow(kind: str, day: str, amount: str, **more: Any) -> dict[str, Any]:
    return fact(kind, day, account="m-escrow", amount=amount, currency="USD", **more)


LEDGER = [
    *PARTIES,
    # Alibaba puts 100 into moonshot-ai at 300 pre-money (a quarter of it): 60 in cash, held in escrow, 40 in credits.
    fact(
        "round.closed",
        "2024-02-01",
        key="moonshot-a",
        company="moonshot-ai",
        round="a",
        amount="100",
        currency="USD",
        pre_money="300",
        investors=[
            {"party": "alibaba", "amount": "60"},
            {"party": "alibaba", "amount": "40", "consideration": "credits"},
        ],
    ),
    cloud("credits.granted", "2024-02-01", "moonshot-ai", "40", round="a"),
    escrow("escrow.deposited", "2024-02-01", "60", depositor="alibaba", beneficiary="moonshot-ai"),
    cloud("credits.granted", "2024-01-10", "zhipu", "20"),  # a customer the group never invested in
    cloud("credits.consumed", "2024-03-15", "moonshot-ai", "10"),
    cloud("credits.consumed", "2024-03-20", "zhipu", "10"),
    # taobao (in alibaba's group) buys a tenth of minimax at a price nobody reported
    fact("stake.acquired", "2024-04-01", holder="taobao", company="minimax", fraction="0.1", seller="founders"),
    # minimax raises 50; alibaba takes part without a reported amount: undisclosed, never 0
    fact(
        "round.closed",
        "2024-05-01",
        company="minimax",
        round="b",
        amount="50",
        currency="USD",
        post_money="500",
        investors=[{"party": "tencent", "amount": "30"}, {"party": "alibaba"}],
    ),
    escrow("escrow.released", "2024-05-10", "25", to="alibaba-cloud"),
    escrow("escrow.released", "2024-05-20", "5", to="moonshot-ai"),  # cash handed to the start-up: no revenue
    cloud("credits.consumed", "2024-06-01", "moonshot-ai", "30"),
    cloud("credits.consumed", "2024-06-10", "zhipu", "5"),
]

COLUMNS = RoundTripView.columns


def roundtrip(facts: list[dict[str, Any]], **options: Any) -> list[dict[str, Any]]:
    return rows(RoundTripView(), facts, provider=options.pop("provider", "alibaba-cloud"), **options)


def flows(**given: Any) -> dict[str, Any]:
    """A row's money columns: zero unless given."""
    row: dict[str, Any] = {name: D(0) for name in COLUMNS if name not in ("period", "company", "share_of_revenue", "currency")}
    row["undisclosed"] = 0
    return {**row, **given}


def test_by_quarter() -> None:
    assert roundtrip(LEDGER, as_of=date(2024, 9, 30)) == [
        {
            "period": "2024-Q1",
            "company": "moonshot-ai",
            **flows(
                invested_cash=D(60),
                invested_credits=D(40),
                credits_granted=D(40),
                credits_consumed=D(10),
                escrow_deposited=D(60),
                escrow_held=D(60),
                recognized=D(10),
            ),
            # the provider recognised 10 from moonshot-ai and 10 from zhipu: half of it came back
            "share_of_revenue": Fraction(1, 2),
            "currency": "USD",
        },
        # the stake bought at no reported price has no currency either
        {"period": "2024-Q2", "company": "minimax", **flows(undisclosed=1), "share_of_revenue": None, "currency": None},
        # alibaba's part in round b was not reported: counted as undisclosed, no amount invented
        {"period": "2024-Q2", "company": "minimax", **flows(undisclosed=1), "share_of_revenue": Fraction(0), "currency": "USD"},
        {
            "period": "2024-Q2",
            "company": "moonshot-ai",
            # released 25 to the provider + 5 to moonshot-ai = 30; held 60 - 30 = 30;
            # recognised 30 consumed + 25 released = 55, of the provider's 55 + 5 (zhipu) = 60
            **flows(credits_consumed=D(30), escrow_released=D(30), escrow_held=D(30), recognized=D(55)),
            "share_of_revenue": Fraction(11, 12),
            "currency": "USD",
        },
        # a quiet quarter still shows the escrow the group holds for the company; no revenue, so no share
        {"period": "2024-Q3", "company": "moonshot-ai", **flows(escrow_held=D(30)), "share_of_revenue": None, "currency": "USD"},
    ]


def test_by_year_and_as_of() -> None:
    [no_currency, minimax, moonshot] = roundtrip(LEDGER, period="year")
    assert (no_currency["company"], no_currency["currency"], no_currency["undisclosed"]) == ("minimax", None, 1)
    assert minimax["share_of_revenue"] == 0
    # 2024: recognised 10 + 55 = 65 from moonshot-ai of 10 + 10 + 25 + 30 + 5 = 80 in all
    assert moonshot == {
        "period": "2024",
        "company": "moonshot-ai",
        **flows(
            invested_cash=D(60),
            invested_credits=D(40),
            credits_granted=D(40),
            credits_consumed=D(40),
            escrow_deposited=D(60),
            escrow_released=D(30),
            escrow_held=D(30),
            recognized=D(65),
        ),
        "share_of_revenue": Fraction(13, 16),
        "currency": "USD",
    }
    assert [row["period"] for row in roundtrip(LEDGER, as_of=date(2024, 3, 31))] == ["2024-Q1"]


def test_only_the_providers_group_counts() -> None:
    # other-cloud's group never invested nor paid into escrow, and nothing it earned came from an investee
    assert roundtrip(LEDGER, provider="other-cloud") == []
    # the same money seen from outside alibaba's group: moonshot-ai's escrow is not other-cloud's
    elsewhere = [*LEDGER, escrow("escrow.released", "2024-07-01", "10", to="other-cloud")]
    assert roundtrip(elsewhere, provider="other-cloud") == []
    assert roundtrip(elsewhere, as_of=date(2024, 9, 30))[-1]["escrow_held"] == D(20)


def test_a_new_beneficiary_takes_what_the_account_holds() -> None:
    moved = [*LEDGER, escrow("escrow.deposited", "2024-08-01", "1", depositor="alibaba", beneficiary="minimax")]
    third = {
        (row["company"], row["currency"]): row for row in roundtrip(moved, as_of=date(2024, 9, 30)) if row["period"] == "2024-Q3"
    }
    # the account's 30 now follow its new beneficiary: 30 + 1 held for minimax, nothing left for moonshot-ai (no row)
    assert list(third) == [("minimax", "USD")]
    assert (third[("minimax", "USD")]["escrow_deposited"], third[("minimax", "USD")]["escrow_held"]) == (D(1), D(31))


def spend(day: str, customer: str, provider: str, amount: str, currency: str = "USD", **more: Any) -> dict[str, Any]:
    return fact("spend.committed", day, customer=customer, provider=provider, amount=amount, currency=currency, **more)


COMMITTED = [
    *LEDGER,
    party("stepfun"),
    # moonshot-ai promises alibaba-cloud 100 USD of spend with the round that brought it alibaba's money
    spend("2024-02-01", "moonshot-ai", "alibaba-cloud", "100", round="a"),
    # stepfun: no investment, no credits, no escrow; only two promises to alibaba's cloud, in EUR
    spend("2024-08-01", "stepfun", "alibaba-cloud", "70", "EUR", years="3"),
    spend("2024-08-15", "stepfun", "alibaba-cloud", "30", "EUR", term_end="2026-08-15"),
    # a promise to another group's cloud is none of alibaba's business
    spend("2024-09-01", "zhipu", "other-cloud", "500"),
]


def test_a_spending_commitment_is_set_beside_the_money_in() -> None:
    by_quarter = rows(RoundTripView(), COMMITTED, as_of=date(2024, 9, 30), provider="alibaba-cloud")
    # committed, by hand: moonshot-ai 100 USD in 2024-Q1; stepfun 70 + 30 = 100 EUR in 2024-Q3; zhipu's 500 is
    # promised to other-cloud, outside alibaba's group, so it shows nowhere here
    assert [(row["period"], row["company"], row["currency"], row["committed"]) for row in by_quarter] == [
        ("2024-Q1", "moonshot-ai", "USD", D(100)),
        ("2024-Q2", "minimax", None, D(0)),
        ("2024-Q2", "minimax", "USD", D(0)),
        ("2024-Q2", "moonshot-ai", "USD", D(0)),
        ("2024-Q3", "moonshot-ai", "USD", D(0)),
        ("2024-Q3", "stepfun", "EUR", D(100)),
    ]
    # stepfun appears through its commitment alone; the provider earned nothing in EUR, so no share
    assert by_quarter[-1] == {
        "period": "2024-Q3",
        "company": "stepfun",
        **flows(committed=D(100)),
        "share_of_revenue": None,
        "currency": "EUR",
    }
    # everything else is what the same ledger answers without the commitments
    without = roundtrip(LEDGER, as_of=date(2024, 9, 30))
    assert [{**row, "committed": D(0)} for row in by_quarter[:-1]] == without
    # by year: the promises add up within the year and the currency; the share of revenue does not move (13/16)
    yearly = rows(RoundTripView(), COMMITTED, provider="alibaba-cloud", period="year")
    by_year = {row["company"]: row for row in yearly}
    assert (by_year["moonshot-ai"]["committed"], by_year["moonshot-ai"]["share_of_revenue"]) == (D(100), Fraction(13, 16))
    assert by_year["stepfun"]["committed"] == D(100)
    # seen from other-cloud, only zhipu's promise: 500 USD in 2024-Q3, nothing earned, so no share
    assert rows(RoundTripView(), COMMITTED, provider="other-cloud") == [
        {"period": "2024-Q3", "company": "zhipu", **flows(committed=D(500)), "share_of_revenue": None, "currency": "USD"}
    ]


def check(facts: list[dict[str, Any]]) -> list[str]:
    return [problem.message for problem in revenue.dealledger_check(story=story(records(facts)))]


def test_check_reconciles_credits_promised_in_rounds_with_credits_granted() -> None:
    assert check(LEDGER) == []
    short = [fact_ for fact_ in LEDGER if fact_.get("round") != "a" or fact_["kind"] != "credits.granted"]
    # 30 granted for the round, and 10 more that name no round: only the 30 count against the promise
    short.append(cloud("credits.granted", "2024-02-01", "moonshot-ai", "30", round="a"))
    short.append(cloud("credits.granted", "2024-02-01", "moonshot-ai", "10"))
    assert check(short) == [
        "round.closed 'moonshot-a' of 2024-02-01: alibaba's group promised 40 USD of credits to moonshot-ai in round 'a', "
        "its clouds granted 30 USD for it (shortfall 10 USD)"
    ]
    # a second grant for the same round makes up the difference
    assert check([*short, cloud("credits.granted", "2024-03-01", "moonshot-ai", "10", round="a")]) == []
    assert check([*short, cloud("credits.granted", "2024-03-01", "moonshot-ai", "10", round="A")]) != []
    over = [*LEDGER, cloud("credits.granted", "2024-03-01", "moonshot-ai", "5", round="a", key="extra")]
    assert check(over) == [
        "round.closed 'moonshot-a' of 2024-02-01: alibaba's group promised 40 USD of credits to moonshot-ai in round 'a', "
        "its clouds granted 45 USD for it (excess 5 USD)"
    ]
    unknown = [*LEDGER, cloud("credits.granted", "2024-03-01", "zhipu", "7", round="seed", key="zhipu-seed")]
    assert check(unknown) == [
        "credits.granted 'zhipu-seed' of 2024-03-01: alibaba's group granted 7 USD of credits to zhipu for round 'seed', "
        "which promises no credits from it (excess 7 USD)"
    ]


def test_credits_promised_by_an_undisclosed_amount_are_not_reconciled() -> None:
    undisclosed = fact(
        "round.closed",
        "2024-07-01",
        company="zhipu",
        round="c",
        amount="10",
        currency="USD",
        post_money="100",
        investors=[{"party": "alibaba", "consideration": "credits"}],
    )
    assert check([*LEDGER, undisclosed]) == []


@pytest.fixture
def run(run, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The shared ``run`` (``dealledger`` in an empty folder), writing ``facts.jsonl`` from dicts first when given."""
    shared = run

    def invoke(*args: str, facts: list[dict[str, Any]] | None = None):  # type: ignore[no-untyped-def]
        if facts is not None:
            (tmp_path / "facts.jsonl").write_text("".join(json.dumps(fact_) + "\n" for fact_ in facts))
        return shared(*args)

    return invoke


def test_the_roundtrip_view_from_the_command_line(run) -> None:  # type: ignore[no-untyped-def]
    assert run("append", "--file", "facts.jsonl", facts=LEDGER).exit_code == 0
    result = run("view", "roundtrip", "--provider", "alibaba-cloud", "--period", "year", "--format", "json")
    assert result.exit_code == 0, result.output
    moonshot = json.loads(result.output)[-1]
    assert {
        name: moonshot[name] for name in ("company", "invested_credits", "credits_consumed", "escrow_held", "recognized")
    } == {
        "company": "moonshot-ai",
        "invested_credits": "40",
        "credits_consumed": "40",
        "escrow_held": "30",
        "recognized": "65",
    }
    assert D(moonshot["share_of_revenue"]) == D("0.8125")  # 13/16, exactly
    csv_text = run("view", "roundtrip", "--provider", "alibaba-cloud", "--format", "csv").output
    assert csv_text.splitlines()[0] == ",".join(COLUMNS)
    missing = run("view", "roundtrip")
    assert missing.exit_code == 2 and "Missing option '--provider'" in missing.output


def test_revenue_shows_escrow_held_and_takes_a_threshold_from_the_command_line(run) -> None:  # type: ignore[no-untyped-def]
    run("append", "--file", "facts.jsonl", facts=LEDGER)
    result = run("view", "revenue", "--provider", "alibaba-cloud", "--investee-threshold", "0.25", "--format", "json")
    # moonshot-ai is held exactly 0.25 by the group: not more than the threshold, so nothing is from an investee
    assert [
        (row["period"], row["recognized"], row["from_investees"], row["escrow_held"]) for row in json.loads(result.output)
    ] == [
        ("2024-Q1", "20", "0", "60"),
        ("2024-Q2", "60", "0", "30"),
    ]
    bad = run("view", "revenue", "--provider", "alibaba-cloud", "--investee-threshold", "2")
    assert bad.exit_code == 2  # a value of the wrong form: a misuse, naming the help that tells the right one
    assert bad.output == (
        "Error: --investee-threshold: '2' is not a fraction from 0 up to (but not including) 1, such as 0.2 "
        "(see 'main view revenue --help')\n"
    )


def test_check_names_the_round_and_the_shortfall(run) -> None:  # type: ignore[no-untyped-def]
    assert run("append", "--file", "facts.jsonl", facts=LEDGER).exit_code == 0
    assert run("check").exit_code == 0
    short = fact(
        "round.closed",
        "2024-08-01",
        key="zhipu-c",
        company="zhipu",
        round="c",
        amount="10",
        currency="USD",
        post_money="100",
        investors=[{"party": "alibaba", "amount": "10", "consideration": "credits"}],
    )
    assert run("append", "--file", "facts.jsonl", facts=[short]).exit_code == 0
    result = run("check")
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "[plugins.revenue] round.closed 'zhipu-c' of 2024-08-01: alibaba's group promised 10 USD of credits to zhipu "
        "in round 'c', its clouds granted 0 USD for it (shortfall 10 USD)",
        "Error: 1 problem found",
    ]


STORY = Path(__file__).parent.parent / "examples" / "story.jsonl"


def test_the_sample_story_shows_anthropic_s_aws_commitment(run) -> None:  # type: ignore[no-untyped-def]
    assert run("append", "--file", str(STORY)).exit_code == 0
    result = run("view", "roundtrip", "--provider", "aws", "--period", "year", "--as-of", "2024-12-31", "--format", "json")
    assert result.exit_code == 0, result.output
    picked = [
        (row["period"], row["company"], row["invested_cash"], row["committed"], row["recognized"], row["currency"])
        for row in json.loads(result.output)
    ]
    # Amazon (AWS's parent) paid 1.25B in 2023 and 2.75B + 4B = 6.75B in 2024; Anthropic promised AWS 4B in 2023-11
    assert picked == [
        ("2023", "anthropic", "1250000000", "4000000000", "0", "USD"),
        ("2024", "anthropic", "6750000000", "0", "0", "USD"),
    ]
    quarters = json.loads(run("view", "roundtrip", "--provider", "aws", "--as-of", "2023-12-31", "--format", "json").output)
    # 2023-Q4 moved no money in: its row is there because of the commitment alone
    assert [(row["period"], row["invested_cash"], row["committed"]) for row in quarters] == [
        ("2023-Q3", "1250000000", "0"),
        ("2023-Q4", "0", "4000000000"),
    ]
    # Google's ">$3B" of cloud spend is not in the story: Google Cloud shows Anthropic with no commitment
    google = json.loads(run("view", "roundtrip", "--provider", "google-cloud", "--format", "json").output)
    assert [(row["company"], row["invested_cash"], row["committed"]) for row in google] == [("anthropic", "2000000000", "0")]
    # the fact is indexed under both parties, and explain names it as the whole of the number
    for slug in ("aws", "anthropic"):
        logged = json.loads(run("log", "--party", slug, "--kind", "spend.committed", "--format", "json").output)
        assert [(entry["key"], entry["source"], entry["confidence"]) for entry in logged] == [
            (
                "anthropic-2023-11-aws-spend",
                "https://www.livemint.com/ai/artificial-intelligence/the-ai-deals-enriching-silicon-valley-s-tech-giants-11698987966534.html",
                "medium",
            )
        ]
    question = "explain roundtrip --provider aws --period year --row period=2023 --column committed --format json"
    explained = run(*question.split())
    assert explained.exit_code == 0, explained.output
    moved = [
        (step["kind"], step["effective"], step["delta"])
        for step in json.loads(explained.output)
        if step["delta"] not in (None, "0")
    ]
    assert moved == [("spend.committed", "2023-11-01", "4000000000")]


def test_answers_through_checkpoints_equal_the_fold_from_scratch(sqlite_url: str) -> None:
    """Both views asked again and again while back-dated facts arrive: checkpoints never change an answer."""
    from ledger.api import Ledger, run_view
    from ledger.appending import Incoming
    from ledger.views import Query

    later = [fact_ for fact_ in LEDGER if fact_["effective"] >= "2024-05-01"]
    earlier = [fact_ for fact_ in LEDGER if fact_["effective"] < "2024-05-01"]
    back_dated = [
        cloud("credits.consumed", "2024-02-10", "zhipu", "1"),
        escrow("escrow.deposited", "2024-02-10", "5", depositor="taobao", beneficiary="moonshot-ai"),
        spend("2024-02-10", "zhipu", "alibaba-cloud", "7"),  # makes zhipu appear from 2024-Q1 on
    ]
    questions = [
        (name, Query(as_of=as_of, options={"provider": "alibaba-cloud", "period": period}))
        for name in ("roundtrip", "revenue")
        for as_of in (None, date(2024, 3, 31), date(2024, 12, 31))
        for period in ("quarter", "year")
    ]
    with Ledger(sqlite_url) as ledger:
        ledger.engine.save_after = 0  # a checkpoint after every fold
        for n, batch in enumerate((earlier, later, back_dated)):
            ledger.append([Incoming(f"b{n}:{m}", ledger.catalogue.parse(fact_)) for m, fact_ in enumerate(batch, 1)])
            for name, query in questions:
                scratch = run_view(ledger.host.view(name), ledger.host.view_providers[name], ledger.story(query.as_of), query)
                assert ledger.view(name, query) == scratch
                assert ledger.view(name, query) == scratch  # asked again, from the checkpoint just saved


def test_a_sale_to_the_group_is_its_investment_like_an_acquisition() -> None:
    """tencent sells its minimax stake to taobao for 35: alibaba's group put 35 in cash into minimax that day."""
    sale = fact(
        "stake.divested",
        "2024-08-01",
        holder="tencent",
        company="minimax",
        portion="1",
        buyer="taobao",
        proceeds="35",
        currency="USD",
    )
    bought = fact(
        "stake.acquired",
        "2024-08-01",
        holder="taobao",
        company="minimax",
        fraction="0.06",
        seller="tencent",
        price="35",
        currency="USD",
    )
    as_sold = {(row["period"], row["company"]): row for row in roundtrip([*LEDGER, sale], as_of=date(2024, 9, 30))}
    assert as_sold[("2024-Q3", "minimax")]["invested_cash"] == D(35)
    assert roundtrip([*LEDGER, sale], as_of=date(2024, 9, 30)) == roundtrip([*LEDGER, bought], as_of=date(2024, 9, 30))
