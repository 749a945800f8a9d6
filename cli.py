"""The ``dealledger`` command line: parse, call the ledger, render. Nothing else lives here.

Heavy modules (the store, the plugins) are imported inside commands, so ``--help`` and
errors in arguments answer at once.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, NoReturn

import click

if TYPE_CHECKING:
    from ledger.api import Ledger
    from ledger.appending import Incoming
    from ledger.host import PluginHost
    from ledger.progress import Progress

    ParamBase = click.ParamType[Any, Any]  # generic in the type stubs of click 8.2 and later
else:
    ParamBase = click.ParamType  # a plain class at run time, whichever click is installed

FORMATS = ("table", "json", "csv")
PLUGINS_ENV = "DEALLEDGER_PLUGINS"  # the same name as ledger.host.PLUGINS_ENV, without importing the host


# --- shared options and helpers ---------------------------------------------------------------


def parse_timestamp(value: str | None, name: str) -> datetime | None:
    """ISO 8601; UTC when no offset is given; a bare date means the end of that day (UTC): ``ledger.moments``' rule."""
    from ledger.moments import MomentError
    from ledger.moments import parse_timestamp as parse

    if value is None:
        return None
    try:
        return parse(value)
    except MomentError as error:
        raise click.BadParameter(str(error), param_hint=name) from None


class DateParam(ParamBase):
    """An ISO date (YYYY-MM-DD), handed to views as a ``datetime.date``."""

    name = "date"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> date:
        from ledger.moments import MomentError, as_of_date

        try:
            day = as_of_date(value if isinstance(value, date) else str(value))
        except MomentError as error:
            self.fail(str(error), param, ctx)
        assert day is not None
        return day


class CurrencyParam(ParamBase):
    """An ISO 4217 code, upper-cased."""

    name = "currency"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from events.iso import as_code, currency_codes

        code = as_code(str(value))
        if code not in currency_codes():
            self.fail(f"{value!r} is not an ISO 4217 currency code", param, ctx)
        return code


class TimestampParam(ParamBase):
    """A moment in transaction time for ``--known-at``: ISO 8601, UTC unless an offset is given;
    a bare date (``2026-11-28`` or ``20261128``) means the end of that day."""

    name = "timestamp"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        moment = parse_timestamp(str(value), f"--{param.name.replace('_', '-')}" if param and param.name else "value")
        assert moment is not None
        return moment


