"""``queue-core worker --processes N``: N worker processes under one supervisor.

The supervisor starts each child as ``python -m queue_core worker ... --child-of PID``
in a session of its own, so that a Ctrl-C at the terminal reaches the supervisor only
and each child is told exactly once. It restarts a child that crashed (a non-zero exit
or death by a signal), waiting longer after each crash in a row (0.5 s doubling up to
30 s) so that a child failing at start does not spin. A child that exits 0 by itself
stopped on purpose and is not restarted.

SIGTERM or SIGINT is forwarded to every child, which stops gracefully (stops fetching,
drains, requeues what does not finish); a second signal is forwarded too, and the
children then stop at once. The supervisor exits 0 when every child exited 0. A child
whose supervisor vanished (killed with SIGKILL) stops by itself within a second.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import AsyncIterator, Callable, Sequence

import anyio
from anyio.abc import Process

from queue_core.cli.failures import FAILED, OK

log = logging.getLogger("queue_core.supervisor")

SIGNALS = (signal.SIGTERM, signal.SIGINT)
#: a child that ran this long before crashing is restarted at once.
STABLE_AFTER = 10.0
FIRST_BACKOFF = 0.5
MAX_BACKOFF = 30.0


def describe(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


class Supervisor:
    """Keeps ``processes`` children running; ``command(index)`` is child ``index``'s argv."""

    def __init__(self, command: Callable[[int], Sequence[str]], processes: int) -> None:
        self.command = command
        self.processes = processes
        self.live: dict[int, Process] = {}
        self.exit_codes: dict[int, int] = {}
        self.stopping = False
        self._stopped = anyio.Event()

    async def run(self) -> int:
        """Run until every child has stopped; 0 when each one exited 0."""
        with anyio.open_signal_receiver(*SIGNALS) as signals:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._forward, signals, name="supervisor signals")
                async with anyio.create_task_group() as children:
                    for index in range(self.processes):
                        children.start_soon(self._keep, index, name=f"worker process {index + 1}")
                tg.cancel_scope.cancel()
        log.info("every worker process has stopped")
        return OK if all(code == 0 for code in self.exit_codes.values()) else FAILED

    async def _keep(self, index: int) -> None:
        number = index + 1
        crashes = 0
        while not self.stopping:
            started = anyio.current_time()
            process = await anyio.open_process(
                list(self.command(index)), stdin=None, stdout=None, stderr=None, start_new_session=True
            )
            self.live[index] = process
            log.info("worker process %d started (pid %d)", number, process.pid)
            if self._stopped.is_set():  # the signal came while it was starting
                process.send_signal(signal.SIGTERM)
            async with process:  # closing it reaps it
                code = await process.wait()
            del self.live[index]
            if self.stopping or code == 0:
                why = "" if self.stopping else " by itself; not restarting it"
                log.info("worker process %d (pid %d) %s%s", number, process.pid, describe(code), why)
                self.exit_codes[index] = code
                return
            crashes = crashes + 1 if anyio.current_time() - started < STABLE_AFTER else 1
            delay = 0.0 if crashes == 1 else min(MAX_BACKOFF, FIRST_BACKOFF * 2 ** (crashes - 2))
            log.warning(
                "worker process %d (pid %d) %s; restarting it%s",
                number, process.pid, describe(code), f" in {delay:g}s" if delay else "",
            )  # fmt: skip
            with anyio.move_on_after(delay):
                await self._stopped.wait()
        self.exit_codes.setdefault(index, 0)

    async def _forward(self, signals: AsyncIterator[signal.Signals]) -> None:
        async for signum in signals:
            name = signal.Signals(signum).name
            if not self.stopping:
                self.stopping = True
                self._stopped.set()
                log.info(
                    "%s received; stopping %d worker process(es) gracefully "
                    "(send it again to stop them at once)", name, len(self.live),
                )  # fmt: skip
            else:
                log.warning("%s received again; stopping the worker processes at once", name)
            for process in list(self.live.values()):
                process.send_signal(signum)
