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

    @click.command(name="list-facts")
    @click.option("--times", default="1", help="How many times to list them.")
    @click.pass_context
    def list_facts(ctx: click.Context, times: str) -> None:
        """Each fact's key, ``--times`` over (a command with an option, and an answer of many lines)."""
        from cli import open_ledger
        from ledger.errors import OptionError

        if not times.isdigit():
            raise OptionError(f"--times: {times!r} is not a whole number")
        keys = [record.key or record.id for record in open_ledger(ctx).records()]
        for _ in range(int(times)):
            for key in keys:
                click.echo(key)

    return [count_facts, list_facts]
