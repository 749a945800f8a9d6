"""Where a number came from: the facts that made one row of a view what it is, each with its effect.

An answer is only trusted when it can be traced back to facts, so ``explain`` folds the story
the view folds, fact by fact, and asks the view for its rows after each fact; every time the
chosen row's numbers move, the fact that moved them is a step, with the number before, after
and the exact difference. It needs nothing from a view but its fold (``initial``, ``apply``,
``rows`` and, when it has one, ``subjects``), so a plugin's view is explained like a built-in
one. Because each delta is the exact difference of two answers, the deltas add up to the
number itself (from no row, counted as zero): the explanation cannot leave anything out.

Two kinds of history are shown beside the steps:

- **Retractions.** A retracted fact is no longer in the story, so it has no step; it is listed
  with the effect it would have had, from one more fold of the story with the retracted facts
  restored. (A corrected fact needs nothing of the kind: its step is the corrected version,
  with ``corrected_by`` naming the correction.)
- **Facts known later.** Asked ``--known-at T``, the steps are those the ledger knew at T; the
  same question at the head then tells which facts recorded after T (new ones, corrections and
  retractions) move the number, each with the change it made to the row, and what it became.

What it costs is one ``rows`` call per fact folded, cheap for a view scoped by ``subjects``
(one company's facts) and the bulk of the time for a whole-ledger view whose ``rows`` read its
whole state. A view may answer ``explains(record, query)`` to skip the facts that cannot touch
its rows for that query (``touches``).
"""

from __future__ import annotations

import dataclasses
import fractions
import heapq
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from functools import cached_property
from typing import TYPE_CHECKING, Any, NamedTuple, TypeAlias

from events.corrections import FactRetracted
from ledger.engine import ORIGIN, Folding, answer, start, view_failed
from ledger.errors import LedgerError, OptionError, ViewError
from ledger.exact import Fraction, exact_decimals
from ledger.records import Recorded
from ledger.store import CORRECTION_KINDS
from ledger.timeline import effective_order, resolve, until
from ledger.views import Query, Row, View

if TYPE_CHECKING:
    from ledger.api import Ledger

Number: TypeAlias = int | Decimal | Fraction | fractions.Fraction

STEP_COLUMNS = (
    "step",
    "effective",
    "kind",
    "key",
    "id",
    "recorded",
    "known",
    "source",
    "confidence",
    "corrected_by",
    "retracted_by",
    "column",
    "before",
    "after",
    "delta",
    "with",
)
"""The columns of an explanation, one row per fact and number it moved (``with``: the ids of ``Step.together``)."""

START, FACT, RETRACTED, LATER = "start", "fact", "retracted", "known later"
"""What a step is: the view's own starting point (no fact: a company is held whole by its founders before its first
ownership fact); a fact of the story; a retracted fact, had it stood; a fact the ledger learnt after ``--known-at``."""


def is_number(value: Any) -> bool:
    """Numbers are what an explanation accounts for; ``bool`` is an ``int`` to Python, but not a quantity."""
    return isinstance(value, int | Decimal | Fraction | fractions.Fraction) and not isinstance(value, bool)


def text(value: Any) -> str:
    """A value as ``--row COLUMN=VALUE`` names it: as a table shows it, and empty for none."""
    from ledger.rendering import cell

    return cell(value)


@dataclass(frozen=True)
class Effect:
    """How one fact moved one number of the row: ``before`` is None when the number (or the row) was not there yet."""

    column: str
    before: Number | None
    after: Number | None
    delta: Number


@dataclass(frozen=True)
class Step:
    """One fact and what it did to the row; ``by`` is the correction or retraction that matters to the step, if any.

    ``record`` is None for the view's starting point: the row as the view shows it before any fact.
    """

    record: Recorded | None
    effects: tuple[Effect, ...]
    step: str = FACT
    by: Recorded | None = None
    together: tuple[Recorded, ...] = ()
    """Earlier facts whose effect shows on this step, because the view could not answer right after them."""


