"""Reading a view's options from a query: dates, required options, choices, each with a one-line error."""

from __future__ import annotations

from datetime import date
from typing import Any

from ledger.errors import OptionError
from ledger.views import Query


def option_date(query: Query, name: str) -> date | None:
    """A date option, whether the caller passed a ``date`` or its ISO text."""
    value = query.get(name)
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise OptionError(f"--{name}: {value!r} is not an ISO date (YYYY-MM-DD)") from None


def required(query: Query, name: str, view: str) -> Any:
    """An option the view cannot answer without."""
    value = query.get(name)
    if value is None or value == "":
        raise OptionError(f"the {view} view needs --{name}")
    return value


def choice(query: Query, name: str, choices: tuple[str, ...], default: str) -> str:
    value = str(query.get(name, default))
    if value not in choices:
        raise OptionError(f"--{name}: {value!r} is not one of {', '.join(choices)}")
    return value
