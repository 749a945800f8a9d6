"""Folding views so that cost follows the question: scoped reads, checkpoints, one pass for many views.

Two ways to answer, chosen by the view:

- A view that says which subjects a query needs (``View.subjects``: ``ownership --company X``
  needs only facts naming X) folds just those facts, read through the index, from scratch.
- Any other view folds the whole story from its best checkpoint (``ledger.checkpoints``): the
  facts effective after the checkpoint's cut, read in effective order a page at a time, with
  corrections and retractions known at the question's moment applied as they stream by.
  Several views asked at once (``replay``) share one pass over the facts.

Either way the answer equals the fold of the whole story from scratch: the equality property in
the tests checks it for random ledgers, back-dated facts, corrections and moments.
"""

from __future__ import annotations

import fractions
import heapq
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from functools import partial
from itertools import islice
from typing import Any

from events.corrections import FactCorrected, FactRetracted
from ledger.anchors import anchor_before
from ledger.checkpoints import Checkpoints, Saving, state_version
from ledger.errors import LedgerError, PluginError
from ledger.exact import Fraction, exact_decimals
from ledger.progress import Progress, counted
from ledger.records import Recorded
from ledger.store import CORRECTION_KINDS, Store
from ledger.timeline import resolve, until
from ledger.views import Query, View, fold_name

SAVE_AFTER = 1_000
"""Facts a fold must have read before its end state is worth saving as a checkpoint (0: every state is saved)."""
SAVE_SHARE = 32
"""A state that stands on a checkpoint (loaded, or saved earlier in the same pass) is saved again only once it has
folded at least 1/SAVE_SHARE as many facts as that checkpoint stands on (``Folding.behind``: for one loaded, the
facts the ledger held when it was saved, known without counting them). Pickling a state costs about what folding a large
share of its facts does (at 1M facts: the holdings pickle in 2 s and fold all their facts in 4; the revenue book in
1.7 s and 12), while a question that starts from the older checkpoint folds at most that share again: a replay that
saved its states at the last quarter end no longer pickles them again a few weeks later, and a question after it
folds those weeks (at most a 32nd of the ledger: well under a second at 1M) instead of loading a newer state."""
BACKGROUND_FROM = 50_000
"""Facts in the ledger from which states are pickled in a child process (``ledger.background``): a state grows
with the facts before its cut, not with the few a pass from a checkpoint folds; below this, pickling in place
takes about as long as forking would."""
APART_UP_TO = 50_000
"""Facts after the checkpoints up to which each fold is better loaded and folded on its own (see ``folds_apart``):
a replay of a million-fact ledger after a fact dated back to its last quarter-end checkpoint (about 30,000 facts
after it) takes 0.7 GB so, 1.1 GB in one pass (measured)."""
ORIGIN = Query()
"""What a shared state starts from: no options, no moment (the state must not depend on them)."""


