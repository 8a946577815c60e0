"""A feature whose extra is missing raises MissingDependency naming the extra.

Each case runs in a fresh interpreter where the optional library is made unimportable
(``sys.modules[name] = None``), as it is for a user who installed queue-core without it.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from queue_core import MissingDependency
from queue_core.extras import require


def run_without(module: str, code: str) -> str:
    program = f"import sys\nsys.modules[{module!r}] = None\n" + textwrap.dedent(code)
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


EXPECT_MISSING = """
from queue_core import MissingDependency
try:
    {call}
except MissingDependency as exc:
    print(exc.extra, "|", exc)
else:
    print("no error")
"""


@pytest.mark.parametrize(
    "call",
    [
        "__import__('queue_core').Worker('memory://').run_forever(backend='trio')",
        "__import__('queue_core').SyncClient('memory://', backend='trio')",
    ],
    ids=["worker", "sync-client"],
)
def test_running_on_trio_without_trio_names_the_trio_extra(call: str) -> None:
    out = run_without("trio", EXPECT_MISSING.format(call=call))
    assert out == "trio | running on trio needs an optional dependency: pip install 'queue-core[trio]'"


def test_the_cli_on_trio_without_trio_names_the_extra() -> None:
    out = run_without(
        "trio",
        """
        from click.testing import CliRunner
        from queue_core.cli import cli
        result = CliRunner().invoke(cli, ["stats", "--backend", "trio"])
        print(result.exit_code, result.output)
        """,
    )
    assert "pip install 'queue-core[trio]'" in out and not out.startswith("0 ")


def test_the_conformance_kit_without_hypothesis_names_the_conformance_extra() -> None:
    out = run_without("hypothesis", EXPECT_MISSING.format(call="import queue_conformance.conftest"))
    assert out.startswith("conformance | the conformance kit (it needs hypothesis)")
    assert "pip install 'queue-core[conformance]'" in out


def test_require_passes_when_the_module_is_there_and_keeps_other_import_errors() -> None:
    require("anyio", feature="anything", extra="none")  # installed: no error
    with pytest.raises(MissingDependency) as missing:
        require("no_such_module_here", feature="the thing", extra="thing")
    assert missing.value.extra == "thing"
    assert str(missing.value) == "the thing needs an optional dependency: pip install 'queue-core[thing]'"