@dataclass
class Explanation:
    """The chain of facts behind one row at one moment, and what the ledger learnt about it afterwards."""

    view: str
    query: Query
    selection: Mapping[str, str]
    columns: tuple[str, ...]
    row: Row | None
    steps: list[Step]
    retracted: list[Step] = field(default_factory=list)
    later: list[Step] = field(default_factory=list)
    """What the ledger learnt after ``--known-at`` that changes the row, each step with the change it made."""
    now: Row | None = None
    """The row as known at the head, when the question was asked ``--known-at`` (else None)."""
    keys: dict[str, str] = field(default_factory=dict)
    """The key of each corrected fact, by id: a replacement carries no key of its own, the fact it replaces does."""
    known: Callable[[Recorded], datetime] | None = None
    """When each fact became known (``Store.known_times``): what ``--known-at`` goes by."""

    def total(self, column: str) -> Number:
        """The sum of the steps' effects on ``column``: equals the row's number (zero when absent)."""
        with exact_decimals():
            deltas = [e.delta for s in self.steps for e in s.effects if e.column == column]
            return _sum(deltas)

    def rows(self) -> list[Row]:
        """One row per step and number moved, steps of the story first, then retracted facts, then facts known later."""
        rows: list[Row] = []
        for step in [*self.steps, *self.retracted, *self.later]:
            record = step.record
            fact = record.fact if record is not None else None
            by = step.by.id if step.by is not None else None
            corrected_by = record.corrected_by if record is not None else None
            if step.by is not None and step.by.kind == "fact.corrected":
                corrected_by = by
            for effect in step.effects:
                rows.append(
                    {
                        "step": step.step,
                        "effective": record.effective if record is not None else None,
                        "kind": record.kind if record is not None else None,
                        "key": (record.key or self.keys.get(record.id)) if record is not None else None,
                        "id": record.id if record is not None else None,
                        "recorded": learnt.recorded if (learnt := _learnt_by(step)) is not None else None,
                        "known": (self.known or _recorded)(learnt) if learnt is not None else None,
                        "source": getattr(fact, "source", None),
                        "confidence": getattr(fact, "confidence", None),
                        "corrected_by": corrected_by,
                        "retracted_by": by if step.by is not None and step.by.kind == "fact.retracted" else None,
                        "column": effect.column,
                        "before": effect.before,
                        "after": effect.after,
                        "delta": effect.delta,
                        "with": " ".join(r.id for r in step.together) or None,
                    }
                )
        return rows

    def summary(self) -> list[str]:
        """Lines for a reader: the row and its numbers, and what facts known later change."""
        chosen = " ".join(f"{k}={v}" for k, v in self.selection.items()) or "its only row"
        moment = _moment(self.query)
        numbers = ", ".join(f"{c} {_shown(self.row.get(c) if self.row else None)}" for c in self.columns)
        facts = sum(step.record is not None for step in self.steps)
        start = " and the view's starting point" if any(step.record is None for step in self.steps) else ""
        lines = [f"{self.view} {chosen}{moment}: {numbers or 'no numbers'}; {facts} fact(s){start} made it"]
        if self.retracted:
            lines.append(f"{len(self.retracted)} retracted fact(s) would have changed it")
        if self.query.known_at is not None:
            now = ", ".join(f"{c} {_shown(self.now.get(c) if self.now else None)}" for c in self.columns)
            moved = any((self.row.get(c) if self.row else None) != (self.now.get(c) if self.now else None) for c in self.columns)
            if self.later:
                lines.append(f"facts known later: {len(self.later)} change it; as known now: {now}")
            elif moved:  # by facts that change the row without a step of their own in it
                lines.append(
                    "facts known later change it, none by a step of its own (a registration or a parent link, a "
                    f"rate); as known now: {now}"
                )
            else:
                lines.append("facts known later: none change it")
        return lines


