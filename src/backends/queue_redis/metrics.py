"""Metrics history: per queue, job type and minute, kept until its expiry.

One hash per queue and minute (``Q:m:<minute>``, in the queue's hash slot) holds the
minute's expiry and, per job type, processed, failed, run time and histogram counts.
Each queue's minute is one ``record_metrics`` script call; a read is one script call
that walks the range's minutes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from queue_core import HISTOGRAM_SLOTS, MinuteMetrics
from queue_redis import codec
from queue_redis.base import BrokerBase, grouped
from queue_redis.scripts import script
from queue_redis.wire.transport import Call

#: Redis keeps a minute's hash this long past its expiry, only to collect it.
COLLECT_AFTER_MS = 60_000
_SLOT_NAMES = tuple(f"h{slot}".encode() for slot in range(HISTOGRAM_SLOTS))


class MetricsOps(BrokerBase):
    async def record_metrics(self, samples: Sequence[MinuteMetrics], now: float, keep: float) -> None:
        calls = []
        for (queue, minute), items in grouped(samples, lambda sample: (sample.queue, sample.minute)).items():
            expiry = minute + keep
            collect = max(1, math.ceil((expiry - now) * 1000)) + COLLECT_AFTER_MS
            args: list[Any] = [codec.num(now), codec.num(float(expiry)), collect, HISTOGRAM_SLOTS]
            for _, sample in items:
                args += [sample.job_type, sample.processed, sample.failed, sample.runtime_us, *sample.histogram]
            calls.append(Call(script("record_metrics"), [self._keys.queue(queue).metrics(minute)], args))
        if calls:
            await self._transport.run(calls)

    async def read_metrics(self, queue: str, since: int, until: int, now: float) -> list[MinuteMetrics]:
        keys = self._keys.queue(queue)
        call = Call(script("read_metrics"), [keys.metrics(since)], [keys.scope, since, until, codec.num(now)])
        [reply] = await self._transport.run([call])
        points: list[MinuteMetrics] = []
        for index in range(0, len(reply), 2):
            minute = int(reply[index])
            points += _decode_minute(queue, minute, reply[index + 1])
        return points


def _decode_minute(queue: str, minute: int, flat: Sequence[bytes]) -> list[MinuteMetrics]:
    by_type: dict[bytes, dict[bytes, int]] = {}
    for name, value in zip(flat[0::2], flat[1::2], strict=True):
        kind, colon, job_type = bytes(name).partition(b":")
        if colon:  # every field but 'exp'
            by_type.setdefault(job_type, {})[kind] = int(value)
    return [
        MinuteMetrics(
            queue=queue,
            job_type=job_type.decode(),
            minute=minute,
            processed=counts.get(b"p", 0),
            failed=counts.get(b"f", 0),
            runtime_us=counts.get(b"t", 0),
            histogram=tuple(counts.get(slot, 0) for slot in _SLOT_NAMES),
        )
        for job_type, counts in sorted(by_type.items(), key=lambda item: item[0].decode())
    ]
