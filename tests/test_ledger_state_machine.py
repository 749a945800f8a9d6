"""The ledger against a plain-Python model, step by random step (hypothesis stateful testing).

Each rule appends one fact, valid or not, to the real store (SQLite) and to a model that
knows nothing of the plugins: a list of facts replayed in effective order with simple
Fraction and Decimal arithmetic. The model predicts whether the store must accept the fact;
after every step the ledger's invariants are checked on the real ledger and
compared with the model: ownership sums to exactly 1 (also with undisclosed participants'
pools split among them), cost relieved plus cost kept is what was paid, every realised gain is
proceeds less relieved cost, and a group's portfolio is the sum of its entities' portfolios
while parent links change.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, assume, note, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from ledger.api import Ledger
from ledger.appending import Incoming
from ledger.errors import RejectedError
from ledger.exact import exact_decimals
from ledger.folds.money import Money
from ledger.plugin import CapTables
from ledger.views import Query
from plugins.holdings import Holdings

from .conftest import drop_schema, postgres_url, require_postgres

COMPANIES = ("moonshot-ai", "minimax")
INVESTORS = ("alibaba", "tencent", "meituan")
CLOUD = "alibaba-cloud"
DAYS = tuple(date(2024, 1, 1) + timedelta(days=30 * n) for n in range(8))
ACCOUNTS = ("escrow-a", "escrow-b")
PARENTS = {"meituan": (None, "alibaba", "tencent"), "tencent": (None, "alibaba")}
"""Parent links the machine may change: never a loop, alibaba stays on top."""

days = st.sampled_from(DAYS)
companies = st.sampled_from(COMPANIES)
investors = st.sampled_from(INVESTORS)
money = st.integers(min_value=1, max_value=50).map(lambda n: Decimal(n) * 1_000_000)
small_fractions = st.integers(min_value=1, max_value=400).map(lambda n: Decimal(n) / 1000)


def parties() -> list[dict[str, Any]]:
    registered = [{"party": c, "type": "company", "sectors": ["ai"]} for c in COMPANIES]
    registered += [{"party": i, "type": "investor"} for i in INVESTORS]
    registered.append({"party": CLOUD, "type": "cloud", "parent": "alibaba"})
    return [
        {"kind": "party.registered", "effective": "2020-01-01", "key": f"p-{p['party']}", "name": p["party"], **p}
        for p in registered
    ]


@dataclass
class ModelFact:
    key: str
    seq: int
    data: dict[str, Any]

    @property
    def effective(self) -> str:
        return str(self.data["effective"])


class Model:
    """What the ledger should hold, replayed the simplest way there is."""

    def __init__(self) -> None:
        self.facts: list[ModelFact] = []
        self.seq = 0

    def with_fact(self, data: dict[str, Any]) -> list[ModelFact]:
        return [*self.facts, ModelFact(data["key"], self.seq + 1, data)]

    def add(self, data: dict[str, Any]) -> None:
        self.facts = self.with_fact(data)
        self.seq += 1

    @staticmethod
    def resolved(facts: list[ModelFact]) -> tuple[bool, list[dict[str, Any]]]:
        """(valid, facts in effective order); correcting or retracting a retracted fact is invalid."""
        current: dict[str, tuple[int, dict[str, Any]]] = {}
        valid = True
        for fact in facts:
            kind = fact.data["kind"]
            if kind == "fact.corrected":
                if fact.data["fact"] in current:
                    seq, _ = current[fact.data["fact"]]
                    current[fact.data["fact"]] = (seq, fact.data["replacement"])
                else:
                    valid = False
            elif kind == "fact.retracted":
                valid = valid and current.pop(fact.data["fact"], None) is not None
            else:
                current[fact.key] = (fact.seq, fact.data)
        ordered = sorted(current.values(), key=lambda item: (str(item[1]["effective"]), item[0]))
        return valid, [data for _, data in ordered]

    @staticmethod
    def replay(facts: list[ModelFact]) -> tuple[bool, dict[str, dict[str, Fraction]], dict[str, Decimal]]:
        """(valid, cap tables, totals) — valid is False when any step takes more than there is."""
        tables: dict[str, dict[str, Fraction]] = {}
        credits: dict[str, Decimal] = defaultdict(Decimal)
        escrow: dict[str, Decimal] = defaultdict(Decimal)
        totals: dict[str, Decimal] = defaultdict(Decimal)
        valid, resolved = Model.resolved(facts)
        for data in resolved:
            kind = data["kind"]
            if kind in ("round.closed", "stake.acquired", "stake.divested"):
                table = tables.setdefault(data["company"], {"founders": Fraction(1)})
                if kind == "round.closed":
                    amount, pre = Fraction(data["amount"]), Fraction(data["pre_money"])
                    post = pre + amount
                    for holder in table:
                        table[holder] *= pre / post
                    line = data["investors"][0]
                    table[line["party"]] = table.get(line["party"], Fraction(0)) + Fraction(line["amount"]) / post
                    rest = amount - Fraction(line["amount"])
                    if rest:
                        table["undisclosed"] = table.get("undisclosed", Fraction(0)) + rest / post
                elif kind == "stake.acquired" and "seller" not in data:
                    share = Fraction(data["fraction"])
                    for holder in table:
                        table[holder] *= 1 - share
                    table[data["holder"]] = table.get(data["holder"], Fraction(0)) + share
                else:
                    giver = data["seller"] if kind == "stake.acquired" else data["holder"]
                    taker = data["holder"] if kind == "stake.acquired" else data.get("buyer", "undisclosed")
                    held = table.get(giver, Fraction(0))
                    if "portion" in data:
                        share = Fraction(data["portion"]) * held
                        if held == 0:
                            valid = False
                    else:
                        share = Fraction(data["fraction"])
                    if share > held:
                        valid = False
                        share = held
                    table[giver] = held - share
                    table[taker] = table.get(taker, Fraction(0)) + share
                for holder in [h for h, f in table.items() if f == 0]:
                    del table[holder]
            elif kind == "credits.granted":
                credits[data["grantee"]] += Decimal(data["amount"])
                totals["granted"] += Decimal(data["amount"])
            elif kind == "credits.consumed":
                if Decimal(data["amount"]) > credits[data["grantee"]]:
                    valid = False
                credits[data["grantee"]] -= Decimal(data["amount"])
                totals["consumed"] += Decimal(data["amount"])
            elif kind == "escrow.deposited":
                escrow[data["account"]] += Decimal(data["amount"])
                totals["deposited"] += Decimal(data["amount"])
            elif kind == "escrow.released":
                if Decimal(data["amount"]) > escrow[data["account"]]:
                    valid = False
                escrow[data["account"]] -= Decimal(data["amount"])
                totals["released"] += Decimal(data["amount"])
        totals["outstanding"] = sum(credits.values(), Decimal(0))
        return valid, tables, totals


@settings(
    max_examples=int(os.environ.get("DEALLEDGER_STATEFUL_EXAMPLES", "50")),
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = tempfile.mkdtemp(prefix="dealledger-sm-")
        self.url = self.store_url()
        self.ledger = Ledger(self.url)
        self.model = Model()
        self.counter = itertools.count(1)
        self.rejections = 0

    def store_url(self) -> str:
        return f"sqlite:///{self.folder}/ledger.db"

    def teardown(self) -> None:
        self.ledger.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    @initialize()
    def register_parties(self) -> None:
        self.ledger.append(self.incoming(*parties()))
        for data in parties():
            self.model.add(data)

    def incoming(self, *dicts: dict[str, Any]) -> list[Incoming]:
        return [Incoming("machine", self.ledger.catalogue.parse(d)) for d in dicts]

    def submit(self, data: dict[str, Any]) -> None:
        """Append to the store; the model says whether it must be accepted."""
        data = {"key": f"f{next(self.counter)}", **data}
        valid, _, _ = Model.replay(self.model.with_fact(data))
        note(f"{'append' if valid else 'expect refusal of'} {data}")
        before = len(self.ledger.records())
        if valid:
            self.ledger.append(self.incoming(data))
            self.model.add(data)
            assert len(self.ledger.records()) == before + 1
        else:
            try:
                self.ledger.append(self.incoming(data))
            except RejectedError:
                self.rejections += 1
            else:
                raise AssertionError(f"the store accepted what the model rejects: {data}")
            assert len(self.ledger.records()) == before

    # --- rules ------------------------------------------------------------------------------

    @rule(
        company=companies,
        day=days,
        amount=money,
        pre=money,
        investor=investors,
        part=st.sampled_from([1, 2]),
        silent=st.lists(investors, max_size=2, unique=True),
    )
    def close_round(
        self, company: str, day: date, amount: Decimal, pre: Decimal, investor: str, part: int, silent: list[str]
    ) -> None:
        """A round with one named amount, and maybe co-investors named without one (``silent``)."""
        self.submit(
            {
                "kind": "round.closed",
                "effective": day.isoformat(),
                "company": company,
                "round": f"r{self.model.seq}",
                "amount": str(amount),
                "currency": "USD",
                "pre_money": str(pre * 4),
                "investors": [
                    {"party": investor, "amount": str(amount / part)},
                    *({"party": other} for other in silent if other != investor),
                ],
            }
        )

    @rule(data=st.data(), day=days)
    def change_a_parent(self, data: st.DataObject, day: date) -> None:
        """Register a party again under another parent (or none): groups change over time."""
        party = data.draw(st.sampled_from(sorted(PARENTS)))
        parent = data.draw(st.sampled_from(PARENTS[party]))
        fact: dict[str, Any] = {"kind": "party.registered", "effective": day.isoformat(), "party": party}
        fact |= {"name": party, "type": "investor"}
        if parent is not None:
            fact["parent"] = parent
        self.submit(fact)

    @rule(company=companies, day=days, holder=investors, fraction=small_fractions)
    def acquire_new_shares(self, company: str, day: date, holder: str, fraction: Decimal) -> None:
        self.submit(
            {
                "kind": "stake.acquired",
                "effective": day.isoformat(),
                "holder": holder,
                "company": company,
                "fraction": str(fraction),
                "price": "1000000",
                "currency": "USD",
            }
        )

    @rule(
        company=companies, day=days, holder=investors, seller=st.sampled_from(("founders", *INVESTORS)), fraction=small_fractions
    )
    def buy_from_a_holder(self, company: str, day: date, holder: str, seller: str, fraction: Decimal) -> None:
        assume(seller != holder)
        self.submit(
            {
                "kind": "stake.acquired",
                "effective": day.isoformat(),
                "holder": holder,
                "company": company,
                "fraction": str(fraction),
                "seller": seller,
            }
        )

    @rule(
        company=companies,
        day=days,
        holder=investors,
        amount=st.one_of(small_fractions.map(lambda f: ("fraction", f)), small_fractions.map(lambda f: ("portion", f * 2))),
        proceeds=st.none() | money,
    )
    def divest(self, company: str, day: date, holder: str, amount: tuple[str, Decimal], proceeds: Decimal | None) -> None:
        field, value = amount
        fact: dict[str, Any] = {
            "kind": "stake.divested",
            "effective": day.isoformat(),
            "holder": holder,
            "company": company,
            field: str(value),
        }
        if proceeds is not None:
            fact |= {"proceeds": str(proceeds), "currency": "USD"}
        self.submit(fact)

    @rule(company=companies, day=days, amount=money)
    def grant_credits(self, company: str, day: date, amount: Decimal) -> None:
        self.submit(
            {
                "kind": "credits.granted",
                "effective": day.isoformat(),
                "grantor": CLOUD,
                "grantee": company,
                "amount": str(amount),
                "currency": "USD",
            }
        )

    @rule(company=companies, day=days, amount=money)
    def consume_credits(self, company: str, day: date, amount: Decimal) -> None:
        self.submit(
            {
                "kind": "credits.consumed",
                "effective": day.isoformat(),
                "grantor": CLOUD,
                "grantee": company,
                "amount": str(amount / 2),
                "currency": "USD",
            }
        )

    @rule(account=st.sampled_from(ACCOUNTS), day=days, amount=money)
    def deposit(self, account: str, day: date, amount: Decimal) -> None:
        self.submit(
            {
                "kind": "escrow.deposited",
                "effective": day.isoformat(),
                "account": account,
                "depositor": "alibaba",
                "beneficiary": "moonshot-ai",
                "amount": str(amount),
                "currency": "USD",
            }
        )

    @rule(account=st.sampled_from(ACCOUNTS), day=days, amount=money)
    def release(self, account: str, day: date, amount: Decimal) -> None:
        self.submit(
            {
                "kind": "escrow.released",
                "effective": day.isoformat(),
                "account": account,
                "amount": str(amount),
                "currency": "USD",
                "to": CLOUD,
            }
        )

    @precondition(lambda self: any(f.data["kind"] == "round.closed" for f in self.model.facts))
    @rule(data=st.data(), amount=money)
    def correct_a_round(self, data: st.DataObject, amount: Decimal) -> None:
        rounds = [f for f in self.model.facts if f.data["kind"] == "round.closed"]
        target = data.draw(st.sampled_from(rounds))
        replacement = {k: v for k, v in target.data.items() if k != "key"}
        replacement["amount"] = str(amount)
        replacement["investors"] = [{**replacement["investors"][0], "amount": str(amount)}]
        self.submit({"kind": "fact.corrected", "effective": target.effective, "fact": target.key, "replacement": replacement})

    @precondition(lambda self: len(self.model.facts) > len(parties()))
    @rule(data=st.data())
    def retract_a_fact(self, data: st.DataObject) -> None:
        gone = {f.data["fact"] for f in self.model.facts if f.data["kind"] == "fact.retracted"}
        candidates = [
            f
            for f in self.model.facts[len(parties()) :]
            if f.data["kind"] not in ("fact.corrected", "fact.retracted", "party.registered") and f.key not in gone
        ]
        assume(candidates)
        target = data.draw(st.sampled_from(candidates))
        self.submit({"kind": "fact.retracted", "effective": target.effective, "fact": target.key, "reason": "test"})

    # --- invariants -------------------------------------------------------------------------

    @invariant()
    def ownership_is_exact_and_matches_the_model(self) -> None:
        tables = CapTables()
        for record in self.ledger.story():
            tables.apply(record.fact)
        _, expected, _ = Model.replay(self.model.facts)
        for company in COMPANIES:
            holders = dict(tables.holders(company))
            assert sum(holders.values()) == 1, (company, holders)
            assert all(share >= 0 for share in holders.values())
            assert {h: s for h, s in holders.items() if s} == expected.get(company, {"founders": Fraction(1)})

    @invariant()
    def split_pools_keep_ownership_whole(self) -> None:
        """Splitting undisclosed participants' pools moves only what undisclosed held, and still sums to exactly 1."""
        tables = CapTables()
        for record in self.ledger.story():
            tables.apply(record.fact)
        for company in COMPANIES:
            plain, split = tables.holders(company), tables.holders(company, split=True)
            assert sum(split.values()) == 1, (company, split)
            named = set(plain) - {"undisclosed"}
            assert all(split.get(holder, 0) >= share for holder, share in plain.items() if holder in named)
            moved = sum(
                split.get(holder, Fraction(0)) - plain.get(holder, Fraction(0)) for holder in split if holder in INVESTORS
            )
            assert plain.get("undisclosed", 0) - split.get("undisclosed", 0) == moved

    @invariant()
    def cost_is_conserved_and_gains_are_proceeds_less_cost(self) -> None:
        state = Holdings()
        for record in self.ledger.story():
            state.apply(record)
        with exact_decimals():
            for (company, holder), position in state.positions.items():
                paid = sum((Fraction(p.amount) for p in state.payments(company, holder)), Fraction(0))
                kept = sum((Fraction(lot.payment.amount) * lot.kept for lot in position.lots), Fraction(0))
                relieved = sum(
                    (Fraction(p.amount) * part for d in state.sales.get((company, holder), ()) for p, part in d.relieved),
                    Fraction(0),
                )
                assert relieved + kept == paid, (company, holder)
            money = Money(state.rates, None)
            for disposal in (d for sold in state.sales.values() for d in sold):
                figures = state.figures(disposal, money)
                if disposal.proceeds is not None and disposal.priced:
                    assert figures.proceeds is not None and figures.relieved is not None
                    assert figures.gain == figures.proceeds - figures.relieved
                else:
                    assert figures.gain is None

    @invariant()
    def a_group_is_the_sum_of_its_entities(self) -> None:
        group = self.ledger.view("portfolio", Query(options={"investor": "alibaba", "group": True}))
        entities = self.ledger.view("portfolio", Query(options={"investor": "alibaba", "group": True, "by_entity": True}))
        for row in group:
            shares = {r["held_by"]: r["fraction"] for r in entities if r["company"] == row["company"]}
            assert row["fraction"] == sum(shares.values(), Fraction(0))
            parts = [r for r in entities if r["company"] == row["company"] and r["currency"] == row["currency"]]
            for column in ("invested", "proceeds"):
                found = [r[column] for r in parts if r[column] is not None]
                assert row[column] == (sum(found, Decimal(0)) if found else None), column
        gains = self.ledger.view("gains", Query(options={"investor": "alibaba", "group": True}))
        for row in gains:
            if row["undetermined"] == 0 and row["proceeds"] is not None:
                # a relieved part of a cost need not end in decimals (a third of it): compare exactly, as fractions
                assert Fraction(row["realised_gain"]) == Fraction(row["proceeds"]) - Fraction(row["cost_relieved"])

    @invariant()
    def credits_and_escrow_are_conserved(self) -> None:
        _, _, totals = Model.replay(self.model.facts)
        assert totals["outstanding"] >= 0
        assert self.ledger.check() == []
        if totals["granted"] or totals["released"]:
            rows = self.ledger.view("revenue", Query(options={"provider": CLOUD, "period": "year"}))
            recognized = sum((row["recognized"] for row in rows), Decimal(0))
            assert recognized == totals["consumed"] + totals["released"]
            assert recognized <= totals["granted"] + totals["deposited"]
            assert rows[-1]["deferred"] == totals["outstanding"]

    @invariant()
    def replay_from_scratch_equals_the_live_ledger(self) -> None:
        with Ledger(self.url, host=self.ledger.host) as fresh:  # a fresh store, the same plugins
            assert list(fresh.records()) == list(self.ledger.records())
            query = Query(options={})
            assert fresh.view("ownership", query) == self.ledger.view("ownership", query)
            last = max((r.effective for r in fresh.records()), default=DAYS[0])
            assert fresh.view("ownership", Query(as_of=last + timedelta(days=365))) == fresh.view("ownership", query)
            assert [(r.id, r.fact) for r in fresh.story()] == [(r.id, r.fact) for r in self.ledger.story()]


TestLedgerMachine = LedgerMachine.TestCase


class PostgresLedgerMachine(LedgerMachine):
    """The same machine against the PostgreSQL server, each example in a schema of its own."""

    def store_url(self) -> str:
        require_postgres()
        self.schema = f"t_{uuid.uuid4().hex[:12]}"
        return postgres_url(self.schema)

    def teardown(self) -> None:
        super().teardown()
        drop_schema(self.schema)


PostgresLedgerMachine.TestCase.settings = settings(
    LedgerMachine.TestCase.settings, max_examples=int(os.environ.get("DEALLEDGER_STATEFUL_PG_EXAMPLES", "10"))
)
TestPostgresLedgerMachine = pytest.mark.postgres(PostgresLedgerMachine.TestCase)
