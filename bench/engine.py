"""The engine benchmark: dealledger's commands against baselines measured in the same run, at several ledger sizes.

    python bench/engine.py --sizes 10000,100000 [--timeout 900] [--report bench/report.md]
    python bench/engine.py --sizes 10k --url-template 'postgresql://postgres@127.0.0.1:5432/test?schema=bench_{size}_{stamp}'

Absolute figures depend on the machine; what this measures is how dealledger compares with
the floor it is built on (raw ``sqlite3``), with a tool users already know (ledger-cli), and
with itself as the ledger grows. Every dealledger figure is a real command line in a fresh
process, as a user runs it, so interpreter start-up, imports, reading the store and writing
the answer all count. Baselines run in this process, on the same facts, in the same run, so
the ratios hold on any machine. For each size it:

1. generates a realistic ledger (``bench/generate.py``) in a temporary folder;
2. bulk append: ``dealledger append --file`` vs ``sqlite3`` ``executemany`` of the same lines;
3. single-fact append into the ledger of that size (median of 5);
4. replay of every view, cold (checkpoints cleared) and warm (best of two more runs), vs
   ``SELECT`` + ``json.loads`` of every stored event from the same database file, and its peak RSS;
   then from the checkpoints with the kept answers dropped (run 4), and after one more fact dated
   six weeks before the replay's date (run 5);
5. ``view ownership`` of a typical company at a mid-range date (median of 5) vs ``ledger -f J
   bal --end D`` over a journal of the same holdings (median of 5);

and, first of all while the machine is quiet, ``dealledger --help`` vs a bare ``python -c "import
click"`` (median of 30 each); then it prints a Markdown table
with each target, met or missed. A command that runs past ``--timeout`` is killed and reported
as timed out; the run goes on.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import platform
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from urllib.parse import parse_qs, urlsplit, urlunsplit

from generate import Summary, generate

REPEATS = 5
HELP_REPEATS = 30
TARGETS = {
    "bulk": 0.5,  # dealledger append facts/s >= 0.5 x executemany
    "cold": 0.25,  # cold replay >= 0.25 x raw read
    "warm": 1.0,  # warm replay >= 1 x raw read
    "view_growth": 2.0,  # view at the largest size <= 2 x at the smallest
    "view_vs_ledger": 5.0,  # view >= 5 x faster than ledger-cli
    "single_growth": 2.0,  # single-fact append at the largest size <= 2 x at the smallest
    "help": 1.5,  # --help <= 1.5 x bare import click
    "rss_mib": 300.0,  # 1M-fact replay peak RSS < 300 MiB
}
RSS_TARGET_SIZE = 1_000_000


def progress(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


# --- running commands -------------------------------------------------------------------


@dataclass
class Run:
    """One finished (or killed) command: wall time, its own peak RSS, exit code (None when timed out)."""

    command: list[str]
    seconds: float
    rss_mib: float
    """The peak RSS of the largest single process: the command's own, or a child's (a replay's worker)."""
    code: int | None
    stdout: str
    stderr: str
    timeout: float
    tree_mib: float | None = None
    """The peak PSS of the command and all its children at once, sampled every ``TREE_EVERY`` s (None off Linux)."""

    @property
    def ok(self) -> bool:
        return self.code == 0

    @property
    def failure(self) -> str:
        """What went wrong, short enough for a table cell."""
        if self.code is None:
            return f"timed out after {self.timeout:g} s"
        lines = [line for line in self.stderr.strip().splitlines() if line.strip()]
        last = lines[-1] if lines else f"exit code {self.code}"
        return f"failed: {last[:160]}"


LAUNCHER = """
import json, os, sys, time
report, command = sys.argv[1], sys.argv[2:]
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(command[0], command)
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
seconds = time.perf_counter() - start
with open(report, "w") as out:
    json.dump({"seconds": seconds, "rss_kib": usage.ru_maxrss}, out)
sys.exit(os.waitstatus_to_exitcode(status))
"""
"""Runs a command as its own child and reports its time and peak RSS. Linux carries a process's peak RSS
across exec, and a child forked from this (large) benchmark process starts with the benchmark's
pages mapped, so measured directly every small command would report the benchmark's own size;
forked from this small launcher, it reports its own."""


TREE_EVERY = 0.1
"""Seconds between two samples of a command's process tree's memory."""


def tree_pss_kib(root: int) -> int | None:
    """The proportional set size of ``root`` and its descendants, in KiB (pages shared by several of them counted
    once in all): what the command holds, however many processes it runs in. None where /proc cannot tell.

    The whole tree is listed first and each process's PSS read after, so a fork between the two reads of one
    process cannot count its pages once whole in the parent and again halved in the child."""
    tree, pending = [], [root]
    while pending:
        pid = pending.pop()
        tree.append(pid)
        pending.extend(children_of(pid))
    total, seen = 0, False
    for pid in tree:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as rollup:
                total += next(int(line.split()[1]) for line in rollup if line.startswith("Pss:"))
            seen = True
        except (OSError, StopIteration, ValueError):
            continue  # gone meanwhile, or not Linux
    return total if seen else None


def children_of(pid: int) -> list[int]:
    """The children of every thread of ``pid`` (none where /proc cannot tell)."""
    found: list[int] = []
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for thread in threads:
        try:
            with open(f"/proc/{pid}/task/{thread}/children") as children:
                found.extend(int(child) for child in children.read().split())
        except (OSError, ValueError):
            continue
    return found


def sample_tree(launcher: subprocess.Popen[bytes], peak: list[int]) -> None:
    """Keep in ``peak[0]`` the largest PSS of the launcher's children (the command and its own) until it ends."""
    while launcher.poll() is None:
        found = [tree_pss_kib(pid) for pid in children_of(launcher.pid)]
        peak[0] = max(peak[0], sum(kib for kib in found if kib is not None))
        time.sleep(TREE_EVERY)


def run(command: Sequence[str], timeout: float, cwd: Path | None = None) -> Run:
    """Run ``command`` through ``LAUNCHER`` in its own session; kill the whole session at ``timeout``.

    The launcher times the command from fork to exit and gives its own resource usage
    (``os.wait4``: its peak RSS, not the largest of all children so far, which is what
    ``RUSAGE_CHILDREN`` reports), while this thread enforces the timeout.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "usage.json"
        launched = [sys.executable, "-c", LAUNCHER, str(report), *command]
        start = time.perf_counter()
        process = subprocess.Popen(launched, stdout=out, stderr=err, cwd=cwd, start_new_session=True)
        tree = [0]
        sampler = threading.Thread(target=sample_tree, args=(process, tree), daemon=True)
        sampler.start()
        try:
            process.wait(timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            timed_out = True
        ended = time.perf_counter()
        sampler.join()
        usage = json.loads(report.read_text()) if report.exists() else {"seconds": ended - start, "rss_kib": 0}
        out.seek(0)
        err.seek(0)
        return Run(
            command=list(command),
            seconds=usage["seconds"],
            rss_mib=usage["rss_kib"] / 1024,
            code=None if timed_out else process.returncode,
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
            timeout=timeout,
            tree_mib=tree[0] / 1024 if tree[0] else None,
        )


def repeated(command: Sequence[str], count: int, timeout: float, label: str) -> tuple[list[Run], Run | None]:
    """Run ``count`` times; stop at the first failure (a command that timed out once would again)."""
    runs: list[Run] = []
    for number in range(1, count + 1):
        result = run(command, timeout)
        if not result.ok:
            progress(f"  {label} run {number}: {result.failure}")
            return runs, result
        runs.append(result)
        progress(f"  {label} run {number}: {result.seconds:.3f} s")
    return runs, None


def median(runs: Sequence[Run]) -> float:
    return statistics.median(result.seconds for result in runs)


# --- baselines ------------------------------------------------------------------------------


def executemany_baseline(facts: Path, db_path: Path) -> float:
    """stdlib sqlite3: the same JSON lines, decoded and re-encoded, one executemany, one transaction (seconds).

    The floor any store on SQLite pays for durably keeping these facts; dealledger's append
    does this plus parsing, validating and indexing.
    """
    start = time.perf_counter()
    connection = sqlite3.connect(db_path)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("CREATE TABLE facts (seq INTEGER PRIMARY KEY, payload TEXT NOT NULL)")
    with facts.open(encoding="utf-8") as lines, connection:
        connection.executemany(
            "INSERT INTO facts (seq, payload) VALUES (?, ?)",
            ((n, json.dumps(json.loads(line), separators=(",", ":"))) for n, line in enumerate(lines, 1)),
        )
    connection.close()
    return time.perf_counter() - start


def schema_floor(ledger: Path, db_path: Path) -> float:
    """stdlib sqlite3: every row a bulk append stored, re-inserted into an empty copy of the same schema (tables,
    indexes, triggers), one executemany per table in recording order, one transaction, WAL: the seconds it took.

    Each table's rows are read before its insert and not timed, so this is what SQLite alone takes to keep these
    facts the way the ledger keeps them (with the indexes its questions need), with no parsing, checking or
    encoding at all: no append into this schema can beat it, and its ratio to ``executemany`` is the most any
    append can reach here. The page cache is set as large as dealledger's writing connection sets it (128 MiB).
    SQLite's own objects (``sqlite_stat1`` after an ``ANALYZE``) are left out."""
    source = sqlite3.connect(f"file:{ledger}?mode=ro", uri=True)
    connection = sqlite3.connect(db_path)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA cache_size = -131072")
        objects = "FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
        for (sql,) in source.execute(f"SELECT sql {objects} AND sql IS NOT NULL ORDER BY type != 'table'").fetchall():
            connection.execute(sql)
        connection.commit()
        seconds = 0.0
        for (name,) in source.execute(f"SELECT name {objects} AND type = 'table'").fetchall():
            columns = [row[1] for row in source.execute(f'PRAGMA table_info("{name}")')]
            order = " ORDER BY position" if "position" in columns else ""  # the order the append inserted them in
            found = source.execute(f'SELECT * FROM "{name}"{order}').fetchall()
            if found:
                start = time.perf_counter()  # one transaction across the tables: sqlite3 opens it at the first INSERT
                connection.executemany(f'INSERT INTO "{name}" VALUES ({", ".join("?" * len(columns))})', found)
                seconds += time.perf_counter() - start
            del found  # one table's rows held at a time
        start = time.perf_counter()
        connection.commit()
        return seconds + time.perf_counter() - start
    finally:
        connection.close()
        source.close()


def events_table(connection: sqlite3.Connection) -> str | None:
    """The table the store keeps events in: one with a ``state`` column (eventsourcing's recorder), events first."""
    tables = [name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    candidates = []
    for name in tables:
        columns = {row[1] for row in connection.execute(f'PRAGMA table_info("{name}")')}
        if "state" in columns:
            rows = connection.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
            candidates.append(("event" not in name.lower(), -rows, name))
    return min(candidates)[2] if candidates else None


def raw_read(db_path: Path, table: str | None = None, column: str = "state") -> tuple[int, float]:
    """stdlib sqlite3: SELECT every stored event's payload and json.loads it: (rows, seconds). The floor for any replay."""
    connection = sqlite3.connect(db_path)
    try:
        table = table or events_table(connection)
        if table is None:
            raise LookupError(f"{db_path}: no table with a {column!r} column")
        start = time.perf_counter()
        rows = 0
        for (payload,) in connection.execute(f'SELECT "{column}" FROM "{table}"'):
            json.loads(payload)
            rows += 1
        return rows, time.perf_counter() - start
    finally:
        connection.close()


# --- ledger-cli -----------------------------------------------------------------------------


def ledger_cli(install: bool) -> str | None:
    """The ledger-cli binary, installing it with apt-get when asked and missing."""
    found = shutil.which("ledger")
    if found or not install:
        return found
    progress("ledger-cli missing: apt-get update && apt-get install -y ledger")
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", "ledger"]):
        result = run(command, 600)
        if not result.ok:
            progress(f"  {' '.join(command)}: {result.failure}")
            return None
    return shutil.which("ledger")


def ledger_fractions(output: str) -> dict[str, Fraction]:
    """Holder -> fraction from ``ledger bal --flat --no-total`` lines ("123.4 "co"  Shares:co:holder")."""
    balances: dict[str, Fraction] = {}
    for line in output.splitlines():
        match = re.match(r"\s*(-?[\d,.]+)\s+\S+\s+Shares:[^:]+:(\S+)\s*$", line)
        if match:
            balances[match.group(2)] = Fraction(match.group(1).replace(",", ""))
    total = sum(balances.values(), Fraction(0))
    return {holder: amount / total for holder, amount in balances.items() if amount} if total else {}


def dealledger_fractions(output: str) -> dict[str, Fraction]:
    return {row["holder"]: Fraction(row["fraction"]) for row in csv.DictReader(io.StringIO(output)) if row.get("holder")}


# --- the store ------------------------------------------------------------------------------


@dataclass
class Store:
    """Where one size's ledger lives, and how to empty its checkpoints for a cold replay."""

    url: str
    sqlite_path: Path | None

    def clear_checkpoints(self, dealledger: Sequence[str], supported: bool, timeout: float) -> tuple[bool, str]:
        """(cleared, how): ``dealledger checkpoints --clear``, else delete rows of checkpoint tables directly."""
        if supported:
            result = run([*dealledger, "--url", self.url, "checkpoints", "--clear"], timeout)
            if result.ok:
                return True, "checkpoints --clear"
            progress(f"  checkpoints --clear: {result.failure}")
        try:
            tables = self.delete_rows("%checkpoint%")
        except Exception as error:  # a store we cannot reach directly: say so rather than stop the run
            progress(f"  clearing checkpoint tables directly: {error}")
            return False, "no checkpoint support"
        return (True, f"deleted rows of {', '.join(tables)}") if tables else (False, "no checkpoint support")

    def delete_rows(self, pattern: str) -> list[str]:
        """Empty the tables whose names are LIKE ``pattern``; their names."""
        if self.sqlite_path is not None:
            connection = sqlite3.connect(self.sqlite_path)
            try:
                names = [
                    n
                    for (n,) in connection.execute(
                        "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE ?", (pattern,)
                    )
                ]
                with connection:
                    for name in names:
                        connection.execute(f'DELETE FROM "{name}"')
                return names
            finally:
                connection.close()
        import psycopg  # the PostgreSQL driver dealledger already depends on (eventsourcing[postgres])

        parts = urlsplit(self.url)
        schema = parse_qs(parts.query).get("schema", ["public"])[0]
        with psycopg.connect(urlunsplit(("postgresql", parts.netloc, parts.path, "", ""))) as connection:
            names = [
                name
                for (name,) in connection.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = %s AND table_name LIKE %s",
                    (schema, pattern),
                )
            ]
            for name in names:
                connection.execute(f'DELETE FROM "{schema}"."{name}"')
            return names


# --- results --------------------------------------------------------------------------------


@dataclass
class Row:
    measure: str
    size: str
    result: str
    baseline: str = "—"
    ratio: str = "—"
    target: str = "—"
    verdict: str = "—"


@dataclass
class SizeResult:
    """What one size measured; None where the measurement did not finish (``failures`` says why)."""

    size: int
    summary: Summary | None = None
    bulk: float | None = None
    executemany: float | None = None
    floor: float | None = None
    """``schema_floor``: the bulk append's stored rows alone into an empty copy of its schema (SQLite stores only)."""
    single: float | None = None
    cold: float | None = None
    cold_label: str = "cold"
    warm: float | None = None
    from_states: float | None = None
    after_late: float | None = None
    """Run 5: the replay after one fact dated six weeks before the question's date (checkpoints kept)."""
    raw: tuple[int, float] | None = None
    raw_label: str = "raw read"
    rss: float | None = None
    tree: float | None = None
    """The largest PSS of a replay's whole process tree (``Run.tree_mib``)."""
    cold_one: float | None = None
    """The cold replay again in one process (``--jobs 1``), checkpoints cleared again first."""
    cold_one_memory: tuple[float, float | None] | None = None
    view: float | None = None
    ledger: float | None = None
    company: str = ""
    as_of: str = ""
    failures: dict[str, str] = field(default_factory=dict)


def memory(done: Run) -> str:
    tree = f", {done.tree_mib:.0f} MiB with its children (PSS)" if done.tree_mib is not None else ""
    return f"peak RSS {done.rss_mib:.0f} MiB (largest process){tree}"


def counted(result: SizeResult, done: Run) -> None:
    """Count a replay's memory in the size's peaks."""
    result.rss = max(result.rss or 0.0, done.rss_mib)
    if done.tree_mib is not None:
        result.tree = max(result.tree or 0.0, done.tree_mib)


def short(size: int) -> str:
    for unit, name in ((1_000_000, "M"), (1_000, "k")):
        if size >= unit and size % unit == 0:
            return f"{size // unit}{name}"
    return f"{size:,}"


def parse_size(text: str) -> int:
    text = text.strip().lower().replace("_", "")
    factor = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text[:-1] if factor > 1 else text) * factor)


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f} facts/s ({seconds:.2f} s)"


