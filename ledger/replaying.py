"""Every view at one moment: what ``dealledger replay`` writes out.

All views fold in one pass over the facts (each from its own best checkpoint), and each view
is folded once: a view with a required party option (a portfolio needs an investor) answers
every registered party of the types its option names from that one state, with the party as
the first column.

The pass over the facts is what takes time on a large ledger, so ``replay_each`` and
``replay_all`` take an optional ``progress`` callback told ``(facts folded, facts known)``; they
never print. ``replay_each`` hands out each view's rows as they are answered, so ``replay --out``
writes a million-fact ledger's answers without holding them all.

``replay_to`` writes every view's file into a folder, all or nothing, and keeps what it wrote
(``ledger.answers``): asked again of the same ledger, the same question is answered from the
kept text, with no fold and no row computed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from events.parties import PartyRegistered
from ledger.answers import Answers, Question, Sources, question
from ledger.engine import answer_as_made
from ledger.memory import collector_off, frozen_too, heap_frozen
from ledger.outfolder import let_go, partial_file, put_in_place, sweep
from ledger.progress import Progress, counted
from ledger.records import Recorded
from ledger.rendering import write_rows
from ledger.stopping import raise_lost_stop, told_to_stop
from ledger.views import Query, View, fold_name
from ledger.workers import share_out

if TYPE_CHECKING:
    from ledger.api import Ledger


Answer = tuple[tuple[str, ...], list[dict[str, Any]]]
"""A view's columns and rows."""
EXTENSIONS = {"table": "txt", "json": "json", "csv": "csv"}
"""The file name extension of each format ``replay_to`` writes."""


@dataclass
class Replayed:
    """One view's answer at the moment: its columns, and its rows produced as they are read (a party at a time)."""

    name: str
    columns: tuple[str, ...]
    rows: Iterator[dict[str, Any]]
    complete: bool = True
    """Whether ``columns`` names every column a row may hold (False for a view that declares no columns)."""


def replay_all(
    ledger: Ledger, as_of: date | None, known_at: datetime | None, progress: Progress | None = None
) -> dict[str, Answer]:
    """Every view's columns and rows, held whole (see ``replay_each`` to write them out as they come)."""
    return {answer.name: (answer.columns, list(answer.rows)) for answer in replay_each(ledger, as_of, known_at, progress)}


def replay_each(
    ledger: Ledger,
    as_of: date | None,
    known_at: datetime | None,
    progress: Progress | None = None,
    *,
    views: Sequence[View[Any]] | None = None,
    head: int | None = None,
) -> Iterator[Replayed]:
    """Every view at the moment (or just ``views``), one after the other: the states come from one pass over
    the facts, and each view's rows are answered only as they are read, so a writer never holds more than one
    party's rows. ``head``: the ledger position ``known_at`` was already resolved to, when it was.

    Read each view's rows before taking the next view: the collector leaves the states alone
    until the last view is taken (``heap_frozen``), and a fold's checkpoint is saved, and its
    state let go, once its last view is taken. When every fold starts from a checkpoint with few
    facts after it (``Engine.folds_apart``), each fold is loaded only when its first view is
    taken, so one loaded state at a time is held instead of all of them.
    """
    chosen = replayable_views(ledger) if views is None else list(views)
    if not chosen:
        return
    head = ledger.store.known_position(known_at) if head is None else head  # one ledger for every read of the answer
    replay = _Replay(ledger, chosen, as_of, known_at, head)
    if ledger.engine.folds_apart(chosen, as_of, head):
        replay.states = [_NOT_LOADED] * len(chosen)
        if progress is not None:
            progress(head, head)  # the checkpoints cover all but a few facts: one bar, full, not one per fold
    else:
        replay.states = ledger.states(chosen, as_of, known_at, progress, head=head, saves=replay.saves)
    with heap_frozen():  # read each view's rows before asking for the next view
        yield from replay.answers()


_NOT_LOADED = object()
"""A state ``replay_each`` loads when its first view is taken."""


