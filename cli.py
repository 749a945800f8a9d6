"""The ``dealledger`` command line: parse, call the ledger, render. Nothing else lives here.

Heavy modules (the store, the plugins) are imported inside commands, so ``--help`` and
errors in arguments answer at once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from ledger.api import Ledger
    from ledger.appending import Incoming
    from ledger.host import PluginHost

FORMATS = ("table", "json", "csv")
PLUGINS_ENV = "DEALLEDGER_PLUGINS"  # the same name as ledger.host.PLUGINS_ENV, without importing the host


# --- shared options and helpers ---------------------------------------------------------------


def parse_timestamp(value: str | None, name: str) -> datetime | None:
    """ISO 8601; UTC when no offset is given; a bare date means the end of that day (UTC)."""
    if value is None:
        return None
    try:
        # a bare date, in either ISO form (2026-11-28 or 20261128), means the end of that day
        return datetime.combine(date.fromisoformat(value), time.max, tzinfo=UTC)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 timestamp", param_hint=name) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class DateParam(click.ParamType):
    """An ISO date (YYYY-MM-DD), handed to views as a ``datetime.date``."""

    name = "date"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> date:
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            self.fail(f"{value!r} is not a date (YYYY-MM-DD)", param, ctx)


class CurrencyParam(click.ParamType):
    """An ISO 4217 code, upper-cased."""

    name = "currency"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from events.iso import currency_codes

        code = str(value).strip().upper()
        if code not in currency_codes():
            self.fail(f"{value!r} is not an ISO 4217 currency code", param, ctx)
        return code


class TimestampParam(click.ParamType):
    """A moment in transaction time for ``--known-at``: ISO 8601, UTC unless an offset is given;
    a bare date (``2026-11-28`` or ``20261128``) means the end of that day."""

    name = "timestamp"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        moment = parse_timestamp(str(value), f"--{param.name.replace('_', '-')}" if param and param.name else "value")
        assert moment is not None
        return moment


class PartyParam(click.ParamType):
    """A party slug; the shell completes it from the parties registered in the ledger the command names."""

    name = "party"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        return str(value).strip()

    def shell_complete(self, ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
        from click.shell_completion import CompletionItem

        try:
            from ledger.api import Ledger

            with Ledger(ctx.find_root().params.get("url"), plugins=ctx.find_root().params.get("plugins") or ()) as ledger:
                slugs = sorted(ledger.parties())
        except Exception:  # completion must never fail loudly: no ledger yet, no server, a broken plugin
            return []
        return [CompletionItem(slug) for slug in slugs if slug.startswith(incomplete)]


DATE = DateParam()
TIMESTAMP = TimestampParam()
PARTY = PartyParam()


def moment_options(function: Callable[..., Any]) -> Callable[..., Any]:
    function = click.option(
        "--known-at", type=TIMESTAMP, help="Only facts recorded at or before this time (ISO 8601, UTC by default)."
    )(function)
    return click.option("--as-of", type=DATE, help="Only facts effective on or before this date (YYYY-MM-DD).")(function)


def format_option(function: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True, help="How to print rows."
    )(function)


def plugin_host(ctx: click.Context) -> PluginHost:
    """The plugins, loaded once per command line (cached on the root context)."""
    from ledger.host import load

    root = ctx.find_root()
    if "host" not in root.meta:
        root.meta["host"] = load(root.params.get("plugins") or ())
    return root.meta["host"]


def open_ledger(ctx: click.Context) -> Ledger:
    from ledger.api import Ledger

    ledger = Ledger(ctx.find_root().params.get("url"), host=plugin_host(ctx))
    ctx.call_on_close(ledger.close)
    return ledger


class LedgerGroup(click.Group):
    """Turns ledger errors into one-line messages (exit 1) and lets plugins add commands."""

    def invoke(self, ctx: click.Context) -> Any:
        from ledger.errors import LedgerError

        try:
            return super().invoke(ctx)
        except LedgerError as error:
            from events.readers import printable

            raise click.ClickException(printable(str(error), 1000)) from None

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Built-in commands, and those of plugins named with --plugin or DEALLEDGER_PLUGINS.

        Installed plugins' commands work when called and are listed by ``dealledger plugins``;
        finding them needs every plugin imported, which ``--help`` and completion should not pay.
        """
        named = ctx.find_root().params.get("plugins") or os.environ.get(PLUGINS_ENV, "").strip()
        return sorted({*super().list_commands(ctx), *(self._plugin_commands(ctx) if named else ())})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return super().get_command(ctx, name) or self._plugin_commands(ctx).get(name)

    def _plugin_commands(self, ctx: click.Context) -> dict[str, click.Command]:
        from ledger.errors import LedgerError

        try:
            host = plugin_host(ctx)
        except LedgerError:
            return {}
        return {command.name: command for command in host.commands() if command.name}


