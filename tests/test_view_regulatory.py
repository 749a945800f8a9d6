"""The regulatory view: bans in force until lifted, penalties, divestment orders met, missed or pending."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from ledger.api import Ledger
from ledger.appending import Incoming
from ledger.views import Query, View
from plugins.regulatory import RegulatoryView
from tests.viewkit import party, rows

PARTIES = [
    party("us-bis", "regulator", jurisdiction="US"),
    party("samr", "regulator", jurisdiction="CN"),
    party("alibaba", "investor"),
    party("zhipu"),
    party("minimax"),
]


def ban(day: str, rule: str, items: list[str], targets: list[str], authority: str = "us-bis") -> dict[str, Any]:
    return {
        "kind": "export.ban_imposed",
        "effective": day,
        "rule": rule,
        "authority": authority,
        "items": items,
        "targets": targets,
    }


def lift(day: str, rule: str, authority: str = "us-bis") -> dict[str, Any]:
    return {"kind": "export.ban_lifted", "effective": day, "rule": rule, "authority": authority}


def order(day: str, deadline: str, companies: list[str] | None = None) -> dict[str, Any]:
    fact: dict[str, Any] = {
        "kind": "divestment.ordered",
        "effective": day,
        "authority": "samr",
        "target": "alibaba",
        "deadline": deadline,
    }
    if companies is not None:
        fact["companies"] = companies
    return fact


def stake(company: str, day: str, fraction: str) -> dict[str, Any]:
    return {"kind": "stake.acquired", "effective": day, "holder": "alibaba", "company": company, "fraction": fraction}


def sold(company: str, day: str) -> dict[str, Any]:
    return {"kind": "stake.divested", "effective": day, "holder": "alibaba", "company": company, "portion": "1"}


STORY = [
    *PARTIES,
    {
        "kind": "penalty.imposed",
        "effective": "2021-04-10",
        "authority": "samr",
        "target": "alibaba",
        "amount": "18228000000",
        "currency": "CNY",
        "reason": "abuse of dominance",
    },
    stake("zhipu", "2021-12-01", "0.1"),
    stake("minimax", "2021-12-01", "0.2"),
    order("2022-01-01", "2022-12-31", ["zhipu"]),
    sold("zhipu", "2022-06-01"),
    order("2022-07-01", "2023-06-30"),  # every stake still held: minimax
    ban("2022-10-07", "us-bis-2022", ["nvidia-a100", "nvidia-h100"], ["CN"]),
    ban("2023-10-17", "us-bis-2023", ["nvidia-a800", "nvidia-h800"], ["CN", "alibaba"]),
    lift("2025-01-15", "us-bis-2023", authority="samr"),  # another authority cannot lift it
    lift("2025-01-15", "us-bis-2023"),
]


def regulatory(facts: list[dict[str, Any]], as_of: date | None = None) -> list[tuple[Any, ...]]:
    return [tuple(row[column] for column in RegulatoryView.columns) for row in rows(RegulatoryView(), facts, as_of=as_of)]


def test_what_was_in_force_before_the_lift() -> None:
    assert regulatory(STORY, date(2024, 1, 1)) == [
        # effective, kind, authority, target, detail, in_force, status, deadline, ended
        (date(2021, 4, 10), "penalty.imposed", "samr", "alibaba", "18228000000 CNY: abuse of dominance", False, None, None, None),
        (
            date(2022, 1, 1),
            "divestment.ordered",
            "samr",
            "alibaba",
            "companies zhipu; deadline 2022-12-31",
            False,
            "met 2022-06-01",
            date(2022, 12, 31),
            date(2022, 6, 1),
        ),
        (
            date(2022, 7, 1),
            "divestment.ordered",
            "samr",
            "alibaba",
            "all stakes held (minimax); deadline 2023-06-30",
            False,
            "missed",
            date(2023, 6, 30),
            None,
        ),
        (
            date(2022, 10, 7),
            "export.ban_imposed",
            "us-bis",
            "CN",
            "items nvidia-a100, nvidia-h100; rule us-bis-2022",
            True,
            None,
            None,
            None,
        ),
        (
            date(2023, 10, 17),
            "export.ban_imposed",
            "us-bis",
            "CN, alibaba",
            "items nvidia-a800, nvidia-h800; rule us-bis-2023",
            True,
            None,
            None,
            None,  # lifted only in 2025: not yet as of 2024-01-01
        ),
    ]
    lifted = regulatory(STORY, date(2025, 2, 1))[4]
    assert (lifted[5], lifted[8]) == (False, date(2025, 1, 15))  # the day us-bis itself lifted it


def test_a_ban_is_out_of_force_after_its_lift() -> None:
    found = regulatory(STORY, date(2025, 2, 1))
    assert [(row[3], row[4], row[5]) for row in found[3:]] == [
        ("CN", "items nvidia-a100, nvidia-h100; rule us-bis-2022", True),
        ("CN, alibaba", "items nvidia-a800, nvidia-h800; rule us-bis-2023", False),
        (None, "rule us-bis-2023", False),  # samr's lift matched no ban of its own
        ("CN, alibaba", "rule us-bis-2023", False),
    ]
    assert regulatory(STORY) == found  # no as_of: judged at the last fact's date, never today's


def test_an_order_is_pending_until_its_deadline() -> None:
    found = regulatory(STORY, date(2023, 1, 1))
    assert [(row[0], row[5], row[6]) for row in found if row[1] == "divestment.ordered"] == [
        (date(2022, 1, 1), False, "met 2022-06-01"),
        (date(2022, 7, 1), True, "pending"),
    ]
    # Reading as of a day before the sale: the first order too was still pending.
    found = regulatory(STORY, date(2022, 5, 31))
    assert [(row[5], row[6]) for row in found if row[1] == "divestment.ordered"] == [(True, "pending")]


def test_an_order_met_on_its_deadline_by_a_secondary_sale() -> None:
    facts = [
        *PARTIES,
        party("tencent", "investor"),
        stake("minimax", "2021-12-01", "0.2"),
        order("2022-07-01", "2023-06-30"),
        {
            "kind": "stake.acquired",
            "effective": "2023-06-30",
            "holder": "tencent",
            "company": "minimax",
            "fraction": "0.2",
            "seller": "alibaba",
        },
    ]
    [row] = regulatory(facts, date(2024, 1, 1))
    assert (row[5], row[6]) == (False, "met 2023-06-30")


def test_a_sale_after_the_deadline_does_not_meet_the_order() -> None:
    facts = [
        *PARTIES,
        stake("minimax", "2021-12-01", "0.2"),
        order("2022-07-01", "2023-06-30", ["minimax"]),
        sold("minimax", "2023-07-01"),
    ]
    [row] = regulatory(facts)
    assert (row[4], row[5], row[6]) == ("companies minimax; deadline 2023-06-30", False, "missed")


def test_a_partial_sale_leaves_the_order_pending() -> None:
    facts = [
        *PARTIES,
        stake("minimax", "2021-12-01", "0.2"),
        stake("zhipu", "2021-12-01", "0.1"),
        order("2022-07-01", "2023-06-30"),
        sold("zhipu", "2022-08-01"),
        {"kind": "stake.divested", "effective": "2022-09-01", "holder": "alibaba", "company": "minimax", "fraction": "0.1"},
    ]
    [row] = regulatory(facts, date(2022, 12, 31))
    assert (row[4], row[5], row[6]) == ("all stakes held (minimax, zhipu); deadline 2023-06-30", True, "pending")
    facts.append(sold("minimax", "2023-01-10"))
    [row] = regulatory(facts, date(2023, 12, 31))
    assert row[6] == "met 2023-01-10"


def test_a_ban_reimposed_after_a_lift_is_in_force_again() -> None:
    facts = [
        *PARTIES,
        ban("2022-10-07", "rule-x", ["nvidia-a100"], ["CN"]),
        lift("2023-01-01", "rule-x"),
        ban("2023-06-01", "rule-x", ["nvidia-a100"], ["CN"]),
    ]
    assert [row[5] for row in regulatory(facts)] == [False, False, True]
    assert regulatory(PARTIES) == []


# --- orders roll up to the target's group ------------------------------------------------

GROUP = [*PARTIES, party("taobao-china", "investor", parent="alibaba")]


def held_by(holder: str, company: str, day: str, fraction: str) -> dict[str, Any]:
    return {"kind": "stake.acquired", "effective": day, "holder": holder, "company": company, "fraction": fraction}


def sold_by(holder: str, company: str, day: str) -> dict[str, Any]:
    return {"kind": "stake.divested", "effective": day, "holder": holder, "company": company, "portion": "1"}


def order_status_of(facts: list[dict[str, Any]], as_of: date) -> tuple[str, bool]:
    [found] = [row for row in rows(RegulatoryView(), facts, as_of=as_of) if row["kind"] == "divestment.ordered"]
    return found["status"], found["in_force"]


def test_an_order_on_a_parent_is_not_met_while_a_subsidiary_holds_the_company() -> None:
    # The stake sits in taobao-china, below alibaba: alibaba itself holds nothing of zhipu, yet the group does.
    facts = [*GROUP, held_by("taobao-china", "zhipu", "2020-01-01", "0.1"), order("2021-04-10", "2024-12-31", ["zhipu"])]
    assert order_status_of(facts, date(2021, 4, 10)) == ("pending", True)
    # Only the subsidiary's sale clears the group's stake.
    facts.append(sold_by("taobao-china", "zhipu", "2022-05-01"))
    assert order_status_of(facts, date(2022, 5, 1)) == ("met 2022-05-01", False)


def test_an_order_on_all_stakes_covers_the_groups_holdings_and_needs_every_entity_to_sell() -> None:
    facts = [
        *GROUP,
        held_by("alibaba", "minimax", "2020-01-01", "0.2"),
        held_by("taobao-china", "zhipu", "2020-01-01", "0.1"),
        order("2021-04-10", "2024-12-31"),  # every company the group held: minimax (alibaba) and zhipu (taobao-china)
        sold_by("alibaba", "minimax", "2022-01-01"),
    ]
    [found] = [row for row in rows(RegulatoryView(), facts) if row["kind"] == "divestment.ordered"]
    assert found["detail"] == "all stakes held (minimax, zhipu); deadline 2024-12-31"
    assert order_status_of(facts, date(2022, 1, 1)) == ("pending", True)
    facts.append(sold_by("taobao-china", "zhipu", "2023-01-01"))
    assert order_status_of(facts, date(2023, 1, 1)) == ("met 2023-01-01", False)


def test_a_subsidiary_leaving_the_group_takes_its_stake_out_of_the_order() -> None:
    facts = [*GROUP, held_by("taobao-china", "zhipu", "2020-01-01", "0.1"), order("2021-04-10", "2024-12-31", ["zhipu"])]
    # A later registration gives taobao-china no parent: from then on the group holds nothing of zhipu.
    facts.append(party("taobao-china", "investor") | {"effective": "2023-03-01"})
    assert order_status_of(facts, date(2023, 3, 1)) == ("met 2023-03-01", False)
    assert order_status_of(facts, date(2023, 2, 28)) == ("pending", True)


def test_a_round_that_wipes_out_the_holders_meets_the_order_that_day() -> None:
    # No sale: a round whose post-money is its own amount leaves the earlier holders nothing.
    facts = [
        *PARTIES,
        party("tencent", "investor"),
        stake("zhipu", "2021-01-01", "0.5"),
        order("2021-04-10", "2022-04-10", ["zhipu"]),
        {
            "kind": "round.closed",
            "effective": "2021-06-01",
            "company": "zhipu",
            "round": "recap",
            "amount": "100",
            "currency": "USD",
            "post_money": "100",
            "investors": [{"party": "tencent", "amount": "100"}],
        },
        party("minimax-2"),  # a later registration, which changes no group, changes nothing either
    ]
    [found] = [row for row in rows(RegulatoryView(), facts) if row["kind"] == "divestment.ordered"]
    assert (found["status"], found["in_force"], found["ended"]) == ("met 2021-06-01", False, date(2021, 6, 1))


def test_through_the_store_only_its_kinds_are_read_and_without_as_of_the_last_fact_of_any_kind_judges(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    mark = {"kind": "valuation.marked", "effective": "2022-09-30", "company": "zhipu", "valuation": "1", "currency": "USD"}
    facts = [*PARTIES, stake("zhipu", "2022-01-01", "0.1"), order("2022-02-01", "2022-06-30"), mark]
    with Ledger(sqlite_url) as ledger:
        ledger.append([Incoming(f"test:{n}", ledger.catalogue.parse(fact)) for n, fact in enumerate(facts, 1)])
        asked: list[frozenset[str] | None] = []
        read = ledger.store.effective_between
        monkeypatch.setattr(ledger.store, "effective_between", lambda *args: asked.append(args[3]) or read(*args))
        answered = ledger.view("regulatory", Query())
    assert asked == [RegulatoryView.kinds] and "valuation.marked" not in RegulatoryView.kinds
    # the mark, of a kind the timeline does not read, is the last fact: the order is missed by then
    assert answered == rows(RegulatoryView(), facts)
    assert [(row["in_force"], row["status"]) for row in answered if row["kind"] == "divestment.ordered"] == [(False, "missed")]


class _EveryFact(View[int]):
    """A view that names no kinds: a pass with it reads every fact."""

    name = "every-fact"

    def initial(self, query: Query) -> int:
        return 0

    def apply(self, state: int, record: Any) -> int:
        return state + 1


def test_a_quarter_end_checkpoint_of_its_kinds_alone_keeps_the_date_the_story_reached(sqlite_url: str) -> None:
    """The timeline, read alone, saves a quarter-end state on its way; a later pass with a view that reads every fact
    loads it, and no fact of the timeline's kinds follows it: the order is still judged at the story's last date."""
    mark = {"kind": "valuation.marked", "effective": "2022-05-01", "company": "zhipu", "valuation": "1", "currency": "USD"}
    fine = {
        "kind": "penalty.imposed",
        "effective": "2022-09-15",
        "key": "fine",
        "authority": "samr",
        "target": "alibaba",
        "amount": "1",
        "currency": "CNY",
    }
    facts = [*PARTIES, stake("zhipu", "2021-01-01", "0.1"), order("2021-04-10", "2022-04-10"), mark, fine]
    with Ledger(sqlite_url) as ledger:
        ledger.engine.save_after = 0
        ledger.append([Incoming(f"test:{n}", ledger.catalogue.parse(fact)) for n, fact in enumerate(facts, 1)])
        ledger.view("regulatory", Query())  # saves its state at the quarter end 2022-06-30 on the way
        retraction = {"kind": "fact.retracted", "effective": "2023-01-01", "fact": "fine", "reason": "annulled"}
        ledger.append([Incoming("test:retraction", ledger.catalogue.parse(retraction))])
        view = ledger.host.view("regulatory")
        head = ledger.store.head().position
        state, _ = ledger.engine.states([(view, "plugins.regulatory"), (_EveryFact(), "test")], None, head)
        answered = view.rows(state, Query())
    expected = rows(RegulatoryView(), [*facts, retraction])
    assert answered == expected
    assert [row["status"] for row in answered if row["status"]] == ["missed"]  # judged at 2022-05-01, the mark's date


def test_a_fine_is_shown_in_positional_notation_however_small() -> None:
    fine = {
        "kind": "penalty.imposed",
        "effective": "2023-03-01",
        "authority": "us-bis",
        "target": "zhipu",
        "amount": "0.00000010",
        "currency": "USD",
        "reason": "tiny",
    }
    [row] = [row for row in rows(RegulatoryView(), [*PARTIES, fine]) if row["kind"] == "penalty.imposed"]
    assert row["detail"] == "0.00000010 USD: tiny"
