"""A plugin that gets its hooks wrong in the way ``DEALLEDGER_TEST_ODD`` says (``--plugin tests.odd_plugin``): each
mistake must be one line naming the plugin, never a traceback."""

from __future__ import annotations

import os
from typing import Any

from ledger.hookspecs import hookimpl
from ledger.views import Option
from tests.replay_plugin import KindCount


class Optioned(KindCount):
    name = "optioned"
    fold_name = "optioned"


@hookimpl
def dealledger_views() -> Any:
    odd = os.environ.get("DEALLEDGER_TEST_ODD", "")
    if odd == "single-view":
        return Optioned()
    if odd in ("option-dashes", "option-format"):
        view = Optioned()
        view.options = (Option("min-facts" if odd == "option-dashes" else "format", "an option"),)
        return [view]
    return []


@hookimpl
def dealledger_commands() -> Any:
    import click

    odd = os.environ.get("DEALLEDGER_TEST_ODD", "")

    names = {"command-clash": "view", "command-duplicate": "count-facts"}

    @click.command(name=names.get(odd, "odd-command"))
    def odd_command() -> None:
        """Fails when told to."""
        if odd == "command-fails":
            raise RuntimeError("the command broke")
        if odd == "command-fails-loudly":
            raise RuntimeError("line one\nline two")
        click.echo("fine")

    if odd == "not-a-command":
        return [lambda: None]
    return [odd_command]