@click.group(cls=LedgerGroup)
@click.option("--url", envvar="DEALLEDGER_URL", help="Store URL [default: sqlite:///dealledger.db; env DEALLEDGER_URL].")
@click.option(
    "--plugin",
    "plugins",
    multiple=True,
    help="Load a plugin module by its import path (repeatable; also DEALLEDGER_PLUGINS=a,b).",
)
@click.version_option(package_name="dealledger")
def main(url: str | None, plugins: tuple[str, ...]) -> None:
    """Keep a trustworthy, replayable record of strategic-investment deals.

    \b
    Example:
      dealledger append --file examples/story.jsonl
      dealledger view ownership --company moonshot-ai --as-of 2024-03-01
    """


# --- append ---------------------------------------------------------------------------------


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("kind", required=False)
@click.option("--file", "path", help="JSON Lines, YAML or CSV file of facts; - reads standard input.")
@click.option("--input-format", type=click.Choice(("jsonl", "yaml", "csv")), help="Format of --file (default: guessed).")
@click.pass_context
def append(ctx: click.Context, kind: str | None, path: str | None, input_format: str | None) -> None:
    """Append facts, all or nothing. Re-appending facts with the same keys changes nothing.

    \b
    Examples:
      dealledger append --file facts.jsonl
      dealledger append party.registered --party alibaba --name "Alibaba Group" --type investor --effective 1999-06-28
    """
    if (kind is None) == (path is None):
        raise click.UsageError("give either --file PATH or a KIND with --field value pairs")
    ledger = open_ledger(ctx)
    if path is not None:
        if ctx.args:
            raise click.UsageError(f"unexpected arguments with --file: {' '.join(ctx.args)}")
        from ledger.importing import incoming_from_path

        result = ledger.append(incoming_from_path(ledger.catalogue, path, input_format))
    else:
        assert kind is not None
        result = ledger.append([one_fact(ledger, kind, ctx.args)])
    added, unchanged = len(result.added), result.unchanged
    if not added and not unchanged:
        click.echo(f"nothing appended: {path} holds no facts")
        return
    if added:
        note = f" ({unchanged} already recorded, unchanged)" if unchanged else ""
        click.echo(f"appended {added} fact{'s' if added != 1 else ''}{note}; ledger head #{result.added[-1].seq}")
    else:
        click.echo(f"nothing appended: all {unchanged} fact(s) already recorded, unchanged")


def one_fact(ledger: Ledger, kind: str, args: Sequence[str]) -> Incoming:
    """A fact from ``--field value`` pairs; a field given twice becomes a list."""
    import json

    from events import FactError
    from events.readers import SourceError, decode_json
    from ledger.appending import Incoming
    from ledger.errors import RejectedError

    data: dict[str, Any] = {"kind": kind}
    index = 0
    while index < len(args):
        flag = args[index]
        if flag.startswith("--") and "=" in flag:  # --field=value
            flag, value = flag.split("=", 1)
            index += 1
        elif flag.startswith("--") and index + 1 < len(args):
            value = args[index + 1]
            index += 2
        else:
            raise click.UsageError(f"expected --field value pairs, got {flag!r}")
        name = flag[2:].replace("-", "_")
        parsed: Any = value
        if value[:1] in ("[", "{"):
            try:
                parsed = decode_json(value.strip(), "command line", None, name)
            except json.JSONDecodeError:
                parsed = value  # text that merely starts with a bracket, such as "[Beta] Corp"
            except SourceError as error:
                raise RejectedError(str(error)) from None
        if name in data:
            previous = data[name]
            data[name] = [*previous, parsed] if isinstance(previous, list) else [previous, parsed]
        else:
            data[name] = parsed
    try:
        return Incoming("command line", ledger.catalogue.parse(data))
    except FactError as error:
        raise RejectedError(f"command line: {error}") from None


