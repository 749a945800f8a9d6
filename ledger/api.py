"""The one entry point the command line (and any program) uses: open a ledger, append, ask.

This is the composition root: it wires the plugin host to the store, so tests and other
programs can swap either.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from events.errors import did_you_mean
from ledger.appending import AppendResult, BatchBuilder, Incoming
from ledger.engine import Engine, Folding, answer, start
from ledger.errors import LedgerError, ViewError
from ledger.exact import exact_decimals
from ledger.host import PluginHost, load
from ledger.memory import collector_paused
from ledger.options import required
from ledger.persistence import backend_for, resolve_url
from ledger.problems import Problem
from ledger.progress import Progress
from ledger.records import Recorded
from ledger.store import CORRECTION_KINDS, Built, Head, Store, write_with_retries
from ledger.timeline import resolve, story, until
from ledger.views import Query, Row, View


@dataclass(frozen=True)
class Prebuilt:
    """A batch checked and built against an empty ledger (``head``), ready to be written into one."""

    head: Head
    built: Built[AppendResult]


def built_for_new_file(url: str | None, host: PluginHost, incoming: Sequence[Incoming]) -> Prebuilt | None:
    """When ``url`` names a SQLite file that does not exist yet, or is empty (``Backend.file``), the batch checked and built
    against the empty ledger it would hold, in memory, before the file is made: a batch the ledger refuses (a party
    never registered, an export that does not start at #1) then leaves no empty ledger behind at a mistyped
    ``--url``, as a file that cannot be read already leaves none. None for any other store."""
    file = backend_for(resolve_url(url)).file
    if file is None or _made(Path(file)):
        return None
    with Ledger("sqlite:///:memory:", host=host) as empty, collector_paused(), exact_decimals():
        head = empty.store.head()
        return Prebuilt(head, BatchBuilder(host, incoming, empty.store).build(head))


def require_ledger(url: str | None, *, existing: bool) -> None:
    """Refuse a store in this process's memory (``sqlite://``, ``sqlite:``): what a command stores there is gone when
    it ends, and a question finds nothing (only a program that keeps its ``Ledger`` open has a use for one); and,
    when the ledger must be ``existing`` (any command but one that stores facts), a SQLite file that does not
    exist or is empty, of which SQLite would make a new ledger."""
    backend = backend_for(resolve_url(url))
    if not backend.shared:
        raise LedgerError(
            f"the store {backend.safe_url} is kept in memory and gone when the command ends: name a file, such as sqlite:///ledger.db"
        )
    file = Path(backend.file) if backend.file is not None else None
    if existing and file is not None and not _made(file):
        state = "does not exist" if not file.exists() else "is empty"
        raise LedgerError(f"no ledger at {backend.safe_url}: {file} {state} (append or import facts to start one)")


def _made(file: Path) -> bool:
    """Whether a SQLite ledger's file holds a ledger: one missing, or empty, is yet to be made (SQLite makes a
    database of an empty file)."""
    return file.exists() and file.stat().st_size > 0


class Ledger:
    """A ledger at a store URL, with its plugins loaded."""

    def __init__(
        self, url: str | None = None, *, plugins: Iterable[str] = (), host: PluginHost | None = None, verifying: bool = False
    ) -> None:
        self.host = host or load(plugins)
        self.store = Store(url, self.host, verifying=verifying)
        self.engine = Engine(self.store)

    def close(self) -> None:
        try:
            self.engine.close()
        finally:
            self.store.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def catalogue(self) -> Any:
        return self.host.catalogue

    # --- writing ------------------------------------------------------------------------

    def append(self, incoming: Iterable[Incoming], *, prebuilt: Prebuilt | None = None) -> AppendResult:
        """Store the facts as one all-or-nothing batch; facts whose key is already there are skipped.

        ``prebuilt``: the same facts already checked and built against an empty ledger (``built_for_new_file``),
        written as they are when this ledger is still empty, checked again against it otherwise."""
        with collector_paused(), exact_decimals():
            facts = list(incoming)
            builders: list[BatchBuilder] = []  # made only when needed: making one names every fact (its id)

            def build(head: Head) -> Built[AppendResult]:
                if prebuilt is not None and head == prebuilt.head:
                    return prebuilt.built
                if not builders:
                    builders.append(BatchBuilder(self.host, facts, self.store))
                return builders[0].build(head)

            return write_with_retries(self.store, build)

    # --- reading ------------------------------------------------------------------------

    def records(self, known_at: datetime | None = None) -> Sequence[Recorded]:
        """Stored facts in recording order, as stored (corrections are facts of their own here)."""
        with collector_paused():
            return self.store.records(self.store.known_position(known_at))

    def story(self, as_of: date | None = None, known_at: datetime | None = None) -> Sequence[Recorded]:
        """The whole story at a moment, resolved and in effective order (read whole: for checks and tests)."""
        return story(self.records(known_at), as_of=as_of)

    def view(self, name: str, query: Query) -> list[Row]:
        view = self.host.view(name)
        self._check_options(view, query)
        with collector_paused(), exact_decimals():
            state = self.state(view, query)
            return answer(view, self.host.view_providers[name], state, query)

    def state(self, view: View[Any], query: Query) -> Any:
        """The view's state for the query: folded from the facts it needs, or from its best checkpoint."""
        plugin = self.host.view_providers[view.name]
        head = self.store.known_position(query.known_at)
        subjects = view.subjects(query)
        if subjects is not None:
            return self.engine.scoped_state(view, plugin, query, frozenset(subjects), head)
        return self.engine.states([(view, plugin)], query.as_of, head)[0]

    def states(
        self,
        views: Sequence[View[Any]],
        as_of: date | None,
        known_at: datetime | None,
        progress: Progress | None = None,
        *,
        head: int | None = None,
        saves: dict[str, Callable[[], None]] | None = None,
    ) -> list[Any]:
        """Several views' states at one moment, in one pass over the facts (``progress`` told how far it is).

        ``head``: the position ``known_at`` was already resolved to, so that several reads of one answer
        see one ledger while others append. ``saves``: checkpoints to save later, by fold name (see
        ``Engine.states``)."""
        head = self.store.known_position(known_at) if head is None else head
        pairs = [(view, self.host.view_providers[view.name]) for view in views]
        with collector_paused(), exact_decimals():
            return self.engine.states(pairs, as_of, head, progress, saves=saves)

    def _check_options(self, view: View[Any], query: Query) -> None:
        """Before any fact is read: a required option must be given (the view would otherwise fold a million facts
        to say so), and a party option must name a registered party (a typo would otherwise answer with nothing)."""
        for option in view.options:
            value = query.get(option.name)
            if option.required:
                required(query, option.name, view.name)
            if option.kind == "party" and value is not None:
                self.require_party(f"--{option.name.replace('_', '-')}", value, query.known_at)

    def parties(self) -> set[str]:
        """Registered parties now (a retracted registration no longer counts), read from registrations alone."""
        return self.store.registered(None, self.store.head().position)

    def registrations(
        self, as_of: date | None = None, known_at: datetime | None = None, *, head: int | None = None
    ) -> list[Recorded]:
        """The party registrations in force at a moment, corrections applied (``head`` as for ``states``)."""
        head = self.store.known_position(known_at) if head is None else head
        records = self.store.with_targets(self.store.of_kinds(["party.registered", *CORRECTION_KINDS], head))
        return [r for r in until(resolve(records), as_of) if r.kind == "party.registered"]

    def require_party(self, where: str, slug: str, known_at: datetime | None = None) -> None:
        """Raise a one-line error, with the closest registered slug, unless ``slug`` names a party registered now or
        as the ledger stood at ``known_at``: an answer given before a registration was retracted (or a slug
        corrected) is asked again as it was, and a party known now may be asked of as the ledger stood before it."""
        head = self.store.head().position
        if slug in self.store.registered([slug], head):
            return
        if known_at is None or slug not in self.store.registered([slug], self.store.known_position(known_at)):
            raise ViewError(f"{where}: unknown party {slug!r}{did_you_mean(slug, self.store.registered(None, head))}")

    def require_kind(self, where: str, kind: str) -> None:
        """Raise a one-line error unless ``kind`` is a kind or a family of kinds (``round``, ``export``)."""
        known = set(self.catalogue.kinds) | {name.split(".")[0] for name in self.catalogue.kinds}
        if kind not in known:
            raise ViewError(f"{where}: unknown kind {kind!a}{did_you_mean(kind, known)}")

    def check(self, as_of: date | None = None) -> list[Problem]:
        with exact_decimals():
            return self.host.check(self.story(as_of=as_of), as_of)


def run_view(view: View[Any], plugin: str, records: Sequence[Recorded], query: Query) -> list[Row]:
    """Fold ``records`` (already resolved and ordered) from scratch and answer; failures name the plugin and fact."""
    folding = Folding(view, plugin, start(view, plugin, query), None)
    for record in records:
        folding.apply(record)
    return answer(view, plugin, folding.state, query)
