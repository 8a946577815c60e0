"""Config providers: every sync applies what differs -- adds, changes, removes -- and a bad
entry is logged and skipped while the others still apply."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import anyio
import pytest

from queue_core import ManualClock, errors
from queue_core.scheduling.config import ConfigProvider, MemoryConfigProvider, ScheduleConfig
from queue_core.scheduling.scheduler import Scheduler
from tests.scheduler_kit import T0, SpyBroker, advance, fresh_broker, recording, running, settle


class DictProvider:
    """A provider of plain mappings, as read from a JSON file or a database row."""

    def __init__(self, rows: list[Any]) -> None:
        self.rows = rows
        self.fail: Exception | None = None
        self.calls = 0

    async def get_configs(self) -> Iterable[Mapping[str, Any]]:
        self.calls += 1
        if self.fail is not None:
            raise self.fail
        return [dict(row) if isinstance(row, dict) else row for row in self.rows]


def test_the_provider_protocol_and_the_memory_provider() -> None:
    provider = MemoryConfigProvider([ScheduleConfig("a", "t", every=5)])
    assert isinstance(provider, ConfigProvider) and isinstance(DictProvider([]), ConfigProvider)
    with pytest.raises(errors.ScheduleAlreadyExists):
        provider.add(ScheduleConfig("a", "t", every=6))
    provider.put(ScheduleConfig("a", "t", every=6))  # replaces
    provider.add(ScheduleConfig("b", "t", cron="@daily"))
    provider.remove("b")
    with pytest.raises(errors.ScheduleNotFound):
        provider.remove("b")
    assert len(provider) == 1
    with pytest.raises(errors.ValidationError, match="colour"):
        ScheduleConfig.from_mapping({"id": "x", "type": "t", "every": 5, "colour": "blue"})


async def test_sync_adds_changes_and_removes_only_what_differs(broker_url: str, caplog: Any) -> None:
    clock = ManualClock(T0 + 1)
    provider = MemoryConfigProvider(
        [
            ScheduleConfig("keep", "t", every=60),
            ScheduleConfig("change", "t", every=60, options={"queue": "a"}),
            ScheduleConfig("drop", "t", cron="*/5 * * * *"),
        ]
    )
    caplog.set_level(logging.INFO, logger="queue_core")
    async with fresh_broker(broker_url) as broker, recording() as fires:
        scheduler = Scheduler(broker, clock=clock, provider=provider, sync_interval=30)
        async with running(scheduler):
            assert sorted(scheduler.entries) == ["change", "drop", "keep"]
            keep_before = scheduler.entries["keep"]
            provider.put(ScheduleConfig("change", "t", every=60, options={"queue": "b"}))
            provider.remove("drop")
            provider.add(ScheduleConfig("new", "t", every=20))
            await advance(clock, 29)
            assert sorted(scheduler.entries) == ["change", "drop", "keep"]  # not yet: syncs every 30 s
            await advance(clock, 1)
            assert sorted(scheduler.entries) == ["change", "keep", "new"]
            assert scheduler.entries["keep"] is keep_before  # untouched
            assert scheduler.entries["change"].queue == "b"
            assert scheduler.next_run("new") == T0 + 40  # added entries fire from their next tick
            await advance(clock, 10)
            await fires.wait_for(1)
            await advance(clock, 20)
            await fires.wait_for(4)  # T0+60: keep, change, new
    assert sorted(fires.times("new")) == [T0 + 40, T0 + 60]
    assert fires.times("drop") == []
    assert "sync added ['new'], changed ['change'], removed ['drop']" in caplog.text


async def test_a_bad_entry_is_logged_and_skipped_while_the_others_apply(broker_url: str, caplog: Any) -> None:
    clock = ManualClock(T0 + 1)
    provider = DictProvider(
        [
            {"id": "good", "type": "t", "every": 60},
            {"id": "spec-gone-bad", "type": "t", "cron": "*/10 * * * *"},
        ]
    )
    async with fresh_broker(broker_url) as broker, recording() as fires:
        scheduler = Scheduler(broker, clock=clock, provider=provider, sync_interval=60)
        scheduler.register_periodic("in-code", 60, "t")
        async with running(scheduler):
            provider.rows = [
                {"id": "good", "type": "t", "every": 60},
                {"id": "spec-gone-bad", "type": "t", "cron": "61 * * * *"},  # keeps its previous version
                {"id": "bad-interval", "type": "t", "every": -1},
                {"id": "bad id", "type": "t", "every": 5},
                {"id": "bad-option", "type": "t", "every": 5, "options": {"max_retries": -1}},
                {"id": "no-spec", "type": "t"},
                {"id": "in-code", "type": "t", "every": 5},  # an ID taken by a registered entry
                {"id": "good", "type": "t", "every": 5},  # the same ID twice
                {"id": "fresh", "type": "t", "cron": "*/2 * * * *"},
                "not a mapping",
            ]
            caplog.clear()
            await advance(clock, 60)  # the sync at T0 + 61
            entries = scheduler.entries
            assert sorted(entries) == ["fresh", "good", "in-code", "spec-gone-bad"]
            assert entries["spec-gone-bad"].spec.text == "*/10 * * * *"
            assert entries["good"].spec.text == "@every 60s"
            assert entries["in-code"].spec.text == "@every 60s"
            await fires.wait_for(2)  # T0 + 60: good and in-code
    text = caplog.text
    assert "'spec-gone-bad' skipped" in text and "61 * * * *" in text and "keeping its previous version" in text
    for bad in ("bad-interval", "bad id", "bad-option", "no-spec", "not a mapping"):
        assert bad in text
    assert "gives schedule 'good' twice" in text
    assert "'in-code' skipped: an entry registered in code has its ID" in text


async def test_a_failing_provider_leaves_the_entries_as_they_are(broker_url: str, caplog: Any) -> None:
    clock = ManualClock(T0 + 1)
    provider = DictProvider([{"id": "a", "type": "t", "every": 60}])
    async with fresh_broker(broker_url) as broker:
        scheduler = Scheduler(broker, clock=clock, provider=provider, sync_interval=10)
        async with running(scheduler):
            provider.fail = ConnectionError("database is down")
            await advance(clock, 10)
            assert provider.calls == 2 and list(scheduler.entries) == ["a"]
            provider.fail = None
            provider.rows = []
            await advance(clock, 10)
            assert scheduler.entries == {}
    assert "config provider failed" in caplog.text and "database is down" in caplog.text


async def test_request_sync_applies_provider_changes_at_once(broker_url: str) -> None:
    clock = ManualClock(T0 + 1)
    provider = MemoryConfigProvider()
    async with fresh_broker(broker_url) as broker, recording() as fires:
        spy = SpyBroker(broker)
        scheduler = Scheduler(spy, clock=clock, provider=provider, sync_interval=3600)
        async with running(scheduler):
            provider.add(ScheduleConfig("soon", "t", every=10))
            scheduler.request_sync()
            await settle()
            assert list(scheduler.entries) == ["soon"]
            await advance(clock, 9)
            await fires.wait_for(1)
    assert fires.times("soon") == [T0 + 10]


async def test_an_entry_from_the_provider_cannot_be_unregistered_in_code(broker_url: str) -> None:
    provider = MemoryConfigProvider([ScheduleConfig("from-db", "t", every=60)])
    async with fresh_broker(broker_url) as broker:
        scheduler = Scheduler(broker, clock=ManualClock(T0), provider=provider)
        async with running(scheduler):
            with pytest.raises(errors.ScheduleNotFound, match="config provider"):
                scheduler.unregister("from-db")
            with pytest.raises(errors.ScheduleAlreadyExists, match="config provider"):
                scheduler.register_periodic("from-db", 5, "t")


def test_per_entry_time_zones_from_a_provider_row() -> None:
    from queue_core.scheduling.config import build_entry
    from queue_core.serialization import JSON

    entry = build_entry(
        {"id": "x", "type": "t", "cron": "0 9 * * *", "timezone": "Asia/Tokyo", "payload": {"a": 1}},
        timezone="UTC",
        serializer=JSON,
    )
    assert entry.timezone == "Asia/Tokyo" and entry.job.payload == b'{"a":1}'


class JsonFileProvider:
    """The provider of docs/scheduler.md: a JSON file re-read (off the event loop) at each sync."""

    def __init__(self, path: Any) -> None:
        self.path = path
        self.reads = 0
        self._read = anyio.Event()

    async def get_configs(self) -> list[dict[str, Any]]:
        text = await anyio.to_thread.run_sync(self.path.read_text)
        self.reads += 1
        self._read, read = anyio.Event(), self._read
        read.set()
        return json.loads(text)  # type: ignore[no-any-return]

    async def wait_for_reads(self, count: int) -> None:
        with anyio.fail_after(20):
            while self.reads < count:
                await self._read.wait()


async def test_a_json_file_provider_follows_the_file(broker_url: str, tmp_path: Any) -> None:
    path = tmp_path / "schedules.json"
    path.write_text(json.dumps([{"id": "ping", "type": "ops.ping", "every": 30, "options": {"queue": "low"}}]))
    provider = JsonFileProvider(path)
    clock = ManualClock(T0 + 1)
    async with fresh_broker(broker_url) as broker, recording() as fires:
        scheduler = Scheduler(broker, clock=clock, provider=provider, sync_interval=30, timezone="Europe/Paris")
        async with running(scheduler):
            assert list(scheduler.entries) == ["ping"] and scheduler.entries["ping"].queue == "low"
            path.write_text(
                json.dumps(
                    [
                        {"id": "ping", "type": "ops.ping", "every": 60},
                        {"id": "nightly", "type": "report", "cron": "30 2 * * *", "payload": {"kind": "daily"}},
                    ]
                )
            )
            await advance(clock, 29)  # T0 + 30: the ping fires, then the sync at T0 + 31
            await fires.wait_for(1)
            await advance(clock, 1)
            await provider.wait_for_reads(2)
            await settle()
            assert sorted(scheduler.entries) == ["nightly", "ping"]
            assert scheduler.entries["ping"].queue == "default"
            assert scheduler.entries["nightly"].timezone == "Europe/Paris"
            path.write_text("[{not json")  # a broken file keeps the entries
            await advance(clock, 30)
            await provider.wait_for_reads(3)
            await settle()
            assert sorted(scheduler.entries) == ["nightly", "ping"]