@dataclass
class _Replay:
    """One replay's views at one moment, their states as they are folded or loaded, and the saves still owed."""

    ledger: Ledger
    views: list[View[Any]]
    as_of: date | None
    known_at: datetime | None
    head: int
    states: list[Any] = field(default_factory=list)
    saves: dict[str, Callable[[], None]] = field(default_factory=dict)

    def load(self, number: int) -> None:
        """The state of the fold of ``views[number]``, for it and the fold's later views, from the fold's checkpoint."""
        name = fold_name(self.views[number])
        members = [n for n in range(number, len(self.views)) if fold_name(self.views[n]) == name]
        chosen = [self.views[n] for n in members]
        loaded = self.ledger.states(chosen, self.as_of, self.known_at, head=self.head, saves=self.saves)
        for n, state in zip(members, loaded, strict=True):
            self.states[n] = state
        frozen_too()

    def answers(self) -> Iterator[Replayed]:
        """Each view's answer in turn; once the last view of a fold is answered, its checkpoint is saved
        (``saves``) and its state let go, so the states still to answer are all that stays in memory.

        The collector is off while the caller reads a view's rows: a view answers a party's rows as
        a list (roundtrip: 613,188 rows for one 1M-fact replay), and collector passes walked them
        again and again as they aged, half of that view's time (measured). Rows hold no cycles;
        reference counting frees each as it is written."""
        registrations: list[Recorded] | None = None  # read once, when a view answers per party
        last_of = {fold_name(view): number for number, view in enumerate(self.views)}
        try:
            for number, view in enumerate(self.views):
                if self.states[number] is _NOT_LOADED:
                    self.load(number)
                state, self.states[number] = self.states[number], None
                plugin = self.ledger.host.view_providers[view.name]
                defaults = {option.name: option.default for option in view.options}
                required = [option for option in view.options if option.required]
                if not required:
                    rows = _rows(view, plugin, state, [Query(self.as_of, self.known_at, defaults)])
                    with collector_off():  # while the caller reads the rows (see above)
                        yield Replayed(view.name, tuple(view.columns), rows, bool(view.columns))
                else:
                    option = required[0]
                    if registrations is None:
                        registrations = self.ledger.registrations(None, self.known_at, head=self.head)
                    parties = parties_of_type(registrations, option.replay_over, self.as_of)
                    queries = [Query(self.as_of, self.known_at, {**defaults, option.name: party}) for party in parties]
                    rows = _rows(view, plugin, state, queries, option.name)
                    with collector_off():
                        yield Replayed(view.name, (option.name, *view.columns), rows, bool(view.columns))
                del state, rows  # read by now: the caller takes a view's rows before the next view
                name = fold_name(view)
                if last_of[name] == number and name in self.saves:
                    raise_lost_stop()  # not saving for a command told to stop
                    with collector_off():
                        self.saves.pop(name)()
        finally:
            # a replay stopped early (an error, a closed pipe) still keeps what it folded; its own error is the one
            # told. One told to stop ends now instead (``ledger.stopping``): saving may wait on what the stop broke
            for save in () if told_to_stop() else self.saves.values():
                with collector_off(), contextlib.suppress(Exception):
                    save()
            self.saves.clear()


