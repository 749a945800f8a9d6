"""The public face of dealledger for plugin authors: everything a plugin needs, in one import.

    from ledger.plugin import Fraction, Option, Query, Recorded, Row, View, hookimpl

Names exported here are supported: they keep their meaning across releases, and a change that
breaks them is announced. Everything else under ``ledger``, ``events`` and ``plugins`` is
internal and may change without notice.

What a plugin gets:

- **Hooks** — ``hookimpl`` marks a plugin's functions; the hooks are documented in
  ``HOOKS`` (``ledger.hookspecs``): ``dealledger_views``, ``dealledger_fact_kinds``,
  ``dealledger_validate``, ``dealledger_check``, ``dealledger_commands``.
- **Views** — subclass ``View`` (a fold: ``initial``, ``apply``, ``rows``), declare
  ``columns`` and ``Option`` values; answers are lists of ``Row`` dicts whose values are
  ``None``, ``bool``, ``int``, ``str``, ``Decimal``, ``Fraction``, ``date`` or ``datetime``:
  a ``Fraction`` stays exact in JSON and CSV (its decimal in full when it ends, else ``n/d``)
  and shows six places in tables; ``fraction_out`` and ``money_out`` round on purpose.
  A view folds every party at once; its ``rows`` answers the options asked, read with
  ``option_date``, ``required`` and ``choice``. A value of the wrong form is refused by raising
  ``OptionError`` (the command line tells it as a misuse, exit 2); a question the facts cannot
  answer (a missing exchange rate) by raising ``ViewError`` (exit 1).
- **Facts** — each ``Recorded`` has ``id``, ``seq`` (position), ``recorded`` (UTC),
  ``effective``, ``kind``, ``key`` and ``fact``, the typed fact; corrections arrive already
  applied (``corrected_by`` names the correction) and retracted facts never arrive. New kinds
  subclass ``Fact`` with ``fact_class`` and declare fields with ``fields``; a kind's ``check``
  refuses a fact by raising ``FactError`` (its message, and the field it names).
- **Problems** — validation and checks return ``Problem`` values naming the facts involved.
- **Folds to build on** — ``CapTables`` (exact ownership), ``Credits`` and ``Escrow``
  (draw-down of credits, escrow balances), ``Rates`` and ``Money`` (exchange rates, totals per
  currency or converted), ``Parties`` (groups and sectors), ``Period`` (months, quarters,
  years).
- **Large states** — ``ValueLog`` (a list of immutable records) and ``PartedDict`` (a dict
  whose values belong each to its own key) save themselves in checkpoints part by part, so a
  state of millions of records is saved and read back in bounded memory; see
  ``ledger.folds.parts`` for the one rule they ask you to keep. ``PackedLog`` keeps a log of
  named tuples packed, a few bytes a record instead of an object for each field (``DAY``,
  ``WORD`` and ``AMOUNT`` say how each field is kept); see ``ledger.folds.packed``.
- **Exact numbers** — ``Fraction`` for arithmetic; ``parse_fraction`` to read one from text
  (never ``Fraction("...")``: see ``ledger.exact``).
"""

from __future__ import annotations

from decimal import Decimal

from events import Fact, FactError, fact_class, fields
from ledger import hookspecs as HOOKS
from ledger.errors import OptionError, ViewError
from ledger.exact import Fraction, parse_fraction
from ledger.folds.captable import FOUNDERS, OWNERSHIP_FACTS, OWNERSHIP_KINDS, UNDISCLOSED, CapTables, Shortfall
from ledger.folds.credits import Credits, Escrow, Grant
from ledger.folds.groups import Parties
from ledger.folds.money import FRACTION_PLACES, MONEY_PLACES, Money, Number, Rates, fraction_out, money_out, rounded, shown
from ledger.folds.packed import AMOUNT, DAY, WORD, PackedLog
from ledger.folds.parts import PartedDict, ValueLog
from ledger.folds.periods import PERIODS, Period
from ledger.hookspecs import hookimpl
from ledger.options import choice, option_date, required
from ledger.problems import Problem
from ledger.records import Recorded
from ledger.views import Option, Query, Row, View

__all__ = [
    "AMOUNT",
    "DAY",
    "FOUNDERS",
    "FRACTION_PLACES",
    "HOOKS",
    "MONEY_PLACES",
    "OWNERSHIP_FACTS",
    "OWNERSHIP_KINDS",
    "PERIODS",
    "UNDISCLOSED",
    "WORD",
    "CapTables",
    "Credits",
    "Decimal",
    "Escrow",
    "Fact",
    "FactError",
    "Fraction",
    "Grant",
    "Money",
    "Number",
    "Option",
    "OptionError",
    "PackedLog",
    "PartedDict",
    "Parties",
    "Period",
    "Problem",
    "Query",
    "Rates",
    "Recorded",
    "Row",
    "Shortfall",
    "ValueLog",
    "View",
    "ViewError",
    "choice",
    "fact_class",
    "fields",
    "fraction_out",
    "hookimpl",
    "money_out",
    "option_date",
    "parse_fraction",
    "required",
    "rounded",
    "shown",
]
