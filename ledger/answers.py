"""Replay's files kept as written: a read model of answers, keyed by the question and the ledger's head.

Replaying a million-fact ledger answers every view for every party: about a million rows,
computed with exact arithmetic and written as text, which is most of a replay's time even when
every state comes from a checkpoint (measured: 30 s of a warm 1M replay). The same question
asked of the same ledger has the same answer, so ``replay --out`` keeps each view's file,
compressed, in the ledger's own database, and a later replay asking the same question of the
same ledger writes the kept text instead of folding and answering again.

An answer is kept under

- its *question*: the view, the format, ``--as-of``, ``--known-at``, and a digest of the code
  that answers it (the sources of the packages whose classes fold and write it, the fact
  catalogue, the Python version), so an upgrade that changes a view's rows never reads an
  answer written by the code before;
- the ledger *head* it was answered at, with the chain hash of the fact there: every append
  moves the head (a question about the new ledger is a new question), and a ledger rewritten
  under a kept answer makes it unusable.

A kept answer carries the digest of its text, checked as the text is written out: a damaged
answer is dropped and the view is answered afresh. Like checkpoints, kept answers are derived
data and never needed: ``dealledger checkpoints --clear`` drops both, and a database that
refuses the write still gets every answer, computed.
"""

from __future__ import annotations

import hashlib
import sys
import zlib
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, BinaryIO

from ledger import LOADING_BEGAN_NS
from ledger.checkpoints import outside_stdlib, packages_of, state_version
from ledger.persistence import ANSWERS_TABLE, refused_as, unless_refused, write_derived
from ledger.views import fold_name

if TYPE_CHECKING:
    from ledger.host import PluginHost
    from ledger.store import Store
    from ledger.views import View

PART_BYTES = 4 << 20
"""Text per stored part: what a read holds in memory at once, whatever the answer's size (a keep holds every
part compressed, about a third of the text, to write them in one transaction)."""
KEEP = 4
"""Answers kept per view (the newest): a few moments asked again, bounded in space."""
LEVEL = 1
"""zlib's fastest level: CSV shrinks about 3x, at over 100 MB/s (a 1M-fact replay's 110 MB in about 1 s)."""


@dataclass(frozen=True)
class Question:
    """What a kept answer answers: one view, in one format, at one moment, by one version of the code."""

    view: str
    fmt: str
    as_of: date | None
    known_at: datetime | None
    code: str

    @property
    def digest(self) -> str:
        moment = f"{self.as_of.isoformat() if self.as_of else '-'}\n{self.known_at.isoformat() if self.known_at else '-'}"
        return hashlib.sha256(f"{self.view}\n{self.fmt}\n{moment}\n{self.code}".encode()).hexdigest()


@dataclass(frozen=True)
class Kept:
    """A kept answer found for a question at a head: how many parts and rows, and the digest of its text."""

    question: str
    head: int
    parts: int
    rows: int
    digest: str


def question(
    view: View[Any], host: PluginHost, fmt: str, as_of: date | None, known_at: datetime | None, sources: Sources | None = None
) -> Question | None:
    """The question this view answers at the moment; None when its answer may not be kept (the view says so,
    or the code that answers it cannot be told: see ``code_digest``)."""
    if not view.keeps_answers:
        return None
    code = code_digest(view, host, sources if sources is not None else Sources())
    return Question(view.name, fmt, as_of, known_at, code) if code is not None else None


@cache
def _standards() -> str:
    """The versions of the code lists rows depend on besides the code: ISO 4217's minor units shape converted
    money (``money_out``), its and ISO 3166's codes what a fact may say."""
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for name in ("iso-4217", "pycountry"):
        try:
            found.append(f"{name}={version(name)}")
        except PackageNotFoundError:
            found.append(f"{name}=?")
    return "\n" + "\n".join(found)


