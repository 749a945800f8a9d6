"""Share movements as OCF objects: stakeholders, stock classes and stock transactions.

OCF tracks securities, not holders: an issuance creates a security held by one stakeholder,
and a transfer or cancellation ends a whole security. So a holder's shares are kept as a list
of open securities; a sale draws on them oldest first, and each security it touches ends in
a ``TX_STOCK_TRANSFER`` whose resulting security (and remainder, if any) is issued anew on the
same day, at the source security's class and price, as OCF expects. Ids are built from fact
ids, so exporting the same ledger twice gives the same objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from events.funding import RoundClosed
from ledger.exact import Fraction
from ledger.folds.captable import FOUNDERS, UNDISCLOSED, ZERO
from ledger.ocf.errors import OcfError
from ledger.ocf.history import COMMON, Cancelled, Issued, Moved, Movement
from ledger.ocf.numeric import UNKNOWN_PRICE, monetary, numeric, share_price

Json = dict[str, Any]

NOTIONAL = (
    "Notional shares: the ledger records ownership as exact fractions, not share counts; quantities are the least whole "
    "share counts that reproduce every fraction exactly."
)
NOT_RECORDED = "votes per share, seniority and authorised shares are not recorded by the ledger; every class is shown alike."


@dataclass
class Security:
    id: str
    holder: str
    stock_class: str
    count: Fraction
    price: Mapping[str, str]


@dataclass
class Securities:
    """The open securities of each holder, oldest first, and the transactions that made them so."""

    scale: Fraction
    transactions: list[Json] = field(default_factory=list)
    open: dict[str, list[Security]] = field(default_factory=dict)
    holders: dict[str, None] = field(default_factory=dict)
    """Every stakeholder, in the order they first appear."""
    made: dict[str, int] = field(default_factory=dict)
    """How many transactions each fact has made so far: ids are ``<fact id>-<kind>-<n>``."""

    def next_id(self, origin: str, kind: str) -> str:
        number = self.made[origin] = self.made.get(origin, 0) + 1
        return f"{origin}-{kind}-{number}"

    def quantity(self, count: Fraction, what: str) -> str:
        return numeric(count * self.scale, what)

    def issue(
        self,
        day: date,
        tx_id: str,
        holder: str,
        stock_class: str,
        count: Fraction,
        price: Mapping[str, str],
        comments: list[str],
        extra: Json | None = None,
    ) -> Security:
        security = Security(f"{tx_id}-security", holder, stock_class, count, price)
        self.open.setdefault(holder, []).append(security)
        self.holders.setdefault(holder, None)
        issuance: Json = {
            "id": tx_id,
            "object_type": "TX_STOCK_ISSUANCE",
            "date": day.isoformat(),
            "security_id": security.id,
            "custom_id": tx_id,
            "stakeholder_id": stakeholder_id(holder),
            "stock_class_id": class_id(stock_class),
            "share_price": dict(price),
            "quantity": self.quantity(count, tx_id),
            "security_law_exemptions": [],
            "stock_legend_ids": [],
        }
        issuance.update(extra or {})
        if comments:
            issuance["comments"] = comments
        self.transactions.append(issuance)
        return security

    def apply(self, move: Movement) -> None:
        if isinstance(move, Issued):
            self._issued(move)
        elif isinstance(move, Moved):
            self._moved(move)
        else:
            self._cancelled(move)

    def _issued(self, move: Issued) -> None:
        tx_id = self.next_id(move.record.id if move.record else FOUNDERS, "issuance")
        what = move.record.describe() if move.record else "founders' shares"
        comments: list[str] = []
        extra: Json = {}
        if move.paid is not None and move.currency is not None:
            price, note = share_price(move.paid, move.count * self.scale, move.currency, f"{what}: share_price")
            comments.extend([note] if note else [])
            extra["cost_basis"] = monetary(move.paid, move.currency, f"{what}: cost_basis")
            if move.consideration not in (None, "cash"):
                extra["consideration_text"] = f"paid in {move.consideration}"
        else:
            price = UNKNOWN_PRICE
            comments.append("price not recorded in the ledger: share_price 0 XXX (ISO 4217: no currency) stands for unknown")
        if move.record is None:
            comments.append("held before the ledger's first ownership fact about the company")
        self.issue(move.day, tx_id, move.holder, move.stock_class, move.count, price, comments, extra)

    def _moved(self, move: Moved) -> None:
        """Draw ``count`` from the seller's securities, oldest first; each one drawn on ends in a transfer."""
        left = move.count
        consideration = f"{move.price:f} {move.currency} in all" if move.price is not None else None
        self.holders.setdefault(move.buyer, None)
        for source in list(self.open.get(move.seller, [])):
            if not left:
                break
            taken = min(left, source.count)
            left -= taken
            tx_id = self.next_id(move.record.id, "transfer")
            self.open[move.seller].remove(source)
            at = len(self.transactions)
            note = [f"received from {move.seller} by transfer {tx_id}"]
            bought = self._reissue(move, move.buyer, source, taken, note)
            transfer: Json = {
                "id": tx_id,
                "object_type": "TX_STOCK_TRANSFER",
                "date": move.day.isoformat(),
                "security_id": source.id,
                "quantity": self.quantity(taken, tx_id),
                "resulting_security_ids": [bought.id],
            }
            if taken < source.count:
                note = [f"remainder of {source.id} after transfer {tx_id}"]
                rest = self._reissue(move, move.seller, source, source.count - taken, note)
                transfer["balance_security_id"] = rest.id
            if consideration:
                transfer["consideration_text"] = consideration
            transfer["comments"] = [move.record.describe()]
            self.transactions.insert(at, transfer)
        if left:
            raise OcfError(f"{move.record.describe()}: {move.seller} holds fewer shares than the ledger moved")

    def _reissue(self, move: Moved, holder: str, source: Security, count: Fraction, comments: list[str]) -> Security:
        """A security that a transfer creates: same class and issue price as the one it came from."""
        tx_id = self.next_id(move.record.id, "issuance")
        notes = [
            *comments,
            f"share_price is the issue price of {source.id}; what the buyer paid, if recorded, is on the transfer",
        ]
        return self.issue(move.day, tx_id, holder, source.stock_class, count, source.price, notes)

    def _cancelled(self, move: Cancelled) -> None:
        for security in self.open.pop(move.holder, []):
            self.transactions.append(
                {
                    "id": self.next_id(move.record.id, "cancellation"),
                    "object_type": "TX_STOCK_CANCELLATION",
                    "date": move.day.isoformat(),
                    "security_id": security.id,
                    "quantity": self.quantity(security.count, security.id),
                    "reason_text": f"{move.record.describe()}: a round at a pre-money valuation of 0 wiped out existing holders",
                }
            )

    def held(self) -> dict[str, Fraction]:
        """Each holder's shares at the end, in the ledger's unit (for checks)."""
        return {h: sum((s.count for s in securities), ZERO) for h, securities in self.open.items() if securities}


