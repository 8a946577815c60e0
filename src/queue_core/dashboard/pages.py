"""The pages (GET only: nothing here changes anything) and their live fragments.

Each handler reads through the Manager only what the page shows: counts come from
``queue_info`` (constant work per queue), listings one page at a time, so a queue of a
million jobs renders as fast as one of ten.
"""

from __future__ import annotations

from queue_core.dashboard import require_extra

require_extra()

import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from queue_core import errors, validation
from queue_core.broker import JobInfo, ServerReport
from queue_core.dashboard import charts, formatting
from queue_core.manager import QueueInfo
from queue_core.metrics import MAX_WINDOW_MINUTES
from queue_core.states import ACTIONS, JobState, allowed_actions

if TYPE_CHECKING:
    from queue_core.dashboard.app import Dashboard

#: tabs of the queue page in the order shown; aggregating jobs are shown by group.
TABS = (
    JobState.PENDING,
    JobState.ACTIVE,
    JobState.SCHEDULED,
    JobState.RETRY,
    JobState.ARCHIVED,
    JobState.COMPLETED,
    JobState.WAITING,
)
PAGE_SIZES = (25, 50, 100)
#: a search by job type looks at this many jobs of the state at most (never all of them).
SEARCH_LIMIT = 1000
SEARCH_PAGE = 500
#: windows of the metrics page: label -> (minutes, minutes per point).
WINDOWS = {"1h": (60, 1), "6h": (360, 5), "24h": (1440, 15), "72h": (MAX_WINDOW_MINUTES, 60)}
#: INFO fields the server page shows first, by section.


@dataclass(frozen=True)
class Pager:
    page: int
    pages: int
    size: int
    total: int

    @property
    def first_item(self) -> int:
        return 0 if not self.total else (self.page - 1) * self.size + 1

    @property
    def last_item(self) -> int:
        return min(self.total, self.page * self.size)


def _int_param(request: Request, name: str, default: int, lowest: int = 1, highest: int = 10**9) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise errors.ValidationError(name, raw, f"an integer from {lowest} to {highest}") from None
    if not lowest <= value <= highest:
        raise errors.ValidationError(name, raw, f"an integer from {lowest} to {highest}")
    return value


# --------------------------------------------------------------------------- overview


async def _overview_context(dash: Dashboard) -> dict[str, Any]:
    manager = dash.manager
    queues = await manager.list_queues()
    workers = await manager.list_workers()
    schedules = await manager.schedules()
    history = None
    if "metrics" in manager.broker.capabilities.features:
        history = await manager.metrics(minutes=60)
    totals = {state.value: sum(queue.count(state) for queue in queues) for state in (*TABS, JobState.AGGREGATING)}
    return {
        "queues": queues,
        "workers": workers,
        "busy": sum(worker.busy for worker in workers),
        "capacity": sum(worker.concurrency for worker in workers),
        "schedulers": sorted({entry.scheduler_id for entry in schedules}),
        "schedules": schedules,
        "totals": totals,
        "processed_today": sum(q.processed_today for q in queues),
        "failed_today": sum(q.failed_today for q in queues),
        "history": history,
        "chart": charts.throughput(history.points) if history is not None else None,
        "states": [state.value for state in (*TABS, JobState.AGGREGATING)],
    }


async def overview(dash: Dashboard, request: Request) -> Response:
    return dash.render(request, "overview.html", title="Overview", **await _overview_context(dash))


async def overview_live(dash: Dashboard, request: Request) -> Response:
    return dash.render(request, "_overview_live.html", **await _overview_context(dash))


# --------------------------------------------------------------------------- one queue


async def _queue_header(dash: Dashboard, queue: str) -> QueueInfo:
    return await dash.manager.queue_info(validation.queue_name(queue))


async def _queue_chart(dash: Dashboard, queue: str) -> charts.Chart | None:
    """The queue's throughput over the last hour (one read of 60 minutes)."""
    if "metrics" not in dash.manager.broker.capabilities.features:
        return None
    return charts.throughput((await dash.manager.metrics(queue, minutes=60)).points, height=130)


