"""Read-only views for the Manager: queues, stats, history, job snapshots, the server.

Each view is one statement, so it reads one consistent snapshot of the database.
"""

from __future__ import annotations

from queue_core import (
    DailyStats,
    GroupRequired,
    JobInfo,
    JobNotFound,
    JobState,
    QueueNotFound,
    QueueStats,
    ResultNotFound,
    ServerReport,
    validation,
)
from queue_postgres import report, snapshots, sqlfiles
from queue_postgres.base import BrokerBase, unsupported, utc_day

#: How each state's listing is ordered (ties by id); pending in dequeue order.
_LISTING_ORDER = {
    JobState.PENDING: "seq",
    JobState.ACTIVE: 'started_at, id COLLATE "C"',
    JobState.SCHEDULED: 'due_at, id COLLATE "C"',
    JobState.RETRY: 'due_at, id COLLATE "C"',
    JobState.ARCHIVED: 'archived_at DESC, id COLLATE "C" DESC',
    JobState.COMPLETED: 'expires_at, id COLLATE "C"',
    JobState.WAITING: 'enqueued_at, id COLLATE "C"',
    JobState.AGGREGATING: 'joined_at, id COLLATE "C"',
}

_STATS = """
SELECT
  (SELECT count(*) FROM _qc_.jobs WHERE queue = q.name AND state = 'pending'),
  (SELECT count(*) FROM _qc_.jobs WHERE queue = q.name AND state = 'active'),
  (SELECT count(*) FROM _qc_.jobs WHERE queue = q.name AND state = 'scheduled'),
  (SELECT count(*) FROM _qc_.jobs WHERE queue = q.name AND state = 'retry'),
  (SELECT count(*) FROM _qc_.jobs WHERE queue = q.name AND state = 'archived'),
  (SELECT count(*) FROM _qc_.jobs WHERE queue = q.name AND state = 'completed'),
  (SELECT count(*) FROM _qc_.jobs WHERE queue = q.name AND state = 'aggregating' AND staged IS NULL),
  (SELECT count(DISTINCT grp) FROM _qc_.jobs WHERE queue = q.name AND state = 'aggregating' AND staged IS NULL),
  EXISTS (SELECT 1 FROM _qc_.paused WHERE queue = q.name),
  coalesce((SELECT processed FROM _qc_.counters WHERE queue = q.name), 0),
  coalesce((SELECT failed FROM _qc_.counters WHERE queue = q.name), 0),
  coalesce((SELECT processed FROM _qc_.daily WHERE queue = q.name AND day = %s AND expires_at > %s), 0),
  coalesce((SELECT failed FROM _qc_.daily WHERE queue = q.name AND day = %s AND expires_at > %s), 0),
  (SELECT pending_since FROM _qc_.jobs WHERE queue = q.name AND state = 'pending' ORDER BY seq LIMIT 1),
  (SELECT count(*) FROM _qc_.jobs WHERE queue = q.name AND state = 'waiting')
FROM _qc_.queues q WHERE q.name = %s
"""


class InspectionMixin(BrokerBase):
    async def list_queues(self) -> list[str]:
        rows = await self._query('SELECT name FROM _qc_.queues ORDER BY name COLLATE "C"')
        return [name for (name,) in rows]

    async def queue_stats(self, queue: str, now: float) -> QueueStats:
        day = utc_day(now)
        rows = await self._query(_STATS, day, now, day, now, queue)
        if not rows:
            raise QueueNotFound(queue)
        counts = [int(value) for value in rows[0][:8]]
        paused, processed, failed, processed_today, failed_today, since, waiting = rows[0][8:]
        return QueueStats(
            queue=queue,
            pending=counts[0],
            active=counts[1],
            scheduled=counts[2],
            retry=counts[3],
            archived=counts[4],
            completed=counts[5],
            aggregating=counts[6],
            groups=counts[7],
            paused=bool(paused),
            processed_total=int(processed),
            failed_total=int(failed),
            processed_today=int(processed_today),
            failed_today=int(failed_today),
            latency=max(0.0, now - since) if since is not None else 0.0,
            timestamp=now,
            waiting=int(waiting),
        )

    async def daily_stats(self, queue: str, days: int, now: float) -> list[DailyStats]:
        await self._require_queue(queue)
        dates = [utc_day(now - 86400 * i) for i in range(days)]
        if not dates:
            return []
        rows = await self._query(
            "SELECT day, processed, failed FROM _qc_.daily WHERE queue = %s AND day = ANY(%s) AND expires_at > %s",
            queue,
            dates,
            now,
        )
        found = {day: (int(processed), int(failed)) for day, processed, failed in rows}
        return [DailyStats(queue, day, *found.get(day, (0, 0))) for day in dates]

    async def job_info(self, queue: str, job_id: str, now: float) -> JobInfo:
        rows = await self._query(
            f"SELECT {snapshots.INFO_COLUMNS} FROM _qc_.jobs WHERE queue = %s AND id = %s", queue, job_id
        )
        if not rows:
            raise JobNotFound(queue, job_id)
        return snapshots.info(queue, rows[0])

    async def job_payload(self, queue: str, job_id: str) -> bytes:
        rows = await self._query("SELECT payload FROM _qc_.jobs WHERE queue = %s AND id = %s", queue, job_id)
        if not rows:
            raise JobNotFound(queue, job_id)
        return bytes(rows[0][0])

    async def job_result(self, queue: str, job_id: str) -> bytes:
        rows = await self._query("SELECT result FROM _qc_.jobs WHERE queue = %s AND id = %s", queue, job_id)
        if not rows:
            raise JobNotFound(queue, job_id)
        if rows[0][0] is None:
            raise ResultNotFound(queue, job_id)
        return bytes(rows[0][0])

    async def list_jobs(
        self, queue: str, state: JobState, page: int, page_size: int, now: float, group: str | None = None
    ) -> list[JobInfo]:
        page, page_size = validation.page(page, page_size)
        await self._require_queue(queue)
        where, args = "queue = %s AND state = %s", [queue, state.value]
        if state is JobState.AGGREGATING:
            if not group:
                raise GroupRequired("listing")
            where += " AND grp = %s AND staged IS NULL"
            args.append(validation.group_name(group))
        rows = await self._query(
            f"SELECT {snapshots.INFO_COLUMNS} FROM _qc_.jobs WHERE {where}"
            f" ORDER BY {_LISTING_ORDER[state]} LIMIT %s OFFSET %s",
            *args,
            page_size,
            (page - 1) * page_size,
        )
        return [snapshots.info(queue, row) for row in rows]

    async def memory_usage(self, queue: str, samples: int = 20) -> int:
        """Per state: the rows' count times the average stored size (``pg_column_size``,
        after compression) of up to ``samples`` of them; the indexes are not counted."""
        if not self.capabilities.memory_usage:
            unsupported("memory_usage")
        await self._require_queue(queue)
        rows = await self._query(
            "SELECT s.n * coalesce((SELECT avg(pg_column_size(t.*)) FROM"
            " (SELECT * FROM _qc_.jobs j WHERE j.queue = %s AND j.state = s.state LIMIT %s) t), 0)"
            " FROM (SELECT state, count(*) AS n FROM _qc_.jobs WHERE queue = %s GROUP BY state) s",
            queue,
            max(1, samples),
            queue,
        )
        return int(sum(float(size) for (size,) in rows))

    async def server_info(self) -> ServerReport:
        """From PostgreSQL's settings and statistics views (see ``report``)."""
        rows = await self._query(report.QUERY, sqlfiles.quoted(self._schema))
        return report.from_row(rows[0])
