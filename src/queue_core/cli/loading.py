"""APP: ``module:attribute`` naming a Worker or Scheduler, or a factory returning one.

A factory receives the options given on the command line as keyword arguments named as
``Worker``'s (``url``, ``concurrency``, ``queues``, ``strict``), so the usual one is::

    def create_worker(url: str = "memory://", **options: Any) -> Worker:
        worker = Worker(url, **options)
        ...
        return worker

A ready-made ``Worker`` runs as it was built: command-line options cannot change it, and
giving one is an error that says to use a factory. The current directory is importable,
as with ``python -m``.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
import traceback
from collections.abc import Mapping
from typing import Any, TypeVar

from queue_core.cli.failures import USAGE, CliError
from queue_core.errors import ValidationError

T = TypeVar("T")

FORM = "module:attribute, e.g. myapp.tasks:worker or myapp.tasks:create_worker"


def split(spec: str, *, default_module: str | None = None) -> tuple[str, str]:
    """``module:attribute`` -> (module, attribute); ``:attribute`` uses ``default_module``."""
    module, sep, attribute = spec.partition(":")
    if not module and default_module:
        module = default_module
    if not sep or not module or not attribute:
        raise CliError(f"APP {spec!r} is not {FORM}", USAGE)
    return module, attribute


def load(spec: str, *, default_module: str | None = None) -> Any:
    """Import the module named by ``spec`` and return its attribute (dotted paths allowed)."""
    module_name, attribute = split(spec, default_module=default_module)
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        target: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module_name.startswith(exc.name):
            raise CliError(
                f"cannot import {module_name!r} (from APP {spec!r}): {exc}; "
                "run from the directory that holds it, or add that directory to PYTHONPATH",
                USAGE,
            ) from exc
        raise CliError(f"importing {module_name!r} failed: {exc} (a dependency of your app is missing)", USAGE) from exc
    except Exception as exc:
        raise CliError(
            f"importing {module_name!r} raised {type(exc).__name__}: {exc}; "
            "fix the module (--debug shows the traceback)",
            USAGE,
        ) from exc
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise CliError(f"module {module_name!r} has no attribute {attribute!r}; APP is {FORM}", USAGE) from None
    return target


def build(spec: str, target: Any, kind: type[T], options: Mapping[str, Any], *, default_module: str | None = None) -> T:
    """``target`` itself when it is a ``kind`` (then ``options`` must be empty), else the
    ``kind`` that calling it with ``options`` returns."""
    noun = kind.__name__
    if isinstance(target, kind):
        if options:
            given = ", ".join(_flag(name) for name in options)
            raise CliError(
                f"{spec} is a {noun} built with its own options, so {given} cannot change it; "
                f"name a factory instead: def create(url, **options) -> {noun}: return {noun}(url, **options) ...",
                USAGE,
            )
        return target
    if not callable(target) or (isinstance(target, type) and not issubclass(target, kind)):
        raise CliError(f"{spec} is a {type(target).__name__}, not a {noun} or a function returning one", USAGE)
    _check_accepts(spec, target, options)
    try:
        built = target(**options)
    except ValidationError as exc:
        raise CliError(f"{spec}: {exc}", USAGE) from exc
    except Exception as exc:
        raise CliError(f"{spec} raised {type(exc).__name__}: {exc} (--debug shows the traceback)", USAGE) from exc
    if not isinstance(built, kind):
        raise CliError(f"{spec} returned a {type(built).__name__}, not a {noun}", USAGE)
    return built


def _check_accepts(spec: str, factory: Any, options: Mapping[str, Any]) -> None:
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return  # a builtin without a signature: let the call tell
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    refused = [name for name in options if name not in parameters]
    if refused:
        given = ", ".join(_flag(name) for name in refused)
        names = ", ".join(refused)
        raise CliError(
            f"{spec} does not take {given}: give it keyword parameters named {names} (or **options) "
            "and pass them to the constructor",
            USAGE,
        )


def _flag(option: str) -> str:
    return {"queues": "--queue", "url": "--url (or QUEUE_CORE_URL)"}.get(option, f"--{option}")


def show_cause(error: CliError, debug: bool) -> None:
    """With ``--debug``, print the traceback behind a loading error."""
    if debug and error.__cause__ is not None:
        traceback.print_exception(error.__cause__, file=sys.stderr)