async def queue_page(dash: Dashboard, request: Request) -> Response:
    manager = dash.manager
    info = await _queue_header(dash, request.path_params["queue"])
    state = JobState.parse(request.query_params.get("state") or "pending")
    if state is JobState.AGGREGATING:
        return RedirectResponse(f"{request.scope.get('root_path', '')}/queues/{info.queue}/groups", status_code=303)
    size = _int_param(request, "size", PAGE_SIZES[0], 1, 1000)
    count = info.count(state)
    pages = max(1, math.ceil(count / size))
    page = min(_int_param(request, "page", 1), pages)
    search = (request.query_params.get("q") or "").strip()
    searched_note = None
    runners: dict[str, str] = {}
    if search:
        jobs, searched_note = await _search(dash, info.queue, state, search)
        pager = Pager(1, 1, max(1, len(jobs)), len(jobs))
    else:
        if state is JobState.ACTIVE:
            active = await manager.list_active(info.queue, page, size)
            jobs = [item.info for item in active]
            runners = {item.id: item.worker_id or "" for item in active}
        else:
            jobs = await manager.list_jobs(info.queue, state, page, size)
        pager = Pager(page, pages, size, count)
    return dash.render(
        request,
        "queue.html",
        title=f"Queue {info.queue}",
        queue=info,
        chart=await _queue_chart(dash, info.queue),
        state=state.value,
        tabs=[tab.value for tab in TABS],
        jobs=jobs,
        pager=pager,
        page_sizes=PAGE_SIZES,
        search=search,
        searched_note=searched_note,
        runners=runners,
        bulk_actions=[name for name, states in ACTIONS.items() if state in states],
        done=request.query_params.get("done", ""),
    )


