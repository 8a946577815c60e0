"""WorkerInfo / ActiveJobInfo: the heartbeat format round-trips and rejects damage clearly."""

from __future__ import annotations

import json
from typing import Any

import pytest

from queue_core import ActiveJobInfo, SerializationError, WorkerInfo, WorkerStatus

NOW = 1_750_000_000.0


def sample(**changes: Any) -> WorkerInfo:
    values: dict[str, Any] = {
        "id": "box:42:ab12",
        "host": "box",
        "pid": 42,
        "concurrency": 10,
        "queues": {"critical": 6, "default": 3, "low": 1},
        "strict": False,
        "started_at": NOW - 60.5,
        "status": WorkerStatus.RUNNING,
        "active_jobs": [
            ActiveJobInfo("j1", "email.send", "critical", NOW - 2.25, NOW + 27.75, 321),
            ActiveJobInfo("j2", "report.build", "low", NOW - 1, None, 0),
        ],
        "heartbeat_at": NOW,
    }
    values.update(changes)
    return WorkerInfo(**values)


def test_worker_info_round_trips_through_json() -> None:
    info = sample()
    assert WorkerInfo.from_json(info.to_json()) == info
    assert info.busy == 2
    idle = sample(active_jobs=[], heartbeat_at=None, status=WorkerStatus.STOPPING, strict=True)
    assert WorkerInfo.from_json(idle.to_json()) == idle


def test_the_format_is_versioned_plain_json() -> None:
    data = json.loads(sample().to_json())
    assert data["v"] == 1
    assert data["active_jobs"][0] == {
        "job_id": "j1",
        "type": "email.send",
        "queue": "critical",
        "started_at": NOW - 2.25,
        "deadline": NOW + 27.75,
        "payload_size": 321,
    }


def test_unknown_fields_and_statuses_from_a_newer_worker_are_tolerated() -> None:
    data = json.loads(sample().to_json())
    data["gpu"] = "A100"
    data["status"] = "hibernating"
    data["active_jobs"][0]["progress"] = 0.5
    decoded = WorkerInfo.from_json(json.dumps(data).encode())
    assert decoded.status == "hibernating"
    assert decoded.active_jobs == sample().active_jobs


def _damaged(change: Any) -> bytes:
    data = json.loads(sample().to_json())
    change(data)
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    ("data", "mentions"),
    [
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "JSON object"),
        (_damaged(lambda d: d.update(v=2)), "version 2"),
        (_damaged(lambda d: d.pop("host")), "'host'"),
        (_damaged(lambda d: d.update(pid=-1)), "'pid'"),
        (_damaged(lambda d: d.update(pid=True)), "'pid'"),
        (_damaged(lambda d: d.update(strict="no")), "'strict'"),
        (_damaged(lambda d: d.update(queues={"a": "high"})), "'queues'"),
        (_damaged(lambda d: d.update(started_at="yesterday")), "'started_at'"),
        (_damaged(lambda d: d.update(active_jobs={})), "'active_jobs'"),
        (_damaged(lambda d: d["active_jobs"][0].pop("job_id")), "'job_id'"),
        (_damaged(lambda d: d["active_jobs"][1].update(deadline="soon")), "'deadline'"),
    ],
)
def test_damaged_info_raises_a_serialization_error_naming_the_problem(data: bytes, mentions: str) -> None:
    with pytest.raises(SerializationError, match=mentions):
        WorkerInfo.from_json(data)
