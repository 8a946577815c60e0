"""Driver discovery: URL schemes come from plugins, in-tree drivers included."""

from __future__ import annotations

import pytest

from queue_core import Job, UnknownBrokerScheme, hookimpl, open_broker
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
