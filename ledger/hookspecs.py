"""The hooks a dealledger plugin can implement.

A plugin is a module or object with functions marked ``@hookimpl``. Built-in views use
exactly these hooks. Implementations may accept fewer arguments than a spec offers, and
are always called with keyword arguments, so specs can grow without breaking plugins.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from events import Fact
    from ledger.problems import Problem
    from ledger.records import Recorded
    from ledger.views import View

PROJECT = "dealledger"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def dealledger_fact_kinds() -> Sequence[type[Fact]]:
    """Fact classes this plugin adds to the catalogue.

    Fires once, when plugins are loaded. Return ``events.Fact`` subclasses (decorated with
    ``events.fact_class``) with a unique ``kind`` name; they parse, validate, store and show
    exactly like built-in kinds.
    """


@hookspec
def dealledger_views() -> Sequence[View[Any]]:
    """Views (projections) this plugin provides.

    Fires once, when plugins are loaded. Return ``ledger.views.View`` instances; each
    ``name`` must be unique across plugins.
    """


@hookspec
def dealledger_validate(story: Sequence[Recorded], new: Sequence[Recorded]) -> Sequence[Problem]:
    """Problems the facts would have if the batch ``new`` were committed.

    Fires before every append, after the batch has been parsed and checked field by field.
    ``story`` holds, with the batch included and corrections applied, in effective order
    (recording order within a date), every fact that shares a subject with the batch (a party
    it names, an escrow account; for a correction or retraction, its target's too), the
    registrations of those parties and the corrections of those facts among them: so
    back-dated facts are checked against everything after them, and an append costs what its subjects hold, not what the ledger
    holds. ``new`` is the batch. Return ``ledger.problems.Problem`` values naming the facts
    involved; a problem naming a fact of the batch rejects it, and so does any other problem not
    already present without the batch (asked with the same ``new``): a back-dated fact that
    breaks one recorded before.
    """


@hookspec
def dealledger_check(story: Sequence[Recorded], as_of: date | None) -> Sequence[Problem]:
    """Problems ``dealledger check`` reports: assertions that do not hold, broken invariants.

    Fires when a user runs ``check``; ``story`` is every fact known now, resolved and in
    effective order, up to ``as_of``. Return problems; an empty list means all is well.
    """


@hookspec
def dealledger_commands() -> Sequence[Any]:
    """Extra ``click`` commands to add to the ``dealledger`` command line.

    Fires when the command line starts (only then is click needed). Return
    ``click.Command`` objects; their names must not clash with built-in commands.
    A command opens the ledger at ``--url`` with ``cli.open_ledger(ctx)``, which, as for
    the built-in commands that only read, refuses a SQLite file that does not exist or is
    empty; one that stores facts hands them to ``cli.append_checked(ctx, incoming)`` (inside
    ``ledger.stopping.held_from_commit()``), which checks them against the empty ledger a new
    file would hold before making it, as ``append`` does. Its failures, an option given twice
    and an ``OptionError`` are told as the built-in commands' are.
    """
