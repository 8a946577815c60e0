"""The scheduler: enqueue jobs on cron specs or fixed intervals, once per tick.

::

    scheduler = Scheduler("redis://localhost:6379/0", timezone="Europe/Paris")
    scheduler.register_cron("nightly-report", "30 2 * * *", "report.build", {"kind": "daily"})
    scheduler.register_periodic("heartbeat", 30, "ops.ping", queue="low")
    await scheduler.run()       # until cancelled, or scheduler.stop()

Run as many scheduler processes as you like with the same entries: each tick is
claimed in the broker before it is enqueued, so exactly one job is enqueued per tick
(see ``schedule_fire``). Entries come from ``register_*`` calls and from a
``ConfigProvider`` re-read every ``sync_interval`` seconds.

``run()`` is a task group of three small loops -- ticker (sleeps until the next fire,
woken early when entries change), sync, heartbeat -- plus one task per fire. Nothing
it starts outlives it. A worker embeds a scheduler with ``await tg.start(scheduler.run)``.

Missed ticks -- ticks that passed while no scheduler of this entry was running, or
while this one could not keep up -- are skipped by default; ``catch_up=N`` fires the N
most recent of them (never one that was already fired: the fire history says which).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from datetime import timedelta, tzinfo
from typing import Any, Unpack
from zoneinfo import ZoneInfo

import anyio
from anyio.abc import TaskGroup, TaskStatus

from queue_core import errors
from queue_core.broker import Broker
from queue_core.clock import Clock
from queue_core.events import LOGGER_NAME
from queue_core.options import Option
from queue_core.outage import Outage, wait_until_reachable
from queue_core.registry import DEFAULT_URL
from queue_core.scheduling._fire import Firer
from queue_core.scheduling._spec import Tick, tick_text, to_ms, to_seconds
from queue_core.scheduling.config import (
    ConfigProvider,
    MemoryConfigProvider,
    ScheduleConfig,
    ScheduleEntry,
    build_entry,
)
from queue_core.scheduling.options import SchedulerOptions, SchedulerSettings, default_scheduler_id, options_from
from queue_core.scheduling.records import (
    HEARTBEAT_KIND,
    FireRecord,
    ScheduleInfo,
    decode_fire,
    encode_heartbeat,
    heartbeat_entry,
    history_stream,
    list_schedules,
    schedule_history,
)
from queue_core.serialization import Serializer
from queue_core.session import BrokerSession

__all__ = [
    "ConfigProvider",
    "FireRecord",
    "MemoryConfigProvider",
    "ScheduleConfig",
    "ScheduleEntry",
    "ScheduleInfo",
    "Scheduler",
    "SchedulerOptions",
    "default_scheduler_id",
    "list_schedules",
    "schedule_history",
]

#: how many of the newest history events catch-up reads to find the last fire.
_CATCH_UP_PROBE = 32


@dataclass(slots=True)
class _Slot:
    """The running state of one entry."""

    entry: ScheduleEntry
    #: the next tick to fire; None until the entry is placed (at run start or when added).
    next: Tick | None = None
    #: the last tick this scheduler handled (fired or saw a peer claim).
    prev: Tick | None = None
    #: new to this run: missed ticks before it are candidates for catch-up.
    fresh: bool = True
    #: placed, catch-up still to start: missed ticks before this one may fire.
    catch_up_before: Tick | None = None


class Scheduler:
    """Enqueues jobs on schedules; one job per tick across any number of processes.

    - ``clock`` supplies ``now``; a ``ManualClock`` drives tests. Default: a
      ``BrokerClock`` (the local clock corrected to the broker's, measured when ``run()``
      starts and refreshed), so schedulers on machines whose clocks disagree fire alike.
    - ``options``: a ``SchedulerOptions``, or its fields as keyword arguments
      (``timezone``, ``sync_interval``, ``provider``, ``id``, ``catch_up``, ``rescue_after``,
      ``claim_ttl``, ``heartbeat_interval``, ``serializer``); see ``SchedulerOptions``.
    - ``logger``: where the scheduler logs (default: the ``queue_core`` logger).
    - ``broker_options``: passed to the driver when the scheduler opens its broker from
      a URL (for Redis and memory://: ``prefix``).

    Call ``register_*``, ``unregister``, ``request_sync`` and ``stop`` from the event
    loop's thread (or before ``run``).
    """

    def __init__(
        self,
        broker_or_url: Broker | str = DEFAULT_URL,
        *,
        options: SchedulerOptions | None = None,
        clock: Clock | None = None,
        logger: logging.Logger | None = None,
        broker_options: Mapping[str, Any] | None = None,
        **settings: Unpack[SchedulerSettings],
    ) -> None:
        if options is not None and settings:
            raise errors.InvalidSchedulerOption(
                "options", options, "either options=SchedulerOptions(...) or keyword options, not both"
            )
        self.session = BrokerSession(broker_or_url, broker_options=broker_options, clock=clock)
        self.options = options if options is not None else options_from(settings)
        if not isinstance(self.options, SchedulerOptions):
            raise errors.InvalidSchedulerOption("options", self.options, "a SchedulerOptions or None")
        self.log = logger if logger is not None else logging.getLogger(f"{LOGGER_NAME}.scheduler")
        self._outage = Outage(self.log, f"scheduler {self.id}")
        self._registered: dict[str, ScheduleEntry] = {}
        self._provided: dict[str, ScheduleEntry] = {}
        self._slots: dict[str, _Slot] = {}
        self._running = False
        self._stop_requested = False
        self._stop: anyio.Event | None = None
        #: pokes for the three loops: entries changed, sync requested, heartbeat due.
        self._wake = _Nudge()
        self._sync_now = _Nudge()
        self._beat_now = _Nudge()

    # The options, readable on the scheduler as they always were.
    id: Option[str] = Option()
    provider: Option[ConfigProvider] = Option()
    timezone: Option[ZoneInfo] = Option()
    sync_interval: Option[float] = Option()
    catch_up: Option[int] = Option()
    rescue_after: Option[float | None] = Option()
    claim_ttl: Option[float | None] = Option()
    heartbeat_interval: Option[float] = Option()
    serializer: Option[Serializer] = Option()
    connect_timeout: Option[float] = Option()

    @property
    def clock(self) -> Clock:
        """The clock ticks are judged by: the one given, else (once ``run()`` has begun) a
        ``BrokerClock``, the local clock corrected to the broker's."""
        return self.session.clock

    # ----------------------------------------------------------------- registration

    def register_cron(
        self, id: str, spec: str, type: str, payload: Any = None, *, timezone: str | tzinfo | None = None,
        **job_options: Any,
    ) -> ScheduleEntry:  # fmt: skip
        """Enqueue a ``type`` job with ``payload`` at every tick of the cron ``spec``.

        ``spec`` has 5 fields or is a descriptor (``@hourly``, ``@daily``...); it is read
        in ``timezone`` (default: the scheduler's). ``job_options`` are ``Job`` fields,
        checked now. Raises ``InvalidCronSpec``, ``InvalidScheduleId``,
        ``InvalidTimezone``, another ``ValidationError`` for a bad option, or
        ``ScheduleAlreadyExists``.
        """
        return self.register(ScheduleConfig(id, type, payload, cron=spec, timezone=timezone, options=job_options))

    def register_periodic(
        self, id: str, every: float | timedelta, type: str, payload: Any = None, **job_options: Any
    ) -> ScheduleEntry:
        """Enqueue a ``type`` job every ``every`` seconds (> 0, or a ``timedelta``).

        Ticks are multiples of ``every`` since the Unix epoch, so all processes agree on
        them. Raises ``InvalidInterval`` and otherwise as ``register_cron``.
        """
        return self.register(ScheduleConfig(id, type, payload, every=every, options=job_options))

    def register(self, config: ScheduleConfig) -> ScheduleEntry:
        """Register a ``ScheduleConfig`` (what ``register_cron``/``register_periodic`` build)."""
        entry = build_entry(config, timezone=self.options.timezone, serializer=self.options.serializer)
        if entry.id in self._registered:
            raise errors.ScheduleAlreadyExists(entry.id)
        if entry.id in self._provided:
            raise errors.ScheduleAlreadyExists(entry.id, " (it comes from the config provider)")
        self._registered[entry.id] = entry
        self._apply()
        return entry

    def unregister(self, id: str) -> None:
        """Remove a schedule registered with ``register_*``; ``ScheduleNotFound`` if none."""
        if self._registered.pop(id, None) is not None:
            self._apply()
            return
        if id in self._provided:
            raise errors.ScheduleNotFound(id, " among registered schedules: it comes from the config provider")
        raise errors.ScheduleNotFound(id)

    @property
    def entries(self) -> dict[str, ScheduleEntry]:
        """Every schedule in effect, registered and provided, by ID."""
        return {sid: slot.entry for sid, slot in self._slots.items()}

    def _entry(self, id: str) -> ScheduleEntry | None:
        slot = self._slots.get(id)
        return None if slot is None else slot.entry

    def next_run(self, id: str) -> float | None:
        """When the schedule fires next (None before ``run`` has placed it)."""
        slot = self._slots.get(id)
        if slot is None:
            raise errors.ScheduleNotFound(id)
        return None if slot.next is None else to_seconds(slot.next)

    # ----------------------------------------------------------------- provider sync

    async def sync(self) -> None:
        """Read the provider now and apply what differs. Never raises for the provider's
        sake: its errors and bad entries are logged (bad entries keep their previous
        version, when there is one)."""
        try:
            configs = list(await self.options.provider.get_configs())
        except Exception:
            self.log.exception("scheduler %s: the config provider failed; entries unchanged", self.id)
            return
        provided: dict[str, ScheduleEntry] = {}
        for config in configs:
            config_id = config.id if isinstance(config, ScheduleConfig) else _mapping_id(config)
            try:
                entry = build_entry(config, timezone=self.options.timezone, serializer=self.options.serializer)
            except Exception as exc:
                previous = self._provided.get(config_id) if isinstance(config_id, str) else None
                keeping = "; keeping its previous version" if previous is not None else ""
                self.log.error("scheduler %s: schedule config %r skipped: %s%s", self.id, config_id, exc, keeping,
                               extra={"schedule_id": config_id})  # fmt: skip
                if previous is not None and config_id not in provided:
                    provided[previous.id] = previous
                continue
            if entry.id in provided:
                self.log.error("scheduler %s: the provider gives schedule %r twice; the first one is used",
                               self.id, entry.id, extra={"schedule_id": entry.id})  # fmt: skip
            elif entry.id in self._registered:
                self.log.error("scheduler %s: provided schedule %r skipped: an entry registered in code has its ID",
                               self.id, entry.id, extra={"schedule_id": entry.id})  # fmt: skip
            else:
                provided[entry.id] = entry
        added = provided.keys() - self._provided.keys()
        removed = self._provided.keys() - provided.keys()
        changed = {sid for sid in provided.keys() & self._provided.keys() if provided[sid] != self._provided[sid]}
        if added or removed or changed:
            self.log.info("scheduler %s: sync added %s, changed %s, removed %s", self.id, sorted(added),
                          sorted(changed), sorted(removed))  # fmt: skip
        self._provided = provided
        self._apply()

    def request_sync(self) -> None:
        """Read the provider as soon as possible instead of at the next interval."""
        self._sync_now.poke()

    def _apply(self) -> None:
        """Make the slots match the registered and provided entries; wake the ticker."""
        wanted = {**self._provided, **self._registered}
        for sid in self._slots.keys() - wanted.keys():
            del self._slots[sid]
        for sid, entry in wanted.items():
            slot = self._slots.get(sid)
            if slot is None:
                self._slots[sid] = _Slot(entry)
            elif slot.entry != entry:
                if slot.entry.spec != entry.spec:
                    slot.next = None  # placed again from now, without catch-up
                slot.entry = entry
        self._wake.poke()
        self._beat_now.poke()

    # ----------------------------------------------------------------- running

    def stop(self) -> None:
        """Ask a running scheduler to stop; ``run()`` then returns normally."""
        self._stop_requested = True
        if self._stop is not None:
            self._stop.set()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Fire ticks until cancelled or ``stop()`` is called.

        Reports started (for ``TaskGroup.start``) after the first provider sync and the
        first heartbeat. Raises ``SchedulerAlreadyStarted`` while another ``run()`` of
        this scheduler is going on; a scheduler may run again after one returned.
        """
        if self._running:
            raise errors.SchedulerAlreadyStarted(f"scheduler {self.id} is already running")
        self._running = True
        self._stop = anyio.Event()
        if self._stop_requested:
            self._stop.set()
        for slot in self._slots.values():
            slot.next, slot.prev, slot.fresh, slot.catch_up_before = None, None, True, None
        try:
            async with self.session.opened() as broker:
                await wait_until_reachable(broker, self.options.connect_timeout, self.log, f"scheduler {self.id}")
                broker_clock = await self.session.sync_clock(self.log, f"scheduler {self.id}")
                clock_refresh = None if broker_clock is None else broker_clock.run
                firer = Firer(
                    broker, self.clock, self.id, self.log,
                    rescue_after=self.options.rescue_after, claim_ttl=self.options.claim_ttl, current=self._entry,
                )  # fmt: skip
                try:
                    await self.sync()
                    # Everything is timed from here, before reporting started -- not from
                    # whenever each loop first gets to run.
                    started = self.clock.now()
                    self._place_all(to_ms(started))
                    await self._beat(broker)
                    self._beat_now.clear()
                    async with anyio.create_task_group() as tg:
                        if clock_refresh is not None:
                            tg.start_soon(clock_refresh, name=f"scheduler {self.id} clock")
                        tg.start_soon(self._ticker, tg, firer, broker, name=f"scheduler {self.id} ticker")
                        next_sync = started + self.options.sync_interval
                        next_beat = started + self.options.heartbeat_interval
                        tg.start_soon(self._sync_loop, next_sync, name=f"scheduler {self.id} sync")
                        tg.start_soon(self._heartbeat_loop, broker, next_beat, name=f"scheduler {self.id} heartbeat")
                        self.log.info("scheduler %s started with %d schedule(s)", self.id, len(self._slots))
                        task_status.started()
                        await self._stop.wait()
                        tg.cancel_scope.cancel()
                finally:
                    with anyio.CancelScope(shield=True):
                        await self._goodbye(broker)
        finally:
            self._running = False
            self._stop_requested = False

    # ----------------------------------------------------------------- ticker

    async def _ticker(self, tg: TaskGroup, firer: Firer, broker: Broker) -> None:
        while True:
            now_ms = to_ms(self.clock.now())
            if self._place_all(now_ms):
                self._beat_now.poke()  # publish where the new entries were placed
            wake: Tick | None = None
            for slot in list(self._slots.values()):
                self._advance(slot, now_ms, tg, firer, broker)
                assert slot.next is not None
                wake = slot.next if wake is None else min(wake, slot.next)
            await self._wake.sleep_until(self.clock, None if wake is None else to_seconds(wake))

    def _place_all(self, now_ms: Tick) -> bool:
        """Give every new (or re-specified) entry its first tick: the first at or after
        ``now_ms``, and after the last one handled. True if any was placed."""
        placed = False
        for slot in self._slots.values():
            if slot.next is not None:
                continue
            first = slot.entry.spec.next_after(now_ms, inclusive=True)
            if slot.prev is not None and first <= slot.prev:
                first = slot.entry.spec.next_after(slot.prev)
            if slot.fresh and self.options.catch_up:
                slot.catch_up_before = first
            slot.fresh = False
            slot.next = first
            placed = True
        return placed

    def _advance(self, slot: _Slot, now_ms: Tick, tg: TaskGroup, firer: Firer, broker: Broker) -> None:
        """Fire an entry's due tick (and up to ``catch_up`` missed ones)."""
        spec = slot.entry.spec
        assert slot.next is not None
        if slot.catch_up_before is not None:
            first, slot.catch_up_before = slot.catch_up_before, None
            self._spawn(tg, self._catch_up(tg, firer, broker, slot.entry, first), f"catch up {slot.entry.id}")
        if slot.next > now_ms:
            return
        latest = spec.prev_before(now_ms, inclusive=True)
        assert latest is not None and latest >= slot.next
        missed: list[Tick] = []
        earlier = spec.prev_before(latest)
        while earlier is not None and earlier >= slot.next and len(missed) < self.options.catch_up:
            missed.append(earlier)
            earlier = spec.prev_before(earlier)
        if earlier is not None and earlier >= slot.next:
            self.log.warning(
                "scheduler %s: schedule %s missed ticks from %s to %s; skipped",
                self.id, slot.entry.id, tick_text(slot.next), tick_text(earlier), extra={"schedule_id": slot.entry.id},
            )  # fmt: skip
        for tick in [*reversed(missed), latest]:
            self._spawn(tg, firer.fire(slot.entry, tick), f"fire {slot.entry.id}@{tick_text(tick)}")
        slot.prev = latest
        slot.next = spec.next_after(now_ms)

    async def _catch_up(self, tg: TaskGroup, firer: Firer, broker: Broker, entry: ScheduleEntry, first: Tick) -> None:
        """Fire up to ``catch_up`` ticks missed between the last recorded fire and ``first``."""
        try:
            events = await broker.list_events(history_stream(entry.id), _CATCH_UP_PROBE)
        except errors.QueueError as exc:
            self.log.warning("scheduler %s: no catch-up for %s (history unreadable: %s)", self.id, entry.id, exc)
            return
        fired = [to_ms(record.fire_time) for at, event in events if (record := decode_fire(at, event)) is not None]
        if not fired:
            return  # never fired: nothing was missed
        last = max(fired)
        ticks: list[Tick] = []
        tick = entry.spec.prev_before(first)
        while tick is not None and tick > last and len(ticks) < self.options.catch_up:
            ticks.append(tick)
            tick = entry.spec.prev_before(tick)
        if ticks:
            self.log.info("scheduler %s: catching up %d missed tick(s) of %s", self.id, len(ticks), entry.id,
                          extra={"schedule_id": entry.id})  # fmt: skip
        for tick in reversed(ticks):
            self._spawn(tg, firer.fire(entry, tick), f"catch up {entry.id}@{tick_text(tick)}")

    def _spawn(self, tg: TaskGroup, fire: Awaitable[None], name: str) -> None:
        async def guarded() -> None:
            try:
                await fire
            except Exception:
                self.log.exception("scheduler %s: %s failed", self.id, name)

        tg.start_soon(guarded, name=name)

    # ----------------------------------------------------------------- sync and heartbeat loops

    async def _sync_loop(self, due: float) -> None:
        while True:
            await self._sync_now.sleep_until(self.clock, due)
            await self.sync()
            due = self.clock.now() + self.options.sync_interval

    async def _heartbeat_loop(self, broker: Broker, due: float) -> None:
        while True:
            await self._beat_now.sleep_until(self.clock, due)
            await self._beat(broker)
            due = self.clock.now() + self.options.heartbeat_interval

    async def _beat(self, broker: Broker) -> None:
        entries = [heartbeat_entry(slot.entry, slot.next, slot.prev) for slot in self._slots.values()]
        info = {"host": socket.gethostname(), "pid": os.getpid(), "timezone": self.options.timezone.key}
        now = self.clock.now()
        try:
            ttl = 3 * self.options.heartbeat_interval
            await broker.put_heartbeat(HEARTBEAT_KIND, self.id, encode_heartbeat(self.id, info, entries), now, ttl)
        except errors.BrokerUnavailable as exc:
            self._outage.failed("heartbeat", exc)
        except errors.QueueError as exc:
            self.log.warning("scheduler %s: heartbeat failed: %s", self.id, exc)
        else:
            self._outage.recovered()

    async def _goodbye(self, broker: Broker) -> None:
        with anyio.move_on_after(5):
            try:
                await broker.remove_heartbeat(HEARTBEAT_KIND, self.id)
            except errors.QueueError as exc:
                self.log.warning("scheduler %s: could not remove its heartbeat: %s", self.id, exc)
        self.log.info("scheduler %s stopped", self.id)


class _Nudge:
    """A sleep that a poke cuts short; a poke while nobody sleeps cuts the next one."""

    def __init__(self) -> None:
        self._poked = False
        self._scope: anyio.CancelScope | None = None

    def poke(self) -> None:
        self._poked = True
        if self._scope is not None:
            self._scope.cancel()

    def clear(self) -> None:
        self._poked = False

    async def sleep_until(self, clock: Clock, deadline: float | None) -> None:
        """Until ``deadline`` on ``clock`` (forever if None) or a poke, whichever is first."""
        if not self._poked:
            with anyio.CancelScope() as self._scope:
                try:
                    if deadline is None:
                        await anyio.sleep_forever()
                    else:
                        await clock.sleep_until(deadline)
                finally:
                    self._scope = None
        self._poked = False


def _mapping_id(config: Any) -> Any:
    try:
        return config.get("id")
    except AttributeError:
        return None
