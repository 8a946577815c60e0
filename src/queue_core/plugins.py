"""The plugin manager: loads every ``queue_core`` entry point once per process."""

from __future__ import annotations

import functools

import pluggy

from queue_core import errors, hookspecs


@functools.cache
def plugin_manager() -> pluggy.PluginManager:
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    manager.load_setuptools_entrypoints(hookspecs.PROJECT)
    manager.check_pending()
    return manager


def register(plugin: object, name: str | None = None) -> None:
    """Register a plugin object at run time (tests, applications without entry points)."""
    manager = plugin_manager()
    manager.register(plugin, name=name)
    manager.check_pending()
    installed_schemes.cache_clear()


@functools.cache
def installed_schemes() -> dict[str, hookspecs.BrokerFactory]:
    schemes: dict[str, hookspecs.BrokerFactory] = {}
    for offered in plugin_manager().hook.queue_core_add_brokers():
        for scheme, factory in offered.items():
            if scheme in schemes and schemes[scheme] is not factory:
                raise errors.PluginConflict(f"two plugins serve the URL scheme {scheme!r}")
            schemes[scheme] = factory
    return schemes
