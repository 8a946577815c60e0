"""The ``queue-core`` command (also ``python -m queue_core``).

Only ``demo`` for now; argument parsing moves to click with the full CLI.
"""

from __future__ import annotations

import argparse
import functools
import logging
import sys
from collections.abc import Sequence

import anyio

from queue_core.demo import run_demo
from queue_core.events import LOGGER_NAME


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="queue-core", description="A distributed job queue for asyncio and trio.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser("demo", help="run a few hundred jobs through a worker and show the outcome")
    demo.add_argument("--url", default="memory://", help="broker URL (default: the embedded memory:// broker)")
    demo.add_argument("--jobs", type=int, default=300, help="how many jobs to enqueue (default: 300)")
    demo.add_argument("--concurrency", type=int, default=20, help="handlers running at once (default: 20)")
    demo.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio", help="async runtime")
    demo.add_argument("-v", "--verbose", action="store_true", help="show the worker's log (retries, archives)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        return _demo(args)
    raise AssertionError(f"unhandled command {args.command!r}")  # argparse rejects unknown ones


def _demo(args: argparse.Namespace) -> int:
    logger = logging.getLogger(LOGGER_NAME)
    quiet = not args.verbose
    if quiet:
        # The demo fails jobs on purpose; their log lines would bury the progress line.
        previous = logger.propagate
        logger.propagate = False
        handler: logging.Handler = logging.NullHandler()
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        anyio.run(
            functools.partial(run_demo, args.url, jobs=args.jobs, concurrency=args.concurrency), backend=args.backend
        )
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        logger.removeHandler(handler)
        if quiet:
            logger.propagate = previous
    return 0


if __name__ == "__main__":
    sys.exit(main())
