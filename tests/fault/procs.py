"""Worker and scheduler processes the harness starts, signals and reaps by recorded PID."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 30.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class Proc:
    """One ``tests.fault.fault_worker`` process; stdout (``ready``/``stopping``) and the
    log go to files in ``directory``."""

    def __init__(self, config: dict[str, Any], directory: str, name: str) -> None:
        self.config = config
        self.name = name
        self.out_path = os.path.join(directory, f"{name}.out")
        self.log_path = os.path.join(directory, f"{name}.log")
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, *, wait: bool = True) -> Proc:
        with open(self.out_path, "ab") as out, open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.fault.fault_worker", json.dumps(self.config)],
                cwd=ROOT, stdin=subprocess.DEVNULL, stdout=out, stderr=log, start_new_session=True,
            )  # fmt: skip
        self.started_at = time.time()
        if wait:
            self.wait_for_line("ready")
        return self

    def lines(self) -> list[str]:
        with open(self.out_path) as f:
            return f.read().splitlines()

    def log(self) -> str:
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def wait_for_line(self, text: str, timeout: float = READY_TIMEOUT, count: int = 1) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.lines().count(text) >= count:
                return
            if self.process is not None and self.process.poll() is not None and self.lines().count(text) < count:
                code = self.process.returncode
                raise RuntimeError(f"{self.name} exited ({code}) before {text!r}:\n{self.log()[-3000:]}")
            time.sleep(0.02)
        raise TimeoutError(f"{self.name} did not print {text!r} within {timeout}s:\n{self.log()[-3000:]}")

    def signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        os.kill(self.process.pid, sig)

    def kill(self) -> None:
        """``kill -9`` by PID; waits for the process to be gone."""
        if self.process is not None and self.process.poll() is None:
            self.signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def pause(self) -> None:
        self.signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.signal(signal.SIGCONT)

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def cpu_seconds(self) -> float:
        """User + system CPU time used so far (from /proc)."""
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGCONT)
                os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
