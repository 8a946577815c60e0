-- _operator.sql: helpers of the operator actions and aggregation (not transitions themselves).

-- Take job `id` of `queue` out of what holds it in its (non-active) state, before the
-- caller moves or deletes it. A state is a column, so most states need nothing; a
-- waiting job leaves every dependency's list (a job later stored under its id is never
-- mistaken for it); a member staged for aggregation leaves its staging set, whose
-- deadline becomes 0: its commit is refused (the set is no longer what its aggregator
-- read) and the other members go back to their group at the next reclaim.
CREATE OR REPLACE FUNCTION _qc_.detach(queue text, id text, state text, staged text) RETURNS void
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
BEGIN
  IF state = 'waiting' THEN
    DELETE FROM _qc_.dependents n WHERE n.queue = queue AND n.job_id = id;
  ELSIF state = 'aggregating' AND staged IS NOT NULL THEN
    UPDATE _qc_.staging s SET deadline = 0 WHERE s.queue = queue AND s.set_id = staged;
    UPDATE _qc_.jobs x SET staged = NULL WHERE x.queue = queue AND x.id = id;
  END IF;
END
$$;

-- Archive job `id` of `queue` at `now` (with `error`, or none), settle the jobs waiting
-- for it and announce it as finished. Returns how many jobs its settlement made pending.
CREATE OR REPLACE FUNCTION _qc_.archive_now(queue text, id text, now double precision, error text)
RETURNS integer
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
BEGIN
  UPDATE _qc_.jobs x SET state = 'archived', archived_at = now,
      last_error = coalesce(error, x.last_error),
      last_failed_at = CASE WHEN error IS NULL THEN x.last_failed_at ELSE now END
    WHERE x.queue = queue AND x.id = id;
  PERFORM _qc_.finished(queue, ARRAY[id]);
  RETURN _qc_.settle_if_any(queue, id, 'archived', now, NULL);
END
$$;

-- Delete job `id` of `queue`: its unique lock released (while it holds it), the jobs
-- waiting for it settled, announced as finished. Returns how many jobs became pending.
CREATE OR REPLACE FUNCTION _qc_.delete_now(queue text, id text, now double precision) RETURNS integer
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
  lock_name text;
BEGIN
  DELETE FROM _qc_.jobs x WHERE x.queue = queue AND x.id = id RETURNING x.unique_name INTO lock_name;
  IF lock_name IS NOT NULL THEN
    PERFORM _qc_.release_lock(queue, lock_name, id);
  END IF;
  PERFORM _qc_.finished(queue, ARRAY[id]);
  RETURN _qc_.settle_if_any(queue, id, 'gone', now, NULL);
END
$$;

-- Move job `id` of `queue` to the tail of pending at `now`, withdrawing a cancel request.
-- Wakes the queue's workers when no other job was pending there (idle workers).
CREATE OR REPLACE FUNCTION _qc_.run_now(queue text, id text, now double precision) RETURNS void
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
BEGIN
  IF NOT EXISTS (SELECT 1 FROM _qc_.jobs x WHERE x.queue = queue AND x.state = 'pending') THEN
    PERFORM _qc_.wake(queue);
  END IF;
  UPDATE _qc_.jobs x SET state = 'pending', seq = nextval('_qc_.pending_seq'), pending_since = now,
      cancel_requested = false, staged = NULL
    WHERE x.queue = queue AND x.id = id;
END
$$;
