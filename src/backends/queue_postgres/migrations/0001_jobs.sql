-- 0001_jobs.sql: jobs, queues, unique locks, dependencies, counters and daily history.
--
-- `_qc_.` stands for the broker's schema (the loader puts the quoted name in). Times are
-- epoch seconds (double precision) from the callers' `now`, never the server's clock.
--
-- A job is one row of `jobs`; its state decides which columns mean something and which
-- partial index orders it (the Redis driver's containers, keys.py, as indexes):
--   pending      seq: dequeue order, smallest first (enqueue takes the next value of
--                pending_seq, a requeue the negated next value: the head); pending_since
--   active       lease (the fencing token), started_at, lease_expires_at (NULL: the lease
--                entry is lost, recover_expired takes it at once)
--   scheduled    due_at (process at)        retry   due_at (retry at)
--   completed    completed_at, expires_at (end of retention), result
--   archived     archived_at
--   aggregating  grp, joined_at (when it joined the group), staged (the staging set's id)
--   waiting      enqueued_at (order), depends_on, dep_policy, deps_left
-- Every state keeps: type, payload, max_retries, retried, crashes, bounces, enqueued_at,
-- timeout, deadline, retention, grp, headers (JSON text), unique_name, last_error,
-- last_failed_at, traceback, cancel_requested.

CREATE TABLE _qc_.queues (
    name        text PRIMARY KEY,
    created_at  double precision NOT NULL
);

-- A paused queue has a row; pausing does not register the queue.
CREATE TABLE _qc_.paused (
    queue       text PRIMARY KEY
);

-- Totals per queue; daily counts per UTC day (kept 90 days, as on Redis).
CREATE TABLE _qc_.counters (
    queue       text PRIMARY KEY,
    processed   bigint NOT NULL DEFAULT 0,
    failed      bigint NOT NULL DEFAULT 0
);

CREATE TABLE _qc_.daily (
    queue       text NOT NULL,
    day         text NOT NULL,               -- YYYY-MM-DD, UTC
    processed   bigint NOT NULL DEFAULT 0,
    failed      bigint NOT NULL DEFAULT 0,
    expires_at  double precision NOT NULL,   -- collected by purge_expired once passed
    PRIMARY KEY (queue, day)
);

CREATE SEQUENCE _qc_.pending_seq;

CREATE TABLE _qc_.jobs (
    queue             text NOT NULL,
    id                text NOT NULL,
    state             text NOT NULL,
    type              text NOT NULL,
    payload           bytea NOT NULL,
    max_retries       integer NOT NULL,
    retried           integer NOT NULL DEFAULT 0,
    crashes           integer NOT NULL DEFAULT 0,
    bounces           integer NOT NULL DEFAULT 0,
    enqueued_at       double precision NOT NULL,
    timeout           double precision,
    deadline          double precision,
    retention         double precision NOT NULL DEFAULT 0,
    grp               text,
    headers           text,
    unique_name       text,                  -- holds (queue, unique_name) in unique_locks
    seq               bigint,
    pending_since     double precision,
    due_at            double precision,
    lease             text,
    started_at        double precision,
    lease_expires_at  double precision,
    completed_at      double precision,
    expires_at        double precision,
    archived_at       double precision,
    last_error        text,
    last_failed_at    double precision,
    traceback         text,
    result            bytea,
    cancel_requested  boolean NOT NULL DEFAULT false,
    joined_at         double precision,
    staged            text,
    depends_on        text[],
    dep_policy        text,
    deps_left         integer NOT NULL DEFAULT 0,
    PRIMARY KEY (queue, id)
);

CREATE INDEX jobs_pending ON _qc_.jobs (queue, seq) WHERE state = 'pending';
CREATE INDEX jobs_active ON _qc_.jobs (queue, lease_expires_at) WHERE state = 'active';
CREATE INDEX jobs_due ON _qc_.jobs (queue, state, due_at) WHERE state IN ('scheduled', 'retry');
CREATE INDEX jobs_completed ON _qc_.jobs (queue, expires_at) WHERE state = 'completed';
CREATE INDEX jobs_archived ON _qc_.jobs (queue, archived_at) WHERE state = 'archived';
CREATE INDEX jobs_waiting ON _qc_.jobs (queue, enqueued_at) WHERE state = 'waiting';
CREATE INDEX jobs_aggregating ON _qc_.jobs (queue, grp, joined_at) WHERE state = 'aggregating';

-- A unique lock is free once held_until <= the caller's now; purge_expired collects it.
CREATE TABLE _qc_.unique_locks (
    queue       text NOT NULL,
    name        text NOT NULL,
    holder      text NOT NULL,
    held_until  double precision NOT NULL,
    PRIMARY KEY (queue, name)
);

-- Job `job_id` waits for job `dep_id` (same queue). Rows live while the dependency has
-- dependents to settle; the transition that completes, archives or deletes it settles them.
CREATE TABLE _qc_.dependents (
    queue       text NOT NULL,
    dep_id      text NOT NULL,
    job_id      text NOT NULL,
    PRIMARY KEY (queue, dep_id, job_id),
    -- a dependent that leaves by deletion leaves every dependency's list
    FOREIGN KEY (queue, job_id) REFERENCES _qc_.jobs (queue, id) ON DELETE CASCADE
);
CREATE INDEX dependents_job ON _qc_.dependents (queue, job_id);

-- Results of completed dependencies, copied onto the dependent job.
CREATE TABLE _qc_.dependency_results (
    queue       text NOT NULL,
    job_id      text NOT NULL,
    dep_id      text NOT NULL,
    result      bytea NOT NULL,
    PRIMARY KEY (queue, job_id, dep_id),
    FOREIGN KEY (queue, job_id) REFERENCES _qc_.jobs (queue, id) ON DELETE CASCADE
);