def _learnt_by(step: Step) -> Recorded | None:
    """The fact by which the ledger learnt what a step shows: the step's own, but for a ``known later`` step that a
    correction or retraction made, that amendment (the fact itself was known before ``--known-at``)."""
    if step.step == LATER and step.by is not None:
        return step.by
    return step.record


def _recorded(record: Recorded) -> datetime:
    return record.recorded


def selection_of(view: View[Any], pairs: Sequence[str]) -> dict[str, str]:
    """``COLUMN=VALUE`` pairs checked against the view's columns; an empty VALUE picks a column that holds nothing."""
    selection: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise OptionError(f"--row {pair!r}: expected COLUMN=VALUE, such as holder=alibaba")
        _require_column(view, "--row", name)
        selection[name] = value
    return selection


def explain(ledger: Ledger, name: str, query: Query, selection: Mapping[str, str], column: str | None = None) -> Explanation:
    """The facts that made the selected row of view ``name`` what it is at the query's moment (see the module)."""
    view = ledger.host.view(name)
    plugin = ledger.host.view_providers[name]
    for chosen in selection:
        _require_column(view, "--row", chosen)
    if column is not None:
        _require_column(view, "--column", column)
    # the answer as the view gives it (options and parties checked): a row the selection cannot tell apart is refused
    # before any fold, and so is a selection by a number (the row holding it changes as the facts come)
    answered = ledger.view(name, query)
    _not_by_numbers(view, name, selection, answered)
    _target(name, query, selection, answered, [], required=False)
    from ledger.memory import collector_paused

    with collector_paused(), exact_decimals():
        story = _Story.read(ledger, view, query)
        changes, final = _follow(view, plugin, story.facts(), query, selection)
        target = _target(name, query, selection, final, changes)
        head = _Head.read(ledger, view, plugin, query, selection) if query.known_at is not None else None
        # a number the row has now and had none of then (a valuation learnt later) is accounted for too
        columns = _numeric(view, name, target, [*changes, *(head.changes if head else ())], column)
        steps = _steps(changes, target, columns)
        explanation = Explanation(name, query, dict(selection), columns, _pick(final, selection, target), steps)
        explanation.known = ledger.store.known_times()
        explanation.keys = story.keys()
        explanation.retracted = _retracted(view, plugin, story, query, selection, target, columns)
        if head is not None:
            _known_later(explanation, target, head, story)
    return explanation


# --- the story a view folds -------------------------------------------------------------------


@dataclass
class _Story:
    """What the view folds for the query (as the engine reads it), and the corrections and retractions behind it."""

    ledger: Ledger
    view: View[Any]
    query: Query
    head: int
    scoped: list[Recorded] | None
    amendments: list[Recorded]

    @classmethod
    def read(cls, ledger: Ledger, view: View[Any], query: Query) -> _Story:
        store = ledger.store
        head = store.known_position(query.known_at)
        subjects = view.subjects(query)
        if subjects is not None:
            # the same facts the engine's scoped fold reads: those naming the subjects, the kinds the view always needs
            records = store.with_targets([*store.about(frozenset(subjects), head), *store.of_kinds(view.always, head)])
            amendments = [r for r in records if r.kind in CORRECTION_KINDS]
            return cls(ledger, view, query, head, records, store.with_targets(amendments))
        amendments = store.with_targets(store.of_kinds(CORRECTION_KINDS, head))
        return cls(ledger, view, query, head, None, amendments)

    def facts(self) -> Iterable[Recorded]:
        """The resolved story up to ``as_of``, in effective order (read again at each call)."""
        if self.scoped is not None:
            return until(resolve(self.scoped), self.query.as_of)
        return self.ledger.engine.story_after(None, self.query.as_of, self.head)

    def keys(self) -> dict[str, str]:
        """The keys of the facts corrections and retractions name, by id."""
        return {r.id: r.key for r in self.amendments if r.key is not None and r.kind not in CORRECTION_KINDS}

    def retractions(self) -> dict[str, Recorded]:
        """The retraction that removed each retracted fact, by the fact's id."""
        retractions = [r for r in self.amendments if isinstance(r.fact, FactRetracted)]
        targets = self.ledger.store.targets(retractions)  # each read as ``resolve`` reads it
        removed: dict[str, Recorded] = {}
        for record in retractions:
            target = targets.get(record.seq)
            if target is not None and target.id not in removed:
                removed[target.id] = record
        return removed

    @cached_property
    def by_id(self) -> dict[str, Recorded]:
        """The corrections and retractions, and the facts they name, by id."""
        return {r.id: r for r in self.amendments}

    def standing(self) -> dict[str, Recorded]:
        """The facts corrections and retractions name that still stand, as last corrected, by id."""
        return {r.id: r for r in resolve(self.amendments)}

    def restored(self) -> list[Recorded]:
        """The retracted facts (as corrected before, if they were) up to ``as_of``, in effective order."""
        removed = self.retractions()
        if not removed:
            return []
        kept = resolve([r for r in self.amendments if r.kind != "fact.retracted"])
        return [r for r in until(kept, self.query.as_of) if r.id in removed]


