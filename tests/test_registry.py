"""Driver discovery: URL schemes come from plugins, in-tree drivers included."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from queue_core import InvalidBrokerFactory, Job, UnknownBrokerScheme, hookimpl, open_broker
from queue_core.errors import InvalidBrokerURL
from queue_core.plugins import installed_schemes, plugin_manager, register
from queue_fakeredis.broker import open_memory_broker


def test_in_tree_drivers_register_through_the_entry_point_group() -> None:
    schemes = installed_schemes()
    assert {"redis", "rediss", "unix", "memory"} <= set(schemes)
    names = {name for name, _ in plugin_manager().list_name_plugin()}
    assert {"redis", "memory"} <= names  # the entry-point names from pyproject


async def test_unknown_scheme_lists_the_installed_ones() -> None:
    with pytest.raises(UnknownBrokerScheme) as caught:
        await open_broker("kafka://localhost")
    message = str(caught.value)
    assert "kafka" in message
    assert "memory://" in message and "redis://" in message


@pytest.mark.parametrize("url", ["", "localhost:6379", None, "memory:/x"])
async def test_a_url_without_a_scheme_is_rejected(url: object) -> None:
    with pytest.raises(InvalidBrokerURL) as caught:
        await open_broker(url)  # type: ignore[arg-type]
    assert caught.value.field == "url"


async def test_memory_servers_are_shared_by_name_and_separate_across_names() -> None:
    first = await open_broker("memory://registry-a")
    same = await open_broker("memory://registry-a")
    other = await open_broker("memory://registry-b")
    job = Job("t").with_id()
    await first.enqueue([job], 1.0)
    assert len(await same.dequeue(["default"], 1.0, 30, "w", 5)) == 1
    assert await other.dequeue(["default"], 1.0, 30, "w", 5) == []


async def test_a_third_party_driver_registers_like_ours() -> None:
    class ThirdParty:
        @hookimpl
        def queue_core_add_brokers(self) -> dict[str, object]:
            return {"thirdparty": lambda url, **_: open_memory_broker("memory://third-party")}

    register(ThirdParty(), name="third-party-test")
    try:
        broker = await open_broker("thirdparty://anything")
        assert broker.capabilities.name == "memory"
    finally:
        plugin_manager().unregister(name="third-party-test")
        installed_schemes.cache_clear()


async def test_an_async_factory_is_awaited() -> None:
    class AsyncDriver:
        @hookimpl
        def queue_core_add_brokers(self) -> dict[str, object]:
            async def open_async(url: str, **options: object) -> object:
                return open_memory_broker("memory://async-factory")

            return {"asyncdriver": open_async}

    register(AsyncDriver(), name="async-factory-test")
    try:
        broker = await open_broker("asyncdriver://x")
        assert broker.capabilities.name == "memory"
    finally:
        plugin_manager().unregister(name="async-factory-test")
        installed_schemes.cache_clear()


async def test_a_factory_that_gives_no_broker_is_named_with_its_plugin() -> None:
    class Confused:
        @hookimpl
        def queue_core_add_brokers(self) -> dict[str, object]:
            return {"confused": lambda url, **_: {"not": "a broker"}}

    register(Confused(), name="confused-test")
    try:
        with pytest.raises(InvalidBrokerFactory) as caught:
            await open_broker("confused://x")
        message = str(caught.value)
        assert "confused://" in message and "'confused-test'" in message
        assert "must return a Broker" in message and "dict" in message
    finally:
        plugin_manager().unregister(name="confused-test")
        installed_schemes.cache_clear()


async def test_a_plugin_whose_hook_fails_breaks_only_its_own_scheme() -> None:
    class Failing:
        @hookimpl
        def queue_core_add_brokers(self) -> dict[str, object]:
            raise RuntimeError("cannot find libfoo")

    register(Failing(), name="failing-test")
    try:
        assert (await open_broker("memory://failing-plugin")).capabilities.name == "memory"
        with pytest.raises(UnknownBrokerScheme) as caught:
            await open_broker("foo://x")
        message = str(caught.value)
        assert "plugin 'failing-test'" in message and "RuntimeError: cannot find libfoo" in message
    finally:
        plugin_manager().unregister(name="failing-test")
        installed_schemes.cache_clear()
    with pytest.raises(UnknownBrokerScheme) as caught:
        await open_broker("foo://x")
    assert "failing-test" not in str(caught.value)


BROKEN_ENTRY_POINT = """
import asyncio, logging
from queue_core import UnknownBrokerScheme, open_broker

async def main():
    broker = await open_broker("memory://")
    print("memory ok", broker.capabilities.name)
    try:
        await open_broker("broken://x")
    except UnknownBrokerScheme as error:
        print("error:", error)

logging.basicConfig(level=logging.ERROR, format="log: %(message)s")
asyncio.run(main())
"""


def test_a_plugin_that_fails_to_import_breaks_only_its_own_scheme(tmp_path: Path) -> None:
    """An installed entry point whose module raises on import (a missing dependency, a
    syntax error): memory:// and redis:// still open, and asking for its scheme names it."""
    dist = tmp_path / "broken_driver-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-driver\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[queue_core]\nbroken = broken_driver_plugin\n")
    (tmp_path / "broken_driver_plugin.py").write_text("import a_module_that_is_not_installed\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", BROKEN_ENTRY_POINT], env=env, capture_output=True, text=True, check=True, timeout=60
    )
    assert "memory ok memory" in done.stdout
    assert "error: no broker driver for scheme 'broken'" in done.stdout
    assert "plugin 'broken' (broken_driver_plugin) failed to load: ModuleNotFoundError" in done.stdout
    assert "log: plugin 'broken' (broken_driver_plugin) failed to load" in done.stderr
