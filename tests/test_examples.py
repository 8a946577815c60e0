"""The runnable examples keep running: each finishes by itself, quickly, on memory://."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("quickstart.py", ["sent to user4@example.com", "passed on attempt 2", "first email job: {'status': 'sent'}"]),
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


def readme_quickstart() -> str:
    """The README's quickstart program (its first Python block), as a user copies it."""
    readme = (EXAMPLES.parent / "README.md").read_text()
    match = re.search(r"```python\n(# quickstart\.py.*?)```", readme, re.DOTALL)
    assert match is not None, "the README's quickstart block is gone"
    return match[1]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_the_readme_quickstart_awaits_a_typed_result(tmp_path: Path, broker_url: str, backend: str) -> None:
    script = tmp_path / "quickstart.py"
    script.write_text(readme_quickstart())
    done = subprocess.run(
        [sys.executable, str(script), broker_url, backend], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "sending 'Welcome' to ada@example.com" in done.stdout
    assert re.search(r"job [0-9a-f]{32} sent: True", done.stdout)
