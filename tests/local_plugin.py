"""A plugin loaded by module path (``--plugin tests.local_plugin``), as a user's local module would be."""

from __future__ import annotations

from typing import Any

from ledger.hookspecs import hookimpl
from ledger.records import Recorded
from ledger.views import Query, View


class FactCount(View[int]):
    name = "local-count"
    help = "How many facts are in force."
    columns = ("facts",)

    def initial(self, query: Query) -> int:
        return 0

    def apply(self, state: int, record: Recorded) -> int:
        return state + 1

    def rows(self, state: int, query: Query) -> list[dict[str, Any]]:
        return [{"facts": state}]


@hookimpl
def dealledger_views() -> list[View[Any]]:
    return [FactCount()]


@hookimpl
def dealledger_commands() -> list[Any]:
    import click

    @click.command(name="count-facts")
    @click.pass_context
    def count_facts(ctx: click.Context) -> None:
        """How many facts the ledger stores (a command added by a plugin)."""
        from cli import open_ledger

        click.echo(f"{len(open_ledger(ctx).records())} facts")

    return [count_facts]