@dataclass
class Folding:
    """One view being folded: its state, the date its state already covers, where failures are reported."""

    view: View[Any]
    plugin: str
    state: Any
    cut: date | None
    folded: int = 0
    """Facts folded since the state's last checkpoint (the one it was loaded from, or one saved on the way)."""
    kinds: frozenset[str] | None = field(init=False, default=None)
    """The view's ``kinds``, read once: the facts ``apply`` folds in."""
    reached: date | None = field(init=False, default=None)
    """The latest date a fact of another kind than the view reads has told it of (``reach``)."""
    behind: int = 0
    """Facts the state's last checkpoint stands on: 0 from the origin; for a checkpoint saved on the way, the facts
    folded before it; for one loaded, the facts the ledger held when it was saved (at most that many)."""

    def __post_init__(self) -> None:
        self.kinds = self.view.kinds

    def apply(self, record: Recorded) -> None:
        """Fold ``record`` in, when it is of the kinds the view reads (``View.kinds``): a pass shared with folds
        that read other kinds, or every kind, hands it those too, and a view's ``apply`` may rely on its kinds. A
        fact of another kind that moves the story to a later date is told as that (``View.reach``), as the
        host tells a fold that read only its kinds at the end."""
        self.folded += 1  # the facts the pass went over, folded or not: what saving a checkpoint is weighed by
        kinds = self.kinds
        if kinds is not None and record.kind not in kinds:
            day = record.fact.effective  # never earlier than a fact before it: the pass goes in effective order
            if self.reached is None or day > self.reached:
                self.reached = day
                self.reach(day)
            return
        try:
            state = self.view.apply(self.state, record)
        except LedgerError:
            raise
        except Exception as error:
            raise view_failed(self.plugin, self.view, f"on {record.describe()}", error) from error
        if state is None and self.state is not None:  # else the next fact would be blamed for what this one did
            raise PluginError(f"plugin {self.plugin}: view {self.view.name} returned no state from apply on {record.describe()}")
        self.state = state

    def saved(self) -> None:
        """A checkpoint of the state has just been saved: count from it."""
        self.behind, self.folded = self.behind + self.folded, 0

    def reach(self, day: date) -> None:
        """The story goes on to ``day`` in facts this fold does not read (``View.reach``)."""
        with view_failing(self.plugin, self.view, f"to reach {day.isoformat()}"):
            self.state = self.view.reach(self.state, day)


def view_failed(plugin: str, view: View[Any], doing: str, error: Exception) -> PluginError:
    """The one-line error for a view that raised while ``doing`` something: its plugin, its name, the error."""
    return PluginError(f"plugin {plugin}: view {view.name} failed {doing}: {type(error).__name__}: {error}")


@contextmanager
def view_failing(plugin: str, view: View[Any], doing: str) -> Iterator[None]:
    """Raise what the view raises inside as ``view_failed`` says it; the ledger's own errors go through as they are.
    (Per-fact paths, ``Folding.apply``, keep their own ``try``: this costs a generator each time.)"""
    try:
        yield
    except LedgerError:
        raise
    except Exception as error:
        raise view_failed(plugin, view, doing, error) from error


def start(view: View[Any], plugin: str, query: Query) -> Any:
    with view_failing(plugin, view, "to start"):
        return view.initial(query)


ROW_TYPES = (type(None), bool, int, str, Decimal, Fraction, fractions.Fraction, date, datetime)
"""What a row may hold: values every format (table, JSON, CSV) writes exactly."""
ROW_TYPE_SET = frozenset(ROW_TYPES)


def answer(view: View[Any], plugin: str, state: Any, query: Query) -> list[dict[str, Any]]:
    """The view's rows, checked: a dict per row, only the declared columns, only ``ROW_TYPES`` values."""
    with view_failing(plugin, view, "to answer"):
        made = view.rows(state, query)
        rows = made if isinstance(made, list) else list(_iterable(view, plugin, made))
    _check_rows(view, plugin, rows)
    return rows


def _iterable(view: View[Any], plugin: str, made: Any) -> Iterable[Any]:
    """What ``rows`` answered, if it is rows: a list or any other iterable of them (not a lone dict, nor text)."""
    if isinstance(made, dict | str | bytes) or not isinstance(made, Iterable):
        raise PluginError(
            f"plugin {plugin}: view {view.name} answered {type(made).__name__} where rows (a list or an iterable of dicts) belong"
        )
    return made


ROWS_AT_ONCE = 2_000
"""Rows ``answer_as_made`` takes from a view that makes them one by one before handing them on."""


