"""The worker's runnable examples (examples/*.py, quoted by docs/worker/) keep running: each
finishes by itself, in seconds, on memory://, and prints what its page says it prints."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("handlers.py", ["headers {'trace': 't-1'}", "progress of", "3/3",
                         'result of email.send: {"sent_to":"ada@example.com"}',
                         'result of image.resize: "cat.png at 640px"', "archived report.v2: no handler registered"]),
        ("middleware.py", ["[audit] fx.rate EUR", 'rate EUR: {"cached":true,"rate":1.08}',
                           'rate GBP: {"cached":false,"rate":1.27}',
                           "invoice: archived, retries used 0, last error \"SkipRetry: unknown account 'acct-42'\""]),
        ("retries.py", ["flaky          completed retries used 2", "validate       archived  retries used 0",
                        "doomed         archived  retries used 2", "busy-upstream  completed retries used 0, bounces 3",
                        "obsolete       deleted", "once           archived  retries used 0"]),
        ("timeouts.py", ["attempt ran past its handler timeout 0.3s", "attempt ran past its job timeout 0.2s",
                         "attempt ran past its job deadline",
                         "too late: archived, last error 'deadline exceeded before start'"]),
        ("rate_limits.py", ["30 calls in"]),
        ("priorities.py", ["weighted 6:3:1, first 300 jobs: critical 180, default 90, low 30",
                           "strict, first 300 jobs: all critical? True"]),
        ("shutdown.py", ["cancel report: it was active", "cancel later: it was scheduled", "quick: finished",
                         "report archived  retries used 0, last error 'cancelled'", "quick  completed",
                         "slow   pending   retries used 0, last error None"]),
    ],
)  # fmt: skip
def test_example_runs_to_completion(script: str, expected: list[str]) -> None:
    env = {key: value for key, value in os.environ.items() if key != "QUEUE_URL"}
    done = subprocess.run([sys.executable, str(EXAMPLES / script)], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    for text in expected:
        assert text in done.stdout, done.stdout