class PartyParam(ParamBase):
    """A party slug; the shell completes it from the parties registered in the ledger the command names."""

    name = "party"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        return str(value).strip()

    def shell_complete(self, ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
        from click.shell_completion import CompletionItem

        try:
            from ledger.api import Ledger, require_ledger

            require_ledger(ctx.find_root().params.get("url"), existing=True)  # completing makes no ledger
            with Ledger(ctx.find_root().params.get("url"), plugins=ctx.find_root().params.get("plugins") or ()) as ledger:
                slugs = sorted(ledger.parties())
            if param.name == "company":  # a built-in holder holds shares of companies, and is none itself
                from events.parties import BUILT_IN_HOLDERS

                slugs = [slug for slug in slugs if slug not in BUILT_IN_HOLDERS]
        except Exception:  # completion must never fail loudly: no ledger yet, no server, a broken plugin
            return []
        return [CompletionItem(slug) for slug in slugs if slug.startswith(incomplete)]


DATE = DateParam()
TIMESTAMP = TimestampParam()
PARTY = PartyParam()


def moment_options(function: Callable[..., Any]) -> Callable[..., Any]:
    function = click.option(
        "--known-at", type=TIMESTAMP, help="Only facts known (committed) at or before this time (ISO 8601, UTC by default)."
    )(function)
    return click.option("--as-of", type=DATE, help="Only facts effective on or before this date (YYYY-MM-DD).")(function)


FORMAT_SETTINGS: dict[str, Any] = {
    "type": click.Choice(FORMATS),
    "default": "table",
    "show_default": True,
    "help": "How to print rows: a table (drawn by rich on a terminal), or exact JSON or CSV.",
}
"""``--format table|json|csv``: one definition, for the commands that print rows and for every view."""


def format_param() -> click.Option:
    return click.Option(["--format", "fmt"], **FORMAT_SETTINGS)


def format_option(function: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--format", "fmt", **FORMAT_SETTINGS)(function)


def is_terminal(stream: Any) -> bool:
    """Whether ``stream`` is a person's terminal rather than a pipe, a file or a test runner's buffer."""
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def stdout_is_terminal() -> bool:
    return is_terminal(sys.stdout)


def stderr_is_terminal() -> bool:
    return is_terminal(sys.stderr)


@contextmanager
def progress_tasks() -> Iterator[Callable[[str], Progress | None]]:
    """A factory of progress callbacks, one bar each, drawn on standard error while it is a terminal.

    When standard error is not a terminal the factory answers None (the core then counts
    nothing) and rich is never imported, so pipes, logs and tests stay clean.
    """
    if not stderr_is_terminal():
        yield lambda description: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, SpinnerColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bars

    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Bars(*columns, console=Console(stderr=True), transient=True) as bars:

        def task(description: str) -> Progress:
            for earlier in bars.tasks:  # a new stage means the one before it is over
                if not earlier.finished:
                    bars.update(earlier.id, total=earlier.completed or 1, completed=earlier.completed or 1)
            task_id = bars.add_task(description, total=None)

            def advance(done: int, total: int | None) -> None:
                bars.update(task_id, completed=done, total=total)

            return advance

        yield task


def plugin_host(ctx: click.Context) -> PluginHost:
    """The plugins, loaded once per command line (cached on the root context)."""
    from ledger.host import load

    root = ctx.find_root()
    if "host" not in root.meta:
        root.meta["host"] = load(_named_plugins(root))
    host: PluginHost = root.meta["host"]
    return host


def _named_plugins(root: click.Context) -> tuple[str, ...]:
    """The modules named with ``--plugin``: parsed, or, while an eager option (``--help``) runs before the others
    are, read from the command line as given (``LedgerGroup.parse_args``)."""
    parsed = root.params.get("plugins")
    return tuple(parsed) if parsed is not None else tuple(root.meta.get("named plugins", ()))


def open_ledger(ctx: click.Context, *, create: bool = False, verifying: bool = False) -> Ledger:
    """The ledger at ``--url``; one that does not exist yet is made only by a command that stores facts (``create``):
    a question asked at a mistyped path is refused, where it left an empty ledger there and answered from it.
    ``verifying``: opened to be verified, damaged or not (``Ledger``)."""
    from ledger.api import Ledger, require_ledger

    url = ctx.find_root().params.get("url")
    host = plugin_host(ctx)  # a plugin that cannot be loaded is told first, ledger or not
    require_ledger(url, existing=not create)
    ledger = Ledger(url, host=host, verifying=verifying)
    ctx.call_on_close(ledger.close)
    return ledger


def append_checked(ctx: click.Context, incoming: list[Any]) -> Any:
    """Append ``incoming`` as one batch (call it inside ``held_from_commit``); into a SQLite file that does not exist
    yet, only once the empty ledger it would hold has accepted it (``built_for_new_file``): a refused batch creates no
    ledger at a mistyped ``--url``."""
    from ledger.api import built_for_new_file

    prebuilt = built_for_new_file(ctx.find_root().params.get("url"), plugin_host(ctx), incoming)
    ledger = open_ledger(ctx, create=True)
    return ledger.append(incoming, prebuilt=prebuilt)


class OnceCommand(click.Command):
    """A command whose options that take one value refuse to be given twice: click keeps the last silently, so
    ``append --file a.jsonl --file b.jsonl`` stored b alone and said nothing of a. An option's value of the wrong
    form found by a view (``OptionError``) is told as the misuse it is: exit 2, naming this command's ``--help``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        _given_once(ctx, self, args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        from ledger.errors import OptionError

        try:
            return super().invoke(ctx)
        except OptionError as error:
            raise _misused(ctx, error) from None


def _misused(ctx: click.Context, error: Exception) -> click.ClickException:
    """A view's ``OptionError`` as the misuse of ``ctx``'s command it is (exit 2, naming its ``--help``)."""
    return _one_line(click.UsageError(str(error), ctx))


def _given_once(ctx: click.Context, command: click.Command, args: Sequence[str]) -> None:
    """Raise a usage error naming an option of ``command`` that takes one value and is given more than once; for a
    group (or a command that takes no option after its first argument, passing the rest on), among the arguments
    before that first one (what follows is another command's). A line being completed is taken as it stands."""
    if ctx.resilient_parsing:
        return
    group = isinstance(command, click.Group) or not ctx.allow_interspersed_args
    takes_value = {
        name: option
        for option in command.params
        if isinstance(option, click.Option) and not option.is_flag and not option.count
        for name in option.opts
    }
    seen: dict[click.Option, str] = {}
    index = 0
    while index < len(args):
        arg = args[index]
        index += 1
        if arg == "--" or (group and not arg.startswith("-")):
            return
        name, has_value, _ = arg.partition("=")
        option = takes_value.get(name) if arg.startswith("-") else None
        if option is None:
            continue
        if not has_value:
            index += 1  # its value, whatever it looks like
        if option.multiple:
            continue
        if option in seen:
            also = f" (as {seen[option]} and {name})" if seen[option] != name else ""
            raise click.UsageError(f"{name} is given twice{also}: give it once", ctx)
        seen[option] = name


class LedgerGroup(click.Group):
    """Turns ledger errors into one-line messages (exit 1), a misused command's into one line too (exit 2, where
    click would print the usage, a hint and a blank line around it), and lets plugins add commands."""

    command_class = OnceCommand

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as error:
            raise _one_line(error) from None

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Refuse, before anything is read or written, an argument or setting that is not text: a shell passes bytes
        that are not UTF-8 through as lone surrogates, which no store or message can take. A file's name may be
        any bytes (the system takes them as they came): ``--file``, ``--out`` and the file ``import`` reads."""
        for number, arg in enumerate(args):
            before = args[number - 1] if number else ""
            if before in _PATH_OPTIONS or before == "import" or arg.startswith(tuple(f"{o}=" for o in _PATH_OPTIONS)):
                continue
            named = f"the value of {before}" if before.startswith("-") and "=" not in before else f"argument {number + 1}"
            _must_be_text(arg, named)
        for name in ("DEALLEDGER_URL", PLUGINS_ENV):
            _must_be_text(os.environ.get(name, ""), name)
        from itertools import pairwise

        _given_once(ctx, self, args)
        given = [value for option, value in pairwise(args) if option == "--plugin"]
        ctx.meta["named plugins"] = [*given, *(arg.split("=", 1)[1] for arg in args if arg.startswith("--plugin="))]
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        from ledger.errors import LedgerError

        try:
            return super().invoke(ctx)
        except LedgerError as error:
            raise _told(error) from None
        except click.UsageError as error:
            raise _one_line(error) from None
        except BrokenPipeError as error:
            if not _is_standard_output(error):
                raise _output_failed(error) from None
            raise  # a reader that stopped reading (``| head``): click ends the command quietly
        except OSError as error:  # what no command caught: most often standard output full, or failing
            raise _output_failed(error) from None

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Built-in commands, and those of plugins named with --plugin or DEALLEDGER_PLUGINS.

        Installed plugins' commands work when called and are listed by ``dealledger plugins``;
        finding them needs every plugin imported, which ``--help`` and completion should not pay.
        """
        named = _named_plugins(ctx.find_root()) or os.environ.get(PLUGINS_ENV, "").strip()
        return sorted({*super().list_commands(ctx), *(self._plugin_commands(ctx) if named else ())})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        """A built-in command, else a plugin's: a plugin that cannot be loaded is then told (one line), not hidden
        behind "No such command"."""
        return super().get_command(ctx, name) or self._plugin_commands(ctx, told=True).get(name)

    def _plugin_commands(self, ctx: click.Context, *, told: bool = False) -> dict[str, click.Command]:
        """The plugins' commands by name; ``told``: a plugin that cannot be loaded, or whose command takes the name of
        a built-in command or of another plugin's, is an error, else it is left out (a listing, completion)."""
        from ledger.errors import LedgerError, PluginError

        found: dict[str, click.Command] = {}
        try:
            providers: dict[str, str] = {}
            for plugin, command in plugin_host(ctx).commands():
                name = command.name
                taken = "a built-in command" if name in self.commands else providers.get(name)
                if taken is not None:
                    if told:
                        raise PluginError(f"plugin {plugin}: command {name!r} takes the name of {taken}")
                    continue  # a listing leaves the clashing command out, not the others
                providers[name] = f"plugin {plugin}'s command"
                found[name] = _guarded(plugin, command)
        except LedgerError as error:
            if told:  # asked outside ``invoke`` too (completion): told here, as ``invoke`` tells it
                raise _told(error) from None
            return {}
        return found


def _guarded(plugin: str, command: click.Command) -> click.Command:
    """A plugin's command held to the built-in commands' rules: its failure is one line naming the plugin, as a
    view's is, not a traceback; an option that takes one value given twice, or a value of the wrong form
    (``OptionError``), is a misuse (exit 2); standard output full or gone is told as such, not as the plugin's."""
    if getattr(command, "_dealledger_guarded", False):
        return command
    invoke, parse_args = command.invoke, command.parse_args

    def parsed(ctx: click.Context, args: list[str]) -> list[str]:
        _given_once(ctx, command, args)
        return parse_args(ctx, args)

    def guarded(ctx: click.Context) -> Any:
        from ledger.errors import LedgerError, OptionError

        try:
            return invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except OptionError as error:
            raise _misused(ctx, error) from None
        except LedgerError:
            raise
        except OSError as error:
            if _is_standard_output(error):
                raise  # told by ``LedgerGroup.invoke`` (or quietly, for a reader gone)
            raise _plugin_failed(plugin, command, error) from None
        except Exception as error:
            raise _plugin_failed(plugin, command, error) from None  # told in one line by ``LedgerGroup.invoke``

    command.invoke = guarded  # type: ignore[method-assign]
    command.parse_args = parsed  # type: ignore[method-assign]
    command._dealledger_guarded = True  # type: ignore[attr-defined]
    return command


def _plugin_failed(plugin: str, command: click.Command, error: Exception) -> Exception:
    from ledger.errors import PluginError

    return PluginError(f"plugin {plugin}: command {command.name} failed: {type(error).__name__}: {error}")


_PATH_OPTIONS = ("--file", "--out")
"""The options whose values are names of files or folders."""


class Misuse(click.ClickException):
    """A misused command or option, told in one line (``Error: ...`` on stderr), exit 2 as click's own, rather than
    click's usage block."""

    exit_code = 2


def _told(error: Exception) -> click.ClickException:
    """A ledger error as click tells it: ``Error:`` and one line, exit 1."""
    from events.readers import printable

    return click.ClickException(printable(str(error), 1000))


def _is_standard_output(error: OSError) -> bool:
    from ledger.standard_output import StandardOutputError

    return isinstance(error, StandardOutputError)


def _output_failed(error: OSError) -> click.ClickException:
    """An operating system error no command caught, as one line: standard output's (``ledger.standard_output``),
    whose answer goes nowhere from then on, so that the interpreter does not try to write it again at exit and print
    a second error; or one naming its file; or its reason and kind."""
    from events.readers import printable

    reason = error.strerror or str(error)
    if _is_standard_output(error):
        message = f"cannot write to standard output: {reason}"
        _drop_standard_output()
    elif error.filename is not None:
        message = f"{error.filename}: {reason}"
    else:
        message = f"{reason} ({type(error).__name__})"
    return click.ClickException(printable(message, 1000))


def _drop_standard_output() -> None:
    sys.stdout = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115  # standard output's place, for the rest of the run


def _one_line(error: click.UsageError) -> click.ClickException:
    """A usage error as one line, naming the command whose help tells the right use."""
    path = error.ctx.command_path if error.ctx is not None else "dealledger"
    return Misuse(f"{error.format_message().rstrip('.')} (see '{path} --help')")


def _must_be_text(value: str, where: str) -> None:
    if value.isascii():
        return
    from events.readers import not_utf8

    found = not_utf8(value)
    if found is not None:
        raise Misuse(f"{where} is not UTF-8 text: {found[0]} at character {found[1]}")


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
    if url is not None and not url.strip():  # an unset shell variable: not the default ledger in the current folder
        raise Misuse("--url (or DEALLEDGER_URL) is empty (an unset variable?): name a store, such as sqlite:///ledger.db")


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
    from ledger.stopping import held_from_commit

    if path is not None and ctx.args:
        raise click.UsageError(f"unexpected arguments with --file: {' '.join(ctx.args)}")
    if path is not None:  # read whole first (an append holds its batch whole anyway): a file that cannot be read,
        # holds a malformed fact or holds none opens no ledger, and creates none where there was none
        from ledger.exact import exact_decimals
        from ledger.importing import incoming_from_path
        from ledger.memory import collector_paused

        with collector_paused(), exact_decimals():  # as ``Ledger.append`` reads it
            incoming = list(incoming_from_path(plugin_host(ctx).catalogue, path, input_format))
        if not incoming:
            click.echo(f"nothing appended: {click.format_filename(path)} holds no facts")
            return
    else:  # a fact from flags is checked before the ledger is opened, as a file's facts are
        assert kind is not None
        incoming = [one_fact(plugin_host(ctx).catalogue, kind, ctx.args)]
    with held_from_commit():  # a stop landing in the commit waits for the line saying what was stored
        _tell_appended(append_checked(ctx, incoming), path)


def _tell_appended(result: Any, path: str | None) -> None:
    added, unchanged = len(result.added), result.unchanged
    if not added and not unchanged:
        click.echo(f"nothing appended: {click.format_filename(path or '-')} holds no facts")
        return
    if added:
        note = f" ({unchanged} already recorded, unchanged)" if unchanged else ""
        click.echo(f"appended {added} fact{'s' if added != 1 else ''}{note}; ledger head #{result.added[-1].seq}")
    else:
        click.echo(f"nothing appended: all {unchanged} fact(s) already recorded, unchanged")


def one_fact(catalogue: Any, kind: str, args: Sequence[str]) -> Incoming:
    """A fact from ``--field value`` pairs, each read as a CSV cell is (``readers.cell_value``); a field given twice
    becomes a list."""
    from events import FactError
    from events.codecs import with_unread
    from events.readers import SourceError, cell_value
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
        try:
            parsed = cell_value(value, "command line", None, name)
        except SourceError as error:
            raise RejectedError(str(error)) from None
        if name in data:
            previous = data[name]
            data[name] = [*previous, parsed] if isinstance(previous, list) else [previous, parsed]
        else:
            data[name] = parsed
    try:
        return Incoming("command line", catalogue.parse(with_unread(data)))
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
    """The facts as recorded, in recording order, with their ids, recorded and known times.

    A fact is recorded once its batch is checked, and known from the batch's commit: --known-at
    goes by the known time.

    \b
    Example:
      dealledger log --party moonshot-ai --known-at 2024-06-01
    """
    from ledger.logview import log_rows

    ledger = open_ledger(ctx)
    if kind is not None:
        ledger.require_kind("--kind", kind)
    if party is not None:
        ledger.require_party("--party", party, known_at)
    rows = log_rows(
        ledger.records(known_at),
        kind=kind,
        party=party,
        as_of=as_of,
        detailed=fmt != "table",
        known=ledger.store.known_times(),
    )
    leading = ("seq", "id", "key", "kind", "effective", "recorded", "known", "status")  # every fact's, before its fields
    render(rows, fmt, columns=(*leading, "fields") if fmt == "table" else leading)  # no fact: still the header


class ViewGroup(click.Group):
    """``dealledger view NAME``: one sub-command per installed view, its options from the view."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self._host(ctx).views)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        host = self._host(ctx)
        self._installed(ctx, host, name)
        return view_command(host.views[name], host.view_providers[name])

    @staticmethod
    def _installed(ctx: click.Context, host: Any, name: str) -> None:
        """Refuse a view that is not installed as a misuse (exit 2), naming those that are."""
        from ledger.errors import LedgerError

        if name not in host.views:
            try:
                host.view(name)  # raises a helpful error naming the installed views
            except LedgerError as error:
                raise click.UsageError(str(error), ctx) from None

    @staticmethod
    def _host(ctx: click.Context) -> Any:
        from ledger.errors import LedgerError

        try:
            return plugin_host(ctx)
        except LedgerError as error:
            raise _told(error) from None


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
            ["--known-at"],
            type=TIMESTAMP,
            help="Replay facts known (committed) at or before this time (ISO 8601, UTC by default).",
        ),
        format_param(),
    ]
    params.extend(view_option(option) for option in view.options)
    help_text = f"{view.help}\n\nColumns: {', '.join(view.columns)}. Provided by {plugin}."
    return OnceCommand(view.name, callback=callback, params=params, help=help_text, short_help=view.help)


def view_option(option: Any) -> click.Option:
    """A view's ``Option`` as a click option, the same for ``view`` and ``explain``."""
    # A default of None must not be passed: click then treats the option as given, even if required.
    default = {"default": option.default, "show_default": True} if option.default is not None else {}
    return click.Option(
        [f"--{option.name.replace('_', '-')}", option.name],
        type=_option_type(option),
        is_flag=option.kind == "flag",
        required=option.required,
        help=option.help,
        **default,
    )


def _option_type(option: Any) -> Any:
    if option.kind == "choice":
        return click.Choice(option.choices)
    if option.kind == "date":
        return DateParam()
    if option.kind == "currency":
        return CurrencyParam()
    if option.kind == "party":
        return PARTY
    if option.kind == "flag":  # an on/off switch, such as --group
        return click.BOOL
    return click.STRING


@main.group(cls=ViewGroup)
def view() -> None:
    """Answer a question from the facts: ownership, portfolio, league, revenue, regulatory, ...

    \b
    Examples:
      dealledger view ownership --company moonshot-ai --as-of 2024-03-01
      dealledger view league --sector ai --since 2023-01-01 --currency USD
    """


# --- explain --------------------------------------------------------------------------------


class ExplainGroup(ViewGroup):
    """``dealledger explain NAME``: one sub-command per installed view, its options from the view, plus ``--row``."""

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        host = self._host(ctx)
        self._installed(ctx, host, name)
        return explain_command(host.views[name], host.view_providers[name])


def explain_command(view: Any, plugin: str) -> click.Command:
    from ledger.views import Query

    def callback(
        selected: tuple[str, ...], column: str | None, as_of: date | None, known_at: datetime | None, fmt: str, **options: Any
    ) -> None:
        from ledger.explaining import STEP_COLUMNS, explain, selection_of

        ledger = open_ledger(click.get_current_context())
        explanation = explain(ledger, view.name, Query(as_of, known_at, options), selection_of(view, selected), column)
        rows = explanation.rows()
        if fmt != "table":
            render(rows, fmt, columns=STEP_COLUMNS)
            return
        for line in explanation.summary():
            click.echo(line)
        # a table leaves out the facts' optional fields when no step has them; JSON and CSV keep every column
        optional = ("key", "source", "confidence", "corrected_by", "retracted_by", "with")
        shown = [c for c in STEP_COLUMNS if c not in optional or any(row[c] is not None for row in rows)]
        render([{c: row[c] for c in shown} for row in rows], fmt, columns=shown)

    params: list[click.Parameter] = [
        click.Option(
            ["--row", "selected"],
            multiple=True,
            metavar="COLUMN=VALUE",
            help="Pick the row whose COLUMN shows VALUE (repeatable; an empty VALUE matches an empty cell).",
        ),
        click.Option(["--column", "column"], help="Explain only this numeric column (default: every numeric column)."),
        click.Option(["--as-of"], type=DATE, help="Explain the row as of this date."),
        click.Option(
            ["--known-at"],
            type=TIMESTAMP,
            help="Explain the row as the ledger knew it at this time, and count the facts known later that change it.",
        ),
        format_param(),
    ]
    params.extend(view_option(option) for option in view.options)
    help_text = (
        f"Where the numbers of one row of {view.name} came from: each fact that moved them, with its effect.\n\n"
        f"Columns of {view.name}: {', '.join(view.columns)}. Provided by {plugin}."
    )
    return OnceCommand(view.name, callback=callback, params=params, help=help_text, short_help=view.help)


@main.group(cls=ExplainGroup)
def explain() -> None:
    """Where a number came from: the facts behind one row of a view, each with its effect (before, after, delta).

    \b
    Examples:
      dealledger explain ownership --company moonshot-ai --row holder=alibaba --as-of 2024-03-01
      dealledger explain league --currency USD --row investor=alibaba --column total --format json
      dealledger explain portfolio --investor alibaba --row company=moonshot-ai --known-at 2024-06-01
    """


@main.command()
@click.option("--as-of", type=DATE, required=True, help="Replay facts effective on or before this date.")
@click.option("--known-at", type=TIMESTAMP, help="Replay facts known (their batch committed) at or before this time.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Write one file per view into this folder.")
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    help="With --out: processes a large ledger's views are shared out between, fold by fold [default: the cores available].",
)
@format_option
@click.pass_context
def replay(ctx: click.Context, as_of: date, known_at: datetime | None, out_dir: str | None, jobs: int | None, fmt: str) -> None:
    """Every installed view at one moment; files in --out, or all of them printed.

    \b
    Example:
      dealledger replay --as-of 2024-12-31 --out out/2024 --format csv
    """
    from pathlib import Path

    if jobs is not None and out_dir is None:
        raise click.UsageError("--jobs shares out the files of --out; without --out one process prints the views in order")
    ledger = open_ledger(ctx)
    if out_dir is not None:
        from ledger.replaying import replay_to
        from ledger.workers import cores

        try:
            with progress_tasks() as task:
                shared = cores() if jobs is None else jobs
                written = replay_to(ledger, Path(out_dir), fmt, as_of, known_at, progress=task("folding facts"), jobs=shared)
        except OSError as error:
            raise click.ClickException(f"{error.filename or out_dir}: cannot write: {error.strerror}") from None
        for name, count, path in written:
            click.echo(f"{name}: {count} row(s) -> {click.format_filename(path)}")
        return
    from itertools import chain

    from ledger.replaying import replay_each

    with progress_tasks() as task:
        each = replay_each(ledger, as_of, known_at, progress=task("folding facts"))
        first = next(each, None)  # the fold happens here; each view's rows are answered as they are written
    for answer in chain([first] if first is not None else [], each):
        rows = list(answer.rows)
        click.echo(f"== {answer.name} ({len(rows)} row{'s' if len(rows) != 1 else ''})")
        render(rows, fmt, columns=answer.columns)
        click.echo()


@main.command()
@click.option(
    "--out", "path", required=True, type=click.Path(dir_okay=False), help="The HTML file to write; - for standard output."
)
@moment_options
@click.option("--currency", type=CurrencyParam(), help="Convert portfolio, revenue and league amounts into this currency.")
@click.option(
    "--top",
    type=click.IntRange(min=0),
    default=50,
    show_default=True,
    help="Draw at most this many companies (those with the most rounds and sales) and investors (most companies); 0: all.",
)
@click.pass_context
def report(ctx: click.Context, path: str, as_of: date | None, known_at: datetime | None, currency: str | None, top: int) -> None:
    """One self-contained HTML file of charts and tables that opens offline: ownership and portfolios over
    time, revenue per quarter, the regulatory timeline and the league table.

    \b
    Example:
      dealledger report --out report.html --as-of 2024-12-31
    """
    from pathlib import Path

    from ledger.report import write_report

    ledger = open_ledger(ctx)
    written = write_report(ledger, Path(path), as_of=as_of, known_at=known_at, currency=currency, top=top)
    summary = f"report: {written.charts} chart(s), {written.tables} table(s), {written.bytes:,} bytes"
    summary += f" -> {click.format_filename(written.path)}"
    click.echo(summary, err=path == "-")  # the page alone on standard output


@main.command()
@click.option("--as-of", type=DATE, help="Check the facts effective on or before this date.")
@format_option
@click.pass_context
def check(ctx: click.Context, as_of: date | None, fmt: str) -> None:
    """Replay and check every ownership.asserted figure and invariant; exit 1 on any mismatch.

    As a table, one line per problem and a summary; as JSON or CSV, one row per problem
    (plugin, message, the ids of the facts involved), none when all is well.

    \b
    Examples:
      dealledger check --as-of 2024-12-31
      dealledger check --format json
    """
    ledger = open_ledger(ctx)
    problems = ledger.check(as_of)
    found = f"{len(problems)} problem{'s' if len(problems) != 1 else ''} found"
    if fmt != "table":
        rows = [{"plugin": p.plugin, "message": p.message, "facts": list(p.facts)} for p in problems]
        render(rows, fmt, columns=("plugin", "message", "facts"))
        if problems:
            raise click.ClickException(found)
        return
    for problem in problems:
        click.echo(str(problem))
    if problems:
        raise click.ClickException(found)
    checked = ledger.store.count_between(None, as_of, ledger.store.head().position)  # those in force by --as-of, counted
    click.echo(f"ok: {checked} facts checked, no problems")  # counted in the index, not by reading every fact


@main.command()
@format_option
@click.pass_context
def verify(ctx: click.Context, fmt: str) -> None:
    """Recompute the hash chain of every stored fact, its positions and recorded-time order; exit 1 at a broken link.

    Every fact is chained to the one before it by a SHA-256 hash written in the same
    transaction, so a fact changed, removed or slipped in by any means shows here; and every
    index row (dates, kind, key, recorded time, the parties it lists) is derived again from
    its fact and compared, since questions read the index. It opens a
    store other commands refuse (its head broken, its append-only guard removed), and puts a
    removed guard back.

    Each batch's known time (what --known-at goes by) is chained the same way, to the batch
    before and to the fact it ends at.

    As JSON or CSV, one row: ``intact``, ``facts``, ``head_hash``, ``known_hash`` and the first
    ``problem``.

    \b
    Examples:
      dealledger verify
      dealledger verify --format json
    """
    ledger = open_ledger(ctx, verifying=True)  # none made to verify: an empty ledger made here would say "ok"
    problems = ledger.store.verify()
    if fmt != "table":
        head = ledger.store.head()
        row = {
            "intact": not problems,
            "facts": head.position,
            "head_hash": None if problems else head.hash,
            "known_hash": None if problems else ledger.store.known_hash(),
            "problem": problems[0] if problems else None,
        }
        render([row], fmt, columns=("intact", "facts", "head_hash", "known_hash", "problem"))
        if problems:
            raise click.ClickException("the ledger's hash chain is broken")
        return
    for problem in problems:
        click.echo(problem)
    if problems:
        raise click.ClickException("the ledger's hash chain is broken: see above")
    head = ledger.store.head()
    known = ledger.store.known_hash() or "none"
    click.echo(f"ok: {head.position} facts, hash chain intact; head hash {head.hash}; known times hash {known}")


@main.command()
@click.option("--clear", is_flag=True, help="Drop every checkpoint and kept answer (they are rebuilt as questions are asked).")
@click.option("--answers", "answers", is_flag=True, help="List the kept answers of replay --out instead of the checkpoints.")
@format_option
@click.pass_context
def checkpoints(ctx: click.Context, clear: bool, answers: bool, fmt: str) -> None:
    """The view states saved to answer quickly: which view, folded up to which date, at which ledger head.

    Views that share a fold keep one checkpoint under the fold's name (holdings: ownership,
    portfolio and gains; revenue-book: revenue and roundtrip). Checkpoints are derived from the
    facts and never change an answer: a damaged one is dropped and rebuilt, and one that a later
    back-dated fact affects is not used. Besides each question's own date, a fold leaves one at
    the last quarter end a month or more before it, so a fact dated back a few weeks is folded
    from there, not from the first fact.

    replay --out also keeps the files it writes (--answers lists them), so the same question
    asked of the same ledger again is answered without folding; any append makes it a new question.

    \b
    Examples:
      dealledger checkpoints
      dealledger checkpoints --answers
      dealledger checkpoints --clear
    """
    from ledger.answers import Answers
    from ledger.checkpoints import Checkpoints

    ledger = open_ledger(ctx)
    saved = Checkpoints(ledger.store)
    kept = Answers(ledger.store)
    if clear:
        click.echo(f"dropped {saved.clear()} checkpoint(s) and {kept.clear()} kept answer(s)")
        return
    if answers:
        render(kept.listing(), fmt, columns=("view", "format", "as_of", "known_at", "head", "rows", "digest"))
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
        {"type": "command", "name": c.name, "plugin": plugin, "help": first_line(c.help)}
        for plugin, c in sorted(host.commands(), key=lambda found: found[1].name or "")
    ]
    render(rows, fmt, columns=("type", "name", "plugin", "help"))


@main.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(("jsonl", "ocf")),
    default="jsonl",
    show_default=True,
    help="jsonl: every fact, for `import`; ocf: one company's cap table as an Open Cap Table Format package.",
)
@click.option("--out", "path", help="jsonl: file to write, - (the default) for standard output; ocf: directory (required).")
@click.option("--company", type=PARTY, help="ocf: the company whose cap table to write (required).")
@click.option("--as-of", type=DATE, help="ocf: the cap table on this date (default: the latest fact's date).")
@click.option("--known-at", type=TIMESTAMP, help="Only facts known (their batch committed) at or before this time.")
@click.pass_context
def export(
    ctx: click.Context, fmt: str, path: str | None, company: str | None, as_of: date | None, known_at: datetime | None
) -> None:
    """Write the ledger as JSON Lines that `import` reproduces exactly (ids, recorded times, order),
    or one company's cap table as an OCF package (--format ocf).

    \b
    Examples:
      dealledger export --out ledger-2024.jsonl && dealledger --url sqlite:///copy.db import ledger-2024.jsonl
      dealledger export --format ocf --company moonshot-ai --as-of 2024-12-31 --out ocf/moonshot-ai
    """
    if fmt == "ocf":
        export_ocf(ctx, company, path, as_of, known_at)
        return
    if company is not None or as_of is not None:
        raise Misuse(f"{'--company' if company is not None else '--as-of'} applies to --format ocf only")
    path = path or "-"
    from ledger.exchange import export_lines

    ledger = open_ledger(ctx)
    records = ledger.records(known_at)
    try:
        with click.open_file(path, "w", encoding="utf-8") as out, progress_tasks() as task:
            out.writelines(export_lines(records, ledger.store.known_times(), progress=task("writing facts")))
    except OSError as error:
        raise click.ClickException(f"{path}: cannot write: {error.strerror}") from None
    if path != "-":
        click.echo(f"exported {len(records)} fact{'s' if len(records) != 1 else ''} to {click.format_filename(path)}")


