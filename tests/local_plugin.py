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

    @click.group(name="local-group")
    @click.option("--format", "fmt", default="table")
    def local_group(fmt: str) -> None:
        """A group of commands, with an option of the same name as its command's."""

    @local_group.command(name="show")
    @click.option("--format", "fmt", default="table")
    def show(fmt: str) -> None:
        click.echo(f"show {fmt}")

    @click.command(name="pass-on", context_settings={"allow_interspersed_args": False})
    @click.option("--label", default="")
    @click.argument("rest", nargs=-1, type=click.UNPROCESSED)
    def pass_on(label: str, rest: tuple[str, ...]) -> None:
        """Takes its own options, then hands the rest on to another program, options and all."""
        click.echo(f"{label} {' '.join(rest)}")

    @click.command(name="write-to")
    @click.argument("path")
    def write_to(path: str) -> None:
        """Writes a file of its own (a full device: the plugin's failure, not standard output's)."""
        with open(path, "w", encoding="utf-8") as out:
            out.write("x" * 100_000)

    return [count_facts, list_facts, local_group, pass_on, write_to]
