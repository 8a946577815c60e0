"""``queue-core enqueue TYPE [PAYLOAD]``: one job, with every option a Job has."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from typing import Any

import click

from queue_core.broker import JobInfo
from queue_core.cli.common import Settings, broker_options, json_option, open_client, run
from queue_core.cli.failures import EXIT_CODES, USAGE, CliError
from queue_core.cli.output import moment, print_json
from queue_core.cli.params import DURATION, INSTANT, KEY_VALUE
from queue_core.client import DEFAULT_MAX_PAYLOAD_BYTES
from queue_core.errors import PayloadTooLarge, SerializationError
from queue_core.job import DEFAULT_QUEUE


@click.command(epilog=EXIT_CODES)
@click.argument("job_type", metavar="TYPE")
@click.argument("payload", required=False)
@click.option("-q", "--queue", default=DEFAULT_QUEUE, show_default=True, help="The queue to put it in.")
@click.option("--delay", type=DURATION, help="Run it this long from now: 90, 90s, 5m, 2h, 1d.")
@click.option("--at", "schedule_at", type=INSTANT, help="Run it at this time (ISO 8601 or epoch seconds).")
@click.option("--retention", type=DURATION, help="Keep it (and its result) this long once completed.")
@click.option("--unique", "unique_for", type=DURATION, help="Refuse duplicates of it for this long.")
@click.option("--unique-key", help="What counts as a duplicate (default: same type and payload). Needs --unique.")
@click.option("--id", "job_id", help="Its ID (default: a random one); a second job with this ID is refused.")
@click.option("--max-retries", type=click.IntRange(min=0), help="Failures allowed before archiving; 0: none.")
@click.option("--timeout", type=DURATION, help="How long one attempt may run.")
@click.option("--deadline", type=INSTANT, help="It must be done by then (ISO 8601 or epoch seconds).")
@click.option("--group", help="Join this aggregation group of the queue.")
@click.option("-H", "--header", "headers", type=KEY_VALUE, multiple=True, help="A header key=value; repeat it.")
@click.option(
    "--max-payload-bytes",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_PAYLOAD_BYTES,
    show_default=True,
    help="Refuse a larger encoded payload (the Client's max_payload_bytes).",
)
@json_option
@broker_options
def enqueue(
    job_type: str,
    payload: str | None,
    headers: Sequence[tuple[str, str]],
    max_payload_bytes: int,
    as_json: bool,
    **given: Any,
) -> None:
    """Enqueue one job.

    TYPE names its handler; PAYLOAD is a JSON value (- reads it from stdin; none: null).

    \b
    queue-core enqueue email.send '{"to": "ada@example.com"}' --retention 1h
    queue-core enqueue report.build '{"day": "2025-06-15"}' -q low --at 2025-06-16T02:00
    queue-core enqueue sync.account '{"id": 7}' --unique 10m --max-retries 3

    Prints the new job's ID and state; exit 1 when a job with that ID or unique key
    exists already.
    """
    value = _payload(payload)
    options = {name: option for name, option in given.items() if option is not None}
    if headers:
        options["headers"] = dict(headers)
    info = run(_enqueue, Settings.of(), job_type, value, options, max_payload_bytes)
    if as_json:
        print_json(info)
        return
    when = f" for {moment(info.next_process_at, time.time())}" if info.state.value == "scheduled" else ""
    click.echo(f"enqueued job {info.id} ({info.type}) on queue {info.queue}: {info.state.value}{when}")


def _payload(text: str | None) -> Any:
    if text is None:
        return None
    if text == "-":
        text = sys.stdin.read()
    try:
        return json.loads(text)
    except RecursionError:
        raise CliError("PAYLOAD is nested too deeply to decode; flatten it", USAGE) from None
    except ValueError as exc:
        raise CliError(
            f'PAYLOAD is not JSON ({exc}): quote it for the shell, as in \'{{"to": "ada@example.com"}}\', '
            "and quote strings inside it ('\"hello\"')",
            USAGE,
        ) from None


async def _enqueue(
    settings: Settings, job_type: str, payload: Any, options: dict[str, Any], max_payload_bytes: int
) -> JobInfo:
    async with open_client(settings, max_payload_bytes=max_payload_bytes) as client:
        try:
            return await client.enqueue(job_type, payload, **options)
        except PayloadTooLarge as exc:
            raise CliError(f"the payload is {exc.size} bytes, over the limit of {exc.limit}; "
                           "raise it with --max-payload-bytes", USAGE) from None  # fmt: skip
        except SerializationError as exc:
            raise CliError(f"PAYLOAD cannot be encoded: {exc}", USAGE) from None
