"""The one error an OCF export reports: the ledger cannot be written as OCF exactly, and why."""

from __future__ import annotations

from ledger.errors import LedgerError


class OcfError(LedgerError):
    """The export stops before anything is written; the message names the company, fact or field."""
