"""The command line facing damaged data and bad input: one readable line, the right exit
code, the healthy jobs still listed -- on memory:// and Redis."""

from __future__ import annotations

import json
import secrets

import anyio
import pytest

from queue_core import JobState, open_broker
from queue_core.cli import jobs
from tests.cli_kit import invoke, seed, with_prefix

QUEUE = "ops"


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def url(request: pytest.FixtureRequest) -> str:
    tag = secrets.token_hex(4)
    if request.param == "memory":
        return f"memory://cli{tag}"
    redis_url: str = request.getfixturevalue("redis_url")
    return with_prefix(redis_url, f"cli{tag}")


def clobber_job(url: str, queue: str, job_id: str) -> None:
    async def damage() -> None:
        broker = await open_broker(url)
        try:
            key = broker._keys.queue(queue).job(job_id)  # type: ignore[attr-defined]
            await broker._transport.execute([("DEL", key), ("SET", key, "garbage")])  # type: ignore[attr-defined]
        finally:
            await broker.close()

    anyio.run(damage)


def test_job_ls_and_show_explain_a_damaged_record_and_it_can_be_deleted(url: str) -> None:
    """Before: every command failed with WRONGTYPE, the CLI asking "is that URL a broker?"."""
    for n in (1, 2, 3):
        assert invoke(url, "enqueue", "t", "{}", "-q", QUEUE, "--id", f"job{n}").exit_code == 0
    clobber_job(url, QUEUE, "job2")
    listed = invoke(url, "job", "ls", "-q", QUEUE)
    assert listed.exit_code == 0, listed.output
    assert "job1" in listed.stdout and "job3" in listed.stdout and "MALFORMED" in listed.stdout
    as_json = json.loads(invoke(url, "job", "ls", "-q", QUEUE, "--json").stdout)
    assert [j["malformed"] for j in as_json] == [None, "its key holds a string, not a hash", None]
    shown = invoke(url, "job", "show", "job2", "-q", QUEUE)
    assert shown.exit_code == 0 and "MALFORMED" in shown.stdout and "not a hash" in shown.stdout
    payload = invoke(url, "job", "payload", "job2", "-q", QUEUE)
    assert payload.exit_code == 1 and "damaged record" in payload.stderr and "broker?" not in payload.stderr
    stats = json.loads(invoke(url, "stats", "--json").stdout)
    assert stats[0]["pending"] == 3
    assert invoke(url, "job", "delete", "job2", "-q", QUEUE).exit_code == 0
    assert "MALFORMED" not in invoke(url, "job", "ls", "-q", QUEUE).stdout


def test_job_run_refuses_a_malformed_archived_record(url: str) -> None:
    """Before: it moved to pending with an empty type."""
    assert invoke(url, "enqueue", "t", "{}", "-q", QUEUE, "--id", "bad").exit_code == 0
    clobber_job(url, QUEUE, "bad")
    assert invoke(url, "job", "archive", "bad", "-q", QUEUE).exit_code == 0
    refused = invoke(url, "job", "run", "bad", "-q", QUEUE)
    assert refused.exit_code == 1, refused.output
    assert "record is damaged" in refused.stderr and "delete" in refused.stderr
    [archived] = json.loads(invoke(url, "job", "ls", "-q", QUEUE, "-s", "archived", "--json").stdout)
    assert archived["state"] == "archived" and archived["last_error"].count("malformed job record") == 1


def test_a_payload_nested_too_deeply_is_one_line_and_exit_2(url: str) -> None:
    """Before: a RecursionError traceback and exit 1."""
    deep = "[" * 100_000 + "]" * 100_000
    result = invoke(url, "enqueue", "deep", "-", input=deep)
    assert result.exit_code == 2, result.output
    assert "nested too deeply" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_payload_over_the_limit_names_the_option_that_raises_it(url: str) -> None:
    """Before: the message named Client(max_payload_bytes), which the CLI cannot set."""
    big = json.dumps("x" * 2000)
    refused = invoke(url, "enqueue", "big", big, "--max-payload-bytes", "1000")
    assert refused.exit_code == 2 and "--max-payload-bytes" in refused.stderr
    assert invoke(url, "enqueue", "big", big, "--max-payload-bytes", "3000").exit_code == 0


def test_queue_delete_refused_gives_command_line_advice_only(url: str) -> None:
    """Before: "... or pass force=True; pass --force ..." (the API's advice and the CLI's)."""
    seed(url, {JobState.PENDING: 1})
    refused = invoke(url, "queue", "delete", QUEUE)
    assert refused.exit_code == 1
    assert "--force" in refused.stderr and "force=True" not in refused.stderr


def test_job_ls_says_how_many_more_pages_there_are_at_a_terminal(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: nothing told that a second page existed."""
    seed(url, {JobState.PENDING: 5})
    assert "more job" not in invoke(url, "job", "ls", "-q", QUEUE, "--page-size", "2").stderr  # a pipe: quiet
    monkeypatch.setattr(jobs, "at_terminal", lambda: True)
    first = invoke(url, "job", "ls", "-q", QUEUE, "--page-size", "2")
    assert "3 more job(s) on 2 more page(s): --page 2" in first.stderr
    assert "more job" not in first.stdout
    last = invoke(url, "job", "ls", "-q", QUEUE, "--page-size", "2", "--page", "3")
    assert "more job" not in last.stderr