def code_digest(view: View[Any], host: PluginHost, sources: Sources) -> str | None:
    """What the view's answer depends on besides the facts: its class and fold, the sources of the packages
    that fold, answer and write it (``packages_of``: ``events``, ``ledger``, the view's own top-level
    package, its base classes' and its ``state_packages``), the fact kinds known, the Python version.

    None when a package's sources cannot be read (a view defined in an interactive session) or changed on
    disk after this process began loading the code (modified, or replaced by a copy that kept an older
    modification time: the change time tells): the code running may then not be the code read."""
    cls = type(view)
    digest = hashlib.sha256(f"{cls.__module__}.{cls.__qualname__}\n{fold_name(view)}\n{state_version(view)}".encode())
    digest.update(sys.version.encode())
    digest.update(_standards().encode())
    for kind, fact in sorted(host.catalogue.kinds.items()):
        digest.update(f"\n{kind}={fact.__module__}.{fact.__qualname__}".encode())
    for package in sorted({*packages_of(view), *_provider_package(host, view)}):
        source = sources.read(package)
        if source is None or source.newest_ns > LOADING_BEGAN_NS:
            return None
        digest.update(f"\n{package}:{source.digest}".encode())
    return digest.hexdigest()


def _provider_package(host: PluginHost, view: View[Any]) -> tuple[str, ...]:
    """The top-level package of the plugin that provides the view, which may not be its class's: a plugin can
    make a view of a library's class with settings of its own (a threshold), and a change of them changes the
    rows as surely as a change of the class."""
    plugin = host.manager.get_plugin(host.view_providers.get(view.name, ""))
    if plugin is None:
        return ()
    return tuple(outside_stdlib([plugin.__name__ if isinstance(plugin, ModuleType) else type(plugin).__module__]))


@dataclass(frozen=True)
class Source:
    """The digest of a package's Python sources, by path within it, and the newest modification time among them."""

    digest: str
    newest_ns: int


class Sources:
    """Packages' sources read once per replay (not per process: a notebook may reload a module between two)."""

    def __init__(self) -> None:
        self.read_already: dict[str, Source | None] = {}

    def read(self, package: str) -> Source | None:
        if package not in self.read_already:
            self.read_already[package] = read_source(package)
        return self.read_already[package]


def read_source(package: str) -> Source | None:
    """The sources of an imported package (or module); None when there are none to read."""
    module = sys.modules.get(package)
    if module is None:
        return None
    roots = [Path(p) for p in getattr(module, "__path__", [])]
    files = [(path.relative_to(root).as_posix(), path) for root in roots for path in sorted(root.rglob("*.py"))]
    single = getattr(module, "__file__", None)
    if not roots and single:
        files = [(Path(single).name, Path(single))]
    if not files:
        return None
    digest = hashlib.sha256()
    newest = 0
    try:
        for name, path in files:
            digest.update(f"\n{name}\n".encode())
            digest.update(path.read_bytes())
            status = path.stat()  # the change time too: a copy that kept an old modification time (cp -p, tar) moved it
            newest = max(newest, status.st_mtime_ns, status.st_ctime_ns)
    except OSError:
        return None
    return Source(digest.hexdigest(), newest)


