"""Replay is deterministic: views depend on the facts, never on append order or when they were asked."""

from __future__ import annotations

import tempfile
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
from hypothesis import HealthCheck, given, settings

from ledger.api import Ledger
from ledger.appending import Incoming
from ledger.views import Query

COMPANIES = ("moonshot-ai", "minimax", "zhipu-ai")
INVESTORS = ("alibaba", "tencent")
SPENDING = ("credits.consumed", "escrow.released", "stake.divested")
"""Facts that spend what others give (credits, escrow, shares): appended with or after what they spend."""
DAYS = tuple(date(2023, 1, 1) + timedelta(days=45 * n) for n in range(6))

PARTIES: list[dict[str, Any]] = [
    *({"party": c, "type": "company", "sectors": ["ai"]} for c in COMPANIES),
    *({"party": i, "type": "investor"} for i in INVESTORS),
    {"party": "alibaba-cloud", "type": "cloud", "parent": "alibaba"},
    {"party": "us-bis", "type": "regulator"},
]
REGISTRATIONS = [
    {"kind": "party.registered", "effective": "2020-01-01", "key": f"p-{p['party']}", "name": p["party"], **p} for p in PARTIES
]
QUERIES = [
    ("ownership", {}),
    ("league", {}),
    ("league", {"currency": "USD"}),
    ("regulatory", {}),
    ("portfolio", {"investor": "alibaba"}),
    ("portfolio", {"investor": "tencent"}),
    ("revenue", {"provider": "alibaba-cloud", "period": "quarter"}),
]


