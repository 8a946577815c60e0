"""The runnable examples keep running: each finishes by itself, quickly, on memory://."""

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
        ("quickstart.py", ["sent to user4@example.com", "bounce check passed on attempt 2", '{"status":"sent"}']),
        ("trio_app.py", ["resized photo3.jpg to 1280px", "archived: 1"]),
        (
            "workflows.py",
            [
                "publish is waiting for 4 jobs",
                "parsed 32 characters",
                "stored a page of 32 characters",
                "published photo-1280.jpg, photo-2560.jpg, photo-320.jpg, photo-640.jpg",
            ],
        ),
        (
            "observability.py",
            [
                'queue_core_jobs_retried_total{job_type="upload",queue="default"} 1.0',
                'queue_core_queue_processed_total{queue="default"} 4.0',
                "process default (CONSUMER) attempt 2 trace",
                '"logger": "queue_core.worker"',
            ],
        ),
        ("dashboard_app.py", ["without the role: 401", "queue page: 200, 3 email.send jobs listed"]),
    ],
)
def test_example_runs_to_completion(script: str, expected: list[str]) -> None:
    env = {key: value for key, value in os.environ.items() if key != "QUEUE_URL"}
    done = subprocess.run([sys.executable, str(EXAMPLES / script)], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    for text in expected:
        assert text in done.stdout
