"""Append throughput: dealledger's full append path against raw sqlite3 in the same run.

    python bench/append.py [--facts 100000] [--url sqlite:///...] [--keep]

Generates a JSON Lines file of valid facts (parties, rounds, stakes, credits, escrow,
regulation), then times:

- baseline: stdlib ``sqlite3`` ``executemany`` of the same JSON lines into a table, one
  transaction (the floor any store on SQLite pays);
- dealledger: ``append --file`` through the library (parse, validate every field, check
  keys and parties, run every plugin's validation over the whole story, encode, store
  in one transaction);
- replay: reading the stored facts back and folding the ownership view.

It prints facts/s and the ratio to the baseline. Numbers vary by machine; ratios matter.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def generate(path: Path, count: int, seed: int = 7) -> None:
    """Valid facts, about 200 bytes each, in an order the ledger accepts."""
    rng = random.Random(seed)
    companies = [f"company-{i}" for i in range(400)]
    investors = [f"investor-{i}" for i in range(150)]
    clouds = [f"cloud-{i}" for i in range(10)]
    lines: list[dict] = []
    for slug in companies:
        lines.append({"kind": "party.registered", "effective": "2015-01-01", "party": slug, "name": slug.title(),
                      "type": "company", "sectors": ["ai"], "key": f"p-{slug}"})
    for slug in investors:
        lines.append({"kind": "party.registered", "effective": "2015-01-01", "party": slug, "name": slug.title(),
                      "type": "investor", "key": f"p-{slug}"})
    for slug in clouds:
        lines.append({"kind": "party.registered", "effective": "2015-01-01", "party": slug, "name": slug.title(),
                      "type": "cloud", "key": f"p-{slug}"})
    lines.append({"kind": "party.registered", "effective": "2015-01-01", "party": "regulator", "name": "Regulator",
                  "type": "regulator", "key": "p-regulator"})
    granted: dict[tuple[str, str], int] = {}
    held: dict[str, int] = {}
    n = len(lines)
    while len(lines) < count:
        n += 1
        day = f"20{16 + (n * 9) // count:02d}-{1 + n % 12:02d}-{1 + n % 28:02d}"
        company = rng.choice(companies)
        choice = rng.random()
        if choice < 0.30:
            a, b = rng.sample(investors, 2)
            amount = rng.randrange(1, 500) * 1_000_000
            lines.append({"kind": "round.closed", "effective": day, "key": f"round-{n}", "company": company,
                          "round": f"r{n}", "amount": str(amount), "currency": "USD",
                          "pre_money": str(amount * rng.randrange(2, 9)),
                          "investors": [{"party": a, "amount": str(amount // 2), "lead": True},
                                        {"party": b, "amount": str(amount // 4), "consideration": "credits"}]})
        elif choice < 0.45:
            cloud = rng.choice(clouds)
            granted[(cloud, company)] = granted.get((cloud, company), 0) + 1_000_000
            lines.append({"kind": "credits.granted", "effective": day, "key": f"grant-{n}", "grantor": cloud,
                          "grantee": company, "amount": "1000000", "currency": "USD"})
        elif choice < 0.60 and granted:
            cloud, grantee = rng.choice(list(granted))
            if granted[(cloud, grantee)] >= 100_000:
                granted[(cloud, grantee)] -= 100_000
                lines.append({"kind": "credits.consumed", "effective": "2030-01-01", "key": f"use-{n}", "grantor": cloud,
                              "grantee": grantee, "amount": "100000", "currency": "USD"})
        elif choice < 0.72:
            account = f"escrow-{company}"
            held[account] = held.get(account, 0) + 5_000_000
            lines.append({"kind": "escrow.deposited", "effective": day, "key": f"dep-{n}", "account": account,
                          "depositor": rng.choice(investors), "beneficiary": company, "amount": "5000000",
                          "currency": "USD"})
        elif choice < 0.82 and held:
            account = rng.choice(list(held))
            if held[account] >= 1_000_000:
                held[account] -= 1_000_000
                lines.append({"kind": "escrow.released", "effective": "2030-06-01", "key": f"rel-{n}", "account": account,
                              "amount": "1000000", "currency": "USD", "to": rng.choice(clouds)})
        elif choice < 0.92:
            lines.append({"kind": "valuation.marked", "effective": day, "key": f"mark-{n}", "company": company,
                          "valuation": str(rng.randrange(10, 5000) * 1_000_000), "currency": "USD",
                          "source": "https://example.org/report"})
        else:
            lines.append({"kind": "penalty.imposed", "effective": day, "key": f"fine-{n}", "authority": "regulator",
                          "target": rng.choice(investors), "amount": str(rng.randrange(1, 100) * 1_000_000),
                          "currency": "CNY", "reason": "filing late"})
    with path.open("w", encoding="utf-8") as out:
        for line in lines[:count]:
            out.write(json.dumps(line, separators=(",", ":")) + "\n")


def baseline(path: Path, db_path: Path) -> float:
    """stdlib sqlite3: the same JSON payloads, one executemany, one transaction."""
    start = time.perf_counter()
    connection = sqlite3.connect(db_path)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("CREATE TABLE facts (seq INTEGER PRIMARY KEY, payload TEXT NOT NULL)")
    with path.open(encoding="utf-8") as lines, connection:
        connection.executemany(
            "INSERT INTO facts (seq, payload) VALUES (?, ?)",
            ((n, json.dumps(json.loads(line), separators=(",", ":"))) for n, line in enumerate(lines, 1)),
        )
    connection.close()
    return time.perf_counter() - start


def dealledger_append(path: Path, url: str) -> tuple[float, int]:
    from ledger.api import Ledger
    from ledger.importing import incoming_from_path

    start = time.perf_counter()
    with Ledger(url) as ledger:
        result = ledger.append(incoming_from_path(ledger.catalogue, str(path)))
    return time.perf_counter() - start, len(result.added)


def dealledger_replay(url: str) -> tuple[float, float, int]:
    from ledger.api import Ledger
    from ledger.views import Query

    start = time.perf_counter()
    with Ledger(url) as ledger:
        count = len(ledger.records())
        read = time.perf_counter() - start
        ledger.view("ownership", Query())
    return read, time.perf_counter() - start, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--facts", type=int, default=100_000)
    parser.add_argument("--url", help="store URL for dealledger (default: a fresh SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        facts = work / "facts.jsonl"
        generate(facts, args.facts)
        size = os.path.getsize(facts)
        print(f"{args.facts} facts, {size / args.facts:.0f} bytes each on average")
        base = baseline(facts, work / "baseline.db")
        url = args.url or f"sqlite:///{work / 'dealledger.db'}"
        ours, added = dealledger_append(facts, url)
        assert added == args.facts, f"appended {added} of {args.facts}"
        read, replay, count = dealledger_replay(url)
        print(f"baseline  sqlite3 executemany, one transaction: {args.facts / base:>10,.0f} facts/s")
        print(f"dealledger append --file (parse, validate, store): {args.facts / ours:>10,.0f} facts/s")
        print(f"ratio dealledger / baseline: {base / ours:.1%}")
        print(f"read back {count} facts: {count / read:,.0f} facts/s; read + ownership fold: {count / replay:,.0f} facts/s")


if __name__ == "__main__":
    main()
