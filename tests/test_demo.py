"""The demo behind ``make demo``: it settles every job and prints a table of states."""

from __future__ import annotations

import functools
import io
import secrets
import subprocess
import sys

import anyio
import pytest

from queue_core.__main__ import main
from queue_core.demo import run_demo


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_the_demo_settles_every_job_and_prints_the_states(backend: str, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"memory://demo-{secrets.token_hex(4)}"
    assert main(["demo", "--jobs", "60", "--url", url, "--backend", backend]) == 0
    out = capsys.readouterr().out
    assert f"enqueued 60 jobs of 5 types on {url}" in out
    assert "\r" not in out  # not a terminal: a series of lines, not one huge redrawn line
    assert all(len(line) < 200 for line in out.splitlines()), max(map(len, out.splitlines()))
    table = dict(line.rsplit(None, 1) for line in out.splitlines() if line.startswith("  ") and "---" not in line)
    counts = {name.strip(): value for name, value in table.items()}
    assert counts["pending"] == counts["scheduled"] == counts["active"] == counts["retry"] == "0"
    assert int(counts["completed"]) > 0 and int(counts["archived"]) > 0
    assert int(counts["failed (total)"]) > 0


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_at_a_terminal_the_progress_line_redraws_in_place() -> None:
    out = Terminal()
    anyio.run(functools.partial(run_demo, f"memory://demo-{secrets.token_hex(4)}", jobs=30, out=out))
    assert "\rpending" in out.getvalue()


def test_python_dash_m_queue_core_demo_exits_zero() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "queue_core", "demo", "--jobs", "40"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "archived" in done.stdout and "completed" in done.stdout


def test_an_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["nonsense"])
    assert caught.value.code == 2