# --- the benchmark --------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.timeout: float = args.timeout
        self.dealledger: list[str] = args.dealledger
        self.stamp = datetime.now().strftime("%Y%m%d%H%M%S")
        self.ledger_cli = ledger_cli(args.install_ledger_cli) if not args.no_ledger_cli else None
        self.notes: list[str] = []
        self.checkpoints = run([*self.dealledger, "checkpoints", "--help"], self.timeout).ok

    def store(self, size: int, folder: Path) -> Store:
        if self.args.url_template:
            return Store(self.args.url_template.format(size=size, stamp=self.stamp), None)
        path = folder / "ledger.db"
        return Store(f"sqlite:///{path}", path)

    def measure(self, size: int, folder: Path) -> SizeResult:
        result = SizeResult(size)
        facts = folder / "facts.jsonl"
        journal = folder / "holdings.ledger" if self.ledger_cli else None
        progress(f"{short(size)}: generating {size:,} facts")
        summary = result.summary = generate(size, facts, journal=journal)
        result.company, late = summary.typical_company(), summary.last.isoformat()
        result.as_of = summary.middle().isoformat()
        progress(
            f"{short(size)}: {summary.bytes / size:.0f} bytes a fact, {summary.backdated:,} back-dated, "
            f"{len(summary.companies):,} companies; typical company {result.company}, as-of {result.as_of}"
        )

        progress(f"{short(size)}: baseline executemany")
        result.executemany = executemany_baseline(facts, folder / "baseline.db")
        store = self.store(size, folder)
        base = [*self.dealledger, "--url", store.url]

        progress(f"{short(size)}: dealledger append --file")
        bulk = run([*base, "append", "--file", str(facts)], self.timeout)
        if not bulk.ok or f"appended {size} facts" not in bulk.stdout:
            why = bulk.failure if not bulk.ok else f"the store was not empty: {bulk.stdout.strip()[:120]}"
            result.failures["bulk"] = why
            progress(f"  {why}; nothing else to measure at this size")
            return result
        result.bulk = bulk.seconds
        progress(f"  {rate(size, bulk.seconds)}")
        if store.sqlite_path is not None:
            progress(f"{short(size)}: the same rows alone into the same schema")
            try:
                result.floor = schema_floor(store.sqlite_path, folder / "floor.db")
                progress(f"  {rate(size, result.floor)}")
            except sqlite3.Error as error:
                progress(f"  not measured: {error}")
                self.notes.append(f"{short(size)}: the bulk append's ceiling could not be measured: {error}")
            finally:
                for leftover in folder.glob("floor.db*"):
                    leftover.unlink()
        if self.args.check:
            checked = run([*base, "check"], self.timeout)
            progress(f"  check: {checked.stdout.strip()[-120:] if checked.ok else checked.failure}")
            if not checked.ok:
                self.notes.append(f"{short(size)}: `dealledger check` did not pass: {checked.failure}")

        progress(f"{short(size)}: single-fact append")
        singles: list[Run] = []
        for number in range(1, REPEATS + 1):
            fields = {"company": result.company, "valuation": str(1_000_000 * number), "currency": "USD", "effective": late}
            flags = [part for name, value in fields.items() for part in (f"--{name}", value)]
            one = run([*base, "append", "valuation.marked", *flags, "--key", f"bench-single-{number}"], self.timeout)
            if not one.ok:
                result.failures["single"] = one.failure
                progress(f"  run {number}: {one.failure}")
                break
            singles.append(one)
            progress(f"  run {number}: {one.seconds:.3f} s")
        if len(singles) == REPEATS:
            result.single = median(singles)

        self.replay(result, store, base, folder, late)
        self.view(result, base, journal)
        return result

    def replay(self, result: SizeResult, store: Store, base: list[str], folder: Path, late: str) -> None:
        label = short(result.size)
        progress(f"{label}: raw read baseline")
        try:
            if store.sqlite_path is not None:
                result.raw = raw_read(store.sqlite_path)
            else:
                result.raw = raw_read(folder / "baseline.db", "facts", "payload")
                result.raw_label = "raw read (SQLite copy: the store is PostgreSQL)"
            progress(f"  {rate(*result.raw)}")
        except (LookupError, sqlite3.Error) as error:
            result.failures["raw"] = str(error)
            progress(f"  {error}")
        cleared, how = store.clear_checkpoints(self.dealledger, self.checkpoints, self.timeout)
        result.cold_label = "cold" if cleared else "cold (no checkpoint support)"
        progress(f"{label}: replay, cold ({how})")
        command = [*base, "replay", "--as-of", late, "--format", "csv", "--out"]
        cold = run([*command, str(folder / "replay-cold")], self.timeout)
        result.rss = cold.rss_mib
        result.tree = cold.tree_mib
        if not cold.ok:
            result.failures["cold"] = cold.failure
            progress(f"  {cold.failure}")
        else:
            result.cold = cold.seconds
            progress(f"  {cold.seconds:.2f} s, {memory(cold)}")
        warm: list[Run] = []
        if cold.code is None:  # no checkpoint survives a killed run: a second one would only time out again
            result.failures["warm"] = "skipped: the cold run timed out"
        for number in (2, 3) if cold.code is not None else ():
            again = run([*command, str(folder / f"replay-{number}")], self.timeout)
            counted(result, again)
            if not again.ok:
                result.failures["warm"] = again.failure
                progress(f"  run {number}: {again.failure}")
                break
            warm.append(again)
            progress(f"  run {number}: {again.seconds:.2f} s, {memory(again)}")
        if warm:
            result.warm = min(r.seconds for r in warm)
            self.replay_from_checkpoints(result, store, command, folder)
            self.replay_after_late_fact(result, base, command, folder, late)
        if cold.ok:
            self.cold_in_one_process(result, store, base, command, folder)

    def replay_from_checkpoints(self, result: SizeResult, store: Store, command: list[str], folder: Path) -> None:
        """One more replay with the kept answers dropped and the checkpoints kept: the views answered afresh
        from their states, which is what any other question at that moment costs."""
        label = short(result.size)
        try:
            dropped = store.delete_rows("%answers%")
        except Exception as error:  # a store we cannot reach directly
            progress(f"  dropping kept answers: {error}")
            return
        if not dropped:
            return  # a revision that keeps no answers: its warm runs already were this
        progress(f"{label}: replay from checkpoints (dropped the rows of {', '.join(dropped)})")
        result.from_states = self.one_more_replay(result, command, folder / "replay-4", "states")

    def replay_after_late_fact(self, result: SizeResult, base: list[str], command: list[str], folder: Path, late: str) -> None:
        """Run 5: one valuation dated six weeks before the replay's date, then the same replay. The fact makes
        the checkpoints at that date useless; what is left tells how far back an answer must fold."""
        label = short(result.size)
        day = (date.fromisoformat(late) - timedelta(days=42)).isoformat()
        progress(f"{label}: replay after a fact dated {day} (six weeks back)")
        fields = ["--company", result.company, "--valuation", "1234567", "--currency", "USD", "--effective", day]
        added = run([*base, "append", "valuation.marked", *fields, "--key", "bench-late-1"], self.timeout)
        if not added.ok:
            progress(f"  append: {added.failure}")
            return
        result.after_late = self.one_more_replay(result, command, folder / "replay-5", "late")

    def one_more_replay(self, result: SizeResult, command: list[str], out: Path, failure: str) -> float | None:
        """Run the replay into ``out``: its seconds, its peak RSS counted in the size's, a failure noted under ``failure``."""
        again = run([*command, str(out)], self.timeout)
        counted(result, again)
        if not again.ok:
            result.failures[failure] = again.failure
            progress(f"  {again.failure}")
            return None
        progress(f"  {again.seconds:.2f} s, {memory(again)}")
        return again.seconds

    def cold_in_one_process(self, result: SizeResult, store: Store, base: list[str], command: list[str], folder: Path) -> None:
        """Last, the cold replay again with ``--jobs 1`` (the ledger holds run 5's late fact too): the same work in one
        process, for the same-run comparison; skipped by a revision without ``--jobs``, before anything is cleared."""
        label = short(result.size)
        helped = run([*base, "replay", "--help"], self.timeout)
        if "--jobs" not in helped.stdout:
            return
        cleared, how = store.clear_checkpoints(self.dealledger, self.checkpoints, self.timeout)
        if not cleared:
            return
        progress(f"{label}: replay, cold, in one process (--jobs 1; {how})")
        one = run([*command, str(folder / "replay-cold-1"), "--jobs", "1"], self.timeout)
        if not one.ok:
            progress(f"  {one.failure}")
            return
        result.cold_one = one.seconds
        result.cold_one_memory = (one.rss_mib, one.tree_mib)
        progress(f"  {one.seconds:.2f} s, {memory(one)}")

    def view(self, result: SizeResult, base: list[str], journal: Path | None) -> None:
        label = short(result.size)
        progress(f"{label}: view ownership --company {result.company} --as-of {result.as_of}")
        command = [*base, "view", "ownership", "--company", result.company, "--as-of", result.as_of, "--format", "csv"]
        runs, failed = repeated(command, REPEATS, self.timeout, "view")
        if failed is not None:
            result.failures["view"] = failed.failure
        else:
            result.view = median(runs)
        if self.ledger_cli is None or journal is None:
            skipped = "not run (--no-ledger-cli)" if self.args.no_ledger_cli else "not installed (apt-get install ledger)"
            result.failures["ledger"] = skipped
            return
        end = (date.fromisoformat(result.as_of) + timedelta(days=1)).isoformat()  # --end is exclusive
        progress(f"{label}: ledger -f holdings.ledger bal --end {end} ^Shares:{result.company}:")
        ledger = [self.ledger_cli, "-f", str(journal), "bal", "--flat", "--no-total", "--end", end, f"^Shares:{result.company}:"]
        ledger_runs, failed = repeated(ledger, REPEATS, self.timeout, "ledger-cli")
        if failed is not None:
            result.failures["ledger"] = failed.failure
            return
        result.ledger = median(ledger_runs)
        if runs:
            ours, theirs = dealledger_fractions(runs[0].stdout), ledger_fractions(ledger_runs[0].stdout)
            differ = sorted(h for h in ours.keys() | theirs.keys() if abs(ours.get(h, 0) - theirs.get(h, 0)) > Fraction(1, 10**5))
            if differ:
                self.notes.append(f"{label}: dealledger and ledger-cli disagree on {result.company} for {', '.join(differ)}")
            else:
                progress(f"  both agree on {len(ours)} holders of {result.company}")

    def help_ratio(self) -> tuple[list[Run], list[Run], str | None]:
        progress("--help vs python -c 'import click'")
        interpreter = script_interpreter(self.dealledger)
        helped: list[Run] = []
        bare: list[Run] = []
        # alternately, one of each at a time: a machine whose speed drifts during the run moves both medians alike
        for number in range(1, HELP_REPEATS + 1):
            for runs, command, label in (
                (helped, [*self.dealledger, "--help"], "dealledger --help"),
                (bare, [interpreter, "-c", "import click"], "import click"),
            ):
                result = run(command, self.timeout)
                if not result.ok:
                    progress(f"  {label} run {number}: {result.failure}")
                    return [], [], result.failure
                runs.append(result)
                progress(f"  {label} run {number}: {result.seconds:.3f} s")
        return helped, bare, None


