"""The job body every library runs: one CLOCK_MONOTONIC read and one 16-byte write(2).

A mark is ``(monotonic seconds, tag)``; the tag names a job of the latency workloads (0
for the drain's no-op). ``BENCH_MARKS`` names a regular file (the drain: the harness
polls its size) or a FIFO (latency: the client blocks on it). CLOCK_MONOTONIC is one
clock for every process of the machine, so marks compare with the client's timestamps.
"""

from __future__ import annotations

import os
import struct
import time

MARK = struct.Struct("<dq")
_fd = -1


def mark(tag: int = 0) -> None:
    global _fd
    if _fd < 0:
        _fd = os.open(os.environ["BENCH_MARKS"], os.O_WRONLY | os.O_APPEND)
    os.write(_fd, MARK.pack(time.monotonic(), tag))


def read_marks(data: bytes) -> list[tuple[float, int]]:
    usable = len(data) - len(data) % MARK.size
    return [MARK.unpack_from(data, offset) for offset in range(0, usable, MARK.size)]
