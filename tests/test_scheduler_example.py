"""examples/cron.py keeps running: it finishes by itself, in a few seconds, on memory://."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "cron.py"


def test_the_cron_example_runs_to_completion() -> None:
    env = {key: value for key, value in os.environ.items() if key != "QUEUE_URL"}
    done = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    assert "next nightly report at" in done.stdout
    assert " CET" in done.stdout or " CEST" in done.stdout
    assert done.stdout.count("billing heartbeat for the") == 3
    assert "handled 3 heartbeats; last fires recorded: ['heartbeat:" in done.stdout