def stakeholder_id(holder: str) -> str:
    return f"stakeholder-{holder}"


def class_id(stock_class: str) -> str:
    return f"class-{stock_class}"


def stakeholder(holder: str, names: Mapping[str, str]) -> Json:
    """Registered parties are organisations; ``founders`` and ``undisclosed`` stand for unnamed groups of holders."""
    if holder == FOUNDERS:
        name, relationship = "Founders", "FOUNDER"
        note = ["whoever held the company before the ledger's first ownership fact about it"]
    elif holder == UNDISCLOSED:
        name, relationship = "Undisclosed holders", "INVESTOR"
        note = ["holders whose identity was not reported"]
    else:
        if holder not in names:
            raise OcfError(f"{holder}: holds shares but is not a registered party at this moment")
        name, relationship, note = names[holder], "INVESTOR", []
    result: Json = {
        "id": stakeholder_id(holder),
        "object_type": "STAKEHOLDER",
        "name": {"legal_name": name},
        "stakeholder_type": "INSTITUTION",
        "issuer_assigned_id": holder,
        "current_relationships": [relationship],
    }
    if note:
        result["comments"] = note
    return result


def stock_classes(moves: list[Movement], securities: Securities) -> list[Json]:
    """A common class, then one class per round, in the order the rounds closed."""
    classes = [_stock_class(COMMON, "Common", "COMMON", "CS-")]
    seen = {COMMON}
    for move in moves:
        if isinstance(move, Issued) and move.stock_class not in seen and move.record is not None:
            seen.add(move.stock_class)
            fact = move.record.fact
            assert isinstance(fact, RoundClosed)
            price, note = None, None
            if move.paid is not None:
                price, note = share_price(move.paid, move.count * securities.scale, fact.currency, move.record.describe())
                price = None if price == UNKNOWN_PRICE else price  # optional here: left out rather than 0 XXX
            classes.append(_stock_class(move.stock_class, f"Round {fact.round}", "PREFERRED", f"R{len(classes)}-", price, note))
    return classes


def _stock_class(key: str, name: str, kind: str, prefix: str, price: Json | None = None, note: str | None = None) -> Json:
    result: Json = {
        "id": class_id(key),
        "object_type": "STOCK_CLASS",
        "name": name,
        "class_type": kind,
        "default_id_prefix": prefix,
        "initial_shares_authorized": "NOT APPLICABLE",
        "votes_per_share": "1",
        "seniority": "1",
        "comments": [NOTIONAL, NOT_RECORDED, *([note] if note else [])],
    }
    if price is not None:
        result["price_per_share"] = price
    return result
