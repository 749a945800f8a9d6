"""The projection API: a view is a pure fold over the facts, in effective-date order.

A view declares its columns and options, starts from ``initial``, folds each fact with
``apply`` and answers with ``rows``. Because it is a fold over facts alone, replaying to any
date or knowledge time, checkpointing and testing all come for free, and its answer never
depends on when it was last computed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Generic, TypeVar

from ledger.records import Recorded

State = TypeVar("State")

Row = dict[str, Any]


@dataclass(frozen=True)
class Option:
    """A question a view can be asked (``--company moonshot-ai``); becomes a CLI option.

    ``kind`` tells the CLI how to read it: ``text``, ``party`` (a slug), ``currency``,
    ``date``, ``choice`` (one of ``choices``) or ``flag`` (an on/off switch such as
    ``--group``). ``replay_over`` names party types (``cloud``, ``investor``...): ``dealledger
    replay`` answers a view whose required party option has them once for each registered party
    of those types, instead of leaving the view out.
    """

    name: str
    help: str
    kind: str = "text"
    choices: tuple[str, ...] = ()
    default: Any = None
    required: bool = False
    replay_over: tuple[str, ...] = ()


RESERVED_OPTION_NAMES = frozenset({"as_of", "known_at", "fmt", "format", "row", "selected", "column", "help"})
"""Names a view's ``Option`` may not take: the command line's own options of ``view`` and ``explain`` (``--as-of``,
``--format``, ``--row``...) would be taken over by the view's, silently."""


@dataclass(frozen=True)
class Query:
    """What the user asked: the moment (``as_of``, ``known_at``) and the view's own options."""

    as_of: date | None = None
    known_at: datetime | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    def get(self, name: str, default: Any = None) -> Any:
        value = self.options.get(name)
        return default if value is None else value


class View(Generic[State]):
    """Base class of projections; subclass it and register an instance through ``dealledger_views``.

    The state is one fold for every party: ``initial`` is called without options (the host
    shares a state between questions and saves it as checkpoints), and ``rows`` answers the
    options asked. ``apply`` may update the state in place, but must return it: the host owns
    each state and never shares one between two folds. Bump ``state_version`` whenever the
    state's shape changes, so checkpoints of the old shape are never read.
    """

    name: str = ""
    help: str = ""
    columns: tuple[str, ...] = ()
    options: tuple[Option, ...] = ()
    state_version: str = "1"
    always: tuple[str, ...] = ()
    """Kinds a scoped fold (see ``subjects``) reads whatever they name (rates, registrations)."""
    kinds: frozenset[str] | None = None
    """The kinds ``apply`` reads, or None for every fact. When every view being folded names its kinds,
    the host reads only facts of those kinds (through the index): say it only when no other fact can
    change the state but for the date the story has reached, which the host then gives to ``reach``."""
    fold_name: str = ""
    """Views that give the same fold name share one state: the host folds it once for all of them
    (``replay`` then pays for the fold once) and keeps one set of checkpoints under that name. They
    must inherit the same ``initial``, ``apply`` and ``state_version``; the host refuses them otherwise."""
    state_packages: tuple[str, ...] = ()
    """Top-level packages besides ``events``, ``ledger``, the view's own and those of the classes it inherits from,
    whose classes its state may hold (checkpoints are read back building only those) or whose code shapes its rows
    (kept answers' key)."""
    keeps_answers: bool = True
    """Whether ``replay --out`` may keep this view's files and write them again for the same question at the
    same ledger head (``ledger.answers``). The question's key covers the sources of ``events``, ``ledger``,
    the view's own top-level package, those of its base classes and its ``state_packages``: name there any
    other package whose code shapes the rows. Say False when ``rows`` reads anything besides its state and
    query (a clock, a file, the environment): its answer to one question could then change."""

    def initial(self, query: Query) -> State:
        raise NotImplementedError

    def subjects(self, query: Query) -> frozenset[str] | None:
        """The parties whose facts (plus the ``always`` kinds) are all this query needs, or None for the whole story.

        Return a set only when the rows asked for depend on nothing else: the host then reads
        just those facts through the index instead of folding the ledger.
        """
        return None

    def apply(self, state: State, record: Recorded) -> State:
        raise NotImplementedError

    def rows(self, state: State, query: Query) -> Iterable[Row]:
        """The rows the query asks for, read from the state (never changing it) and the query alone: a list, or any
        iterable of them. A view with a large answer may make its rows one by one (a generator): ``replay`` then
        writes each as it comes, where a list holds them all at once, and the host makes a list of them only where
        it needs one (``view``, ``explain``)."""
        raise NotImplementedError

    def reach(self, state: State, day: date) -> State:
        """The story folded goes on to ``day``, though the state may not have folded a fact of that date.

        After each fold, before the state is answered or saved, the host calls it with the latest effective
        date among every fact of the question (on or before its ``as_of``, corrections applied): what a fold
        of every fact would have seen last, where this one read only its ``kinds`` or started from a
        checkpoint with nothing after it. A fold that read only its kinds is also told, before its state is
        saved at a quarter end on the way, the date the story had reached by then. A view whose rows depend
        on that date (the last date the facts speak of, when no ``--as-of`` is given) keeps it here, as
        ``apply`` would have on the last fact; ``day`` is never earlier than a date already folded. The
        default changes nothing.
        """
        return state

    def explains(self, record: Recorded, query: Query) -> bool:
        """Whether ``record`` can change the rows ``query`` asks for (``dealledger explain`` asks it of every fact).

        The default, yes, is exact for any view but makes ``explain`` answer after every fact. A
        view whose ``rows`` read its whole state can say no to kinds it never folds, and an
        explanation then costs about one fold. Never say no to a fact that can change the rows:
        its effect would be put on a later fact.
        """
        return True


def fold_name(view: View[Any]) -> str:
    """The name of the state a view folds: its shared ``fold_name``, or its own name."""
    return view.fold_name or view.name


def fold_class(view: View[Any]) -> type:
    """The class whose ``apply`` folds the view's state: what identifies the state's shape with ``state_version``."""
    return next(cls for cls in type(view).__mro__ if "apply" in vars(cls))


def fold(view: View[Any], records: Sequence[Recorded], query: Query) -> Any:
    """The view's state after every record, in the order given (already resolved and sorted)."""
    state = view.initial(query)
    apply = view.apply
    for record in records:
        state = apply(state, record)
    return state
