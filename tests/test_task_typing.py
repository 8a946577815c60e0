"""Typed tasks are typed: mypy --strict accepts the correct uses and rejects each wrong
one with the expected error, and a result's revealed type is the function's return type."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "tests" / "typing"

#: each file of wrong uses, with the error mypy must report for it (and nothing else).
WRONG = {
    "wrong_argument_type.py": ['Argument "to" to "enqueue" of "Task" has incompatible type "int"; expected "str"'],
    "wrong_missing_argument.py": ['Missing positional argument "subject" in call to "enqueue" of "Task"'],
    "wrong_unknown_argument.py": ['Unexpected keyword argument "c" for "enqueue" of "Task"'],
    "wrong_result_type.py": ['Incompatible return value type (got "int", expected "str")'],
    "wrong_delivery_passed.py": [
        'Too many arguments for "enqueue" of "Task"',
        'Argument 2 to "enqueue" of "Task" has incompatible type "Delivery"; expected "str"',
    ],
    "wrong_sync_client.py": ['Argument 1 to "enqueue" of "Task" has incompatible type "SyncClient"; expected "Client"'],
    "wrong_prepare_argument.py": ['Argument 1 to "prepare" of "Task" has incompatible type "str"; expected "int"'],
}


@pytest.fixture(scope="module")
def mypy_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """One mypy --strict run over every case file: its errors and notes, by file name."""
    config = tmp_path_factory.mktemp("mypy") / "mypy.ini"
    config.write_text("[mypy]\nstrict = True\n")
    files = [str(CASES / name) for name in ["correct_uses.py", *WRONG]]
    command = [sys.executable, "-m", "mypy", "--config-file", str(config), "--cache-dir", str(config.parent), *files]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False, timeout=300)
    report: dict[str, list[str]] = {}
    for line in run.stdout.splitlines():
        if match := re.match(r"tests/typing/(\w+\.py):\d+: (error|note): (.*)", line):
            report.setdefault(match[1], []).append(f"{match[2]}: {match[3]}")
    return report


def test_the_correct_uses_pass_mypy_strict(mypy_report: dict[str, list[str]]) -> None:
    errors = [line for line in mypy_report.get("correct_uses.py", []) if line.startswith("error")]
    assert errors == []


def test_a_result_reveals_the_function_return_type(mypy_report: dict[str, list[str]]) -> None:
    notes = mypy_report.get("correct_uses.py", [])
    assert notes == ['note: Revealed type is "tests.typing.tasks_defined.Receipt"']


@pytest.mark.parametrize("case", sorted(WRONG))
def test_each_wrong_use_fails_with_the_expected_error(mypy_report: dict[str, list[str]], case: str) -> None:
    errors = [line.removeprefix("error: ") for line in mypy_report.get(case, []) if line.startswith("error")]
    assert [re.sub(r"\s+\[[a-z-]+\]$", "", error) for error in errors] == WRONG[case]