# --- following the row through the fold -------------------------------------------------------

Matches = tuple[Row, ...]


class Change(NamedTuple):
    """The rows the selection matched after ``record`` (None: before any fact), when they differ from the last seen.

    ``pending`` are the facts folded since the view last answered whose answer failed (an amount
    in a currency whose rate arrives later the same day): their effect shows on this step.
    """

    record: Recorded | None
    matches: Matches
    pending: tuple[Recorded, ...] = ()


def _matching(rows: Sequence[Row], selection: Mapping[str, str]) -> Matches:
    return tuple(row for row in rows if all(text(row.get(name)) == value for name, value in selection.items()))


def _follow(
    view: View[Any], plugin: str, story: Iterable[Recorded], query: Query, selection: Mapping[str, str]
) -> tuple[list[Change], list[Row]]:
    """Fold the story; after each fact, the rows the selection matches, kept only when they changed.

    The rows are asked again after every fact, unless the view says a fact cannot touch the
    answer (``explains``, see ``touches``): asking is what an explanation costs.
    """
    folding = Folding(view, plugin, start(view, plugin, ORIGIN), None)
    rows: list[Row] = []
    pending: list[Recorded] = []
    seen: Matches = ()
    changes: list[Change] = []
    for record in [None, *story]:
        if record is not None:
            folding.apply(record)
            if not touches(view, plugin, record, query):
                continue
        try:
            rows = answer(view, plugin, folding.state, query)
        except ViewError:
            # the view cannot answer between these facts; the answer asked of the whole story still must
            if record is not None:
                pending.append(record)
            continue
        matches = _matching(rows, selection)
        if matches != seen or record is None:
            changes.append(Change(record, matches, tuple(pending)))
            seen = matches
        pending = []
    if pending or not changes:
        rows = answer(view, plugin, folding.state, query)
    return changes, rows


def touches(view: View[Any], plugin: str, record: Recorded, query: Query) -> bool:
    """Whether ``record`` can change the view's rows for ``query``: the view's ``explains(record, query)``.

    Without it every fact is followed by a fresh answer, which is exact for any view but costs
    one ``rows`` call per fact; a view whose ``rows`` read the whole state (``league``) can
    answer this cheaply and make an explanation cost about one fold. It must never say no to
    a fact that changes the answer: the sum of the effects would then still add up, but the
    change would be put on a later fact.
    """
    try:
        return bool(view.explains(record, query))
    except LedgerError:
        raise
    except Exception as error:
        raise view_failed(plugin, view, f"to tell whether {record.describe()} touches its answer", error) from error