def script_interpreter(dealledger: Sequence[str]) -> str:
    """The interpreter the dealledger command runs under (its #! line), so the click baseline uses the same one."""
    if len(dealledger) > 1:
        return dealledger[0]
    try:
        first = Path(dealledger[0]).read_bytes().split(b"\n", 1)[0].decode()
    except (OSError, UnicodeDecodeError):
        return sys.executable
    if first.startswith("#!") and "/" in first:
        return first[2:].strip().split()[0]
    return sys.executable


# --- the report -----------------------------------------------------------------------------


def seconds(value: float | None, failure: str | None = None) -> str:
    if value is None:
        return failure or "—"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def times(ratio: float | None, places: int = 3, suffix: str = "x") -> str:
    return "—" if ratio is None else f"{ratio:.{places}f}{suffix}"


def judged(ok: bool | None, shown: str = "") -> str:
    """Met or missed when measured; a command that timed out or failed misses its target too."""
    if ok is not None:
        return "met" if ok else "**missed**"
    return "**missed**" if shown.startswith(("timed out", "failed")) else "—"


def why_not(r: SizeResult, key: str) -> str:
    if r.bulk is None and key != "bulk":
        return f"skipped: bulk append {r.failures.get('bulk', 'did not finish')}"
    return r.failures.get(key, "skipped")