def replay_to(
    ledger: Ledger,
    folder: Path,
    fmt: str,
    as_of: date | None,
    known_at: datetime | None,
    progress: Progress | None = None,
    *,
    jobs: int = 1,
) -> list[tuple[str, int, Path]]:
    """Every view's file in ``folder`` (``<view>.<extension>``), with its row count, all or nothing.

    Each view goes to a partial file of this run's own, and all are moved into place together once every view
    is written (``ledger.outfolder``), so a failure leaves the last run's files as they were, and two runs into
    one folder leave one run's files whole. A view whose answer to this question at this ledger head
    is kept is written from the kept text; the others are answered in one pass over the facts,
    or, on a large ledger, shared out fold by fold between ``jobs`` processes (``ledger.workers``;
    the command line asks for as many as there are cores), and their text is kept for the next time.
    """
    views = replayable_views(ledger)
    head = ledger.store.known_position(known_at)
    answers = Answers(ledger.store)
    sources = Sources()
    asked = {view.name: question(view, ledger.host, fmt, as_of, known_at, sources) for view in views}
    extension = EXTENSIONS[fmt]
    folder.mkdir(parents=True, exist_ok=True)
    sweep(folder)  # what a run killed outright left behind
    partials: dict[str, Path] = {}
    counts: dict[str, int] = {}
    try:
        for view in views:  # each run writes files of its own (``ledger.outfolder``)
            partials[view.name] = partial_file(folder, f"{view.name}.{extension}")
        for view in views:
            this = asked[view.name]
            kept = answers.find(this, head) if this is not None else None
            if kept is not None:
                with partials[view.name].open("wb") as out:
                    if answers.write_out(kept, out):
                        counts[view.name] = kept.rows
        missing = [view for view in views if view.name not in counts]
        if missing:
            write = partial(_write_views, fmt=fmt, as_of=as_of, known_at=known_at, head=head, files=partials, asked=asked)
            counts.update(share_out(ledger, missing, write, as_of=as_of, head=head, jobs=jobs, progress=progress))
        written = [(view.name, counts[view.name], folder / f"{view.name}.{extension}") for view in views]
        put_in_place([(partials[name], path) for name, _, path in written])
        return written
    finally:
        for path in partials.values():
            let_go(path)  # a view that failed leaves no file, and the others keep their last run's


def _write_views(
    ledger: Ledger,
    views: list[View[Any]],
    progress: Progress | None,
    *,
    fmt: str,
    as_of: date | None,
    known_at: datetime | None,
    head: int,
    files: dict[str, Path],
    asked: dict[str, Question | None],
) -> dict[str, int]:
    """Answer ``views`` (in one pass) into their ``files``, keep each text as the answer to its question: rows by view."""
    answers = Answers(ledger.store)
    counts: dict[str, int] = {}
    for replayed in replay_each(ledger, as_of, known_at, progress, views=views, head=head):
        path = files[replayed.name]
        with path.open("w", encoding="utf-8", newline="") as out:
            count = write_rows(out, replayed.rows, fmt, replayed.columns if replayed.complete else None)
        counts[replayed.name] = count
        this = asked[replayed.name]
        if this is not None:
            answers.keep(this, head, path, count)
    return counts


def replayable_views(ledger: Ledger) -> list[View[Any]]:
    """The views a replay answers, in name order."""
    return [view for _, view in sorted(ledger.host.views.items()) if _replayable(view)]


def _rows(view: View[Any], plugin: str, state: Any, queries: list[Query], party: str | None = None) -> Iterator[dict[str, Any]]:
    """The rows of each query in turn, the party's option first when the view is answered per party. A stop told
    and lost is raised again before each query, and every ``PROGRESS_STEP`` rows of one (``ledger.stopping``)."""
    for query in queries:
        raise_lost_stop()
        rows = answer_as_made(view, plugin, state, query)  # a view that makes its rows one by one is never held whole
        if party is not None:
            rows = ({party: query.options[party], **row} for row in rows)
        yield from counted(rows, None)


def _replayable(view: View[Any]) -> bool:
    """A view with one required party option that names the party types to go over, or none required."""
    required = [option for option in view.options if option.required]
    return not required or (len(required) == 1 and bool(required[0].replay_over))


def parties_of_type(registrations: Sequence[Recorded], types: tuple[str, ...], as_of: date | None = None) -> list[str]:
    """Registered parties of the given types, in slug order, from their registrations in effective order.

    A party's type is that of its registration in force at ``as_of`` (the last one without it), or, for a party
    first registered after ``as_of``, that of its first: facts may name a party before its registration's date (a
    2018 round of investors registered in 2019), and ``view`` answers such a party as of any date, so a replay
    does too. A party registered again under another type counts once, as the type it had then."""
    typed: dict[str, str] = {}
    for record in registrations:
        fact = record.fact
        if isinstance(fact, PartyRegistered) and (fact.party not in typed or as_of is None or fact.effective <= as_of):
            typed[fact.party] = fact.type
    return sorted(party for party, kind in typed.items() if kind in types)