@st.composite
def order_free_facts(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Facts that are valid whatever order they are appended in (validity is judged in effective order), as long
    as spending (credits consumed, escrow released, shares sold) comes with or after what it spends."""
    facts: list[dict[str, Any]] = [
        {"kind": "fx.rate", "effective": "2022-12-01", "base": "USD", "quote": "CNY", "rate": "7.1"},
    ]
    for n in range(draw(st.integers(min_value=1, max_value=12))):
        day = draw(st.sampled_from(DAYS)).isoformat()
        company = draw(st.sampled_from(COMPANIES))
        investor = draw(st.sampled_from(INVESTORS))
        amount = draw(st.integers(min_value=1, max_value=40)) * 1_000_000
        choice = draw(st.integers(min_value=0, max_value=5))
        if choice == 0:
            facts.append(
                {
                    "kind": "round.closed",
                    "effective": day,
                    "company": company,
                    "round": f"r{n}",
                    "amount": str(amount),
                    "currency": draw(st.sampled_from(["USD", "CNY"])),
                    "pre_money": str(amount * 3),
                    "investors": [
                        {
                            "party": investor,
                            "amount": str(amount // 2),
                            "consideration": draw(st.sampled_from(["cash", "credits", "services"])),
                        }
                    ],
                }
            )
        elif choice == 1:
            facts.append(
                {
                    "kind": "stake.acquired",
                    "effective": day,
                    "holder": investor,
                    "company": company,
                    "fraction": str(Decimal(draw(st.integers(min_value=1, max_value=300))) / 1000),
                    "price": str(amount),
                    "currency": "USD",
                }
            )
            if draw(st.booleans()):  # half of the holding, after every purchase: valid in any append order
                facts.append(
                    {
                        "kind": "stake.divested",
                        "effective": "2024-12-01",
                        "holder": investor,
                        "company": company,
                        "portion": "0.5",
                        "proceeds": str(amount),
                        "currency": "USD",
                    }
                )
        elif choice == 2:
            facts.append(
                {
                    "kind": "valuation.marked",
                    "effective": day,
                    "company": company,
                    "valuation": str(amount * 10),
                    "currency": "USD",
                }
            )
        elif choice == 3:
            grant = {
                "kind": "credits.granted",
                "effective": day,
                "grantor": "alibaba-cloud",
                "grantee": company,
                "amount": str(amount),
                "currency": "USD",
            }
            if draw(st.booleans()):
                grant["expires"] = "2025-06-30"  # after the consumption below: what is left becomes breakage
            facts.append(grant)
            facts.append(
                {
                    "kind": "credits.consumed",
                    "effective": "2025-01-01",
                    "grantor": "alibaba-cloud",
                    "grantee": company,
                    "amount": str(amount // 4),
                    "currency": "USD",
                }
            )
        elif choice == 4:
            account = f"escrow-{n}"
            facts.append(
                {
                    "kind": "escrow.deposited",
                    "effective": day,
                    "account": account,
                    "depositor": investor,
                    "beneficiary": company,
                    "amount": str(amount),
                    "currency": "USD",
                }
            )
            facts.append(
                {
                    "kind": "escrow.released",
                    "effective": "2025-02-01",
                    "account": account,
                    "amount": str(amount // 2),
                    "currency": "USD",
                    "to": "alibaba-cloud",
                }
            )
        else:
            facts.append(
                {
                    "kind": "export.ban_imposed",
                    "effective": day,
                    "rule": f"rule-{n}",
                    "authority": "us-bis",
                    "items": ["nvidia-h800"],
                    "targets": ["CN", company],
                }
            )
    for n, fact in enumerate(facts):
        fact["key"] = f"k{n}"
    return facts


@st.composite
def reordered(draw: st.DrawFn, facts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Another append order that keeps facts of one effective date in their relative order.

    Within a date facts apply in recording order, so only orders across dates are free.
    """
    order = draw(st.permutations(range(len(facts))))
    by_day: dict[str, list[dict[str, Any]]] = {}
    for fact in facts:
        by_day.setdefault(fact["effective"], []).append(fact)
    queues = {day: iter(group) for day, group in by_day.items()}
    return [next(queues[facts[i]["effective"]]) for i in order]


def appended(folder: Path, name: str, batches: list[list[dict[str, Any]]]) -> Ledger:
    ledger = Ledger(f"sqlite:///{folder / name}.db")
    for batch in batches:
        ledger.append([Incoming(f"{name}:{n}", ledger.catalogue.parse(d)) for n, d in enumerate(batch, 1)])
    return ledger


def answers(ledger: Ledger, as_of: date | None = None) -> list[list[dict[str, Any]]]:
    return [ledger.view(name, Query(as_of=as_of, options=options)) for name, options in QUERIES]


PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(data=st.data(), facts=order_free_facts(), cut=st.integers(min_value=0, max_value=30))
def test_append_order_across_dates_does_not_change_any_view(data: st.DataObject, facts: list[dict[str, Any]], cut: int) -> None:
    other = data.draw(reordered(facts))
    cut = min(cut, len(other))
    # A batch is validated against what is stored, so spending (credits consumed, escrow released,
    # shares sold) goes in the last batch, with or after what it spends; any order within a batch is fine.
    early = [f for f in other[:cut] if f["kind"] not in SPENDING]
    late = [f for f in other if f not in early]
    with (
        tempfile.TemporaryDirectory() as folder,
        appended(Path(folder), "a", [REGISTRATIONS + facts]) as first,
        appended(Path(folder), "b", [REGISTRATIONS, early, late]) as second,
    ):
        assert answers(first) == answers(second)
        for day in DAYS:
            assert answers(first, day) == answers(second, day)


@PROPERTY
@given(facts=order_free_facts())
def test_as_of_after_the_last_fact_equals_the_current_view(facts: list[dict[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as folder, appended(Path(folder), "a", [REGISTRATIONS + facts]) as ledger:
        # the last date the facts speak of: an effective date, or an expiry that is still to come
        last = max([r.effective for r in ledger.records()] + [date(2025, 6, 30)] * any("expires" in f for f in facts))
        now = answers(ledger)
        revenue = [n for n, (name, _) in enumerate(QUERIES) if name == "revenue"]
        for moment in (last, last + timedelta(days=400)):
            for n, rows in enumerate(answers(ledger, moment)):
                if n in revenue and now[n]:
                    # revenue also runs on the calendar: a later date adds quiet periods, nothing else
                    # (the current view stops at the last date the facts speak of, an expiry of credits
                    # still outstanding included; an expiry of credits used up first adds nothing)
                    assert rows[: len(now[n])] == now[n]
                    quiet = rows[len(now[n]) :]
                    assert all(row["recognized"] == row["breakage"] == 0 for row in quiet)
                    assert all(row["deferred"] == now[n][-1]["deferred"] for row in quiet)
                else:
                    assert rows == now[n]


@PROPERTY
@given(
    first=st.integers(min_value=1, max_value=10**6),
    second=st.integers(min_value=1, max_value=10**6),
    retract=st.booleans(),
)
def test_known_at_before_a_correction_shows_the_original(first: int, second: int, retract: bool) -> None:
    original = {
        "kind": "valuation.marked",
        "effective": "2024-06-30",
        "key": "mark",
        "company": "moonshot-ai",
        "valuation": str(first),
        "currency": "USD",
    }
    fix: dict[str, Any] = (
        {"kind": "fact.retracted", "effective": "2024-07-01", "fact": "mark", "reason": "wrong company"}
        if retract
        else {
            "kind": "fact.corrected",
            "effective": "2024-07-01",
            "fact": "mark",
            "replacement": {**original, "valuation": str(second)},
        }
    )
    holding = {
        "kind": "stake.acquired",
        "effective": "2024-01-01",
        "key": "buy",
        "holder": "alibaba",
        "company": "moonshot-ai",
        "fraction": "0.5",
    }
    with (
        tempfile.TemporaryDirectory() as folder,
        appended(Path(folder), "a", [[*REGISTRATIONS, holding, original], [fix]]) as ledger,
    ):
        before = ledger.store.known_times()(ledger.records()[-2])
        query = {"investor": "alibaba"}
        then = ledger.view("portfolio", Query(known_at=before, options=query))
        now = ledger.view("portfolio", Query(options=query))
        assert then[0]["implied_value"] == Decimal(first) / 2
        assert now[0]["implied_value"] == (None if retract else Decimal(second) / 2)
        assert [r.fact.to_dict() for r in ledger.records()[:-1]][-1] == original
