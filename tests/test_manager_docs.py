"""The Manager's and SyncClient's docs stay true: the matrix in docs/manager.md is the one
queue_core.states enforces, and the examples they show run to completion on memory://."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from queue_core.states import ACTIONS, JobState

ROOT = Path(__file__).resolve().parent.parent
# Each row of the doc's matrix and the action whose states it shows.
ROWS = {
    "run_job": "run",
    "archive_job": "archive",
    "delete_job": "delete",
    "cancel": "cancel",
    "run_all": "run",
    "archive_all": "archive",
    "delete_all": "delete",
}


def matrix() -> tuple[list[str], dict[str, list[str]]]:
    lines = (ROOT / "docs" / "manager.md").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| operation |"))
    header = [cell.strip() for cell in lines[start].strip("|").split("|")][1:]
    rows = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows[cells[0].split("`")[1]] = cells[1:]
    return header, rows


def test_the_documented_matrix_is_the_enforced_one() -> None:
    header, rows = matrix()
    assert sorted(header) == sorted(s.value for s in JobState)
    assert set(rows) == {*ROWS, "cancel_active"}
    for row, action in ROWS.items():
        documented = {JobState(state) for state, cell in zip(header, rows[row], strict=True) if cell.startswith("✓")}
        assert documented == ACTIONS[action], row
    assert [state for state, cell in zip(header, rows["cancel_active"], strict=True) if cell == "✓"] == ["active"]


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        (
            "queue_overview.py",
            ["== queues on memory:// ==", "team-0: 3 job(s) waiting", "running report.build", "lease held"],
        ),
        ("sync_script.py", ["second signup of ada refused", "worker sent: ada@example.com, alan@example.com"]),
    ],
)
def test_the_example_runs_to_completion(script: str, expected: list[str]) -> None:
    env = {key: value for key, value in os.environ.items() if key != "QUEUE_URL"}
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / script)], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 0, done.stderr
    for text in expected:
        assert text in done.stdout
