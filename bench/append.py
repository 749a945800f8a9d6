"""Append throughput alone: ``dealledger append --file`` against raw sqlite3 in the same run.

    python bench/append.py [--facts 100000] [--url sqlite:///...]

The quick question of ``bench/engine.py`` (which asks it at several sizes, with the other
targets): how close does the whole append path — parse, validate every field, check keys and
parties, run every plugin's validation, encode, store in one transaction — come to the floor
any store on SQLite pays, stdlib ``sqlite3`` ``executemany`` of the same JSON lines in one
transaction? The facts come from ``bench/generate.py`` (realistic, about 200 bytes each, all
valid). Then it reads the ledger back twice through the command line: ``dealledger export``
(every fact read and written out) and ``dealledger view ownership`` (read and folded into a
view). Every dealledger figure is a fresh process, as a user runs it. Numbers vary by
machine; the ratio is the point.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from engine import default_dealledger, executemany_baseline, run
from generate import generate


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="dealledger append --file against sqlite3 executemany, same facts, same run.")
    parser.add_argument("--facts", type=int, default=100_000, help="how many facts (default 100000)")
    parser.add_argument("--url", help="an empty store for dealledger (default: a fresh SQLite file)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds before a command is killed (default 900)")
    args = parser.parse_args(argv)
    dealledger = default_dealledger()
    with tempfile.TemporaryDirectory(prefix="dealledger-append-") as folder:
        work = Path(folder)
        facts = work / "facts.jsonl"
        summary = generate(args.facts, facts)
        print(f"{args.facts:,} facts, {summary.bytes / args.facts:.0f} bytes each on average")
        base = executemany_baseline(facts, work / "baseline.db")
        url = args.url or f"sqlite:///{work / 'ledger.db'}"
        appended = run([*dealledger, "--url", url, "append", "--file", str(facts)], args.timeout)
        print(f"baseline  sqlite3 executemany, one transaction:   {args.facts / base:>10,.0f} facts/s")
        if not appended.ok:
            sys.exit(f"dealledger append --file: {appended.failure}")
        print(f"dealledger append --file (parse, validate, store): {args.facts / appended.seconds:>10,.0f} facts/s")
        print(f"ratio dealledger / baseline: {base / appended.seconds:.1%}; peak RSS {appended.rss_mib:.0f} MiB")
        exported = run([*dealledger, "--url", url, "export", "--out", str(work / "export.jsonl")], args.timeout)
        folded = run([*dealledger, "--url", url, "view", "ownership", "--format", "csv"], args.timeout)
        for what, result in (("read back (export)", exported), ("read back + ownership fold (view ownership)", folded)):
            shown = f"{args.facts / result.seconds:,.0f} facts/s ({result.seconds:.2f} s)" if result.ok else result.failure
            print(f"{what}: {shown}")


if __name__ == "__main__":
    main()
