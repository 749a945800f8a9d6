"""The ledger from a notebook or a script: ``ledger.open(url)``, then ask views by name.

A notebook user asks the same questions as the command line and must get the same answers
and the same refusals: options are checked as the CLI checks them (an unknown option, a
party nobody registered, a currency that is not ISO 4217, a missing required option each
stop with one line naming it), and ``as_of``/``known_at`` follow ``ledger.moments`` (a bare
date for ``known_at`` means the end of that day, UTC). Answers are plain lists of row dicts
holding exact ``Decimal`` and ``Fraction`` values; ``.to_pandas()`` turns one into a
DataFrame without turning a single number into a float.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from events.errors import closest
from ledger.errors import LedgerError, RejectedError, ViewError
from ledger.moments import MomentError, as_of_date, known_at_time

if TYPE_CHECKING:
    import pandas

    from ledger.api import Ledger
    from ledger.appending import AppendResult, Incoming
    from ledger.views import Option, View

__all__ = ["Notebook", "Rows"]

INT64 = 2**63
"""Whole numbers at least this large do not fit pandas' int64 and stay Python ints."""


class Rows(list[dict[str, Any]]):
    """A view's answer: the list of row dicts it always was, plus its ``columns`` and ``to_pandas()``."""

    def __init__(self, rows: Iterable[dict[str, Any]] = (), columns: Sequence[str] = ()) -> None:
        super().__init__(rows)
        names = list(columns)
        for row in self:
            names.extend(name for name in row if name not in names)
        self.columns: tuple[str, ...] = tuple(names)

    def to_pandas(self) -> pandas.DataFrame:
        """A DataFrame with one column per view column, in order.

        Exact values stay exact: a column of money or fractions is an ``object`` column of
        ``Decimal`` or ``Fraction`` values, never floats; only columns of whole numbers with
        no gaps become ``int64``.
        """
        try:
            import pandas
        except ImportError:
            raise LedgerError("to_pandas() needs pandas: pip install 'dealledger[notebook]'") from None
        data = {}
        for name in self.columns:
            values = [row.get(name) for row in self]
            whole = values and all(type(v) is int and -INT64 <= v < INT64 for v in values)
            data[name] = pandas.Series(values, dtype="int64" if whole else object)
        return pandas.DataFrame(data, columns=list(self.columns))


class Notebook:
    """An open ledger for interactive use; close it (or use ``with``) to release the store."""

    def __init__(self, url: str | None = None, plugins: Iterable[str] = ()) -> None:
        from ledger.api import Ledger

        self.ledger: Ledger = Ledger(url if url is not None else os.environ.get("DEALLEDGER_URL"), plugins=plugins)

    def close(self) -> None:
        self.ledger.close()

    def __enter__(self) -> Notebook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def views(self) -> list[str]:
        """The names of the installed views (plugins' included)."""
        return sorted(self.ledger.host.views)

    def view(
        self, name: str, as_of: date | str | None = None, known_at: datetime | date | str | None = None, **options: Any
    ) -> Rows:
        """The rows of view ``name`` at a moment; ``options`` are the view's own (``company="moonshot-ai"``).

        ``as_of`` takes a date or ``YYYY-MM-DD``; ``known_at`` a datetime (UTC when naive), a
        date (the end of that day, UTC) or ISO 8601 text.
        """
        from ledger.views import Query

        view = self.ledger.host.view(name)  # an unknown name raises, naming the installed views
        query = Query(moment("as_of", as_of_date, as_of), moment("known_at", known_at_time, known_at), checked(view, options))
        return Rows(self.ledger.view(name, query), view.columns)

    def story(self, as_of: date | str | None = None, known_at: datetime | date | str | None = None) -> Rows:
        """Every fact in force at a moment, corrections applied, in effective order: one row per fact with its fields."""
        from ledger.logview import log_rows

        records = self.ledger.story(moment("as_of", as_of_date, as_of), moment("known_at", known_at_time, known_at))
        return Rows(log_rows(records, detailed=True, known=self.ledger.store.known_times()))

    def append(self, facts: str | os.PathLike[str] | Mapping[str, Any] | Iterable[Mapping[str, Any]]) -> AppendResult:
        """Append facts, all or nothing: a file (JSON Lines, YAML or CSV), one fact as a dict, or a list of dicts.

        Facts are checked exactly as ``dealledger append`` checks them; a problem raises one
        line naming the fact (``facts[2]``, or the file and line) and writes nothing.
        """
        return self.ledger.append(self._incoming(facts))

    def _incoming(self, facts: Any) -> list[Incoming]:
        from events import FactError
        from ledger.appending import Incoming
        from ledger.importing import incoming_from_path

        if isinstance(facts, str | os.PathLike):
            return list(incoming_from_path(self.ledger.catalogue, os.fspath(facts)))
        items = [facts] if isinstance(facts, Mapping) else list(facts)
        incoming = []
        for index, data in enumerate(items):
            where = f"facts[{index}]" if not isinstance(facts, Mapping) else "fact"
            if not isinstance(data, Mapping):
                raise RejectedError(f"{where}: expected a dict of fields, got {type(data).__name__}")
            try:
                incoming.append(Incoming(where, self.ledger.catalogue.parse(data)))
            except FactError as error:
                raise RejectedError(f"{where}: {error}") from None
        return incoming


def moment(name: str, parse: Any, value: Any) -> Any:
    """``as_of`` or ``known_at`` read by ``ledger.moments``; a bad value is a one-line ``ViewError`` naming it."""
    try:
        return parse(value)
    except MomentError as error:
        raise ViewError(f"{name}: {error}") from None


def checked(view: View[Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """The view's options as the CLI would pass them: defaults filled in, each value read by its kind."""
    known = {option.name: option for option in view.options}
    for key in given:
        if key not in known:
            close = closest(key, known)
            hint = f"; did you mean {close!r}?" if close else ""
            takes = f"it takes {', '.join(sorted(known))}" if known else "it takes no options"
            raise ViewError(f"view {view.name}: unknown option {key!r}{hint} ({takes})")
    values: dict[str, Any] = {}
    for name, option in known.items():
        value = given.get(name)
        if value is None:
            if option.required:
                raise ViewError(f"view {view.name}: option {name!r} is required ({option.help})")
            values[name] = option.default
        else:
            values[name] = _read(view, option, value)
    return values


def _read(view: View[Any], option: Option, value: Any) -> Any:
    where = f"view {view.name}: option {option.name!r}"
    if option.kind == "date":
        try:
            return as_of_date(value)
        except MomentError as error:
            raise ViewError(f"{where}: {error}") from None
    if option.kind == "currency":
        from events.iso import as_code, currency_codes

        code = as_code(str(value))
        if code not in currency_codes():
            raise ViewError(f"{where}: {value!r} is not an ISO 4217 currency code")
        return code
    if option.kind == "choice":
        if value not in option.choices:
            raise ViewError(f"{where}: {value!r} is not one of {', '.join(option.choices)}")
        return value
    if option.kind == "party":
        return str(value).strip()  # whether it is registered is the ledger's check (Ledger.view)
    if option.kind == "flag":  # "False" or 0 read as text would switch it on: only a bool says which
        if not isinstance(value, bool):
            raise ViewError(f"{where}: {value!r} is not True or False")
        return value
    return str(value)
