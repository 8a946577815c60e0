-- 0002_coordination.sql: heartbeats, claims, rate-limit buckets, event histories, the
-- metrics history and the staging sets of group aggregation.
--
-- `_qc_.` stands for the broker's schema. Times are epoch seconds from the callers' `now`.
-- Rows that stand for storage Redis lets expire (claims, buckets, metrics minutes) carry
-- the time after which they may go; the transition that writes the table collects the
-- rows past it (a minute after, by the writer's `now`, as Redis keeps its keys a minute
-- past their expiry), so no row of these tables outlives its use for long.

-- A live worker or scheduler until expires_at (judged by the `now` of list_heartbeats,
-- which deletes the expired ones).
CREATE TABLE _qc_.heartbeats (
    kind        text NOT NULL,
    member_id   text NOT NULL,
    info        bytea NOT NULL,
    expires_at  double precision NOT NULL,
    PRIMARY KEY (kind, member_id)
);

-- Once-per-key claims (scheduler ticks): held until expires_at.
CREATE TABLE _qc_.claims (
    key         text PRIMARY KEY,
    expires_at  double precision NOT NULL
);
CREATE INDEX claims_expiry ON _qc_.claims (expires_at);

-- Token buckets of the distributed rate limits: `tokens` left at time `at`; full again
-- (and so the same as no row) by collect_at.
CREATE TABLE _qc_.buckets (
    key         text PRIMARY KEY,
    tokens      double precision NOT NULL,
    at          double precision NOT NULL,
    collect_at  double precision NOT NULL
);
CREATE INDEX buckets_collect ON _qc_.buckets (collect_at);

-- Event histories (scheduler fire history): the newest `keep` of each stream.
CREATE TABLE _qc_.events (
    stream      text NOT NULL,
    event       bytea NOT NULL,
    at          double precision NOT NULL,
    PRIMARY KEY (stream, event)
);
CREATE INDEX events_newest ON _qc_.events (stream, at DESC, event DESC);

-- Metrics history: one row per queue and minute with its expiry, one per job type with
-- the counts (histogram: one count per slot of queue_core.metrics).
CREATE TABLE _qc_.metric_minutes (
    queue       text NOT NULL,
    minute      bigint NOT NULL,
    expires_at  double precision NOT NULL,
    PRIMARY KEY (queue, minute)
);
CREATE INDEX metric_minutes_expiry ON _qc_.metric_minutes (expires_at);

CREATE TABLE _qc_.metrics (
    queue       text NOT NULL,
    minute      bigint NOT NULL,
    job_type    text NOT NULL,
    processed   bigint NOT NULL,
    failed      bigint NOT NULL,
    runtime_us  bigint NOT NULL,
    histogram   bigint[] NOT NULL,
    PRIMARY KEY (queue, minute, job_type),
    FOREIGN KEY (queue, minute) REFERENCES _qc_.metric_minutes (queue, minute) ON DELETE CASCADE
);

-- Staging sets of group aggregation: the members are the jobs whose `staged` column holds
-- the set's id; the set is due for reclaim_staged at its deadline.
CREATE TABLE _qc_.staging (
    queue       text NOT NULL,
    set_id      text NOT NULL,
    grp         text NOT NULL,
    deadline    double precision NOT NULL,
    PRIMARY KEY (queue, set_id)
);
CREATE INDEX staging_deadline ON _qc_.staging (queue, deadline);
CREATE INDEX jobs_staged ON _qc_.jobs (queue, staged) WHERE staged IS NOT NULL;