def answer_as_made(view: View[Any], plugin: str, state: Any, query: Query) -> Iterator[dict[str, Any]]:
    """``answer``, row by row: a view whose ``rows`` makes them one by one (a generator) is never held whole, which
    for a replay of a large ledger is most of its memory (a million-fact ``roundtrip``: 80,000 rows of one
    provider, 76 MiB as a list). Rows are made in the exact decimal context, ``ROWS_AT_ONCE`` at a time, and
    checked as ``answer`` checks them."""
    with exact_decimals(), view_failing(plugin, view, "to answer"):
        made = view.rows(state, query)
    if isinstance(made, list):
        _check_rows(view, plugin, made)
        yield from made
        return
    rows_of = iter(_iterable(view, plugin, made))
    while True:
        with exact_decimals(), view_failing(plugin, view, "to answer"):
            batch = list(islice(rows_of, ROWS_AT_ONCE))
        _check_rows(view, plugin, batch)
        yield from batch
        if len(batch) < ROWS_AT_ONCE:
            return


def _check_rows(view: View[Any], plugin: str, rows: list[Any]) -> None:
    columns = set(view.columns)
    for row in rows:
        if type(row) is dict and (not columns or columns.issuperset(row)) and ROW_TYPE_SET.issuperset(map(type, row.values())):
            continue  # the common case, checked without a Python call per value; anything else gets named below
        if not isinstance(row, dict):
            raise PluginError(f"plugin {plugin}: view {view.name} answered {type(row).__name__} where a row (a dict) belongs")
        for name, value in row.items():
            if columns and name not in columns:
                raise PluginError(f"plugin {plugin}: view {view.name} answered column {name!r}, not among its columns")
            if not isinstance(value, ROW_TYPES):
                raise PluginError(
                    f"plugin {plugin}: view {view.name} answered {name}={value!r} ({type(value).__name__}); rows hold "
                    "None, bool, int, str, Decimal, Fraction, date or datetime"
                )