def bulk_rows(results: list[SizeResult]) -> list[Row]:
    target, rows = TARGETS["bulk"], []
    for r in results:
        ratio = r.executemany / r.bulk if r.bulk and r.executemany else None
        shown = rate(r.size, r.bulk) if r.bulk else why_not(r, "bulk")
        base = f"executemany {rate(r.size, r.executemany)}" if r.executemany else "—"
        ok = None if ratio is None else ratio >= target
        rows.append(
            Row("bulk append (`append --file`)", short(r.size), shown, base, times(ratio), f"≥ {target}x", judged(ok, shown))
        )
    for r in results:
        if r.floor and r.executemany:
            rows.append(
                Row(
                    "bulk append's ceiling: its stored rows alone into its schema (no parsing, checks or encoding)",
                    short(r.size),
                    rate(r.size, r.floor),
                    f"executemany {rate(r.size, r.executemany)}",
                    times(r.executemany / r.floor),
                    "—",
                    "—",
                )
            )
    return rows


def replay_rows(results: list[SizeResult]) -> list[Row]:
    rows = []
    for which, target in (("cold", TARGETS["cold"]), ("warm", TARGETS["warm"])):
        for r in results:
            value = r.cold if which == "cold" else r.warm
            name = r.cold_label if which == "cold" else "warm (best of runs 2 and 3)"
            raw = f"{r.raw_label} {rate(*r.raw)}" if r.raw else r.failures.get("raw", "—")
            ratio = (r.size / value) / (r.raw[0] / r.raw[1]) if value and r.raw else None
            shown = rate(r.size, value) if value else why_not(r, which)
            ok = None if ratio is None else ratio >= target
            rows.append(
                Row(f"replay, every view: {name}", short(r.size), shown, raw, times(ratio), f"≥ {target:g}x", judged(ok, shown))
            )
    for r in results:
        if r.cold_one and r.raw:
            ratio = (r.size / r.cold_one) / (r.raw[0] / r.raw[1])
            rss, tree = r.cold_one_memory or (0.0, None)
            shown = f"{rate(r.size, r.cold_one)}, {rss:.0f} MiB" + (f" ({tree:.0f} MiB with its children)" if tree else "")
            name = "replay, every view: cold, in one process (`--jobs 1`)"
            rows.append(Row(name, short(r.size), shown, f"{r.raw_label} {rate(*r.raw)}", times(ratio)))
    for r in results:
        if r.from_states and r.raw:
            ratio = (r.size / r.from_states) / (r.raw[0] / r.raw[1])
            name = "replay, every view: from checkpoints, kept answers dropped (run 4)"
            rows.append(Row(name, short(r.size), rate(r.size, r.from_states), f"{r.raw_label} {rate(*r.raw)}", times(ratio)))
    for r in results:
        if r.after_late and r.raw:
            ratio = (r.size / r.after_late) / (r.raw[0] / r.raw[1])
            name = "replay, every view: after a fact dated six weeks back (run 5)"
            rows.append(Row(name, short(r.size), rate(r.size, r.after_late), f"{r.raw_label} {rate(*r.raw)}", times(ratio)))
    for r in results:
        if r.rss is not None:
            # judged on the whole process tree where it was measured: a replay shared out between processes, or
            # pickling states in children, holds what all of them hold at once
            judged_on = max(r.rss, r.tree or 0.0)  # PSS is sampled: a peak shorter than a sample shows in the RSS
            ok = judged_on < TARGETS["rss_mib"] if r.size == RSS_TARGET_SIZE else None
            rows.append(
                Row(
                    "replay peak memory (largest of its runs)",
                    short(r.size),
                    f"{r.rss:.0f} MiB RSS, largest process"
                    + (f"; {r.tree:.0f} MiB PSS, the process and its children" if r.tree is not None else ""),
                    target="< 300 MiB at 1M (all processes)",
                    verdict=judged(ok),
                )
            )
    return rows


