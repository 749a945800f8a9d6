"""The plugin host: finds plugins, asks them for kinds, views and checks, and guards the calls.

Built-in plugins are registered by module name through the same ``register`` path as
third-party ones (found through the ``dealledger`` entry-point group) and local modules
(``--plugin module.path`` or ``DEALLEDGER_PLUGINS``). The core never imports a plugin itself.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

import pluggy

from events import Catalogue
from events.errors import did_you_mean
from ledger import hookspecs
from ledger.errors import LedgerError, PluginError
from ledger.problems import Problem
from ledger.records import Recorded
from ledger.views import RESERVED_OPTION_NAMES, View

BUILT_IN_PLUGINS = ("plugins.ownership", "plugins.revenue", "plugins.regulatory", "plugins.roundtrip")
ENTRY_POINT_GROUP = "dealledger"
PLUGINS_ENV = "DEALLEDGER_PLUGINS"


class PluginHost:
    """Everything the plugins provide, gathered once: the catalogue, the views, who provides what."""

    def __init__(self, manager: pluggy.PluginManager) -> None:
        self.manager = manager
        self.catalogue = Catalogue()
        self.kind_providers: dict[str, str] = {kind: "dealledger (built in)" for kind in self.catalogue.kinds}
        self.views: dict[str, View[Any]] = {}
        self.view_providers: dict[str, str] = {}
        for plugin, kinds in self._each("dealledger_fact_kinds"):
            for kind in _listed(plugin, "dealledger_fact_kinds", kinds):
                try:
                    self.catalogue.add(kind)
                except (TypeError, ValueError) as error:
                    raise PluginError(f"plugin {plugin}: {error}") from None
                self.kind_providers[kind.kind] = plugin
        for plugin, views in self._each("dealledger_views"):
            for view in _listed(plugin, "dealledger_views", views):
                if not isinstance(view, View) or not view.name:
                    raise PluginError(f"plugin {plugin}: {view!r} is not a named ledger.views.View")
                _check_options(plugin, view)
                if view.name in self.views:
                    first, second = self.view_providers[view.name], plugin
                    if first not in BUILT_IN_PLUGINS and second in BUILT_IN_PLUGINS:
                        first, second = second, first  # the plugin that came later is the one to blame
                    raise PluginError(f"plugin {second}: view {view.name!r} is already provided by {first}")
                self.views[view.name] = view
                self.view_providers[view.name] = plugin
        self._check_shared_folds()

    def _check_shared_folds(self) -> None:
        """Views sharing a fold name must fold the same state the same way, or one would read the other's checkpoints."""
        first: dict[str, View[Any]] = {}
        for view in self.views.values():
            if not view.fold_name:
                continue
            named = self.views.get(view.fold_name)
            if named is not None and named.fold_name != view.fold_name:
                raise PluginError(
                    f"plugin {self.view_providers[view.name]}: view {view.name!r} shares fold {view.fold_name!r}, "
                    f"the name of view {named.name!r} (plugin {self.view_providers[named.name]}): their checkpoints would mix"
                )
            other = first.setdefault(view.fold_name, view)
            same = (type(other).initial, type(other).apply, other.state_version) == (
                type(view).initial,
                type(view).apply,
                view.state_version,
            )
            if not same:
                raise PluginError(
                    f"views {other.name!r} (plugin {self.view_providers[other.name]}) and {view.name!r} (plugin "
                    f"{self.view_providers[view.name]}) share fold {view.fold_name!r} but not its initial, apply and "
                    "state_version"
                )

    def _each(self, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call a hook through pluggy, plugin by plugin, so each answer (or failure) is tied to its plugin's name.

        Each call goes through pluggy's own hook caller (``subset_hook_caller``), so wrappers
        (``wrapper=True``), tracing and hook-call monitoring work as pluggy documents them.
        """
        impls = getattr(self.manager.hook, hook_name).get_hookimpls()
        answering = [impl for impl in reversed(impls) if not (impl.wrapper or impl.hookwrapper)]
        results: list[tuple[str, Any]] = []
        for impl in answering:
            others = {other.plugin for other in answering if other.plugin is not impl.plugin}
            caller = self.manager.subset_hook_caller(hook_name, remove_plugins=others)
            try:
                answers = caller(**kwargs)
            except LedgerError:
                raise
            except Exception as error:
                blamed = _blame(error, impls) or impl.plugin_name
                raise PluginError(f"plugin {blamed} failed in {hook_name}: {type(error).__name__}: {error}") from error
            results.extend((impl.plugin_name, answer) for answer in answers)
        return results

    def view(self, name: str) -> View[Any]:
        try:
            return self.views[name]
        except KeyError:
            raise LedgerError(f"no view named {name!r}{did_you_mean(name, self.views, listing='installed views')}") from None

    def validate(self, story: Sequence[Recorded], new: Sequence[Recorded]) -> list[Problem]:
        return self._problems("dealledger_validate", story=story, new=new)

    def check(self, story: Sequence[Recorded], as_of: date | None) -> list[Problem]:
        return self._problems("dealledger_check", story=story, as_of=as_of)

    def _problems(self, hook_name: str, **kwargs: Any) -> list[Problem]:
        problems: list[Problem] = []
        for plugin, found in self._each(hook_name, **kwargs):
            for problem in _listed(plugin, hook_name, found):
                if not isinstance(problem, Problem):
                    raise PluginError(f"plugin {plugin}: {hook_name} returned {problem!r}, not a ledger.problems.Problem")
                problems.append(Problem(problem.message, tuple(problem.facts), plugin))
        return problems

    def commands(self) -> list[tuple[str, Any]]:
        """Each plugin's commands (click commands), with the plugin's name."""
        found: list[tuple[str, Any]] = []
        for plugin, commands in self._each("dealledger_commands"):
            for command in _listed(plugin, "dealledger_commands", commands):
                if not isinstance(getattr(command, "name", None), str) or not callable(getattr(command, "main", None)):
                    raise PluginError(f"plugin {plugin}: dealledger_commands returned {command!r:.80}, not a named click command")
                found.append((plugin, command))
        return found


def _blame(error: BaseException, impls: Sequence[Any]) -> str | None:
    """The plugin whose hook function raised ``error`` (a wrapper's, maybe): its frame is in the traceback."""
    codes = {impl.function.__code__: impl.plugin_name for impl in impls if hasattr(impl.function, "__code__")}
    blamed = None
    trace = error.__traceback__
    while trace is not None:
        blamed = codes.get(trace.tb_frame.f_code, blamed)
        trace = trace.tb_next
    return blamed


def plugin_manager(extra: Iterable[str] = (), *, entry_points: bool = True) -> pluggy.PluginManager:
    """A plugin manager with the built-ins, the installed third-party plugins and ``extra`` modules."""
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    for name in BUILT_IN_PLUGINS:
        try:
            module = importlib.import_module(name)
        except ImportError as error:
            raise PluginError(f"built-in plugin {name} cannot be loaded: {error}; reinstall dealledger") from None
        manager.register(module, name=name)
    if entry_points:
        _load_installed(manager)
    env_modules = [m.strip() for m in os.environ.get(PLUGINS_ENV, "").split(",") if m.strip()]
    for name in [*env_modules, *extra]:
        if manager.has_plugin(name):
            continue
        try:
            module = importlib.import_module(name)
        except ImportError as error:
            raise LedgerError(f"cannot load plugin module {name!r}: {error}") from None
        except Exception as error:
            raise PluginError(f"plugin module {name!r} failed while loading: {type(error).__name__}: {error}") from None
        if manager.is_registered(module):  # installed, and named again with --plugin while it is worked on
            continue
        manager.register(module, name=name)
    try:
        manager.check_pending()
    except pluggy.PluginValidationError as error:
        raise PluginError(f"plugin {error.plugin!r}: {error}") from None
    return manager


def _listed(plugin: str, hook: str, answer: Any) -> Sequence[Any]:
    """A hook's answer as the list the hook asks for (None for none); a single value is a one-line error."""
    if answer is None:
        return ()
    if isinstance(answer, (list, tuple)):
        return answer
    raise PluginError(f"plugin {plugin}: {hook} returned {type(answer).__name__} {answer!r:.80}, not a list")


def _check_options(plugin: str, view: View[Any]) -> None:
    """A view's options become command-line options: each name an identifier, none taken by the commands' own."""
    for option in view.options:
        name = getattr(option, "name", None)
        if not isinstance(name, str) or not name.isidentifier():
            raise PluginError(f"plugin {plugin}: view {view.name!r} has an option named {name!r}: use letters, digits and _")
        if name in RESERVED_OPTION_NAMES:
            reserved = ", ".join(sorted(RESERVED_OPTION_NAMES))
            raise PluginError(
                f"plugin {plugin}: view {view.name!r} has an option named {name!r}, which the commands use ({reserved})"
            )


def _load_installed(manager: pluggy.PluginManager) -> None:
    """The installed plugins (entry points of ``ENTRY_POINT_GROUP``), one at a time through pluggy's own loader, so
    that one that cannot be loaded is named, with its distribution, and does not take every command down with a
    traceback."""
    from importlib.metadata import entry_points

    for point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            manager.load_setuptools_entrypoints(ENTRY_POINT_GROUP, name=point.name)
        except Exception as error:
            dist = getattr(getattr(point, "dist", None), "name", None)
            source = f"{point.value}, installed by {dist}" if dist else point.value
            raise PluginError(
                f"installed plugin {point.name!r} ({source}) cannot be loaded: {type(error).__name__}: {error}"
            ) from None


def load(extra: Iterable[str] = (), *, entry_points: bool = True) -> PluginHost:
    return PluginHost(plugin_manager(extra, entry_points=entry_points))
