"""The one entry point the command line (and any program) uses: open a ledger, append, ask.

This is the composition root: it wires the plugin host to the store, so tests and other
programs can swap either.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from events.errors import closest
from ledger.appending import AppendResult, BatchBuilder, Incoming
from ledger.errors import PluginError, ViewError
from ledger.host import PluginHost, load
from ledger.memory import collector_paused
from ledger.problems import Problem
from ledger.records import Recorded
from ledger.store import Store, write_with_retries
from ledger.timeline import known, registered_parties, resolve, story
from ledger.views import Query, Row, View


class Ledger:
    """A ledger at a store URL, with its plugins loaded."""

    def __init__(self, url: str | None = None, *, plugins: Iterable[str] = (), host: PluginHost | None = None) -> None:
        self.host = host or load(plugins)
        self.store = Store(url, self.host)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def catalogue(self) -> Any:
        return self.host.catalogue

    # --- writing ------------------------------------------------------------------------

    def append(self, incoming: Iterable[Incoming]) -> AppendResult:
        """Store the facts as one all-or-nothing batch; facts whose key is already there are skipped."""
        with collector_paused():
            builder = BatchBuilder(self.host, list(incoming))
            return write_with_retries(self.store, builder.build)  # type: ignore[no-any-return]

    # --- reading ------------------------------------------------------------------------

    def records(self, known_at: datetime | None = None) -> Sequence[Recorded]:
        """Stored facts in recording order, as stored (corrections are facts of their own here).

        A copy: the store's own list grows with every append, and a caller's snapshot must not.
        """
        return list(known(self.store.records(), known_at))

    def story(self, as_of: date | None = None, known_at: datetime | None = None) -> Sequence[Recorded]:
        return story(self.store.records(), as_of=as_of, known_at=known_at)

    def view(self, name: str, query: Query) -> list[Row]:
        view = self.host.view(name)
        self._check_parties(view, query)
        return run_view(view, self.host.view_providers[name], self.story(query.as_of, query.known_at), query)

    def _check_parties(self, view: View[Any], query: Query) -> None:
        """A party option must name a registered party: a typo would otherwise answer with nothing."""
        for option in view.options:
            value = query.get(option.name)
            if option.kind == "party" and value is not None:
                self.require_party(f"--{option.name.replace('_', '-')}", value)

    def require_party(self, where: str, slug: str) -> None:
        """Raise a one-line error, with the closest registered slug, unless ``slug`` names a party."""
        known = registered_parties(resolve(self.store.records()))  # a retracted registration no longer counts
        if slug not in known:
            raise ViewError(f"{where}: unknown party {slug!r}{_closest(slug, known)}")

    def require_kind(self, where: str, kind: str) -> None:
        """Raise a one-line error unless ``kind`` is a kind or a family of kinds (``round``, ``export``)."""
        known = set(self.catalogue.kinds) | {name.split(".")[0] for name in self.catalogue.kinds}
        if kind not in known:
            raise ViewError(f"{where}: unknown kind {kind!r}{_closest(kind, known)}")

    def check(self, as_of: date | None = None) -> list[Problem]:
        return self.host.check(self.story(as_of=as_of), as_of)


def run_view(view: View[Any], plugin: str, records: Sequence[Recorded], query: Query) -> list[Row]:
    """Fold and answer; a failure inside a plugin names the plugin and the fact it was folding."""
    from ledger.errors import LedgerError

    try:
        state = view.initial(query)
    except LedgerError:
        raise
    except Exception as error:
        raise PluginError(f"plugin {plugin}: view {view.name} failed to start: {type(error).__name__}: {error}") from error
    apply = view.apply
    for record in records:
        try:
            state = apply(state, record)
        except LedgerError:
            raise
        except Exception as error:
            raise PluginError(
                f"plugin {plugin}: view {view.name} failed on {record.describe()}: {type(error).__name__}: {error}"
            ) from error
    try:
        return view.rows(state, query)
    except LedgerError:
        raise
    except Exception as error:
        raise PluginError(f"plugin {plugin}: view {view.name} failed to answer: {type(error).__name__}: {error}") from error


def _closest(word: str, known: set[str]) -> str:
    close = closest(word, known)
    return f"; did you mean {close!r}?" if close else ""
