"""The wheel ships the tree: every file of the four packages, flat at the top level.

Builds a wheel (``--no-isolation``, with the dev venv's hatchling) unless
``QUEUE_CORE_WHEEL`` names one (``make dist-check`` passes the one it built). A file added
under ``src/`` or ``conformance/`` that the wheel leaves out, a driver folder missing from
``only-include`` in pyproject, or a package folder such as ``backends/`` in the wheel fails
here.
"""

from __future__ import annotations

import configparser
import importlib.util
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: Where each shipped package lives in the checkout.
PACKAGE_DIRS = {
    "queue_core": ROOT / "src" / "queue_core",
    "queue_conformance": ROOT / "conformance" / "queue_conformance",
    **{path.name: path for path in sorted((ROOT / "src" / "backends").iterdir()) if (path / "__init__.py").exists()},
}
SKIPPED_PARTS = {"__pycache__", ".mypy_cache", ".pytest_cache", ".hypothesis"}


def shipped_files() -> Iterator[tuple[Path, str]]:
    """(file in the checkout, its path in the wheel) for every file that must ship."""
    for name, folder in PACKAGE_DIRS.items():
        for path in sorted(folder.rglob("*")):
            relative = path.relative_to(folder)
            if path.is_dir() or SKIPPED_PARTS & set(relative.parts) or path.suffix == ".pyc":
                continue
            yield path, f"{name}/{relative.as_posix()}"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    given = os.environ.get("QUEUE_CORE_WHEEL")
    if given:
        return zipfile.ZipFile(given)
    if importlib.util.find_spec("build") is None or importlib.util.find_spec("hatchling") is None:
        pytest.fail("building the wheel needs the release extra: pip install -e '.[release]'")
    out = tmp_path_factory.mktemp("wheel")
    command = [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(ROOT)]
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    [built] = out.glob("*.whl")
    return zipfile.ZipFile(built)


def test_the_four_packages_and_the_metadata_are_the_only_top_level_entries(wheel: zipfile.ZipFile) -> None:
    top = {name.split("/", 1)[0] for name in wheel.namelist()}
    dist_info = {entry for entry in top if entry.endswith(".dist-info")}
    assert len(dist_info) == 1, top
    assert top - dist_info == set(PACKAGE_DIRS), top
    assert {"queue_core", "queue_redis", "queue_fakeredis", "queue_conformance"} <= set(PACKAGE_DIRS)


def test_every_file_of_the_tree_is_in_the_wheel(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    expected = dict(shipped_files())
    missing = sorted(inside for inside in expected.values() if inside not in names)
    assert not missing, f"files of the tree missing from the wheel: {missing}"
    for source, inside in expected.items():
        assert wheel.read(inside) == source.read_bytes(), f"{inside} differs from {source}"


def test_every_package_is_typed_and_the_lua_scripts_are_inside(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    for package in PACKAGE_DIRS:
        assert f"{package}/py.typed" in names, package
    lua = {name for name in names if name.startswith("queue_redis/lua/") and name.endswith(".lua")}
    assert lua == {f"queue_redis/lua/{path.name}" for path in (ROOT / "src/backends/queue_redis/lua").glob("*.lua")}
    assert "queue_redis/lua/enqueue.lua" in lua


def test_every_entry_point_names_a_module_in_the_wheel(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    [entry_points] = [name for name in names if name.endswith(".dist-info/entry_points.txt")]
    parser = configparser.ConfigParser()
    parser.read_string(wheel.read(entry_points).decode())
    assert parser["console_scripts"]["queue-core"] == "queue_core.cli:main"
    assert parser["pytest11"]["queue_conformance"] == "queue_conformance.plugin"
    assert {"redis", "memory"} <= set(parser["queue_core"])
    for section in parser.sections():
        for target in parser[section].values():
            module = target.split(":", 1)[0].replace(".", "/")
            assert f"{module}.py" in names or f"{module}/__init__.py" in names, f"[{section}] {target}"
