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

import functools
import hashlib
import sys
import zlib
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from ledger.checkpoints import packages_of, state_version
from ledger.persistence import ANSWERS_TABLE, write_derived
from ledger.views import fold_name

if TYPE_CHECKING:
    from ledger.host import PluginHost
    from ledger.store import Store
    from ledger.views import View

PART_BYTES = 4 << 20
"""Text per stored part: what a write or a read holds in memory at once, whatever the answer's size."""
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


def question(view: View[Any], host: PluginHost, fmt: str, as_of: date | None, known_at: datetime | None) -> Question:
    return Question(view.name, fmt, as_of, known_at, code_digest(view, host))


def code_digest(view: View[Any], host: PluginHost) -> str:
    """What the view's answer depends on besides the facts: its class and fold, the sources of the packages
    that fold, answer and write it, the fact kinds known, the Python version."""
    cls = type(view)
    digest = hashlib.sha256(f"{cls.__module__}.{cls.__qualname__}\n{fold_name(view)}\n{state_version(view)}".encode())
    digest.update(sys.version.encode())
    for kind, fact in sorted(host.catalogue.kinds.items()):
        digest.update(f"\n{kind}={fact.__module__}.{fact.__qualname__}".encode())
    for package in sorted(set(packages_of(view))):
        digest.update(f"\n{package}:{source_digest(package)}".encode())
    return digest.hexdigest()


@functools.cache
def source_digest(package: str) -> str:
    """The digest of every Python source of an imported package (or module), by path within it."""
    module = sys.modules.get(package)
    if module is None:
        return "not imported"
    roots = [Path(p) for p in getattr(module, "__path__", [])]
    files = [(path.relative_to(root).as_posix(), path) for root in roots for path in sorted(root.rglob("*.py"))]
    if not roots and module.__file__:
        files = [(Path(module.__file__).name, Path(module.__file__))]
    digest = hashlib.sha256()
    for name, path in files:
        digest.update(f"\n{name}\n".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


class Answers:
    """The kept answers of one ledger: find one for a question, write it out, keep a new one, list, clear."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.db = store.db

    def find(self, asked: Question, head: int) -> Kept | None:
        """The answer kept for this question at this head, if the ledger under it is still the one it was answered from."""
        found = self.db.rows(
            f"SELECT head_hash, parts, row_count, digest FROM {ANSWERS_TABLE} WHERE question = ? AND head = ? AND part = 0",
            (asked.digest, head),
        )
        if not found:
            return None
        head_hash, parts, rows, digest = found[0]
        kept = Kept(asked.digest, head, int(parts), int(rows), digest)
        if self.store.hash_at(head) != head_hash:
            self.drop(kept)  # the ledger under it was rewritten: its answer is no evidence of anything
            return None
        return kept

    def write_out(self, kept: Kept, out: BinaryIO) -> bool:
        """Write the kept text to ``out`` (from its start), checking its digest; False, the answer dropped and
        ``out`` emptied, when a part is missing or damaged."""
        digest = hashlib.sha256()
        for part in range(kept.parts):
            found = self.db.rows(
                f"SELECT data FROM {ANSWERS_TABLE} WHERE question = ? AND head = ? AND part = ?",
                (kept.question, kept.head, part),
            )
            try:
                text = zlib.decompress(bytes(found[0][0])) if found else None
            except zlib.error:
                text = None
            if text is None:
                break
            digest.update(text)
            out.write(text)
        if digest.hexdigest() == kept.digest:
            return True
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
        from ledger.store import datetime_now_us

        moment = (_text(asked.as_of), _text(asked.known_at))
        header = (asked.view, asked.fmt, *moment, head_hash, len(parts), rows, digest.hexdigest())
        stamp = datetime_now_us()
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
        kept = self.db.rows(
            f"SELECT question, head FROM {ANSWERS_TABLE} WHERE view = ? AND part = 0 ORDER BY created_us DESC", (view,)
        )
        if len(kept) > KEEP:
            self._write([(f"DELETE FROM {ANSWERS_TABLE} WHERE question = ? AND head = ?", [tuple(row) for row in kept[KEEP:]])])

    def drop(self, kept: Kept) -> None:
        self._write([(f"DELETE FROM {ANSWERS_TABLE} WHERE question = ? AND head = ?", [(kept.question, kept.head)])])

    def clear(self) -> int:
        count = int(self.db.rows(f"SELECT COUNT(*) FROM {ANSWERS_TABLE} WHERE part = 0")[0][0])
        self.db.write([(f"DELETE FROM {ANSWERS_TABLE}", [()])])
        return count

    def listing(self) -> list[dict[str, Any]]:
        rows = self.db.rows(
            f"SELECT view, answer_format, as_of, known_at, head, row_count, digest FROM {ANSWERS_TABLE} WHERE part = 0 "
            "ORDER BY view, as_of, head"
        )
        return [
            {"view": v, "format": f, "as_of": a, "known_at": k, "head": int(h), "rows": int(r), "digest": d[:12]}
            for v, f, a, k, h, r, d in rows
        ]

    def _write(self, statements: list[tuple[str, Any]]) -> None:
        write_derived(self.db, statements)


def _text(moment: date | datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