def export_ocf(ctx: click.Context, company: str | None, path: str | None, as_of: date | None, known_at: datetime | None) -> None:
    """Build the package (checked against the OCF schemas) before writing anything, then write it."""
    if company is None:
        raise Misuse("--company is required with --format ocf")
    if path in (None, "-"):
        raise Misuse("--out DIR is required with --format ocf: the package is a directory of files")
    assert path is not None
    from ledger import ocf

    package = ocf.build(open_ledger(ctx), company, as_of, known_at)
    ocf.write(package, path)
    click.echo(
        f"wrote {company}'s OCF package ({package.stakeholders} stakeholders, {package.transactions} transactions) "
        f"to {click.format_filename(path)}"
    )


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
    from ledger.importing import line_count
    from ledger.progress import counted
    from ledger.stopping import held_from_commit

    try:
        stream = click.open_file(path, "r", encoding="utf-8")
    except (OSError, ValueError) as error:
        raise RejectedError(f"{path}: cannot read: {getattr(error, 'strerror', None) or error}") from None
    with held_from_commit():  # a stop landing in the commit waits for the line saying what was stored
        with stream, progress_tasks() as task:
            reading = task("reading facts")
            total = line_count(path) if reading is not None else None  # an export holds one fact a line
            catalogue = plugin_host(ctx).catalogue
            facts = list(counted(import_stream(catalogue, stream, "<stdin>" if path == "-" else path), reading, total))
            if not facts:  # no ledger opened, none created at a mistyped --url
                click.echo(f"nothing imported: {click.format_filename(path)} holds no facts")
                return
            task("checking and writing")
            result = append_checked(ctx, facts)  # only now: an export that cannot be read creates no ledger
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