class Answers:
    """The kept answers of one ledger: find one for a question, write it out, keep a new one, list, clear."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.db = store.db

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]] | None:
        """Read kept answers; None where the table cannot be read (a store made before it, by a role that may
        not create it, or a failing read: answers are never required)."""
        with unless_refused():
            return self.db.rows(sql, params)
        return None

    def find(self, asked: Question, head: int) -> Kept | None:
        """The answer kept for this question at this head, if the ledger under it is still the one it was answered from."""
        found = self._rows(
            f"SELECT head_hash, parts, row_count, digest FROM {ANSWERS_TABLE} WHERE question = ? AND head = ? AND part = 0",
            (asked.digest, head),
        )
        if not found:
            return None  # none kept, or none readable
        head_hash, parts, rows, digest = found[0]
        try:
            kept = Kept(asked.digest, head, int(parts), int(rows), digest)
        except (TypeError, ValueError):  # a row no write of ours makes (changed by hand): derived data, let go
            self._drop(asked.digest, head)
            return None
        if self.store.hash_at(head) != head_hash:
            self.drop(kept)  # the ledger under it was rewritten: its answer is no evidence of anything
            return None
        return kept

    def write_out(self, kept: Kept, out: BinaryIO) -> bool:
        """Write the kept text to ``out`` (from its start), checking its digest; False, with ``out`` emptied, when
        a part cannot be read, or is missing or damaged (then the answer is dropped)."""
        digest = hashlib.sha256()
        damaged = False
        for part in range(kept.parts):
            found = self._rows(
                f"SELECT data FROM {ANSWERS_TABLE} WHERE question = ? AND head = ? AND part = ?",
                (kept.question, kept.head, part),
            )
            if found is None:
                break  # the read failed: the answer may be whole, and is left for the next time
            try:
                text = zlib.decompress(bytes(found[0][0])) if found else None
            except zlib.error:
                text = None
            if text is None:
                damaged = True
                break
            digest.update(text)
            out.write(text)
        else:
            if answer_digest(digest, kept.rows) == kept.digest:
                return True
            damaged = True
        if damaged:
            self.drop(kept)
        out.seek(0)
        out.truncate()
        return False

    def keep(self, asked: Question, head: int, path: Path, rows: int) -> None:
        """Keep the text written to ``path`` as the answer to ``asked`` at ``head``; the view's oldest beyond ``KEEP`` go."""
        head_hash = self.store.hash_at(head)
        if head_hash is None:
            return
        digest = hashlib.sha256()
        parts: list[bytes] = []
        with path.open("rb") as text:
            while chunk := text.read(PART_BYTES):
                digest.update(chunk)
                parts.append(zlib.compress(chunk, LEVEL))
        parts = parts or [zlib.compress(b"", LEVEL)]
        from ledger.persistence import now_us

        moment = (_text(asked.as_of), _text(asked.known_at))
        header = (asked.view, asked.fmt, *moment, head_hash, len(parts), rows, answer_digest(digest, rows))
        stamp = now_us()
        self._write(
            [
                (f"DELETE FROM {ANSWERS_TABLE} WHERE question = ? AND head = ?", [(asked.digest, head)]),
                (
                    f"INSERT INTO {ANSWERS_TABLE} (question, head, part, view, answer_format, as_of, known_at, head_hash, "
                    "parts, row_count, digest, created_us, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(asked.digest, head, number, *header, stamp, data) for number, data in enumerate(parts)],
                ),
            ]
        )
        self._prune(asked.view)

    def _prune(self, view: str) -> None:
        kept = self._rows(
            f"SELECT question, head FROM {ANSWERS_TABLE} WHERE view = ? AND part = 0 ORDER BY created_us DESC", (view,)
        )
        if kept is not None and len(kept) > KEEP:
            self._write([(f"DELETE FROM {ANSWERS_TABLE} WHERE question = ? AND head = ?", [tuple(row) for row in kept[KEEP:]])])

    def drop(self, kept: Kept) -> None:
        self._drop(kept.question, kept.head)

    def _drop(self, question: str, head: int) -> None:
        self._write([(f"DELETE FROM {ANSWERS_TABLE} WHERE question = ? AND head = ?", [(question, head)])])

    def clear(self) -> int:
        counted = self._rows(f"SELECT COUNT(*) FROM {ANSWERS_TABLE} WHERE part = 0")
        if not counted or not counted[0][0]:
            return 0
        with refused_as("drop the kept answers"):
            self.db.write([(f"DELETE FROM {ANSWERS_TABLE}", [()])])
        return int(counted[0][0])

    def listing(self) -> list[dict[str, Any]]:
        rows = self._rows(
            f"SELECT view, answer_format, as_of, known_at, head, row_count, digest FROM {ANSWERS_TABLE} WHERE part = 0 "
            "ORDER BY view, as_of, head"
        )
        return [
            {"view": v, "format": f, "as_of": a, "known_at": k, "head": int(h), "rows": int(r), "digest": d[:12]}
            for v, f, a, k, h, r, d in rows or []
        ]

    def _write(self, statements: list[tuple[str, Any]]) -> None:
        write_derived(self.db, statements)


def answer_digest(text: Any, rows: int) -> str:
    """What a kept answer's digest covers: its text (``text``, a sha256 fed with it) and its row count."""
    return hashlib.sha256(f"{text.hexdigest()}:{rows}".encode()).hexdigest()


def _text(moment: date | datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
