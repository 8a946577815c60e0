"""Every Redis key and channel name queue-core uses. No key is assembled anywhere else.

Per-queue keys share the hash tag ``{<queue>}``, so every script touches one cluster
slot. Scripts get the fixed keys of a queue in KEYS and the queue's key prefix in ARGV,
from which they build the per-job keys (job hashes, unique locks) — the same slot.
Global keys are touched only by single-key commands.

Layout (``P`` = prefix, ``Q`` = ``P:{queue}``)::

    Q:j:<id>            HASH    one job (fields in codec.py)
    Q:pending           LIST    LPUSH to enqueue, RPOP to dequeue, RPUSH to requeue at the head
    Q:active            ZSET    id -> started at, in whole microseconds (only its order is read)
    Q:lease             ZSET    id -> lease expiry, negated (newest lowest: a cheap insert, _common.lua)
    Q:scheduled         ZSET    id -> process at
    Q:retry             ZSET    id -> retry at
    Q:archived          ZSET    id -> archived at
    Q:completed         ZSET    id -> retention expiry
    Q:waiting           ZSET    id -> enqueued at (jobs waiting for their dependencies)
    Q:n:<id>            SET     the jobs waiting for job <id>; lives while that job does and
                                has dependents to settle (deleted when it completes or goes)
    Q:groups            SET     group names with aggregating jobs
    Q:g:<group>         ZSET    id -> joined at
    Q:staging           ZSET    "<set id>:<group>" -> staging deadline
    Q:g:<group>:s:<set> ZSET    staged members
    Q:u:<lock>          STRING  unique lock, value = holder's job id
    Q:paused            STRING  present while paused
    Q:meta              HASH    created_at; its absence tells enqueue to re-register the queue
    Q:processed[:<day>] STRING  counters (day = YYYY-MM-DD UTC, expire after 90 days)
    Q:failed[:<day>]    STRING
    Q:m:<minute>        HASH    metrics history of one minute: 'exp' and per job type counts
    P:layout            STRING  storage layout version (layout.py): written on first use, checked at open
    P:queues            SET     every queue name
    P:hb:<kind>         ZSET    member id -> heartbeat expiry;  P:hb:<kind>:<id> STRING info
    P:claim:<key>       STRING  once-per-key claims (scheduler ticks)
    P:rate:<key>        HASH    distributed rate-limit state (token bucket)
    P:events:<stream>   ZSET    event -> recorded at (scheduler fire history)
    channel P:{queue}:notify    an enqueue made the queue non-empty
    channel P:{queue}:finished  ids of jobs that became completed or archived or were deleted
                                (scripts publish it as SCOPE .. 'finished')
    channel P:cancel            job ids to cancel
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PREFIX = "qc"
STATS_TTL_SECONDS = 90 * 24 * 3600


@dataclass(frozen=True, slots=True)
class QueueKeys:
    """The keys of one queue. ``base`` ends with the hash tag; ``job_prefix`` is what
    scripts append a job id to."""

    prefix: str
    queue: str

    @property
    def base(self) -> str:
        return f"{self.prefix}:{{{self.queue}}}"

    @property
    def scope(self) -> str:
        """Prefix for per-job and per-lock keys built inside scripts: ``scope .. 'j:' .. id``."""
        return f"{self.base}:"

    def job(self, job_id: str) -> str:
        return f"{self.base}:j:{job_id}"

    def unique(self, lock: str) -> str:
        return f"{self.base}:u:{lock}"

    def dependents(self, job_id: str) -> str:
        """The set of jobs waiting for ``job_id`` (scripts build it as ``scope .. 'n:' .. id``)."""
        return f"{self.base}:n:{job_id}"

    def group(self, group: str) -> str:
        return f"{self.base}:g:{group}"

    def staged(self, group: str, set_id: str) -> str:
        return f"{self.base}:g:{group}:s:{set_id}"

    def metrics(self, minute: int) -> str:
        return f"{self.base}:m:{minute}"

    def processed_on(self, day: str) -> str:
        return f"{self.base}:processed:{day}"

    def failed_on(self, day: str) -> str:
        return f"{self.base}:failed:{day}"

    @property
    def pending(self) -> str:
        return f"{self.base}:pending"

    @property
    def active(self) -> str:
        return f"{self.base}:active"

    @property
    def lease(self) -> str:
        return f"{self.base}:lease"

    @property
    def scheduled(self) -> str:
        return f"{self.base}:scheduled"

    @property
    def retry(self) -> str:
        return f"{self.base}:retry"

    @property
    def archived(self) -> str:
        return f"{self.base}:archived"

    @property
    def completed(self) -> str:
        return f"{self.base}:completed"

    @property
    def waiting(self) -> str:
        """Scripts also reach it as ``scope .. 'waiting'`` when releasing or settling."""
        return f"{self.base}:waiting"

    @property
    def groups(self) -> str:
        return f"{self.base}:groups"

    @property
    def staging(self) -> str:
        return f"{self.base}:staging"

    @property
    def paused(self) -> str:
        return f"{self.base}:paused"

    @property
    def meta(self) -> str:
        return f"{self.base}:meta"

    @property
    def processed(self) -> str:
        return f"{self.base}:processed"

    @property
    def failed(self) -> str:
        return f"{self.base}:failed"

    @property
    def notify_channel(self) -> str:
        return f"{self.base}:notify"

    @property
    def finished_channel(self) -> str:
        """Where scripts announce finished jobs (``announce_finished`` in _common.lua
        builds the same name from ``scope``)."""
        return f"{self.scope}finished"


@dataclass(frozen=True, slots=True)
class GlobalKeys:
    prefix: str = DEFAULT_PREFIX

    def queue(self, name: str) -> QueueKeys:
        return QueueKeys(self.prefix, name)

    @property
    def layout(self) -> str:
        return f"{self.prefix}:layout"

    @property
    def queues(self) -> str:
        return f"{self.prefix}:queues"

    @property
    def cancel_channel(self) -> str:
        return f"{self.prefix}:cancel"

    def heartbeats(self, kind: str) -> str:
        return f"{self.prefix}:hb:{kind}"

    def heartbeat(self, kind: str, member_id: str) -> str:
        return f"{self.prefix}:hb:{kind}:{member_id}"

    def claim(self, key: str) -> str:
        return f"{self.prefix}:claim:{key}"

    def rate(self, key: str) -> str:
        return f"{self.prefix}:rate:{key}"

    def events(self, stream: str) -> str:
        return f"{self.prefix}:events:{stream}"