# --- reading --------------------------------------------------------------------------------


@main.command()
@click.option("--kind", help="Only facts of this kind (or family: 'round', 'export').")
@click.option("--party", type=PARTY, help="Only facts that name this party.")
@moment_options
@format_option
@click.pass_context
def log(ctx: click.Context, kind: str | None, party: str | None, as_of: date | None, known_at: datetime | None, fmt: str) -> None:
    """The facts as recorded, in recording order, with their ids and recorded times.

    \b
    Example:
      dealledger log --party moonshot-ai --known-at 2024-06-01
    """
    from ledger.logview import log_rows

    ledger = open_ledger(ctx)
    if kind is not None:
        ledger.require_kind("--kind", kind)
    if party is not None:
        ledger.require_party("--party", party)
    rows = log_rows(
        ledger.records(known_at),
        kind=kind,
        party=party,
        as_of=as_of,
        detailed=fmt != "table",
    )
    table_columns = ("seq", "id", "key", "kind", "effective", "recorded", "status", "fields")
    render(rows, fmt, columns=table_columns if fmt == "table" else None)


class ViewGroup(click.Group):
    """``dealledger view NAME``: one sub-command per installed view, its options from the view."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self._host(ctx).views)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        host = self._host(ctx)
        if name not in host.views:
            host.view(name)  # raises a helpful error naming the installed views
        return view_command(host.views[name], host.view_providers[name])

    @staticmethod
    def _host(ctx: click.Context) -> Any:
        from ledger.errors import LedgerError

        try:
            return plugin_host(ctx)
        except LedgerError as error:
            raise click.ClickException(str(error)) from None


def view_command(view: Any, plugin: str) -> click.Command:
    from ledger.views import Query

    def callback(as_of: date | None, known_at: datetime | None, fmt: str, **options: Any) -> None:
        ctx = click.get_current_context()
        ledger = open_ledger(ctx)
        query = Query(as_of, known_at, options)
        render(ledger.view(view.name, query), fmt, columns=tuple(view.columns) or None)

    params: list[click.Parameter] = [
        click.Option(["--as-of"], type=DATE, help="Replay facts effective on or before this date."),
        click.Option(
            ["--known-at"], type=TIMESTAMP, help="Replay facts recorded at or before this time (ISO 8601, UTC by default)."
        ),
        click.Option(["--format", "fmt"], type=click.Choice(FORMATS), default="table", show_default=True),
    ]
    for option in view.options:
        # A default of None must not be passed: click then treats the option as given, even if required.
        default = {"default": option.default, "show_default": True} if option.default is not None else {}
        params.append(
            click.Option(
                [f"--{option.name.replace('_', '-')}", option.name],
                type=_option_type(option),
                required=option.required,
                help=option.help,
                **default,
            )
        )
    help_text = f"{view.help}\n\nColumns: {', '.join(view.columns)}. Provided by {plugin}."
    return click.Command(view.name, callback=callback, params=params, help=help_text, short_help=view.help)


def _option_type(option: Any) -> Any:
    if option.kind == "choice":
        return click.Choice(option.choices)
    if option.kind == "date":
        return DateParam()
    if option.kind == "currency":
        return CurrencyParam()
    if option.kind == "party":
        return PARTY
    return click.STRING


@main.group(cls=ViewGroup)
def view() -> None:
    """Answer a question from the facts: ownership, portfolio, league, revenue, regulatory, ...

    \b
    Examples:
      dealledger view ownership --company moonshot-ai --as-of 2024-03-01
      dealledger view league --sector ai --since 2023-01-01 --currency USD
    """


@main.command()
@click.option("--as-of", type=DATE, required=True, help="Replay facts effective on or before this date.")
@click.option("--known-at", type=TIMESTAMP, help="Replay facts recorded at or before this time.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Write one file per view into this folder.")
@format_option
@click.pass_context
def replay(ctx: click.Context, as_of: date, known_at: datetime | None, out_dir: str | None, fmt: str) -> None:
    """Every installed view at one moment; files in --out, or all of them printed.

    \b
    Example:
      dealledger replay --as-of 2024-12-31 --out out/2024 --format csv
    """
    from pathlib import Path

    from ledger.replaying import replay_all

    ledger = open_ledger(ctx)
    answers = replay_all(ledger, as_of, known_at)
    if out_dir is None:
        for name, (columns, rows) in answers.items():
            click.echo(f"== {name} ({len(rows)} row{'s' if len(rows) != 1 else ''})")
            render(rows, fmt, columns=columns)
            click.echo()
        return
    folder = Path(out_dir)
    extension = {"table": "txt", "json": "json", "csv": "csv"}[fmt]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, (columns, rows) in answers.items():
            (folder / f"{name}.{extension}").write_text(format_rows(rows, fmt, columns), encoding="utf-8")
            click.echo(f"{name}: {len(rows)} row(s) -> {folder / f'{name}.{extension}'}")
    except OSError as error:
        raise click.ClickException(f"{error.filename or out_dir}: cannot write: {error.strerror}") from None


@main.command()
@click.option("--as-of", type=DATE, help="Check the facts effective on or before this date.")
@click.pass_context
def check(ctx: click.Context, as_of: date | None) -> None:
    """Replay and check every ownership.asserted figure and invariant; exit 1 on any mismatch.

    \b
    Example:
      dealledger check --as-of 2024-12-31
    """
    ledger = open_ledger(ctx)
    problems = ledger.check(as_of)
    for problem in problems:
        click.echo(str(problem))
    if problems:
        raise click.ClickException(f"{len(problems)} problem{'s' if len(problems) != 1 else ''} found")
    click.echo(f"ok: {len(ledger.records())} facts checked, no problems")


@main.command()
@click.pass_context
def verify(ctx: click.Context) -> None:
    """Recompute the hash chain of every stored fact, its positions and recorded-time order; exit 1 at a broken link.

    Every fact is chained to the one before it by a SHA-256 hash written in the same
    transaction, so a fact changed, removed or slipped in by any means shows here. It opens a
    store other commands refuse (its head broken, its append-only guard removed), and puts a
    removed guard back.

    \b
    Example:
      dealledger verify
    """
    from ledger.api import Ledger

    ledger = Ledger(ctx.find_root().params.get("url"), host=plugin_host(ctx), verifying=True)
    ctx.call_on_close(ledger.close)
    problems = ledger.store.verify()
    for problem in problems:
        click.echo(problem)
    if problems:
        raise click.ClickException("the ledger's hash chain is broken: see above")
    head = ledger.store.head()
    click.echo(f"ok: {head.position} facts, hash chain intact; head hash {head.hash}")


@main.command()
@click.option("--clear", is_flag=True, help="Drop every checkpoint (they are rebuilt as questions are asked).")
@format_option
@click.pass_context
def checkpoints(ctx: click.Context, clear: bool, fmt: str) -> None:
    """The view states saved to answer quickly: which view, folded up to which date, at which ledger head.

    Checkpoints are derived from the facts and never change an answer: a damaged one is dropped
    and rebuilt, and one that a later back-dated fact affects is not used.

    \b
    Examples:
      dealledger checkpoints
      dealledger checkpoints --clear
    """
    from ledger.checkpoints import Checkpoints

    ledger = open_ledger(ctx)
    saved = Checkpoints(ledger.store)
    if clear:
        click.echo(f"dropped {saved.clear()} checkpoint(s)")
        return
    render(saved.listing(), fmt, columns=("view", "state_version", "cut", "head", "digest"))


@main.command()
@format_option
@click.pass_context
def plugins(ctx: click.Context, fmt: str) -> None:
    """Installed views, fact kinds and plugin commands, with the plugin that provides each."""
    host = plugin_host(ctx)
    rows = [
        {"type": "view", "name": n, "plugin": host.view_providers[n], "help": first_line(v.help)}
        for n, v in sorted(host.views.items())
    ]
    rows += [
        {"type": "kind", "name": k, "plugin": host.kind_providers[k], "help": first_line(c.__doc__)}
        for k, c in sorted(host.catalogue.kinds.items())
    ]
    rows += [
        {"type": "command", "name": c.name, "plugin": "", "help": first_line(c.help)}
        for c in sorted(host.commands(), key=lambda command: command.name or "")
    ]
    render(rows, fmt, columns=("type", "name", "plugin", "help"))


@main.command()
@click.option("--out", "path", default="-", show_default=True, help="File to write; - writes to standard output.")
@click.option("--known-at", type=TIMESTAMP, help="Only facts recorded at or before this time.")
@click.pass_context
def export(ctx: click.Context, path: str, known_at: datetime | None) -> None:
    """Write the ledger as JSON Lines that `import` reproduces exactly (ids, recorded times, order).

    \b
    Example:
      dealledger export --out ledger-2024.jsonl && dealledger --url sqlite:///copy.db import ledger-2024.jsonl
    """
    from ledger.exchange import export_lines

    ledger = open_ledger(ctx)
    records = ledger.records(known_at)
    try:
        with click.open_file(path, "w", encoding="utf-8") as out:
            out.writelines(export_lines(records))
    except OSError as error:
        raise click.ClickException(f"{path}: cannot write: {error.strerror}") from None
    if path != "-":
        click.echo(f"exported {len(records)} fact{'s' if len(records) != 1 else ''} to {path}")


@main.command(name="import")
@click.argument("path")
@click.pass_context
def import_(ctx: click.Context, path: str) -> None:
    """Load an export (all or nothing) into an empty ledger, or one it continues; again changes nothing.

    \b
    Example:
      dealledger --url postgresql://team@db/deals import ledger-2024.jsonl
    """
    from ledger.errors import RejectedError
    from ledger.exchange import import_stream

    ledger = open_ledger(ctx)
    try:
        stream = click.open_file(path, "r", encoding="utf-8")
    except (OSError, ValueError) as error:
        raise RejectedError(f"{path}: cannot read: {getattr(error, 'strerror', None) or error}") from None
    with stream:
        result = ledger.append(import_stream(ledger.catalogue, stream, "<stdin>" if path == "-" else path))
    click.echo(f"imported {len(result.added)} fact(s); {result.unchanged} already there, unchanged")


@main.command()
@click.pass_context
def schema(ctx: click.Context) -> None:
    """Print the JSON Schema of one fact (every kind, plugins' included)."""
    import json

    host = plugin_host(ctx)
    click.echo(json.dumps(host.catalogue.json_schema(), indent=2))


def first_line(text: str | None) -> str:
    return (text or "").strip().split("\n", 1)[0].replace("``", "")


# --- rendering ------------------------------------------------------------------------------


def render(rows: Sequence[dict[str, Any]], fmt: str, columns: Sequence[str] | None = None) -> None:
    click.echo(format_rows(rows, fmt, columns), nl=False)


def format_rows(rows: Sequence[dict[str, Any]], fmt: str, columns: Sequence[str] | None = None) -> str:
    from ledger.rendering import as_csv, as_json, as_table

    if fmt == "json":
        return as_json(rows)
    names = list(columns or [])
    for row in rows:
        names.extend(name for name in row if name not in names)
    if fmt == "csv":
        return as_csv(rows, names)
    return as_table(rows, names)


if __name__ == "__main__":
    main()