def render(rows: Sequence[dict[str, Any]], fmt: str, columns: Sequence[str] | None = None, terminal: bool | None = None) -> None:
    """Print rows: a table drawn by rich when standard output is a terminal (``terminal`` forces either way), else text."""
    if fmt == "table" and (stdout_is_terminal() if terminal is None else terminal):
        from rich.console import Console

        from ledger.rendering import column_names, print_table

        print_table(rows, column_names(rows, columns), Console(file=sys.stdout))
        return
    text = format_rows(rows, fmt, columns)
    if stdout_is_terminal():
        from ledger.rendering import terminal_safe

        text = terminal_safe(text)
    click.echo(text, nl=False, color=True)  # as written: click would strip what looks like ANSI codes from a pipe


def format_rows(rows: Sequence[dict[str, Any]], fmt: str, columns: Sequence[str] | None = None) -> str:
    """Rows as plain text in ``fmt``: what a pipe or a file gets (see ``ledger.rendering`` for the rule on numbers)."""
    import io

    from ledger.rendering import column_names, write_rows

    out = io.StringIO()
    write_rows(out, rows, fmt, column_names(rows, columns))
    return out.getvalue()


def run() -> None:
    """The ``dealledger`` command: ``main``, with SIGTERM (a stopped container, a supervisor, ``kill``) ending it as
    Ctrl-C does, through its ``finally`` blocks (a replay's partial files removed, its workers stopped), where the
    default would end it on the spot; either way within ``ledger.stopping.GRACE`` seconds."""
    import warnings

    from ledger.stopping import forget_stops, install

    if sys.stdout is None:  # started with standard output closed (``>&-``): every answer would be lost unsaid
        print("Error: standard output is closed: there is nowhere to write the answer", file=sys.stderr)
        raise SystemExit(1)
    from ledger.standard_output import tag

    tag()  # its failures told apart from those of other files
    install()
    warnings.formatwarning = _warning_line
    try:
        main()
    except SystemExit as done:
        if done.code in (0, None):  # what the command left in standard output's buffer: a small answer to a full
            # device fails only here, where the interpreter would print a traceback at exit and end with status 120
            try:
                sys.stdout.flush()
            except OSError as error:
                _unwritten(error)
        raise
    except OSError as error:  # what no command caught: click's own writing (--help, --version), a completion's
        _unwritten(error)
    finally:
        forget_stops()  # a host that goes on after the command (catching its SystemExit) is not stopped again


def _unwritten(error: OSError) -> NoReturn:
    """End the command (status 1) on an error no command caught, told in one line (``_output_failed``); quietly for a
    reader of standard output that stopped reading."""
    from ledger.standard_output import StandardOutputGone

    if not isinstance(error, StandardOutputGone):
        print(f"Error: {_output_failed(error).format_message()}", file=sys.stderr)
    _drop_standard_output()
    raise SystemExit(1) from None


def _warning_line(message: Warning | str, category: type[Warning], filename: str, lineno: int, line: str | None = None) -> str:
    """A warning as the command's own line on stderr, not the source line that raised it (``warnings`` shows both)."""
    return f"dealledger: warning: {message}\n"


if __name__ == "__main__":
    run()
