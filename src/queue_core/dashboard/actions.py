"""The actions: POST only, each behind the read-only, origin and CSRF checks.

One-job actions (run, archive, delete, cancel) act at once; bulk actions on a selection
or on every job of a state first answer with a confirmation page, and act only when
that page's form comes back with ``confirmed=yes``. After acting, the browser is sent
back (303) to the page it came from with a short note of what happened.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from queue_core import errors, validation
from queue_core.dashboard.security import checked_form
from queue_core.manager import BatchResult
from queue_core.states import ACTIONS, JobState

if TYPE_CHECKING:
    from queue_core.dashboard.app import Dashboard

#: the most IDs one selection may carry (a page holds at most 1000).
MAX_SELECTION = 1000


def _back(request: Request, path: str, note: str, **params: str) -> RedirectResponse:
    query = urlencode({**params, "done": note})
    return RedirectResponse(f"{request.scope.get('root_path', '')}{path}?{query}", status_code=303)


async def pause(dash: Dashboard, request: Request) -> Response:
    await checked_form(request, read_only=dash.read_only)
    queue = validation.queue_name(request.path_params["queue"])
    changed = await dash.manager.pause(queue)
    return _back(request, f"/queues/{queue}", "queue paused" if changed else "queue was already paused")


async def resume(dash: Dashboard, request: Request) -> Response:
    await checked_form(request, read_only=dash.read_only)
    queue = validation.queue_name(request.path_params["queue"])
    changed = await dash.manager.resume(queue)
    return _back(request, f"/queues/{queue}", "queue resumed" if changed else "queue was not paused")


async def job_action(dash: Dashboard, request: Request) -> Response:
    await checked_form(request, read_only=dash.read_only)
    queue = validation.queue_name(request.path_params["queue"])
    job_id = validation.job_id(request.path_params["job_id"])
    action = request.path_params["action"]
    operations = {
        "run": dash.manager.run_job,
        "archive": dash.manager.archive_job,
        "delete": dash.manager.delete_job,
        "cancel": dash.manager.cancel,
    }
    if action not in operations:
        raise errors.ValidationError("action", action, f"one of {', '.join(operations)}")
    former = await operations[action](queue, job_id)
    note = f"{action}: done (the job was {former.value})"
    if action == "delete":
        return _back(request, f"/queues/{queue}", note, state=former.value)
    return _back(request, f"/queues/{queue}/jobs/{job_id}", note)


async def bulk(dash: Dashboard, request: Request) -> Response:
    form = await checked_form(request, read_only=dash.read_only)
    manager = dash.manager
    queue = validation.queue_name(request.path_params["queue"])
    state = JobState.parse(str(form.get("state", "")))
    # The buttons say both at once ("delete/all"); the confirmation page sends them apart.
    action, _, scope = str(form.get("do", "")).partition("/")
    action = action or str(form.get("action", ""))
    scope = scope or str(form.get("scope", "selected"))
    if action not in ACTIONS:
        raise errors.ValidationError("action", action, f"one of {', '.join(ACTIONS)}")
    if state not in ACTIONS[action]:
        raise errors.OperationNotAllowed(f"{action} does not apply to {state.value} jobs")
    if scope not in ("selected", "all"):
        raise errors.ValidationError("scope", scope, "selected or all")
    group = str(form.get("group") or "") or None
    if group is not None:
        group = validation.group_name(group)
    ids = [str(value) for value in form.getlist("ids")]
    if len(ids) > MAX_SELECTION:
        raise errors.ValidationError("ids", f"{len(ids)} IDs", f"at most {MAX_SELECTION} selected jobs")
    for index, job_id in enumerate(ids):
        validation.job_id(job_id, f"ids[{index}]")
    back = f"/queues/{queue}/groups" if state is JobState.AGGREGATING else f"/queues/{queue}"
    back_params = {"group": group} if group else {"state": state.value}
    if scope == "selected" and not ids:
        return _back(request, back, f"{action}: no job selected", **back_params)
    if scope == "all" and action == "cancel" and state is not JobState.ACTIVE:
        raise errors.ValidationError("scope", "all", "selected: cancel all is offered for active jobs only")

    if form.get("confirmed") != "yes":
        info = await manager.queue_info(queue)
        count = len(ids) if scope == "selected" else (info.count(state) if group is None else None)
        return dash.render(
            request, "confirm.html", title="Confirm", queue=info, state=state.value, action=action, scope=scope,
            ids=ids, group=group or "", count=count,
        )  # fmt: skip

    if scope == "all":
        if action == "cancel":
            done = await manager.cancel_active(queue)
        else:
            every = {"run": manager.run_all, "archive": manager.archive_all, "delete": manager.delete_all}[action]
            done = await every(queue, state, group=group)
        note = f"{action} all {state.value}: {done} job(s)"
    else:
        batch = {
            "run": manager.batch_run,
            "archive": manager.batch_archive,
            "delete": manager.batch_delete,
            "cancel": manager.batch_cancel,
        }[action]
        result: BatchResult = await batch(queue, ids)
        note = f"{action}: {len(result.succeeded)} done"
        if result.failed:
            note += f", {len(result.failed)} skipped ({result.failed[0].error})"
    return _back(request, back, note, **back_params)