def _not_by_numbers(view: View[Any], name: str, selection: Mapping[str, str], answered: list[Row]) -> None:
    """Refuse a row chosen by a column that holds numbers: the facts change those numbers, and what held one value
    earlier (rank 1, a fraction of 0.75) is another row, or none, by the end; a row is followed by what names it."""
    for chosen, value in selection.items():
        if value and any(is_number(row.get(chosen)) for row in answered):  # ``invested=``: a row with none there
            names = [c for c in (view.columns or answered[0]) if not any(is_number(row.get(c)) for row in answered)]
            hint = f" ({', '.join(f'{c}=...' for c in names)})" if names else ""
            raise ViewError(
                f"--row {chosen}={value}: {chosen} holds numbers of {name}, which the facts change; choose the row by "
                f"what names it{hint}"
            )


def _key(row: Row) -> dict[str, str]:
    """What names a row apart from its numbers."""
    return {name: text(value) for name, value in row.items() if not is_number(value)}


def _target(
    name: str, query: Query, selection: Mapping[str, str], final: list[Row], changes: list[Change], *, required: bool = True
) -> dict[str, str]:
    """The row to explain: the one the selection matches in the answer (or, gone by then, the last it matched)."""
    chosen = " ".join(f"{k}={v}" for k, v in selection.items())
    where = f"--row {chosen}" if chosen else "explain"
    matches = _matching(final, selection)
    if not matches:
        matches = next((c.matches for c in reversed(changes) if c.matches), ())
    if not matches:
        if not required:
            return {}
        raise ViewError(f"{where}: no row of {name} matches{_moment(query)}")
    keys = [_key(row) for row in matches]
    if len(keys) > 1:
        numeric = {c for row in matches for c, value in row.items() if is_number(value)}
        differ = sorted({c for key in keys for c in key if c not in numeric and any(k.get(c) != keys[0].get(c) for k in keys)})
        hint = f"; add --row for {', '.join(differ)}" if differ else ""
        raise ViewError(f"{where}: {len(matches)} rows of {name} match{_moment(query)}{hint}")
    return keys[0]


def _pick(matches: Sequence[Row], selection: Mapping[str, str], target: Mapping[str, str]) -> Row | None:
    """Of the rows the selection matches, the one most like the target (the same row as it stood earlier)."""
    found = _matching(matches, selection) if selection else tuple(matches)
    if not found:
        return None
    if len(found) == 1:
        return found[0]
    return max(found, key=lambda row: sum(_key(row).get(c) == v for c, v in target.items()))


def _numeric(
    view: View[Any], name: str, target: Mapping[str, str], changes: Sequence[Change], column: str | None
) -> tuple[str, ...]:
    """The columns to account for: those that held a number in the row at some point of ``changes`` (or the one
    asked); with ``--known-at``, the changes then and the changes at the head, so that a number the row only has
    now is explained among the facts known later."""
    rows = [row for change in changes if (row := _pick(change.matches, {}, target)) is not None]
    order = list(view.columns) or list(dict.fromkeys(c for row in rows for c in row))
    numeric = tuple(c for c in order if any(is_number(row.get(c)) for row in rows))
    if column is None:
        if not numeric:
            raise ViewError(f"explain {name}: the row holds no number to explain (its columns: {', '.join(order)})")
        return numeric
    if column not in numeric and any(row.get(column) is not None for row in rows):
        raise OptionError(f"--column {column}: the {column} column of {name} is not a number")
    return (column,)


def _steps(changes: list[Change], target: Mapping[str, str], columns: tuple[str, ...]) -> list[Step]:
    steps: list[Step] = []
    before: Row | None = None
    for record, matches, pending in changes:
        after = _pick(matches, {}, target)
        effects = _effects(before, after, columns)
        if effects:
            steps.append(Step(record, effects, FACT if record is not None else START, together=pending))
        before = after
    return steps


def _effects(before: Row | None, after: Row | None, columns: tuple[str, ...]) -> tuple[Effect, ...]:
    effects = []
    for column in columns:
        old = _number(before, column)
        new = _number(after, column)
        if old != new or (old is None) != (new is None):
            effects.append(Effect(column, old, new, _difference(new, old)))
    return tuple(effects)


def _number(row: Row | None, column: str) -> Number | None:
    value = row.get(column) if row is not None else None
    return value if is_number(value) else None