class Engine:
    """Answers views over one store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.checkpoints = Checkpoints(store)
        self.save_after = SAVE_AFTER
        self.background_from = BACKGROUND_FROM
        self._amended: tuple[int, tuple[dict[str, Recorded], set[str]]] | None = None

    def scoped_state(self, view: View[Any], plugin: str, query: Query, subjects: frozenset[str], head: int) -> Any:
        """The fold of just the facts naming ``subjects`` (plus the kinds the view always needs), from scratch."""
        store = self.store
        # the corrections of these facts name the same subjects (the index gives a correction its target's)
        records = [*store.about(subjects, head), *store.of_kinds(getattr(view, "always", ()), head)]
        story = until(resolve(store.with_targets(records)), query.as_of)
        folding = Folding(view, plugin, start(view, plugin, ORIGIN), None)
        for record in story:
            folding.apply(record)
        return folding.state

    def states(
        self,
        views: Sequence[tuple[View[Any], str]],
        as_of: date | None,
        head: int,
        progress: Progress | None = None,
        *,
        saves: dict[str, Callable[[], None]] | None = None,
    ) -> list[Any]:
        """Each view's state for (as_of, head), in one pass over the facts after the earliest checkpoint among them.

        Views that share a fold get the same state object: their ``rows`` must only read it.

        ``progress`` is told how many facts the pass has read out of the ``head`` known; facts
        before a checkpoint are never read, so the count may end short and then jumps to the end.

        ``saves``: where to leave, under each fold's name, the saving of its checkpoint, instead of
        saving before answering. ``replay`` saves a fold once its views are answered and then lets
        its state go, so that pickling the last (largest) state does not happen beside all the others.
        """
        current = self.store.head().position
        shared: dict[tuple[str, str], Folding] = {}  # views sharing a fold (``View.fold_name``) fold it once
        for view, plugin in views:
            key = _fold_key(view)
            if key in shared:
                continue
            best = self.checkpoints.best(view, head, as_of)
            if best is None:
                shared[key] = Folding(view, plugin, start(view, plugin, ORIGIN), None)
            else:
                checkpoint, state = best
                shared[key] = Folding(view, plugin, state, checkpoint.cut, behind=checkpoint.head)
        foldings = list(shared.values())
        declared = [folding.view.kinds for folding in foldings]
        kinds = None if any(k is None for k in declared) else frozenset().union(*(k for k in declared if k is not None))
        cuts = [f.cut for f in foldings]
        first = None if any(cut is None for cut in cuts) else min(c for c in cuts if c is not None)
        last_day: date | None = None
        anchor = self._anchor(first, as_of, head, kinds) if head == current else None
        for record in counted(self.story_after(first, as_of, head, kinds), progress, head):
            day = record.fact.effective
            if anchor is not None and day > anchor:
                self._save_anchor(foldings, anchor, head, reached=kinds is not None)
                anchor = None
            last_day = day
            for folding in foldings:
                if folding.cut is None or day > folding.cut:
                    folding.apply(record)
        # each state is told the date the whole story reached: a fold that read only its kinds has not seen it, and
        # one loaded from a checkpoint with no fact after it has seen only what that checkpoint had
        end = self.story_end(as_of, head) if kinds is not None or last_day is None else last_day
        if end is not None:
            for folding in foldings:
                folding.reach(end)
        cut = as_of or end
        if head == current and cut is not None:
            due = {key: folding for key, folding in shared.items() if self._worth_saving(folding)}
            savings = {key: Saving(folding.view, folding.state, cut, self._retired(views, key)) for key, folding in due.items()}
            background = self._in_background(head)
            if saves is None or background:  # a child pickles while this process answers: no reason to wait
                self.checkpoints.save_all(list(savings.values()), head, background=background)
            else:
                for key, saving in savings.items():
                    saves[key[0]] = partial(self._save, saving, head)
        return [shared[_fold_key(view)].state for view, _ in views]

    @staticmethod
    def _retired(views: Sequence[tuple[View[Any], str]], key: tuple[str, str]) -> tuple[str, ...]:
        """What the fold's views kept under their own names before they shared it: dropped once it is saved."""
        return tuple(view.name for view, _ in views if view.name != key[0] and _fold_key(view) == key)

    def _anchor(self, first: date | None, as_of: date | None, head: int, kinds: frozenset[str] | None) -> date | None:
        """The quarter end this pass saves its states at on its way (``ledger.anchors``), if it passes one: the one
        before the last fact it will read."""
        end = self.store.last_effective(as_of, head, kinds)
        anchor = anchor_before(end) if end is not None else None
        return anchor if anchor is not None and (first is None or anchor > first) else None

    def _save_anchor(self, foldings: list[Folding], anchor: date, head: int, *, reached: bool) -> None:
        """Save the states that have folded everything up to ``anchor`` (a fold that started from a later checkpoint
        has folded past it). None of them has an exact checkpoint there: the pass would have started it from it.
        ``reached``: the pass read only some kinds, so each state is first told the date the story reached by then
        (a pass of every kind told each fold of the dates its kinds leave out as it went: ``Folding.apply``)."""
        passed = [f for f in foldings if (f.cut is None or f.cut < anchor) and self._worth_saving(f)]
        end = self.story_end(anchor, head) if reached and passed else None
        if end is not None:
            for folding in passed:
                folding.reach(end)
        savings = [Saving(folding.view, folding.state, anchor) for folding in passed]
        self.checkpoints.save_all(savings, head, background=self._in_background(head))
        for folding in passed:
            folding.saved()

    def _worth_saving(self, folding: Folding) -> bool:
        """Whether the state has folded enough since its last checkpoint to be saved: ``save_after`` facts, and at
        least a ``SAVE_SHARE``th of those that checkpoint stands on (any state, when ``save_after`` is 0)."""
        if folding.folded < self.save_after:
            return False
        return self.save_after == 0 or folding.folded * SAVE_SHARE >= folding.behind

    def _in_background(self, head: int) -> bool:
        """Whether the states of a ledger of ``head`` facts are pickled by a child process (``ledger.background``)."""
        return head >= self.background_from

    def folds_apart(self, views: Sequence[View[Any]], as_of: date | None, head: int) -> bool:
        """Whether these views' folds are better loaded one at a time, each when its views are answered, than all
        in one pass: when every fold has a checkpoint for the question and few facts lie after the earliest of them.

        A million-fact replay after an append then holds one loaded state at a time (the four at once took
        1.1 GB); each fold reads the few facts after its own checkpoint, which one pass would have read once.
        """
        cuts = []
        for view in {_fold_key(view): view for view in views}.values():
            checkpoint = self.checkpoints.usable(view, head, as_of)
            if checkpoint is None:
                return False
            cuts.append(checkpoint.cut)
        return bool(cuts) and self.store.count_between(min(cuts), as_of, head) <= APART_UP_TO

    def _save(self, saving: Saving, head: int) -> None:
        self.checkpoints.save_all([saving], head)

    def close(self) -> None:
        """Write what a child is still pickling (``ledger.background``) before the store closes."""
        self.checkpoints.settle()

    def story_after(
        self, after: date | None, through: date | None, head: int, kinds: frozenset[str] | None = None
    ) -> Iterator[Recorded]:
        """The story known at ``head``, effective in (after, through], in effective order, corrections applied;
        only facts of ``kinds`` when given (a correction keeps its target's kind)."""
        replaced, dropped = self._amendments(head)
        moved = sorted(
            (
                record
                for record in replaced.values()
                if _within(record.fact.effective, after, through) and (kinds is None or record.kind in kinds)
            ),
            key=_order,
        )
        stream = (
            r for r in self.store.effective_between(after, through, head, kinds) if r.id not in dropped and r.id not in replaced
        )
        return heapq.merge(stream, moved, key=_order)

    def story_end(self, as_of: date | None, head: int) -> date | None:
        """The latest effective date of the story known at ``head``, on or before ``as_of``, corrections applied:
        the last stored fact's (read backwards along the index past those corrected or retracted), or a later
        one a correction moved a fact to."""
        replaced, dropped = self._amendments(head)
        moved = [r.fact.effective for r in replaced.values() if as_of is None or r.fact.effective <= as_of]
        stored = self.store.last_effective_but(as_of, head, dropped | replaced.keys())
        return max([*moved, *([stored] if stored is not None else [])], default=None)

    def _amendments(self, head: int) -> tuple[dict[str, Recorded], set[str]]:
        """Facts as corrected (by id, keeping the original's place) and the ids retracted, as known at ``head``
        (kept for the last head asked: nothing stored at or before a position ever changes)."""
        if self._amended is None or self._amended[0] != head:
            self._amended = (head, self._amend(head))
        return self._amended[1]

    def _amend(self, head: int) -> tuple[dict[str, Recorded], set[str]]:
        amendments = self.store.of_kinds(CORRECTION_KINDS, head)
        if not amendments:
            return {}, set()
        targets = self.store.targets(amendments)  # each read as ``resolve`` reads it, as of the amendment
        replaced: dict[str, Recorded] = {}
        dropped: set[str] = set()
        for record in amendments:
            fact = record.fact
            target = targets.get(record.seq)
            if target is None or target.id in dropped:
                continue
            if isinstance(fact, FactRetracted):
                dropped.add(target.id)
                replaced.pop(target.id, None)
            elif isinstance(fact, FactCorrected):
                replaced[target.id] = replace(target, fact=fact.replacement, corrected_by=record.id)
        return replaced, dropped


def _fold_key(view: View[Any]) -> tuple[str, str]:
    """What identifies a view's folded state: its fold's name and version (shared by views of one fold)."""
    return (fold_name(view), state_version(view))


def _order(record: Recorded) -> tuple[date, int]:
    return (record.fact.effective, record.seq)


def _within(day: date, after: date | None, through: date | None) -> bool:
    return (after is None or day > after) and (through is None or day <= through)