def growth(what: str, results: list[SizeResult], pick: str, target: float) -> list[Row]:
    """The largest size's time over the smallest's: a command whose cost follows the question keeps it near 1."""
    if len(results) < 2:
        return []
    small, large = results[0], results[-1]
    before, after = getattr(small, pick), getattr(large, pick)
    ratio = after / before if before and after else None
    shown = f"{seconds(after)} vs {seconds(before)}" if ratio else why_not(large if after is None else small, pick)
    ok = None if ratio is None else ratio <= target
    span = f"{short(large.size)} vs {short(small.size)}"
    return [Row(f"{what}: growth", span, shown, ratio=times(ratio, 2), target=f"≤ {target:g}x", verdict=judged(ok, shown))]


def single_rows(results: list[SizeResult]) -> list[Row]:
    rows = [Row("single-fact append (median of 5)", short(r.size), seconds(r.single, why_not(r, "single"))) for r in results]
    return [*rows, *growth("single-fact append", results, "single", TARGETS["single_growth"])]


def view_rows(results: list[SizeResult]) -> list[Row]:
    target, rows = TARGETS["view_vs_ledger"], []
    for r in results:
        ratio = r.ledger / r.view if r.view and r.ledger else None
        shown = seconds(r.view, why_not(r, "view"))
        theirs = f"ledger-cli {seconds(r.ledger, r.failures.get('ledger'))}"
        ok = None if ratio is None else ratio >= target
        measure = "`view ownership --company X --as-of D` (median of 5)"
        rows.append(
            Row(measure, short(r.size), shown, theirs, times(ratio, 2, "x as fast"), f"≥ {target:g}x as fast", judged(ok, shown))
        )
    return [*rows, *growth("as-of view", results, "view", TARGETS["view_growth"])]


