"""Deterministic, realistic dealledger ledgers of any size, for the benchmarks.

    python bench/generate.py --facts 100000 --out facts.jsonl [--batches 10] [--journal holdings.ledger]

The engine's targets are about how cost grows with the ledger, so the ledger grows the way a
real one does: more companies and investors (about N/200 and N/800), not ever more facts
about the same few, and every kind of fact in proportions a deal desk would record. Every
fact must be accepted, or the bench would time a refusal instead of the work: the generator
keeps its own exact model of the ledger (cap tables in ``Fraction``, credit grants drawn
oldest first and broken at expiry, escrow balances) and only writes sales, consumption and
releases that the holdings, grants and accounts cover. About 5% of the facts are written
late (after facts of later dates), the way news of a deal arrives, and only where that cannot
change what any other fact is checked against. ``--batches`` splits the file in recording
order, so those back-dated facts arrive in later appends.

The output depends only on ``--facts`` and ``--seed``: the same arguments give the same bytes.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from array import array
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction
from pathlib import Path
from typing import Any, TextIO

SEED = 20240215
START = date(2015, 1, 1)
END = date(2024, 12, 31)
BACKDATED_SHARE = 0.05

FIXED, FREE, PROVIDER = 0, 1, 2
"""How a fact may be written late: never (registrations, bans, corrections and their targets);
freely, as long as no fact of the same date and entity follows it (nothing is checked against
it: marks, rates, fines, assertions, credits consumed, escrow released); or only before the
next fact of its entity (what later facts draw on: rounds, stakes, grants, deposits)."""

FOUNDERS = "founders"
UNDISCLOSED = "undisclosed"

ROUND_LABELS = ("seed", "angel", "pre-a", "series-a", "series-a-plus", "series-b", "series-b-plus", "series-c", "series-d")
PINYIN = (
    "zhi",
    "pu",
    "bai",
    "chuan",
    "jie",
    "yue",
    "xing",
    "kong",
    "ling",
    "yi",
    "wan",
    "tian",
    "hua",
    "shen",
    "lan",
    "feng",
    "qi",
)
COINED = ("moon", "shot", "mini", "max", "neo", "vox", "astra", "lumen", "orbit", "quanta", "helix")
SYLLABLES = (*PINYIN, *COINED)
COMPANY_TAILS = ("ai", "labs", "robotics", "intelligence", "tech", "semis", "bio", "data", "motors", "vision")
INVESTOR_TAILS = ("capital", "ventures", "partners", "fund", "holdings", "growth")
JURISDICTIONS = (("CN", "CNY"), ("CN", "CNY"), ("CN", "CNY"), ("US", "USD"), ("US", "USD"), ("GB", "GBP"), ("JP", "JPY"))
SECTORS = (("ai", "china-ai"), ("ai", "robotics"), ("ai", "chips"), ("ai", "biotech"), ("fintech",), ("ai", "autonomous-driving"))
FX_START = {"CNY": 6.2, "EUR": 0.9, "GBP": 0.78, "JPY": 110.0, "HKD": 7.8}
CHIPS = ("nvidia-a100", "nvidia-h100", "nvidia-a800", "nvidia-h800", "nvidia-l40s", "hbm", "euv-lithography", "amd-mi250")
REGULATORS = (
    ("samr", "State Administration for Market Regulation", "regulator", "CN", "CNY"),
    ("us-bis", "US Bureau of Industry and Security", "government", "US", "USD"),
    ("eu-commission", "European Commission (DG COMP)", "regulator", "BE", "EUR"),
    ("uk-cma", "Competition and Markets Authority", "regulator", "GB", "GBP"),
)
SOURCES = ("https://news.example.com/", "https://filings.example.org/", "https://wire.example.net/")
PENALTY_REASONS = ("exclusivity clauses", "unreported acquisition", "data-protection breach", "late merger filing")


@dataclass(slots=True)
class CapTable:
    """One company's holders as exact share counts over an exact total (DESIGN section 3's arithmetic)."""

    shares: dict[str, Fraction] = field(default_factory=lambda: {FOUNDERS: Fraction(1)})
    total: Fraction = Fraction(1)

    def issue(self, holder: str, count: Fraction) -> None:
        if count:
            self.shares[holder] = self.shares.get(holder, Fraction(0)) + count
            self.total += count

    def move(self, seller: str, buyer: str, count: Fraction) -> None:
        if not count:
            return
        left = self.shares[seller] - count
        if left:
            self.shares[seller] = left
        else:
            del self.shares[seller]
        self.shares[buyer] = self.shares.get(buyer, Fraction(0)) + count


@dataclass(slots=True)
class Company:
    slug: str
    currency: str
    jurisdiction: str
    valuation: int
    table: CapTable | None = None
    rounds: int = 0
    facts: int = 0


@dataclass(slots=True)
class Grant:
    expires: int  # date ordinal; 0 for never
    outstanding: int


@dataclass(slots=True)
class Account:
    label: str
    currency: str
    depositor: str
    beneficiary: str
    held: int = 0


@dataclass
class Summary:
    """What the engine needs to ask sensible questions of the generated ledger."""

    facts: int
    bytes: int
    backdated: int
    files: list[Path]
    first: date
    last: date
    companies: dict[str, int]
    """Facts naming each company by slug (as company, grantee or beneficiary)."""
    ownership: dict[str, int]
    """Ownership facts (rounds, stakes, divestments) of each company that has any."""

    def typical_company(self) -> str:
        """A company with the median number of ownership facts: neither the busiest nor an empty one."""
        ranked = sorted(self.ownership.items(), key=lambda item: (item[1], item[0]))
        return ranked[len(ranked) // 2][0]

    def middle(self) -> date:
        return self.first + (self.last - self.first) // 2


def decimal_places(value: Fraction, places: int) -> str:
    """``value`` rounded down to ``places`` decimals, as an exact decimal string."""
    scaled = value.numerator * 10**places // value.denominator
    whole, part = divmod(scaled, 10**places)
    return f"{whole}.{part:0{places}d}".rstrip("0").rstrip(".") if part else str(whole)


def rounded(value: float, step: int) -> int:
    return max(step, int(value) // step * step)


class Generator:
    """Writes a valid story in effective order, then lets about 5% of it arrive late."""

    def __init__(self, facts: int, seed: int = SEED, journal: bool = False) -> None:
        self.n = facts
        self.rng = random.Random(seed)
        self.span = (END - START).days
        self.lines: list[str] = []
        self.encode = json.JSONEncoder(separators=(", ", ": "), ensure_ascii=False).encode
        self.days = array("i")
        self.entities = array("i")
        self.roles = bytearray()
        self.entity_ids: dict[tuple[str, ...], int] = {}
        self.taken: set[str] = {slug for slug, *_ in REGULATORS}
        self.iso: dict[int, str] = {}
        self.today = START.toordinal()
        self.serial = 0
        self.journal: list[tuple[int, str, str, list[tuple[str, Fraction]], bool]] | None = [] if journal else None
        self.ownership: dict[str, int] = {}

        self.n_companies = max(20, facts // 200)
        self.n_investors = max(10, facts // 800)
        self.n_clouds = min(8, max(3, facts // 100_000))
        self.companies: list[Company] = []
        self.by_slug: dict[str, Company] = {}
        self.investors: list[str] = []
        self.groups: list[str] = []
        self.cloud_of: dict[str, str] = {}
        self.currency_of: dict[str, str] = {}
        self.portfolio: dict[str, list[str]] = {}
        self.pools: dict[tuple[str, str, str], deque[Grant]] = {}
        self.open_pools: list[tuple[str, str, str]] = []
        self.accounts: dict[str, Account] = {}
        self.open_accounts: list[str] = []
        self.bans: list[tuple[str, str]] = []
        self.correctable: list[tuple[int, dict[str, Any]]] = []
        self.fx = dict(FX_START)
        self.fx_next = dict.fromkeys(FX_START, self.today)
        self.fx_every = max(1, len(FX_START) * self.span // max(1, facts // 100))
        self.makers: list[Callable[[Company], bool]] = []
        self.weights: list[float] = []  # cumulative, for bisect
        weight = 0.0
        for share, maker in (
            (5, self.round_closed),
            (3, self.stake_acquired),
            (2.5, self.stake_divested),
            (16, self.valuation_marked),
            (5, self.credits_granted),
            (22, self.credits_consumed),
            (4, self.escrow_deposited),
            (17, self.escrow_released),
            (6, self.ownership_asserted),
            (1.5, self.penalty_imposed),
            (0.3, self.export_ban_imposed),
            (0.15, self.export_ban_lifted),
            (0.4, self.divestment_ordered),
            (0.5, self.fact_corrected),
            (0.2, self.fact_retracted),
        ):
            weight += share
            self.weights.append(weight)
            self.makers.append(maker)

    # --- writing facts ------------------------------------------------------------------

    def day(self, ordinal: int | None = None) -> str:
        ordinal = self.today if ordinal is None else ordinal
        text = self.iso.get(ordinal)
        if text is None:
            text = self.iso[ordinal] = date.fromordinal(ordinal).isoformat()
        return text

    def key(self, stem: str) -> str:
        self.serial += 1
        return f"{stem}-{self.serial}"

    def emit(self, fact: dict[str, Any], entity: tuple[str, ...] | None, role: int) -> int:
        """Record one fact: its line, its date, the one entity whose checks it takes part in, how it may move."""
        rng = self.rng
        if "source" not in fact and rng.random() < 0.3:
            fact["source"] = f"{rng.choice(SOURCES)}{fact['effective'][:4]}/{self.serial}"
            if rng.random() < 0.5:
                fact["confidence"] = rng.choice(("high", "medium", "medium", "low"))
        self.lines.append(self.encode(fact))
        named = fact.get("company") or fact.get("grantee") or fact.get("beneficiary")
        if named in self.by_slug:
            self.by_slug[named].facts += 1
        self.days.append(self.today)
        self.entities.append(-1 if entity is None else self.entity_ids.setdefault(entity, len(self.entity_ids)))
        self.roles.append(role)
        return len(self.lines) - 1

    def record_holdings(self, company: str, label: str, moves: list[tuple[str, Fraction]], *, issued: bool) -> None:
        """Note an ownership change: ``issued`` for new shares, else a transfer between the two holders in ``moves``."""
        self.ownership[company] = self.ownership.get(company, 0) + 1
        if self.journal is not None:
            self.journal.append((self.today, company, label, moves, issued))

    # --- parties ------------------------------------------------------------------------

    def name(self, tails: tuple[str, ...]) -> tuple[str, str]:
        """A new slug and display name, such as ``zhipu-ai`` and "Zhipu Ai" (numbered when already taken)."""
        words = [self.rng.choice(SYLLABLES) + self.rng.choice(SYLLABLES), self.rng.choice(tails)]
        slug, title = "-".join(words), " ".join(word.capitalize() for word in words)
        if slug in self.taken:
            slug, title = f"{slug}-{len(self.taken)}", f"{title} {len(self.taken)}"
        self.taken.add(slug)
        return slug, title

    def register(self, fact: dict[str, Any]) -> None:
        fact = {"kind": "party.registered", "effective": self.day(), "key": f"party-{fact['party']}", **fact}
        self.emit(fact, None, FIXED)

    def register_company(self) -> None:
        slug, title = self.name(COMPANY_TAILS)
        jurisdiction, currency = self.rng.choice(JURISDICTIONS)
        sectors = list(self.rng.choice(SECTORS))
        if jurisdiction != "CN" and "china-ai" in sectors:
            sectors.remove("china-ai")
        company = Company(slug, currency, jurisdiction, rounded(self.rng.uniform(2e6, 4e7) * self.scale(currency), 100_000))
        self.companies.append(company)
        self.by_slug[slug] = company
        self.currency_of[slug] = currency
        self.register({"party": slug, "name": title, "type": "company", "jurisdiction": jurisdiction, "sectors": sectors})

    def register_investor(self) -> None:
        slug, title = self.name(INVESTOR_TAILS)
        jurisdiction, currency = self.rng.choice(JURISDICTIONS)
        fact: dict[str, Any] = {"party": slug, "name": title, "type": "investor", "jurisdiction": jurisdiction}
        if self.groups and self.rng.random() < 0.15:
            fact["parent"] = self.rng.choice(self.groups)
        self.investors.append(slug)
        self.currency_of[slug] = currency
        self.register(fact)

    def register_fixed_parties(self) -> None:
        for index in range(self.n_clouds):
            group, title = self.name(("group",))
            jurisdiction, currency = JURISDICTIONS[index % len(JURISDICTIONS)]
            self.register(
                {"party": group, "name": title, "type": "company", "jurisdiction": jurisdiction, "sectors": ["internet", "cloud"]}
            )
            cloud = f"{group}-cloud"
            self.register(
                {"party": cloud, "name": f"{title} Cloud", "type": "cloud", "jurisdiction": jurisdiction, "parent": group}
            )
            self.groups.append(group)
            self.investors.append(group)
            self.cloud_of[group] = cloud
            self.currency_of[group] = self.currency_of[cloud] = currency
        for slug, title, kind, jurisdiction, currency in REGULATORS:
            self.register({"party": slug, "name": title, "type": kind, "jurisdiction": jurisdiction})
            self.currency_of[slug] = currency

    def register_due(self) -> None:
        """New companies keep appearing over 85% of the timeline, investors over 70%: the ledger widens as it grows."""
        progress = (self.today - START.toordinal()) / self.span
        companies = int(self.n_companies * min(1.0, 0.25 + 0.75 * progress / 0.85))
        while len(self.companies) < companies:
            self.register_company()
        investors = int(self.n_investors * min(1.0, 0.3 + 0.7 * progress / 0.7)) + len(self.groups)
        while len(self.investors) < investors:
            self.register_investor()

    def fx_due(self) -> None:
        for quote, when in self.fx_next.items():
            if when <= self.today:
                self.fx[quote] *= self.rng.uniform(0.985, 1.015)
                places = 2 if quote == "JPY" else 4
                fact = {
                    "kind": "fx.rate",
                    "effective": self.day(),
                    "key": self.key(f"fx-usd-{quote.lower()}"),
                    "base": "USD",
                    "quote": quote,
                    "rate": f"{self.fx[quote]:.{places}f}",
                }
                self.correctable_add(self.emit(fact, ("fx", quote), FREE), fact)
                self.fx_next[quote] = self.today + self.fx_every

    # --- choosing -----------------------------------------------------------------------

    def scale(self, currency: str) -> float:
        return {"CNY": 7.0, "JPY": 140.0}.get(currency, 1.0)

    def fraction_below(self, held: Fraction, places: int = 6) -> str | None:
        """A decimal share of ``held`` strictly inside it, or None when the holding is too small to show."""
        wanted = held * Fraction(self.rng.randint(10, 90), 100)
        text = decimal_places(wanted, places)
        return None if text == "0" else text

    def correctable_add(self, index: int, fact: dict[str, Any]) -> None:
        """Keep a sample of facts whose correction cannot break any other fact (marks, rates, fines)."""
        if len(self.correctable) < 512:
            self.correctable.append((index, fact))
        else:
            self.correctable[self.rng.randrange(512)] = (index, fact)

    def holders(self, table: CapTable, exclude: tuple[str, ...] = ()) -> list[str]:
        return [holder for holder in table.shares if holder not in exclude]  # counts are never 0: ``move`` drops them

    def other_investor(self, *exclude: str) -> str:
        while True:
            slug = self.rng.choice(self.investors)
            if slug not in exclude:
                return slug

    # --- the kinds ----------------------------------------------------------------------

    def round_closed(self, company: Company) -> bool:
        rng = self.rng
        ceiling = 2e10 * self.scale(company.currency)  # past it, down rounds and flat rounds keep values believable
        pre = rounded(
            company.valuation * (rng.uniform(0.9, 1.5) if company.valuation < ceiling else rng.uniform(0.6, 1.05)), 100_000
        )
        amount = rounded(pre * rng.uniform(0.08, 0.35), 100_000)
        label = ROUND_LABELS[company.rounds] if company.rounds < len(ROUND_LABELS) else f"growth-{company.rounds}"
        company.rounds += 1
        backers = rng.sample(self.investors, rng.choice((1, 1, 2, 2, 2, 3, 3, 4)))
        attributed = amount * rng.uniform(0.6, 1.0)
        weights = [rng.random() + 0.2 for _ in backers]
        investors: list[dict[str, Any]] = []
        credits: list[tuple[str, int]] = []
        for position, (party, weight) in enumerate(zip(backers, weights, strict=True)):
            paid = rounded(attributed * weight / sum(weights), 1_000)
            cloud = self.cloud_of.get(party)
            if cloud is not None and paid >= 10_000 and rng.random() < 0.4:
                in_credits = rounded(paid * rng.uniform(0.3, 0.6), 1_000)
                investors.append({"party": party, "amount": str(paid - in_credits), "consideration": "cash"})
                investors.append({"party": party, "amount": str(in_credits), "consideration": "credits"})
                credits.append((cloud, in_credits))
            else:
                investors.append({"party": party, "amount": str(paid)})
            if position == 0:
                investors[-1]["lead"] = True
        fact: dict[str, Any] = {
            "kind": "round.closed",
            "effective": self.day(),
            "key": f"{company.slug}-{label}",
            "company": company.slug,
            "round": label,
            "amount": str(amount),
            "currency": company.currency,
        }
        if rng.random() < 0.3:
            fact["post_money"] = str(pre + amount)
        else:
            fact["pre_money"] = str(pre)
        fact["investors"] = investors
        table = company.table = company.table or CapTable()
        per_unit = table.total / pre
        moves: list[tuple[str, Fraction]] = []
        given = 0
        for investment in investors:
            paid = int(investment["amount"])
            given += paid
            table.issue(investment["party"], paid * per_unit)
            moves.append((investment["party"], paid * per_unit))
            self.portfolio.setdefault(investment["party"], []).append(company.slug)
        table.issue(UNDISCLOSED, (amount - given) * per_unit)
        moves.append((UNDISCLOSED, (amount - given) * per_unit))
        self.record_holdings(company.slug, label, moves, issued=True)
        company.valuation = pre + amount
        self.emit(fact, ("company", company.slug), PROVIDER)
        for cloud, paid in credits:
            self.grant(cloud, company, paid, company.currency, label)
        return True

    def grant(self, cloud: str, company: Company, amount: int, currency: str, label: str | None = None) -> None:
        fact: dict[str, Any] = {
            "kind": "credits.granted",
            "effective": self.day(),
            "key": self.key("credits"),
            "grantor": cloud,
            "grantee": company.slug,
            "amount": str(amount),
            "currency": currency,
        }
        expires = 0
        if self.rng.random() < 0.35:
            expires = self.today + self.rng.randint(365, 1095)
            fact["expires"] = self.day(expires)
        if label is not None:
            fact["round"] = label
        pool = (cloud, company.slug, currency)
        if pool not in self.pools:
            self.pools[pool] = deque()
        if not any(grant.outstanding for grant in self.pools[pool]):
            self.open_pools.append(pool)
        self.pools[pool].append(Grant(expires, amount))
        self.emit(fact, ("pool", *pool), PROVIDER)

    def credits_granted(self, company: Company) -> bool:
        cloud = self.rng.choice(list(self.cloud_of.values()))
        currency = self.currency_of[cloud]
        self.grant(cloud, company, rounded(self.rng.uniform(1e5, 3e7) * self.scale(currency), 1_000), currency)
        return True

    def credits_consumed(self, company: Company) -> bool:
        """Spend what is outstanding today (grants that expired before today are broken first, as the ledger does)."""
        rng = self.rng
        for _ in range(4):
            if not self.open_pools:
                return False
            spot = rng.randrange(len(self.open_pools))
            pool = self.open_pools[spot]
            grants = self.pools[pool]
            for grant in grants:
                if grant.expires and grant.expires < self.today:
                    grant.outstanding = 0
            while grants and not grants[0].outstanding:
                grants.popleft()
            outstanding = sum(grant.outstanding for grant in grants)
            if not outstanding:
                self.open_pools[spot] = self.open_pools[-1]
                self.open_pools.pop()
                continue
            amount = min(outstanding, rounded(outstanding * rng.uniform(0.05, 0.45), 1_000 if outstanding >= 2_000 else 1))
            wanted = amount
            for grant in grants:
                take = min(wanted, grant.outstanding)
                grant.outstanding -= take
                wanted -= take
                if not wanted:
                    break
            cloud, grantee, currency = pool
            fact = {
                "kind": "credits.consumed",
                "effective": self.day(),
                "key": self.key("usage"),
                "grantor": cloud,
                "grantee": grantee,
                "amount": str(amount),
                "currency": currency,
            }
            self.emit(fact, ("pool", *pool), FREE)
            return True
        return False

    def escrow_deposited(self, company: Company) -> bool:
        depositor = self.rng.choice(self.groups) if self.rng.random() < 0.6 else self.rng.choice(self.investors)
        label = f"{depositor}-{company.slug}"
        account = self.accounts.get(label)
        if account is None:
            account = self.accounts[label] = Account(label, company.currency, depositor, company.slug)
        if not account.held:
            self.open_accounts.append(label)
        amount = rounded(self.rng.uniform(1e6, 5e7) * self.scale(company.currency), 1_000)
        account.held += amount
        fact = {
            "kind": "escrow.deposited",
            "effective": self.day(),
            "key": self.key("deposit"),
            "account": label,
            "depositor": depositor,
            "beneficiary": company.slug,
            "amount": str(amount),
            "currency": company.currency,
            "purpose": "paid out as cloud bills fall due",
        }
        self.emit(fact, ("account", label), PROVIDER)
        return True

    def escrow_released(self, company: Company) -> bool:
        while self.open_accounts:
            spot = self.rng.randrange(len(self.open_accounts))
            account = self.accounts[self.open_accounts[spot]]
            if not account.held:
                self.open_accounts[spot] = self.open_accounts[-1]
                self.open_accounts.pop()
                continue
            amount = min(account.held, rounded(account.held * self.rng.uniform(0.1, 0.5), 1_000 if account.held >= 2_000 else 1))
            account.held -= amount
            to = self.cloud_of.get(account.depositor, account.beneficiary)
            fact = {
                "kind": "escrow.released",
                "effective": self.day(),
                "key": self.key("release"),
                "account": account.label,
                "amount": str(amount),
                "currency": account.currency,
                "to": to,
            }
            self.emit(fact, ("account", account.label), FREE)
            return True
        return False

    def stake_acquired(self, company: Company) -> bool:
        rng = self.rng
        table = company.table = company.table or CapTable()
        holder = self.rng.choice(self.investors)
        fact: dict[str, Any] = {
            "kind": "stake.acquired",
            "effective": self.day(),
            "key": self.key("stake"),
            "holder": holder,
            "company": company.slug,
        }
        sellers = self.holders(table, exclude=(holder,))
        if sellers and rng.random() < 0.5:
            seller = rng.choice(sellers)
            wanted = self.fraction_below(table.shares[seller] / table.total)
            if wanted is None:
                return False
            count = Fraction(wanted) * table.total
            table.move(seller, holder, count)
            fact["fraction"], fact["seller"] = wanted, seller
            moves, issued = [(seller, -count), (holder, count)], False
        else:
            wanted = f"0.{rng.randint(5, 50):03d}"
            count = Fraction(wanted) * table.total / (1 - Fraction(wanted))
            table.issue(holder, count)
            fact["fraction"] = wanted
            moves, issued = [(holder, count)], True
        if rng.random() < 0.7:
            fact["price"] = str(rounded(company.valuation * float(fact["fraction"]), 1_000))
            fact["currency"] = company.currency
        self.record_holdings(company.slug, fact["key"], moves, issued=issued)
        self.portfolio.setdefault(holder, []).append(company.slug)
        self.emit(fact, ("company", company.slug), PROVIDER)
        return True

    def stake_divested(self, company: Company) -> bool:
        rng = self.rng
        if company.table is None:
            return False
        table = company.table
        sellers = self.holders(table, exclude=(FOUNDERS, UNDISCLOSED))
        if not sellers:
            return False
        holder = rng.choice(sellers)
        held = table.shares[holder]
        fact: dict[str, Any] = {
            "kind": "stake.divested",
            "effective": self.day(),
            "key": self.key("sale"),
            "holder": holder,
            "company": company.slug,
        }
        if rng.random() < 0.5:
            portion = rng.choice(("1", "0.5", "0.25", "0.2", "0.1"))
            fact["portion"] = portion
            count = held * Fraction(portion)
        else:
            wanted = self.fraction_below(held / table.total)
            if wanted is None:
                return False
            fact["fraction"] = wanted
            count = Fraction(wanted) * table.total
        buyer = UNDISCLOSED
        if rng.random() < 0.4:
            buyer = fact["buyer"] = self.other_investor(holder)
        if rng.random() < 0.6:
            fact["proceeds"] = str(rounded(company.valuation * float(count / table.total), 1_000))
            fact["currency"] = company.currency
        if rng.random() < 0.3:
            fact["reason"] = rng.choice(("portfolio rebalancing", "regulatory pressure", "secondary sale to new investors"))
        table.move(holder, buyer, count)
        self.record_holdings(company.slug, fact["key"], [(holder, -count), (buyer, count)], issued=False)
        self.emit(fact, ("company", company.slug), PROVIDER)
        return True

    def ownership_asserted(self, company: Company) -> bool:
        """A figure a filing would report: the exact fraction rounded to four places, well inside the 0.005 tolerance."""
        if company.table is None:
            return False
        table = company.table
        holder = self.rng.choice(self.holders(table))
        share = table.shares[holder] / table.total
        scaled = round(share * 10_000)
        fact = {
            "kind": "ownership.asserted",
            "effective": self.day(),
            "key": self.key("filing"),
            "holder": holder,
            "company": company.slug,
            "fraction": f"{scaled // 10_000}.{scaled % 10_000:04d}",
        }
        self.emit(fact, ("company", company.slug), FREE)
        return True

    def valuation_marked(self, company: Company) -> bool:
        company.valuation = rounded(company.valuation * self.rng.uniform(0.85, 1.18), 100_000)
        fact = {
            "kind": "valuation.marked",
            "effective": self.day(),
            "key": self.key("mark"),
            "company": company.slug,
            "valuation": str(company.valuation),
            "currency": company.currency,
            "basis": self.rng.choice(("last round", "secondary trades", "comparable companies", "press report")),
        }
        self.correctable_add(self.emit(fact, ("mark", company.slug), FREE), fact)
        return True

    def penalty_imposed(self, company: Company) -> bool:
        slug, _, _, _, currency = self.rng.choice(REGULATORS)
        target = self.rng.choice(self.groups) if self.rng.random() < 0.6 else company.slug
        amount = rounded(self.rng.uniform(1e5, 5e8) * self.scale(currency), 10_000)
        fact = {
            "kind": "penalty.imposed",
            "effective": self.day(),
            "key": self.key("fine"),
            "authority": slug,
            "target": target,
            "amount": str(amount),
            "currency": currency,
            "reason": self.rng.choice(PENALTY_REASONS),
        }
        self.correctable_add(self.emit(fact, ("fine", target), FREE), fact)
        return True

    def export_ban_imposed(self, company: Company) -> bool:
        rng = self.rng
        authority = "us-bis" if rng.random() < 0.8 else "eu-commission"
        rule = self.key(f"{authority}-{self.day()[:4]}")
        targets = ["CN"] + ([company.slug] if company.jurisdiction == "CN" and rng.random() < 0.5 else [])
        fact = {
            "kind": "export.ban_imposed",
            "effective": self.day(),
            "key": f"ban-{rule}",
            "rule": rule,
            "authority": authority,
            "items": rng.sample(CHIPS, rng.randint(1, 4)),
            "targets": targets,
        }
        self.bans.append((rule, authority))
        self.emit(fact, None, FIXED)
        return True

    def export_ban_lifted(self, company: Company) -> bool:
        if not self.bans:
            return False
        rule, authority = self.bans.pop(self.rng.randrange(len(self.bans)))
        fact = {"kind": "export.ban_lifted", "effective": self.day(), "key": f"lift-{rule}", "rule": rule, "authority": authority}
        self.emit(fact, None, FIXED)
        return True

    def divestment_ordered(self, company: Company) -> bool:
        target = self.rng.choice(self.groups)
        held = self.portfolio.get(target, [])
        fact: dict[str, Any] = {
            "kind": "divestment.ordered",
            "effective": self.day(),
            "key": self.key("order"),
            "authority": "samr",
            "target": target,
            "deadline": self.day(self.today + self.rng.randint(180, 900)),
        }
        if held:
            fact["companies"] = sorted(set(self.rng.sample(held, min(3, len(held)))))
        self.emit(fact, ("order", target), FREE)
        return True

    def take_correctable(self, kinds: tuple[str, ...]) -> tuple[int, dict[str, Any]] | None:
        for _ in range(8):
            if not self.correctable:
                return None
            spot = self.rng.randrange(len(self.correctable))
            if self.correctable[spot][1]["kind"] in kinds:
                index, fact = self.correctable[spot]
                self.correctable[spot] = self.correctable[-1]
                self.correctable.pop()
                self.roles[index] = FIXED  # a correction must come after its target: the target is never written late
                return index, fact
        return None

    def fact_corrected(self, company: Company) -> bool:
        """Correct a mark, a rate or a fine: nothing is checked against them, so no later fact can break."""
        taken = self.take_correctable(("valuation.marked", "fx.rate", "penalty.imposed"))
        if taken is None:
            return False
        _, target = taken
        replacement = dict(target)
        replacement.pop("source", None)
        replacement.pop("confidence", None)
        if target["kind"] == "valuation.marked":
            replacement["valuation"] = str(rounded(int(target["valuation"]) * 1.1, 100_000))
        elif target["kind"] == "fx.rate":
            replacement["rate"] = f"{float(target['rate']) * 1.002:.4f}"
        else:
            replacement["amount"] = str(rounded(int(target["amount"]) * 0.9, 10_000))
        fact = {
            "kind": "fact.corrected",
            "effective": self.day(),
            "key": self.key("correction"),
            "fact": target["key"],
            "replacement": replacement,
        }
        self.emit(fact, None, FIXED)
        return True

    def fact_retracted(self, company: Company) -> bool:
        taken = self.take_correctable(("valuation.marked", "penalty.imposed"))
        if taken is None:
            return False
        _, target = taken
        fact = {
            "kind": "fact.retracted",
            "effective": self.day(),
            "key": self.key("retraction"),
            "fact": target["key"],
            "reason": "the source was misread",
        }
        self.emit(fact, None, FIXED)
        return True

    # --- the story ----------------------------------------------------------------------

    def story(self) -> None:
        """Facts in effective order until there are ``n``; the date advances with the count."""
        rng = self.rng
        start = START.toordinal()
        self.register_fixed_parties()
        while len(self.lines) < self.n:
            self.today = start + len(self.lines) * self.span // self.n
            self.register_due()
            self.fx_due()
            if len(self.lines) >= self.n:
                break
            company = rng.choice(self.companies)
            maker = self.makers[bisect_right(self.weights, rng.random() * self.weights[-1])]
            if not maker(company):
                self.valuation_marked(company)
        del self.lines[self.n :], self.days[self.n :], self.entities[self.n :], self.roles[self.n :]

    def late(self) -> dict[int, list[int]]:
        """Choose about 5% of the facts to write late: {position written after: [facts]}.

        A fact moves from i to just after j > i only if j is past a fact of a later date (so it
        really is back-dated) and the move cannot change any check: a fact others draw on stays
        before the next fact of its entity, and any fact stays before a fact of the same entity
        and date (within a date, facts apply in recording order). Everything else the ledger
        checks is per entity, so the final story in effective order is the one generated.
        """
        n = len(self.lines)
        following = array("i", [n]) * n
        seen: dict[int, int] = {}
        for index in range(n - 1, -1, -1):
            entity = self.entities[index]
            if entity >= 0:
                following[index] = seen.get(entity, n)
                seen[entity] = index
        later_date = array("i", [n]) * n
        for index in range(n - 2, -1, -1):
            later_date[index] = index + 1 if self.days[index + 1] > self.days[index] else later_date[index + 1]
        wanted = int(n * BACKDATED_SHARE)
        reach = max(2, n // 4)
        moves: dict[int, list[int]] = {}
        order = list(range(n))
        self.rng.shuffle(order)
        moved = 0
        for index in order:
            if moved >= wanted:
                break
            role = self.roles[index]
            if role == FIXED:
                continue
            last = min(n - 1, index + reach)
            nxt = following[index]
            if nxt < n and (role == PROVIDER or self.days[nxt] == self.days[index]):
                last = min(last, nxt - 1)
            first = later_date[index]
            if first > last:
                continue
            moves.setdefault(self.rng.randint(first, last), []).append(index)
            moved += 1
        for group in moves.values():
            group.sort()
        return moves

    def written(self, moves: dict[int, list[int]]) -> Iterator[int]:
        """Positions in recording order."""
        late = {index for group in moves.values() for index in group}
        for index in range(len(self.lines)):
            if index not in late:
                yield index
            yield from moves.get(index, ())

    def write_journal(self, out: TextIO) -> None:
        """The ownership changes as a ledger-cli journal: shares (founders start with 1,000,000) per holder account."""
        assert self.journal is not None
        started: set[str] = set()
        scale = 1_000_000
        out.write("; ownership of every company, one transaction per ownership change (generated by bench/generate.py)\n\n")
        for ordinal, company, label, moves, issued in self.journal:
            day = self.day(ordinal)
            commodity = f'"{company}"'
            if company not in started:
                started.add(company)
                out.write(
                    f"{day} {company} founders\n    Shares:{company}:{FOUNDERS}  {scale} {commodity}\n    Issued:{company}\n\n"
                )
            out.write(f"{day} {company} {label}\n")
            for holder, count in moves:
                if count:
                    sign = "-" if count < 0 else ""
                    out.write(f"    Shares:{company}:{holder}  {sign}{decimal_places(abs(count) * scale, 6)} {commodity}\n")
            if issued:  # new shares are balanced by the company's issue account; a transfer balances itself
                out.write(f"    Issued:{company}\n")
            out.write("\n")


def batch_paths(out: Path, batches: int) -> list[Path]:
    if batches <= 1:
        return [out]
    width = len(str(batches))
    return [out.with_name(f"{out.stem}.{number:0{width}d}{out.suffix}") for number in range(1, batches + 1)]


def generate(facts: int, out: Path, *, batches: int = 1, seed: int = SEED, journal: Path | None = None) -> Summary:
    """Write the ledger (one file, or ``batches`` files in recording order) and return what the engine needs."""
    generator = Generator(facts, seed, journal=journal is not None)
    generator.story()
    moves = generator.late()
    paths = batch_paths(out, batches)
    size = 0
    per_file = -(-facts // len(paths))
    handles = [path.open("w", encoding="utf-8") for path in paths]
    try:
        for count, index in enumerate(generator.written(moves)):
            line = generator.lines[index]
            size += len(line.encode()) + 1
            handles[count // per_file].write(line + "\n")
    finally:
        for handle in handles:
            handle.close()
    if journal is not None:
        with journal.open("w", encoding="utf-8") as out_journal:
            generator.write_journal(out_journal)
    return Summary(
        facts=facts,
        bytes=size,
        backdated=sum(len(group) for group in moves.values()),
        files=paths,
        first=date.fromordinal(generator.days[0]),
        last=date.fromordinal(max(generator.days)),
        companies={company.slug: company.facts for company in generator.companies},
        ownership=generator.ownership,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write a deterministic, valid, realistic dealledger ledger as JSON Lines.")
    parser.add_argument("--facts", type=int, default=10_000, help="how many facts (default 10000)")
    parser.add_argument("--out", type=Path, required=True, help="the JSON Lines file to write")
    parser.add_argument("--batches", type=int, default=1, help="split into this many files in recording order (OUT.1.jsonl ...)")
    parser.add_argument("--seed", type=int, default=SEED, help=f"random seed (default {SEED})")
    parser.add_argument("--journal", type=Path, help="also write the ownership changes as a ledger-cli journal")
    args = parser.parse_args(argv)
    if args.facts < 100:
        parser.error("--facts must be at least 100")
    summary = generate(args.facts, args.out, batches=args.batches, seed=args.seed, journal=args.journal)
    print(
        f"{summary.facts} facts, {summary.bytes / summary.facts:.0f} bytes a line on average, {summary.backdated} written late, "
        f"{len(summary.companies)} companies, effective {summary.first} to {summary.last}; "
        f"typical company {summary.typical_company()}",
        file=sys.stderr,
    )
    for path in summary.files:
        print(path)


if __name__ == "__main__":
    main()
