"""Which parties a question takes and a replay answers: as the ledger stood when asked, whatever the dates say."""

from __future__ import annotations

from datetime import date
from fractions import Fraction
from typing import Any

import pytest

from ledger.api import Ledger
from ledger.appending import Incoming
from ledger.errors import ViewError
from ledger.replaying import parties_of_type, replay_all
from ledger.views import Query
from tests.viewkit import party, records

ROUND = {
    "kind": "round.closed",
    "effective": "2019-03-01",
    "key": "r1",
    "company": "acme",
    "round": "a",
    "amount": "100",
    "currency": "USD",
    "pre_money": "300",
    "investors": [{"party": "fund", "amount": "100"}],
}
REGISTERED = [
    party("acme", effective="2020-01-01", key="p-acme"),
    party("fund", "investor", effective="2020-01-01", key="p-fund"),
]


def appended(ledger: Ledger, facts: list[dict[str, Any]]) -> None:
    ledger.append([Incoming(f"test:{n}", ledger.catalogue.parse(fact)) for n, fact in enumerate(facts, 1)])


def test_a_party_retracted_later_is_asked_of_as_the_ledger_stood_then(sqlite_url: str) -> None:
    """``--known-at`` reproduces an answer given before a registration was retracted: the party was refused as
    unknown, checked against the ledger as it stands now."""
    with Ledger(sqlite_url) as ledger:
        appended(ledger, [*REGISTERED, ROUND])
        then = ledger.store.known_times()(ledger.records()[-1])
        retracted = {"kind": "fact.retracted", "effective": "2024-06-01", "reason": "never existed"}
        appended(ledger, [retracted | {"key": "x1", "fact": "r1"}, retracted | {"key": "x2", "fact": "p-fund"}])
        [row] = ledger.view("portfolio", Query(None, then, {"investor": "fund"}))
        assert (row["company"], row["fraction"]) == ("acme", Fraction(1, 4))
        with pytest.raises(ViewError, match=r"^--investor: unknown party 'fund'"):
            ledger.view("portfolio", Query(None, None, {"investor": "fund"}))


def test_a_replay_answers_a_party_whose_facts_come_before_its_registration_date(sqlite_url: str) -> None:
    """A 2018 round may name investors registered in 2019: ``view`` answers them as of 2018, and so does a replay
    (it left them out, while its own ownership file showed their stakes)."""
    with Ledger(sqlite_url) as ledger:
        appended(ledger, [*REGISTERED, ROUND])
        answers = replay_all(ledger, date(2019, 6, 30), None)
        _, portfolio = answers["portfolio"]
        assert [(row["investor"], row["company"], row["fraction"]) for row in portfolio] == [("fund", "acme", Fraction(1, 4))]
        assert portfolio == [
            {"investor": "fund", **row} for row in ledger.view("portfolio", Query(date(2019, 6, 30), None, {"investor": "fund"}))
        ]


def test_a_party_counts_as_the_type_it_had_at_the_date_asked() -> None:
    """Registered again under another type, a party counts once, as what it was then (before its first
    registration: as first registered)."""
    story = records([party("x", "other", effective="2019-01-01"), party("x", "cloud", effective="2021-01-01")])
    assert parties_of_type(story, ("cloud",), date(2020, 6, 30)) == []
    assert parties_of_type(story, ("cloud",), date(2021, 1, 1)) == ["x"]
    assert parties_of_type(story, ("other",), date(2018, 1, 1)) == ["x"]
    assert parties_of_type(story, ("other",), None) == []