def help_row(help_runs: tuple[list[Run], list[Run], str | None]) -> Row:
    helped, bare, failure = help_runs
    ratio = median(helped) / median(bare) if helped and bare else None
    shown = seconds(median(helped)) if helped else failure or "—"
    base = f"`python -c 'import click'` {seconds(median(bare))}" if bare else "—"
    ok = None if ratio is None else ratio <= TARGETS["help"]
    return Row(
        f"`dealledger --help` (median of {HELP_REPEATS})",
        "—",
        shown,
        base,
        times(ratio, 2),
        f"≤ {TARGETS['help']}x",
        judged(ok, shown),
    )


def table(results: list[SizeResult], help_runs: tuple[list[Run], list[Run], str | None]) -> list[Row]:
    return [*bulk_rows(results), *single_rows(results), *replay_rows(results), *view_rows(results), help_row(help_runs)]


def markdown(rows: list[Row], header: list[str], notes: list[str]) -> str:
    lines = [
        *header,
        "",
        "| measure | size | dealledger | baseline (same run) | ratio | target | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        cells = [row.measure, row.size, row.result, row.baseline, row.ratio, row.target, row.verdict]
        lines.append("| " + " | ".join(cell.replace("|", "\\|").replace("\n", " ") for cell in cells) + " |")
    if notes:
        lines += ["", *(f"- {note}" for note in notes)]
    return "\n".join(lines) + "\n"


def default_dealledger() -> list[str]:
    beside = Path(sys.executable).parent / "dealledger"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("dealledger")
    return [found] if found else [str(beside)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="dealledger's commands against same-run baselines at several ledger sizes.")
    parser.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated fact counts (10k, 1M allowed)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds before a command is killed (default 900)")
    parser.add_argument("--report", type=Path, help="also write the Markdown table here")
    parser.add_argument(
        "--url-template", help="store URL with {size} (and {stamp}, this run's time) instead of a temporary SQLite file"
    )
    parser.add_argument(
        "--dealledger",
        type=lambda text: text.split(),
        default=default_dealledger(),
        help="the command to run (default: the dealledger beside this interpreter)",
    )
    parser.add_argument("--check", action="store_true", help="run `dealledger check` after each bulk append (untimed)")
    parser.add_argument("--no-ledger-cli", action="store_true", help="skip the ledger-cli comparison")
    parser.add_argument("--install-ledger-cli", action="store_true", help="apt-get install ledger when it is missing")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temporary folder)")
    args = parser.parse_args(argv)
    sizes = [parse_size(text) for text in args.sizes.split(",") if text.strip()]
    if any(size < 100 for size in sizes):
        parser.error("sizes must be at least 100")
    bench = Bench(args)
    if args.url_template:
        bench.notes.append(
            "The store is " + re.sub(r"//[^@/]*@", "//…@", args.url_template.split("?")[0]) + "; the raw baselines stay SQLite."
        )
    if not bench.checkpoints:
        bench.notes.append(
            "`dealledger checkpoints --clear` does not exist: cold runs clear tables named like '%checkpoint%', if any."
        )
    if bench.ledger_cli is None and not args.no_ledger_cli:
        bench.notes.append("ledger-cli is not installed (`apt-get install ledger`, or --install-ledger-cli): no comparison.")
    help_runs = bench.help_ratio()  # first, on a quiet machine: a few ms of start-up drown in the noise of the big runs
    results: list[SizeResult] = []
    with tempfile.TemporaryDirectory(prefix="dealledger-bench-") as scratch:
        root = args.keep or Path(scratch)
        for size in sizes:
            folder = root / f"n{size}"
            if folder.exists():
                shutil.rmtree(folder)
            folder.mkdir(parents=True)
            results.append(bench.measure(size, folder))
            if not args.keep:
                shutil.rmtree(folder, ignore_errors=True)
    header = [
        f"dealledger engine benchmark, {datetime.now():%Y-%m-%d %H:%M}: {os.cpu_count()} CPUs, {platform.platform()}, "
        f"Python {platform.python_version()}; command `{' '.join(bench.dealledger)}`; timeout {args.timeout:g} s.",
    ]
    for r in results:
        if r.summary is not None:
            s = r.summary
            header.append(
                f"- {short(r.size)}: {s.bytes / r.size:.0f} bytes a fact, {s.backdated:,} back-dated, "
                f"{len(s.companies):,} companies, effective {s.first} to {s.last}; "
                f"X = `{r.company}` ({s.ownership.get(r.company, 0)} ownership facts), D = {r.as_of}"
            )
    report = markdown(table(results, help_runs), header, bench.notes)
    sys.stdout.write(report)
    if args.report:
        args.report.write_text(report, encoding="utf-8")


if __name__ == "__main__":
    main()
