"""The command line, in this process (click's runner): enqueue, stats, queue, job, group.

Every test runs against ``memory://`` (a server of its own) and against the session's
Redis (a key prefix of its own). Data is seeded in this process, then read and changed
through the commands; exit codes are checked with the output.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

import anyio
import pytest

from queue_core import Job, JobState, Manager, open_broker
from queue_core.cli import job_actions
from tests.cli_kit import invoke, seed, with_prefix

QUEUE = "ops"


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def url(request: pytest.FixtureRequest) -> str:
    tag = secrets.token_hex(4)
    if request.param == "memory":
        return f"memory://cli{tag}"
    redis_url: str = request.getfixturevalue("redis_url")
    return with_prefix(redis_url, f"cli{tag}")


def manager_call(url: str, method: str, *args: Any, **kwargs: Any) -> Any:
    async def call() -> Any:
        async with Manager(url) as manager:
            return await getattr(manager, method)(*args, **kwargs)

    return anyio.run(call)


def as_json(url: str, *args: str) -> Any:
    result = invoke(url, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# --------------------------------------------------------------------------- help and errors


def test_help_lists_every_command_and_the_exit_codes(url: str) -> None:
    result = invoke(url, "--help")
    assert result.exit_code == 0
    for command in ("worker", "scheduler", "enqueue", "stats", "top", "queue", "job", "group", "cron", "workers"):
        assert f"  {command} " in result.stdout
    assert "Exit codes: 0 done; 1 the operation failed" in " ".join(result.stdout.split())
    assert "Exit codes:" in invoke(url, "job", "run", "--help").stdout


def test_an_unknown_command_or_option_is_a_usage_error(url: str) -> None:
    assert invoke(url, "nonsense").exit_code == 2
    assert invoke(url, "stats", "--nope").exit_code == 2


@pytest.mark.parametrize(
    ("bad_url", "says"),
    [
        ("foo://somewhere", "no broker driver for scheme 'foo'"),
        ("nonsense", "invalid url: 'nonsense'"),
        ("redis://user:secret@127.0.0.1:1/0", "cannot reach the broker at redis://user:***@127.0.0.1:1/0"),
    ],
)
def test_a_bad_or_unreachable_url_is_one_line_and_exit_2(url: str, bad_url: str, says: str) -> None:
    result = invoke(url, "stats", "--url", bad_url)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert says in result.stderr
    assert "--url or QUEUE_CORE_URL" in result.stderr
    assert "Traceback" not in result.stderr and "secret" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_debug_shows_the_traceback(url: str) -> None:
    result = invoke(url, "stats", "--url", "redis://127.0.0.1:1/0", "--debug")
    assert result.exit_code == 2
    assert "Traceback" in result.stderr and "BrokerUnavailable" in result.stderr


def test_a_bad_queue_name_is_a_usage_error(url: str) -> None:
    result = invoke(url, "queue", "info", "bad{name}")
    assert result.exit_code == 2
    assert "invalid queue" in result.stderr


def test_commands_run_on_trio_too(url: str) -> None:
    assert invoke(url, "enqueue", "email.send", '{"to": "a"}', "--backend", "trio").exit_code == 0
    [queue] = as_json(url, "stats", "--backend", "trio")
    assert queue["pending"] == 1


# --------------------------------------------------------------------------- enqueue


def test_enqueue_a_job_with_every_option(url: str) -> None:
    deadline = time.time() + 3600
    info = as_json(
        url, "enqueue", "report.build", '{"day": "2025-06-15"}', "-q", QUEUE, "--retention", "1h",
        "--max-retries", "3", "--timeout", "90s", "--deadline", str(deadline), "--id", "report-1",
        "--unique", "10m", "--unique-key", "report:2025-06-15", "-H", "trace=abc", "--header", "tenant=7",
    )  # fmt: skip
    assert info["id"] == "report-1" and info["queue"] == QUEUE and info["state"] == "pending"
    assert info["retention"] == 3600 and info["max_retries"] == 3 and info["timeout"] == 90
    assert info["deadline"] == pytest.approx(deadline)
    assert info["unique_key"] == "report:2025-06-15"
    assert info["headers"] == {"trace": "abc", "tenant": "7"}
    stored = manager_call(url, "job_info", QUEUE, "report-1")
    assert stored.state is JobState.PENDING and stored.headers == {"trace": "abc", "tenant": "7"}
    assert manager_call(url, "job_payload", QUEUE, "report-1") == b'{"day":"2025-06-15"}'


def test_enqueue_prints_the_id_and_state(url: str) -> None:
    result = invoke(url, "enqueue", "email.send", '{"to": "ada@example.com"}')
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("enqueued job ") and result.stdout.strip().endswith("on queue default: pending")


@pytest.mark.parametrize("when", [["--delay", "5m"], ["--at", "2100-01-01T00:00Z"]])
def test_enqueue_later_is_scheduled(url: str, when: list[str]) -> None:
    info = as_json(url, "enqueue", "cleanup", *when)
    assert info["state"] == "scheduled"
    assert info["next_process_at"] > time.time() + 200
    assert "scheduled for" in invoke(url, "enqueue", "cleanup", *when).stdout


def test_enqueue_reads_the_payload_from_stdin(url: str) -> None:
    result = invoke(url, "enqueue", "email.send", "-", "--id", "from-stdin", input='{"to": "bob"}')
    assert result.exit_code == 0, result.output
    assert manager_call(url, "job_payload", "default", "from-stdin") == b'{"to":"bob"}'


def test_a_duplicate_or_a_taken_id_fails_with_exit_1(url: str) -> None:
    assert invoke(url, "enqueue", "sync", '{"id": 7}', "--unique", "1h").exit_code == 0
    duplicate = invoke(url, "enqueue", "sync", '{"id": 7}', "--unique", "1h")
    assert duplicate.exit_code == 1
    assert "is a duplicate" in duplicate.stderr
    assert invoke(url, "enqueue", "sync", "--id", "same").exit_code == 0
    taken = invoke(url, "enqueue", "sync", "--id", "same")
    assert taken.exit_code == 1 and "already exists" in taken.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["{to: bad}"], "PAYLOAD is not JSON"),
        (["null", "--delay", "soon"], "is not a duration"),
        (["null", "--at", "tomorrow"], "is not a time"),
        (["null", "-H", "novalue"], "is not key=value"),
        (["null", "--unique-key", "k"], "invalid unique_key"),
    ],
)
def test_bad_enqueue_input_is_a_usage_error(url: str, args: list[str], says: str) -> None:
    result = invoke(url, "enqueue", "email.send", *args)
    assert result.exit_code == 2
    assert says in result.stderr
    assert manager_call(url, "queue_names") == []


# --------------------------------------------------------------------------- stats and queues


def test_stats_with_no_queues(url: str) -> None:
    result = invoke(url, "stats")
    assert result.exit_code == 0 and "no queues yet" in result.stdout
    assert as_json(url, "stats") == []


def test_stats_counts_every_state(url: str) -> None:
    counts = {JobState.PENDING: 3, JobState.ACTIVE: 1, JobState.RETRY: 2, JobState.ARCHIVED: 1}
    seed(url, counts)
    [queue] = as_json(url, "stats")
    assert queue["queue"] == QUEUE
    assert {state.value: queue[state.value] for state in counts} == {s.value: n for s, n in counts.items()}
    assert queue["size"] == 7 and queue["paused"] is False
    table = invoke(url, "stats").stdout
    row = next(line for line in table.splitlines() if line.startswith(QUEUE))
    assert row.split()[:8] == [QUEUE, "3", "1", "0", "2", "1", "0", "0"]


def test_queue_ls_info_and_history(url: str) -> None:
    seed(url, {JobState.PENDING: 2, JobState.COMPLETED: 1})
    seed(url, {JobState.PENDING: 1}, queue="low")
    listed = as_json(url, "queue", "ls")
    assert [(q["queue"], q["size"]) for q in listed] == [("low", 1), (QUEUE, 2)]
    assert "low" in invoke(url, "queue", "ls").stdout
    info = as_json(url, "queue", "info", QUEUE)
    assert info["pending"] == 2 and info["completed"] == 1 and info["processed_total"] == 1
    shown = invoke(url, "queue", "info", QUEUE).stdout
    assert "processed total" in shown and "paused" in shown
    days = as_json(url, "queue", "history", QUEUE, "--days", "3")
    assert len(days) == 3 and days[0]["processed"] == 1 and days[0]["succeeded"] == 1
    assert days[0]["date"] in invoke(url, "queue", "history", QUEUE).stdout


def test_an_unknown_queue_fails_with_exit_1_and_a_hint(url: str) -> None:
    result = invoke(url, "queue", "info", "nowhere")
    assert result.exit_code == 1
    assert "queue 'nowhere' not found" in result.stderr and "queue-core queue ls" in result.stderr
    assert invoke(url, "queue", "pause", "nowhere").exit_code == 1
    for listing in (["job", "ls", "-q", "nowhere"], ["job", "ls", "-q", "nowhere", "-s", "active"]):
        assert "queue 'nowhere' not found" in invoke(url, *listing).stderr
        assert invoke(url, *listing).exit_code == 1
    assert invoke(url, "group", "ls", "-q", "nowhere").exit_code == 1


def test_pause_and_resume(url: str) -> None:
    seed(url, {JobState.PENDING: 1})
    assert invoke(url, "queue", "pause", QUEUE).stdout == f"queue {QUEUE} paused\n"
    assert invoke(url, "queue", "pause", QUEUE).stdout == f"queue {QUEUE} was paused already\n"
    assert as_json(url, "queue", "info", QUEUE)["paused"] is True
    assert invoke(url, "queue", "resume", QUEUE).stdout == f"queue {QUEUE} resumed\n"
    assert invoke(url, "queue", "resume", QUEUE).stdout == f"queue {QUEUE} was not paused\n"


def test_delete_a_queue(url: str) -> None:
    seed(url, {JobState.PENDING: 2})
    refused = invoke(url, "queue", "delete", QUEUE)
    assert refused.exit_code == 1 and "--force" in refused.stderr
    declined = invoke(url, "queue", "delete", QUEUE, "--force", input="n\n")
    assert declined.exit_code == 1 and "nothing was changed" in declined.stderr
    assert manager_call(url, "queue_names") == [QUEUE]
    assert invoke(url, "queue", "delete", QUEUE, "--force", input="y\n").exit_code == 0
    assert manager_call(url, "queue_names") == []
    seed(url, {JobState.PENDING: 1})
    assert invoke(url, "queue", "delete", QUEUE, "--force", "--yes").stdout == f"queue {QUEUE} deleted\n"


# --------------------------------------------------------------------------- jobs: reading


def test_job_ls_every_state(url: str) -> None:
    counts = {state: 2 for state in JobState}
    ids = seed(url, counts)
    for state in JobState:
        extra = ["--group", "g1"] if state is JobState.AGGREGATING else []
        listed = as_json(url, "job", "ls", "-q", QUEUE, "-s", state.value, *extra)
        expected = ids[state][:1] if state is JobState.AGGREGATING else ids[state]
        assert sorted(job["id"] for job in listed) == sorted(expected), state
        assert all(job["state"] == state.value for job in listed)
        table = invoke(url, "job", "ls", "-q", QUEUE, "-s", state.value, *extra)
        assert table.exit_code == 0 and all(job_id in table.stdout for job_id in expected)


def test_job_ls_active_shows_the_attempt_deadline_and_orphans(url: str) -> None:
    [job_id] = seed(url, {JobState.ACTIVE: 1})[JobState.ACTIVE]
    [job] = as_json(url, "job", "ls", "-q", QUEUE, "-s", "active")
    assert job["id"] == job_id and job["orphaned"] is False and job["worker_id"] is None
    assert job["attempt_deadline"] > time.time()
    assert "orphaned" in invoke(url, "job", "ls", "-q", QUEUE, "-s", "active").stdout


def test_job_ls_pages_and_empty_pages(url: str) -> None:
    seed(url, {JobState.PENDING: 5})
    assert len(as_json(url, "job", "ls", "-q", QUEUE, "--page-size", "2", "--page", "3")) == 1
    assert "no pending jobs in queue ops on page 9" in invoke(url, "job", "ls", "-q", QUEUE, "--page", "9").stdout
    assert invoke(url, "job", "ls", "-q", QUEUE, "--page-size", "5000").exit_code == 2


def test_listing_aggregating_jobs_needs_a_group(url: str) -> None:
    seed(url, {JobState.AGGREGATING: 1})
    result = invoke(url, "job", "ls", "-q", QUEUE, "-s", "aggregating")
    assert result.exit_code == 2 and "group" in result.stderr


def test_job_show_payload_and_result(url: str) -> None:
    ids = seed(url, {JobState.COMPLETED: 1, JobState.RETRY: 1})
    [done], [failing] = ids[JobState.COMPLETED], ids[JobState.RETRY]
    info = as_json(url, "job", "show", done, "-q", QUEUE)
    assert info["state"] == "completed" and info["has_result"] is True
    shown = invoke(url, "job", "show", failing, "-q", QUEUE).stdout
    assert "retry" in shown and "boom" in shown and "last error" in shown
    payload = invoke(url, "job", "payload", done, "-q", QUEUE)
    assert payload.exit_code == 0 and json.loads(payload.stdout)["n"] >= 0
    assert invoke(url, "job", "result", done, "-q", QUEUE).stdout == '{"ok":true}'
    missing = invoke(url, "job", "result", failing, "-q", QUEUE)
    assert missing.exit_code == 1 and "has no result" in missing.stderr


def test_an_unknown_job_fails_with_exit_1_and_a_hint(url: str) -> None:
    seed(url, {JobState.PENDING: 1})
    for command in ("show", "payload", "result", "run", "archive", "delete", "cancel"):
        result = invoke(url, "job", command, "nope", "-q", QUEUE)
        assert result.exit_code == 1, command
        assert "job 'nope' not found in queue 'ops'" in result.stderr
        assert "queue-core job ls --queue ops" in result.stderr


# --------------------------------------------------------------------------- jobs: acting


@pytest.mark.parametrize(
    ("command", "state", "after"),
    [
        ("run", JobState.ARCHIVED, JobState.PENDING),
        ("archive", JobState.PENDING, JobState.ARCHIVED),
        ("cancel", JobState.SCHEDULED, JobState.ARCHIVED),
    ],
)
def test_act_on_one_job(url: str, command: str, state: JobState, after: JobState) -> None:
    [job_id] = seed(url, {state: 1})[state]
    result = invoke(url, "job", command, job_id, "-q", QUEUE)
    assert result.exit_code == 0, result.output
    assert f"(it was {state.value})" in result.stdout
    assert manager_call(url, "job_info", QUEUE, job_id).state is after


def test_delete_one_job(url: str) -> None:
    [job_id] = seed(url, {JobState.RETRY: 1})[JobState.RETRY]
    assert invoke(url, "job", "delete", job_id, "-q", QUEUE).stdout == f"job {job_id} deleted (it was retry)\n"
    assert manager_call(url, "queue_info", QUEUE).size == 0


def test_an_action_the_state_forbids_fails_with_exit_1(url: str) -> None:
    [job_id] = seed(url, {JobState.PENDING: 1})[JobState.PENDING]
    result = invoke(url, "job", "run", job_id, "-q", QUEUE)
    assert result.exit_code == 1
    assert "pending" in result.stderr


def test_act_on_several_ids_reports_each_failure(url: str) -> None:
    archived = seed(url, {JobState.ARCHIVED: 3})[JobState.ARCHIVED]
    result = invoke(url, "job", "run", *archived, "missing-one", "-q", QUEUE)
    assert result.exit_code == 1
    assert "3 of 4 job(s) of queue ops moved to pending; 1 failed" in result.stdout
    assert "job missing-one:" in result.stderr and "not found" in result.stderr
    assert manager_call(url, "queue_info", QUEUE).pending == 3


def test_act_on_ids_read_from_stdin(url: str) -> None:
    pending = seed(url, {JobState.PENDING: 3})[JobState.PENDING]
    result = invoke(url, "job", "archive", "-", "-q", QUEUE, input="\n".join(pending) + "\n")
    assert result.exit_code == 0, result.output
    assert manager_call(url, "queue_info", QUEUE).archived == 3


def test_ids_and_all_together_or_neither_is_a_usage_error(url: str) -> None:
    assert invoke(url, "job", "run", "x", "--all", "archived").exit_code == 2
    assert invoke(url, "job", "run").exit_code == 2


def test_all_of_a_state_asks_first(url: str) -> None:
    seed(url, {JobState.ARCHIVED: 4})
    declined = invoke(url, "job", "run", "--all", "archived", "-q", QUEUE, input="n\n")
    assert declined.exit_code == 1
    assert "Run all 4 archived job(s) of queue ops?" in declined.stderr
    assert "nothing was changed" in declined.stderr
    assert manager_call(url, "queue_info", QUEUE).archived == 4
    no_terminal = invoke(url, "job", "run", "--all", "archived", "-q", QUEUE)  # no answer at all
    assert no_terminal.exit_code == 1 and manager_call(url, "queue_info", QUEUE).archived == 4
    accepted = invoke(url, "job", "run", "--all", "archived", "-q", QUEUE, input="y\n")
    assert accepted.exit_code == 0
    assert accepted.stdout == "4 archived job(s) of queue ops moved to pending\n"
    assert manager_call(url, "queue_info", QUEUE).pending == 4


@pytest.mark.parametrize(
    ("command", "state", "field"),
    [
        ("archive", JobState.RETRY, "archived"),
        ("delete", JobState.COMPLETED, "size"),
        ("run", JobState.SCHEDULED, "pending"),
    ],
)
def test_all_of_a_state_with_yes(url: str, command: str, state: JobState, field: str) -> None:
    seed(url, {state: 3})
    result = invoke(url, "job", command, "--all", state.value, "-q", QUEUE, "--yes")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"3 {state.value} job(s) of queue ops ")
    info = manager_call(url, "queue_info", QUEUE)
    assert getattr(info, field) == (0 if command == "delete" else 3)


def test_all_aggregating_needs_a_group_and_takes_only_that_group(url: str) -> None:
    seed(url, {JobState.AGGREGATING: 4})  # g1 and g2, two each
    assert invoke(url, "job", "archive", "--all", "aggregating", "-q", QUEUE, "--yes").exit_code == 2
    result = invoke(url, "job", "archive", "--all", "aggregating", "--group", "g1", "-q", QUEUE, "--yes")
    assert result.exit_code == 0, result.output
    assert manager_call(url, "list_groups", QUEUE) == {"g2": 2}


def test_all_of_a_state_the_action_refuses_is_a_usage_error(url: str) -> None:
    seed(url, {JobState.PENDING: 1})
    result = invoke(url, "job", "run", "--all", "pending", "-q", QUEUE, "--yes")
    assert result.exit_code == 2
    assert "cannot run pending jobs; run takes scheduled, retry, archived, aggregating" in result.stderr
    assert invoke(url, "job", "run", "--all", "archived", "--group", "g1", "-q", QUEUE, "--yes").exit_code == 2


def test_all_of_an_empty_state_does_nothing(url: str) -> None:
    seed(url, {JobState.PENDING: 1})
    result = invoke(url, "job", "delete", "--all", "archived", "-q", QUEUE)
    assert result.exit_code == 0 and "nothing to do" in result.stdout


def test_a_large_batch_goes_in_chunks_with_a_progress_bar(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(job_actions, "PROGRESS_AFTER", 4)
    monkeypatch.setattr(job_actions, "CHUNK", 3)
    archived = seed(url, {JobState.ARCHIVED: 10})[JobState.ARCHIVED]
    result = invoke(url, "job", "delete", "--all", "archived", "-q", QUEUE, "--yes")
    assert result.exit_code == 0, result.output
    assert "10/10" in result.stderr  # the bar, on stderr
    assert result.stdout == "10 archived job(s) of queue ops deleted\n"
    assert manager_call(url, "queue_info", QUEUE).archived == 0
    seed(url, {JobState.ARCHIVED: 5})
    by_id = invoke(url, "job", "run", "-", "-q", QUEUE, input="\n".join(archived[:2]) + "\n")
    assert by_id.exit_code == 1  # deleted above: not found


def test_cancel_all_pending_and_all_active(url: str) -> None:
    seed(url, {JobState.ACTIVE: 2, JobState.PENDING: 3})
    pending = invoke(url, "job", "cancel", "--all", "pending", "-q", QUEUE, "--yes")
    assert pending.exit_code == 0, pending.output
    assert pending.stdout == "3 pending job(s) of queue ops cancelled\n"
    assert manager_call(url, "queue_info", QUEUE).archived == 3
    active = invoke(url, "job", "cancel", "--all", "active", "-q", QUEUE, "--yes")
    assert active.exit_code == 0
    assert active.stdout == "asked the workers to cancel 2 active job(s) of queue ops\n"


# --------------------------------------------------------------------------- groups


def test_group_ls(url: str) -> None:
    assert "no aggregation groups" in invoke(url, "group", "ls").stdout
    seed(url, {JobState.AGGREGATING: 3})
    seed(url, {JobState.AGGREGATING: 1}, queue="digest")
    listed = as_json(url, "group", "ls")
    assert listed == [
        {"queue": "digest", "group": "g1", "size": 1},
        {"queue": QUEUE, "group": "g1", "size": 2},
        {"queue": QUEUE, "group": "g2", "size": 1},
    ]
    assert as_json(url, "group", "ls", "-q", "digest") == [{"queue": "digest", "group": "g1", "size": 1}]
    assert "g2" in invoke(url, "group", "ls").stdout


def test_job_show_lists_dependencies_and_dependents_and_release_frees_a_waiting_job(url: str) -> None:
    async def flow() -> None:
        broker = await open_broker(url)
        try:
            jobs = [Job("a", queue=QUEUE, job_id="a"), Job("b", queue=QUEUE, job_id="b")]
            jobs.append(Job("c", queue=QUEUE, job_id="c", depends_on=("a", "b"), on_dependency_failure="wait"))
            await broker.enqueue_flow(jobs, time.time())
        finally:
            await broker.close()

    anyio.run(flow)
    shown = invoke(url, "job", "show", "c", "-q", QUEUE).stdout
    assert "waiting" in shown and "a, b" in shown and "wait" in shown
    assert as_json(url, "job", "show", "a", "-q", QUEUE)["dependents"] == ["c"]
    assert invoke(url, "job", "release", "c", "-q", QUEUE).exit_code == 0
    assert as_json(url, "job", "show", "c", "-q", QUEUE)["state"] == "pending"
    assert as_json(url, "job", "show", "a", "-q", QUEUE)["dependents"] == []
    refused = invoke(url, "job", "release", "a", "-q", QUEUE)
    assert refused.exit_code == 1 and "not waiting" in refused.stderr
    cancelled = invoke(url, "job", "cancel-flow", "a", "-q", QUEUE)
    assert cancelled.exit_code == 0 and "cancelled 1 job(s): a" in cancelled.stdout
