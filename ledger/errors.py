"""Errors the ledger reports to users. Each carries a one-line message that says what and where."""

from __future__ import annotations


class LedgerError(Exception):
    """A user-facing error: the command stops, nothing is written, the message is shown as is."""


class RejectedError(LedgerError):
    """A batch was refused (bad input, unknown party, conflicting key, failed validation)."""


class ConcurrencyError(LedgerError):
    """Another writer kept winning the race for the ledger head; try again."""


class PluginError(LedgerError):
    """A plugin failed while folding or validating; names the plugin and the fact."""


class ViewError(LedgerError):
    """A view cannot answer the question as asked (missing exchange rate, unknown option value)."""


class OptionError(ViewError):
    """An option given a value of the wrong form (not a date, not one of its choices, out of its range): the command
    was misused, and the command line says so as it says any misuse (exit 2, naming the command's ``--help``)."""
