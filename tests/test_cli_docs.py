"""docs/cli.md stays true: its reference is every command's ``--help`` as it is now."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent


def gen_cli() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_cli", ROOT / "docs" / "gen_cli.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_reference_is_every_commands_help() -> None:
    gen = gen_cli()
    current = gen.DOC.read_text()
    assert gen.MARKER in current
    assert current == gen.expected(current), "docs/cli.md is not current: run python docs/gen_cli.py"


def test_the_reference_covers_every_command_and_the_exit_codes() -> None:
    gen = gen_cli()
    paths = [path for path, _ in gen.help_pages()]
    for command in ("worker", "scheduler", "enqueue", "stats", "top", "workers", "demo", "server"):
        assert f"queue-core {command}" in paths
    for group, subcommands in {
        "queue": ("ls", "info", "history", "pause", "resume", "delete"),
        "job": ("ls", "show", "payload", "result", "run", "archive", "delete", "cancel", "release", "cancel-flow"),
        "group": ("ls",),
        "cron": ("ls", "history"),
    }.items():
        for sub in subcommands:
            assert f"queue-core {group} {sub}" in paths
    assert all("Exit codes: 0 done" in text for _, text in gen.help_pages())
    assert "--child-of" not in gen.reference()  # internal to the supervisor


def test_the_check_mode_of_the_script() -> None:
    done = subprocess.run([sys.executable, "docs/gen_cli.py", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