def _difference(new: Number | None, old: Number | None) -> Number:
    """``new - old`` exactly, none counting as zero."""
    a, b = _alike(0 if new is None else new, 0 if old is None else old)
    return a - b


def _alike(a: Number, b: Number) -> tuple[Any, Any]:
    """Two numbers of one exact kind: Decimal and int mix exactly; with a Fraction on either side, both become Fractions."""
    if isinstance(a, Decimal | int) and isinstance(b, Decimal | int):
        return a, b
    return Fraction(a), Fraction(b)


def _sum(values: Iterable[Number]) -> Number:
    total: Number = 0
    for value in values:
        a, b = _alike(total, value)
        total = a + b
    return total


# --- retractions and facts known later ------------------------------------------------------

_UNANSWERED: Row = {}
"""Stands for an answer the view could not give (compared by identity)."""


def _retracted(
    view: View[Any],
    plugin: str,
    story: _Story,
    query: Query,
    selection: Mapping[str, str],
    target: Mapping[str, str],
    columns: tuple[str, ...],
) -> list[Step]:
    """Each retracted fact's effect on the row had it stood: one more fold, with every retracted fact put back."""
    restored = story.restored()
    if not restored:
        return []
    removed = story.retractions()
    back = {r.id for r in restored}
    folding = Folding(view, plugin, start(view, plugin, ORIGIN), None)
    steps: list[Step] = []
    for record in heapq.merge(story.facts(), restored, key=effective_order):
        if record.id not in back:
            folding.apply(record)
            continue
        try:
            before = _pick(_matching(answer(view, plugin, folding.state, query), selection), selection, target)
        except ViewError:
            before = _UNANSWERED
        folding.apply(record)
        try:
            after = _pick(_matching(answer(view, plugin, folding.state, query), selection), selection, target)
        except ViewError:
            continue  # the view cannot answer around it (a rate still to come that day): no effect to show
        if before is _UNANSWERED:
            continue
        effects = _effects(before, after, columns)
        if effects:
            steps.append(Step(record, effects, RETRACTED, removed[record.id]))
    return steps


@dataclass
class _Head:
    """The question asked again at the head, for ``--known-at``: its story, the rows the selection matched after each
    fact (``_follow``) and the view's answer."""

    story: _Story
    changes: list[Change]
    final: list[Row]

    @classmethod
    def read(cls, ledger: Ledger, view: View[Any], plugin: str, query: Query, selection: Mapping[str, str]) -> _Head:
        now = replace(query, known_at=None)
        story = _Story.read(ledger, view, now)
        changes, final = _follow(view, plugin, story.facts(), now, selection)
        return cls(story, changes, final)


def _known_later(explanation: Explanation, target: Mapping[str, str], head: _Head, then: _Story) -> None:
    """The facts recorded after ``known_at`` that move the number, each with the change it made to the row, in
    effective order; and the row as known now.

    Two kinds: the steps at the head that are news (``_news``), and the steps of then that a retraction or a
    correction recorded since took out of the row (``_undone``).
    """
    known = then.head  # the last position known at ``known_at``: a fact or amendment after it is news
    explanation.now = _pick(head.final, explanation.selection, target)
    explanation.keys.update(head.story.keys())
    steps = _steps(head.changes, target, explanation.columns)
    said = _said_then(then, head.story)
    news = _news(steps, explanation.steps, head.story, known, said)
    explanation.later = sorted([*news, *_undone(explanation.steps, steps, head.story, known, said)], key=_effective)


def _said_then(then: _Story, head: _Story) -> dict[str, Any]:
    """What each fact corrected or retracted by now said as the ledger knew it then (``_substance``), by id: as
    corrected by then, else as first recorded."""
    said = {r.id: _substance(r.fact) for r in head.amendments if r.kind not in CORRECTION_KINDS}
    said.update((fact_id, _substance(r.fact)) for fact_id, r in then.standing().items())
    return said