async def _search(dash: Dashboard, queue: str, state: JobState, text: str) -> tuple[list[JobInfo], str]:
    """A job ID is looked up directly (in any state); otherwise the first
    ``SEARCH_LIMIT`` jobs of the state are searched by type."""
    manager = dash.manager
    try:
        job = await manager.job_info(queue, validation.job_id(text))
    except (errors.ValidationError, errors.JobNotFound):
        pass
    else:
        return [job], f"job ID {text} ({job.state.value})"
    found: list[JobInfo] = []
    wanted = text.lower()
    for page in range(1, SEARCH_LIMIT // SEARCH_PAGE + 1):
        batch = await manager.list_jobs(queue, state, page, SEARCH_PAGE)
        found += [job for job in batch if wanted in job.type.lower()]
        if len(batch) < SEARCH_PAGE:
            break
    return found, f"job type containing “{text}” among the first {SEARCH_LIMIT:,} {state.value} jobs"


async def queue_live(dash: Dashboard, request: Request) -> Response:
    info = await _queue_header(dash, request.path_params["queue"])
    state = request.query_params.get("state") or "pending"
    return dash.render(
        request, "_queue_live.html", queue=info, state=state, tabs=[tab.value for tab in TABS],
        chart=await _queue_chart(dash, info.queue),
    )  # fmt: skip


async def groups_page(dash: Dashboard, request: Request) -> Response:
    manager = dash.manager
    info = await _queue_header(dash, request.path_params["queue"])
    groups = await manager.list_groups(info.queue)
    chosen = request.query_params.get("group") or (next(iter(sorted(groups))) if groups else None)
    jobs: list[JobInfo] = []
    pager = Pager(1, 1, 25, 0)
    if chosen:
        chosen = validation.group_name(chosen)
        size = _int_param(request, "size", PAGE_SIZES[0], 1, 1000)
        total = groups.get(chosen, 0)
        pages = max(1, math.ceil(total / size))
        page = min(_int_param(request, "page", 1), pages)
        jobs = await manager.list_jobs(info.queue, JobState.AGGREGATING, page, size, group=chosen)
        pager = Pager(page, pages, size, total)
    return dash.render(
        request,
        "groups.html",
        title=f"Groups of {info.queue}",
        queue=info,
        groups=sorted(groups.items()),
        group=chosen,
        jobs=jobs,
        pager=pager,
        bulk_actions=[name for name, states in ACTIONS.items() if JobState.AGGREGATING in states],
        done=request.query_params.get("done", ""),
    )


# --------------------------------------------------------------------------- one job


async def job_page(dash: Dashboard, request: Request) -> Response:
    manager = dash.manager
    queue = validation.queue_name(request.path_params["queue"])
    job_id = validation.job_id(request.path_params["job_id"])
    job = await manager.job_info(queue, job_id)
    payload = formatting.pretty_bytes(await manager.job_payload(queue, job_id))
    result = None
    if job.has_result:
        try:
            result = formatting.pretty_bytes(await manager.job_result(queue, job_id))
        except errors.ResultNotFound:
            result = None
    runner = None
    if job.state is JobState.ACTIVE:
        for worker in await manager.list_workers():
            if any(active.job_id == job.id and active.queue == queue for active in worker.active_jobs):
                runner = worker
    return dash.render(
        request,
        "job.html",
        title=f"Job {job.id}",
        job=job,
        payload=payload,
        result=result,
        runner=runner,
        timeline=_timeline(job),
        actions=allowed_actions(job.state),
        headers=sorted(job.headers.items()),
        done=request.query_params.get("done", ""),
    )


def _timeline(job: JobInfo) -> list[tuple[float, str]]:
    """What the stored record tells of the job's life, oldest first."""
    events: list[tuple[float | None, str]] = [
        (job.enqueued_at, "enqueued"),
        (job.next_process_at if job.state in (JobState.SCHEDULED, JobState.RETRY) else None,
         "due" if job.state is JobState.SCHEDULED else "retry due"),
        (job.next_process_at if job.state is JobState.PENDING else None, "became pending"),
        (job.started_at, "started (latest attempt)"),
        (job.last_failed_at, "last failure"),
        (job.completed_at, "completed"),
        (job.archived_at, "archived"),
        (job.expires_at, "retention ends"),
        (job.deadline, "deadline"),
    ]  # fmt: skip
    return sorted((when, what) for when, what in events if when is not None)


# --------------------------------------------------------------------------- metrics


async def _metrics_context(dash: Dashboard, request: Request) -> dict[str, Any]:
    manager = dash.manager
    window = request.query_params.get("window") or "1h"
    if window not in WINDOWS:
        raise errors.ValidationError("window", window, f"one of {', '.join(WINDOWS)}")
    minutes, step = WINDOWS[window]
    queue = request.query_params.get("queue") or None
    job_type = request.query_params.get("type") or None
    history = await manager.metrics(queue, job_type=job_type, minutes=minutes, step=step)
    return {
        "history": history,
        "window": window,
        "windows": list(WINDOWS),
        "queue_name": queue or "",
        "job_type": job_type or "",
        "throughput": charts.throughput(history.points),
        "runtimes": charts.runtimes(history.points),
        "queue_names": await manager.queue_names(),
        "step_label": {60: "minute", 300: "5 minutes", 900: "15 minutes", 3600: "hour"}.get(
            history.step, formatting.span(history.step)
        ),
    }


async def metrics_page(dash: Dashboard, request: Request) -> Response:
    if "metrics" not in dash.manager.broker.capabilities.features:
        raise errors.Unsupported(f"the {dash.manager.broker.capabilities.name!r} driver keeps no metrics history")
    return dash.render(request, "metrics.html", title="Metrics", **await _metrics_context(dash, request))


async def metrics_live(dash: Dashboard, request: Request) -> Response:
    return dash.render(request, "_metrics_live.html", **await _metrics_context(dash, request))


# --------------------------------------------------------------------------- workers, schedules, server


async def workers_page(dash: Dashboard, request: Request) -> Response:
    workers = await dash.manager.list_workers()
    return dash.render(request, "workers.html", title="Workers", workers=workers)


async def workers_live(dash: Dashboard, request: Request) -> Response:
    return dash.render(request, "_workers_live.html", workers=await dash.manager.list_workers())


async def schedules_page(dash: Dashboard, request: Request) -> Response:
    schedules = await dash.manager.schedules()
    return dash.render(request, "schedules.html", title="Schedules", schedules=schedules)


async def schedule_page(dash: Dashboard, request: Request) -> Response:
    schedule_id = request.path_params["schedule_id"]
    fires = await dash.manager.schedule_history(schedule_id, 100)
    entries = [entry for entry in await dash.manager.schedules() if entry.schedule_id == schedule_id]
    return dash.render(
        request, "schedule.html", title=f"Schedule {schedule_id}", schedule_id=schedule_id, fires=fires,
        entries=entries,
    )  # fmt: skip


async def server_page(dash: Dashboard, request: Request) -> Response:
    try:
        server = await dash.manager.server_info()
    except errors.Unsupported as exc:
        return dash.render(request, "server.html", title="Server", server=None, sections=[], other=[], note=str(exc))
    sections = [("Server", _report_rows(server))]
    if server.details:
        sections.append(("Details", sorted((name, _plain(value)) for name, value in server.details.items())))
    return dash.render(
        request, "server.html", title="Server", server=server, sections=sections, other=[], note=None,
    )  # fmt: skip


def _report_rows(server: ServerReport) -> list[tuple[str, str]]:
    """The typed report's fields every driver fills; a field the driver cannot know reads 'unknown'."""

    def known(value: object, unit: str = "") -> str:
        return "unknown" if value is None else f"{value}{unit}"

    return [
        ("backend", server.backend),
        ("version", known(server.version)),
        ("cluster", "yes" if server.is_cluster else "no"),
        ("eviction policy", "none (never evicts)" if server.eviction_policy is None else server.eviction_policy),
        ("memory used", known(server.memory_used, " bytes")),
        ("memory limit", known(server.memory_limit, " bytes")),
    ]


def _plain(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)
