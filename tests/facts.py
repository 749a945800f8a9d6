"""Example facts shared by the tests: one valid fact of every kind every ledger accepts, and a way to vary one.

Tests that need "a valid round" or "a valid ban" start here, so a change to a kind's fields is
made in one place.
"""

from __future__ import annotations

import copy
from typing import Any

VALID: dict[str, dict[str, Any]] = {
    "party.registered": {
        "kind": "party.registered",
        "effective": "2023-03-01",
        "party": "moonshot-ai",
        "name": "Moonshot AI",
        "type": "company",
    },
    "fx.rate": {"kind": "fx.rate", "effective": "2024-01-02", "base": "USD", "quote": "CNY", "rate": "7.1"},
    "round.closed": {
        "kind": "round.closed",
        "effective": "2024-02-15",
        "company": "moonshot-ai",
        "round": "series-b",
        "amount": "1000000000",
        "currency": "USD",
        "post_money": "2500000000",
        "investors": [
            {"party": "alibaba", "amount": "600000000", "lead": True},
            {"party": "tencent", "amount": "100000000", "consideration": "cash"},
        ],
    },
    "stake.acquired": {
        "kind": "stake.acquired",
        "effective": "2024-05-01",
        "holder": "alibaba",
        "company": "zhipu",
        "fraction": "0.1",
    },
    "ownership.asserted": {
        "kind": "ownership.asserted",
        "effective": "2024-05-01",
        "holder": "alibaba",
        "company": "zhipu",
        "fraction": "0.1",
    },
    "stake.divested": {
        "kind": "stake.divested",
        "effective": "2024-06-01",
        "holder": "alibaba",
        "company": "zhipu",
        "portion": "1",
    },
    "valuation.marked": {
        "kind": "valuation.marked",
        "effective": "2024-06-01",
        "company": "zhipu",
        "valuation": "3e9",
        "currency": "USD",
    },
    "credits.granted": {
        "kind": "credits.granted",
        "effective": "2024-02-15",
        "grantor": "alibaba-cloud",
        "grantee": "moonshot-ai",
        "amount": "390000000",
        "currency": "USD",
        "expires": "2026-02-15",
    },
    "credits.consumed": {
        "kind": "credits.consumed",
        "effective": "2024-07-01",
        "grantor": "alibaba-cloud",
        "grantee": "moonshot-ai",
        "amount": "1000",
        "currency": "USD",
    },
    "escrow.deposited": {
        "kind": "escrow.deposited",
        "effective": "2024-02-15",
        "account": "moonshot escrow",
        "depositor": "alibaba",
        "beneficiary": "moonshot-ai",
        "amount": "400000000",
        "currency": "USD",
    },
    "escrow.released": {
        "kind": "escrow.released",
        "effective": "2024-07-01",
        "account": "moonshot escrow",
        "amount": "5000",
        "currency": "USD",
        "to": "alibaba-cloud",
    },
    "export.ban_imposed": {
        "kind": "export.ban_imposed",
        "effective": "2023-10-17",
        "rule": "ear-2023",
        "authority": "us-bis",
        "items": ["nvidia-a800", "nvidia-h800"],
        "targets": ["CN", "alibaba-cloud"],
    },
    "export.ban_lifted": {"kind": "export.ban_lifted", "effective": "2025-01-01", "rule": "ear-2023", "authority": "us-bis"},
    "penalty.imposed": {
        "kind": "penalty.imposed",
        "effective": "2021-04-10",
        "authority": "samr",
        "target": "alibaba",
        "amount": "18228000000",
        "currency": "CNY",
    },
    "divestment.ordered": {
        "kind": "divestment.ordered",
        "effective": "2021-04-10",
        "authority": "samr",
        "target": "alibaba",
        "deadline": "2022-04-10",
    },
    "fact.corrected": {
        "kind": "fact.corrected",
        "effective": "2024-03-01",
        "fact": "fx-1",
        "replacement": {"kind": "fx.rate", "effective": "2024-01-02", "base": "USD", "quote": "CNY", "rate": "7.2"},
    },
    "fact.retracted": {"kind": "fact.retracted", "effective": "2024-03-01", "fact": "fx-1", "reason": "wrong source"},
    "spend.committed": {
        "kind": "spend.committed",
        "effective": "2023-11-01",
        "customer": "anthropic",
        "provider": "aws",
        "amount": "4000000000",
        "currency": "USD",
        "years": "5",
    },
}


def fact(of: str, /, **changes: Any) -> dict[str, Any]:
    """A valid fact of kind ``of`` with ``changes``; a change to ``None`` removes the field."""
    data = copy.deepcopy(VALID[of])
    for name, value in changes.items():
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
    return data


def bought(holder: str, company: str, day: str, fraction: str, price: str | None = None, currency: str = "USD") -> dict[str, Any]:
    """``holder`` buys ``fraction`` of ``company`` from its founders on ``day``, for ``price`` when given."""
    fact: dict[str, Any] = {
        "kind": "stake.acquired",
        "effective": day,
        "holder": holder,
        "company": company,
        "fraction": fraction,
        "seller": "founders",
    }
    if price is not None:
        fact |= {"price": price, "currency": currency}
    return fact
