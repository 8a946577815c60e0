"""What the observability tests share: a worker process started through the CLI, a free
port, and a Prometheus scrape parsed with prometheus-client's own parser."""

from __future__ import annotations

import os
import secrets
import socket
import sys
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import anyio.abc
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parent.parent
PATIENCE = 30.0

#: (sample name, sorted label items) -> value
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def free_port(consecutive: int = 1) -> int:
    """A port free now on 127.0.0.1, followed by ``consecutive - 1`` free ones."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            base = int(sock.getsockname()[1])
        if base + consecutive > 65536:
            continue
        try:
            for port in range(base + 1, base + consecutive):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base


def parse(text: str) -> Samples:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def scrape(port: int) -> Samples:
    def get() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            body: bytes = response.read()
            return body.decode()

    return parse(await anyio.to_thread.run_sync(get))


def by_label(samples: Samples, name: str, label: str, **match: str) -> dict[str, float]:
    """``{value of label: sample value}`` for the samples of ``name`` whose labels include ``match``."""
    found = {}
    for (sample, labels), value in samples.items():
        present = dict(labels)
        if sample == name and all(present.get(k) == v for k, v in match.items()):
            found[present[label]] = value
    return found


@asynccontextmanager
async def worker_process(
    url: str, backend: str, *args: str, env: Mapping[str, str] | None = None, stderr: int | None = None
) -> AsyncIterator[anyio.abc.Process]:
    """``queue-core worker tests.observability_app:create --url URL ARGS`` until the block
    ends; then SIGTERM and wait (SIGKILL if it does not stop)."""
    command = [sys.executable, "-m", "queue_core", "worker", "tests.observability_app:create", "--url", url,
               "--backend", backend, *args]  # fmt: skip
    child_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    process = await anyio.open_process(command, cwd=ROOT, env=child_env, stdout=None, stderr=stderr)
    try:
        yield process
    finally:
        process.terminate()
        with anyio.move_on_after(PATIENCE, shield=True) as waited:
            await process.wait()
        if waited.cancelled_caught:
            process.kill()
            with anyio.CancelScope(shield=True):
                await process.wait()


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll ``check()`` until it returns true; fail naming ``what`` after PATIENCE seconds."""
    with anyio.move_on_after(PATIENCE):
        while not await check():
            await anyio.sleep(0.1)
        return
    raise AssertionError(f"timed out waiting for {what}")


def isolated(broker_url: str, name: str) -> str:
    """``broker_url`` with a namespace of its own: a server of its own on memory://, a key
    prefix on Redis."""
    unique = f"{name}-{secrets.token_hex(4)}"
    if broker_url.startswith("memory://"):
        return f"memory://{unique}"
    return f"{broker_url}{'&' if '?' in broker_url else '?'}prefix={unique}"
