"""The plugin manager: loads every ``queue_core`` entry point once per process.

A plugin that cannot be loaded (its import raises, its hooks do not match the specs, its
``queue_core_add_brokers`` raises or answers something other than a dict of schemes) is
left out and remembered, with its error, under its entry-point name. The other plugins
and their schemes work as before; asking for a scheme nobody serves then names the
broken plugins (``UnknownBrokerScheme``), so the one that should have served it is found.

``QUEUE_CORE_DISABLED_PLUGINS`` (entry-point names, comma-separated, e.g.
``prometheus,otel``) keeps those entry points from loading in this process.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points

import pluggy

from queue_core import errors, hookspecs

logger = logging.getLogger("queue_core.plugins")


@dataclass(frozen=True, slots=True)
class BrokenPlugin:
    """A plugin left out because it failed to load."""

    #: the entry-point name (or the name it was registered under).
    name: str
    #: where it comes from: the entry point's ``module:attr``, or the object's type.
    source: str
    #: what failed, as ``ExceptionType: message``.
    error: str

    def describe(self) -> str:
        return f"plugin {self.name!r} ({self.source}) failed to load: {self.error}"


#: plugins that failed to import or register (for the life of the process).
_broken: dict[str, BrokenPlugin] = {}
#: plugins whose ``queue_core_add_brokers`` failed (recomputed with ``installed_schemes``).
_broken_hooks: dict[str, BrokenPlugin] = {}
#: scheme -> the name of the plugin that serves it (filled by ``installed_schemes``).
_owners: dict[str, str] = {}


def _failed(name: str, source: str, error: BaseException, into: dict[str, BrokenPlugin] = _broken) -> None:
    broken = BrokenPlugin(name, source, f"{type(error).__name__}: {error}")
    into[name] = broken
    logger.error("%s; its URL schemes and hooks are not available", broken.describe())


def _register_checked(manager: pluggy.PluginManager, plugin: object, name: str, source: str) -> None:
    """Register ``plugin``, or leave it out (remembered as broken) when pluggy refuses it."""
    try:
        manager.register(plugin, name=name)
    except Exception as error:  # a bad hookimpl signature, a name taken twice
        _failed(name, source, error)
        return
    try:
        manager.check_pending()
    except pluggy.PluginValidationError as error:  # a hookimpl for a hook that does not exist
        manager.unregister(name=name)
        _failed(name, source, error)


DISABLED_ENV = "QUEUE_CORE_DISABLED_PLUGINS"


@functools.cache
def plugin_manager() -> pluggy.PluginManager:
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    for name in os.environ.get(DISABLED_ENV, "").split(","):
        if name.strip():
            manager.set_blocked(name.strip())
    for entry in entry_points(group=hookspecs.PROJECT):
        if manager.get_plugin(entry.name) is not None or manager.is_blocked(entry.name):
            continue
        try:
            plugin = entry.load()
        except Exception as error:  # whatever its import raises stays with this plugin
            _failed(entry.name, entry.value, error)
            continue
        _register_checked(manager, plugin, entry.name, entry.value)
    return manager


def register(plugin: object, name: str | None = None) -> None:
    """Register a plugin object at run time (tests, applications without entry points)."""
    manager = plugin_manager()
    chosen = name or manager.get_canonical_name(plugin)
    _register_checked(manager, plugin, chosen, type(plugin).__qualname__)
    installed_schemes.cache_clear()


def broken_plugins() -> list[BrokenPlugin]:
    """Plugins left out because they failed to load, by name."""
    installed_schemes()  # a plugin may also fail when asked for its schemes
    every = {**_broken, **_broken_hooks}
    return [every[name] for name in sorted(every)]


@functools.cache
def installed_schemes() -> dict[str, hookspecs.BrokerFactory]:
    """Every URL scheme a loaded plugin serves, with its factory."""
    manager = plugin_manager()
    schemes: dict[str, hookspecs.BrokerFactory] = {}
    owners = _owners
    owners.clear()
    _broken_hooks.clear()
    for impl in manager.hook.queue_core_add_brokers.get_hookimpls():
        try:
            offered = _offered_schemes(impl.function)
        except Exception as error:
            _failed(impl.plugin_name, type(impl.plugin).__qualname__, error, into=_broken_hooks)
            continue
        for scheme, factory in offered.items():
            if scheme in schemes and schemes[scheme] is not factory:
                raise errors.PluginConflict(
                    f"two plugins serve the URL scheme {scheme!r}: {owners[scheme]!r} and {impl.plugin_name!r}"
                )
            schemes[scheme] = factory
            owners[scheme] = impl.plugin_name
    return schemes


def schema_managers() -> dict[str, hookspecs.SchemaManager]:
    """Every URL scheme whose driver manages a versioned schema (``queue-core db``)."""
    managers: dict[str, hookspecs.SchemaManager] = {}
    for offered in plugin_manager().hook.queue_core_add_schema_managers():
        if not isinstance(offered, Mapping):
            raise TypeError(
                f"queue_core_add_schema_managers must return a dict of URL scheme -> manager, got {offered!r}"
            )
        managers.update(offered)
    return managers


def scheme_owner(scheme: str) -> str:
    """The name of the plugin serving ``scheme`` (for messages)."""
    installed_schemes()
    return _owners.get(scheme, "?")


def _offered_schemes(hook: Callable[[], object]) -> Mapping[str, hookspecs.BrokerFactory]:
    offered = hook()
    if not isinstance(offered, Mapping) or not all(
        isinstance(scheme, str) and callable(factory) for scheme, factory in offered.items()
    ):
        raise TypeError(f"queue_core_add_brokers must return a dict of URL scheme -> broker factory, got {offered!r}")
    return offered