def _effective(step: Step) -> tuple[date, int]:
    """A known-later step's place in the story (each is a fact's: the view's starting point is never news)."""
    assert step.record is not None
    return effective_order(step.record)


def _news(steps: list[Step], then: list[Step], head: _Story, known: int, said: dict[str, Any]) -> list[Step]:
    """The steps at the head of a fact recorded after position ``known`` (the last known at ``--known-at``), or
    corrected since in what it says (not only its ``source``, ``confidence`` or ``note``) so that it moves the row's
    numbers otherwise than it did then. Its step may have moved for other news (a purchase dated before a sale of
    half the holding): that is not the correction's doing."""
    had = {step.record.id: _moves(step) for step in then if step.record is not None}
    amendments = head.by_id
    news: list[Step] = []
    for step in steps:
        record = step.record
        if record is None:
            continue
        correction = amendments.get(record.corrected_by) if record.corrected_by else None
        by = correction if correction is not None and correction.seq > known else None
        corrected = by is not None and said.get(record.id) != _substance(record.fact)
        if record.seq > known or (corrected and _moves(step) != had.get(record.id)):
            news.append(Step(record, step.effects, LATER, by))
    return news


ABOUT_A_FACT = {"source": None, "confidence": None, "note": None, "key": None}
"""Fields that say where a fact comes from or how it is named, not what happened: correcting them moves no number
(a replacement carries no key of its own)."""


def _substance(fact: Any) -> Any:
    """What a fact says happened: the fact with the fields ``ABOUT_A_FACT`` left out, compared by value (``0.5`` is
    ``0.50``)."""
    return dataclasses.replace(fact, **ABOUT_A_FACT)


def _undone(then: list[Step], steps: list[Step], head: _Story, known: int, said: dict[str, Any]) -> list[Step]:
    """The steps of then whose fact has none at the head because a retraction or correction recorded since took it
    out of the row (retracted, or corrected to another row or past ``--as-of``).

    Each is listed with the change that made, from the number with the fact to the number without it: its effect
    then, undone. The fact is shown as it stands now (as corrected), or as it stood (retracted).
    """
    present = {r.id for step in steps for r in (step.record, *step.together) if r is not None}
    removed = head.retractions()
    standing = head.standing()
    amendments = head.by_id
    undone: list[Step] = []
    for step in then:
        record = step.record
        if record is None or record.id in present:
            continue
        shown, by = record, removed.get(record.id)
        if by is None and (current := standing.get(record.id)) is not None and current.corrected_by:
            if said.get(record.id) == _substance(current.fact):  # its source alone: other news took its step away
                continue
            shown, by = current, amendments.get(current.corrected_by)
        if by is not None and by.seq > known:
            undone.append(Step(shown, tuple(_reversed(e) for e in step.effects), LATER, by))
    return undone


def _moves(step: Step) -> dict[str, Number]:
    """What a step does to the row's numbers, whatever they stood at before it: its delta by column."""
    return {effect.column: effect.delta for effect in step.effects}


def _reversed(effect: Effect) -> Effect:
    """The change that takes an effect back: from its ``after`` to its ``before``."""
    return Effect(effect.column, effect.after, effect.before, _difference(effect.before, effect.after))


def _require_column(view: View[Any], where: str, name: str) -> None:
    if view.columns and name not in view.columns:
        from events.errors import closest

        close = closest(name, view.columns)
        hint = f"did you mean {close!r}?" if close else f"its columns: {', '.join(view.columns)}"
        raise OptionError(f"{where} {name}: view {view.name} has no column {name!r}; {hint}")


def _moment(query: Query) -> str:
    parts = []
    if query.as_of is not None:
        parts.append(f"as of {query.as_of.isoformat()}")
    if query.known_at is not None:
        parts.append(f"known at {query.known_at.isoformat()}")
    return f" ({', '.join(parts)})" if parts else ""


def _shown(value: Any) -> str:
    """A number for a reader, as a table shows it (fractions to six places)."""
    from ledger.rendering import cell

    return cell(value, exact=False) or "none"
