-- _common.sql: helpers the transitions share (not transitions themselves).
-- Installed with them; `_qc_.` is the broker's schema, '@schema' its bare name.

-- Work may be in `queue`: wake the workers waiting on it. Delivered when the calling
-- transaction commits (never for one rolled back); identical ones in one transaction
-- are delivered once.
CREATE OR REPLACE FUNCTION _qc_.wake(queue text) RETURNS void
LANGUAGE sql AS $$
  SELECT pg_notify('@schema.jobs', queue)
$$;

-- Announce jobs of `queue` that completed, were archived or deleted: payload
-- '<nonce> <queue> <id> <id> ...', cut below PostgreSQL's 8000-byte payload limit.
-- PostgreSQL delivers identical payloads of one transaction once, and one transition may
-- announce a job twice (a cascade archives it, then a bulk delete deletes it): the random
-- nonce keeps each announcement, as Redis's PUBLISH does. Listeners drop it.
CREATE OR REPLACE FUNCTION _qc_.finished(queue text, ids text[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  chunk text := '';
  one text;
  nonce text := substr(md5(random()::text || clock_timestamp()::text), 1, 16);
BEGIN
  IF ids IS NULL OR cardinality(ids) = 0 THEN
    RETURN;
  END IF;
  FOREACH one IN ARRAY ids LOOP
    IF chunk <> '' AND octet_length(chunk) + octet_length(one) + octet_length(queue) > 7000 THEN
      PERFORM pg_notify('@schema.done', nonce || ' ' || queue || ' ' || chunk);
      chunk := '';
      nonce := substr(md5(random()::text || clock_timestamp()::text), 1, 16);
    END IF;
    chunk := CASE WHEN chunk = '' THEN one ELSE chunk || ' ' || one END;
  END LOOP;
  PERFORM pg_notify('@schema.done', nonce || ' ' || queue || ' ' || chunk);
END
$$;

-- The UTC day of `now` (epoch seconds), as daily counters name it.
CREATE OR REPLACE FUNCTION _qc_.utc_day(now double precision) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT to_char(to_timestamp(now) AT TIME ZONE 'UTC', 'YYYY-MM-DD')
$$;

-- Count `processed` and `failed` events of `queue` in its totals and in the day of `now`
-- (kept 90 days).
CREATE OR REPLACE FUNCTION _qc_.count(queue text, now double precision, processed bigint, failed bigint)
RETURNS void
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
BEGIN
  IF processed = 0 AND failed = 0 THEN
    RETURN;
  END IF;
  INSERT INTO _qc_.counters AS c (queue, processed, failed) VALUES (queue, processed, failed)
    ON CONFLICT ON CONSTRAINT counters_pkey
    DO UPDATE SET processed = c.processed + excluded.processed, failed = c.failed + excluded.failed;
  INSERT INTO _qc_.daily AS d (queue, day, processed, failed, expires_at)
    VALUES (queue, _qc_.utc_day(now), processed, failed, now + 90 * 86400)
    ON CONFLICT ON CONSTRAINT daily_pkey
    DO UPDATE SET processed = d.processed + excluded.processed, failed = d.failed + excluded.failed;
END
$$;

-- Release the unique lock `name` of `queue`, but only while job `holder` holds it.
CREATE OR REPLACE FUNCTION _qc_.release_lock(queue text, name text, holder text) RETURNS void
LANGUAGE sql AS $$
  DELETE FROM _qc_.unique_locks u WHERE u.queue = $1 AND u.name = $2 AND u.holder = $3
$$;

-- Release waiting job `id` of `queue`: to the tail of pending, or to scheduled while its
-- process time (due_at) is ahead of `now` (and the queue's forwarder is woken for it).
-- Returns 1 when it was pushed to pending.
CREATE OR REPLACE FUNCTION _qc_.release_waiting(queue text, id text, now double precision) RETURNS integer
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
  due double precision;
BEGIN
  SELECT x.due_at INTO due FROM _qc_.jobs x WHERE x.queue = queue AND x.id = id;
  IF due IS NOT NULL AND due > now THEN
    UPDATE _qc_.jobs x SET state = 'scheduled' WHERE x.queue = queue AND x.id = id;
    PERFORM _qc_.wake(queue);
    RETURN 0;
  END IF;
  UPDATE _qc_.jobs x SET state = 'pending', seq = nextval('_qc_.pending_seq'), pending_since = now
    WHERE x.queue = queue AND x.id = id;
  RETURN 1;
END
$$;

-- Settle the jobs waiting for job `id` of `queue`, which has just completed (how =
-- 'done', with its result or NULL), been archived ('archived') or deleted ('gone').
-- Only a job still in state 'waiting' is touched, so none is released twice; releases
-- go in dependent-ID order. A job archived under policy 'cancel' settles its own
-- dependents in turn (a work list, not recursion). Returns how many jobs were pushed
-- to pending (the caller wakes the queue when any was).
CREATE OR REPLACE FUNCTION _qc_.settle_dependents(
  queue text, id text, how text, now double precision, result bytea
) RETURNS integer
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
  work text[] := ARRAY[id];
  events text[] := ARRAY[how];
  results bytea[] := ARRAY[result];
  pushed integer := 0;
  i integer := 1;
  dep text;
  event text;
  d text;
  d_state text;
  d_policy text;
  left_count integer;
BEGIN
  WHILE i <= cardinality(work) LOOP
    dep := work[i];
    event := events[i];
    FOR d IN SELECT n.job_id FROM _qc_.dependents n WHERE n.queue = queue AND n.dep_id = dep ORDER BY n.job_id LOOP
      SELECT x.state, x.dep_policy INTO d_state, d_policy FROM _qc_.jobs x
        WHERE x.queue = queue AND x.id = d FOR UPDATE;
      CONTINUE WHEN d_state IS DISTINCT FROM 'waiting';
      IF event = 'done' OR d_policy = 'run' THEN
        IF results[i] IS NOT NULL THEN
          INSERT INTO _qc_.dependency_results AS r (queue, job_id, dep_id, result)
            VALUES (queue, d, dep, results[i])
            ON CONFLICT ON CONSTRAINT dependency_results_pkey DO UPDATE SET result = excluded.result;
        END IF;
        DELETE FROM _qc_.dependents n WHERE n.queue = queue AND n.dep_id = dep AND n.job_id = d;
        UPDATE _qc_.jobs x SET deps_left = x.deps_left - 1 WHERE x.queue = queue AND x.id = d
          RETURNING x.deps_left INTO left_count;
        IF left_count <= 0 THEN
          pushed := pushed + _qc_.release_waiting(queue, d, now);
        END IF;
      ELSIF d_policy = 'cancel' THEN
        DELETE FROM _qc_.dependents n WHERE n.queue = queue AND n.job_id = d;
        UPDATE _qc_.jobs x SET state = 'archived', archived_at = now, last_failed_at = now,
            last_error = 'cancelled: dependency ' || dep || ' did not complete'
          WHERE x.queue = queue AND x.id = d;
        PERFORM _qc_.finished(queue, ARRAY[d]);
        work := work || d;
        events := events || 'archived'::text;
        results := results || NULL::bytea;
      END IF;
    END LOOP;
    -- what is left after an archive waits for it under 'wait'; otherwise nothing may wait
    -- for a job that is gone or done
    IF event <> 'archived' THEN
      DELETE FROM _qc_.dependents n WHERE n.queue = queue AND n.dep_id = dep;
    END IF;
    i := i + 1;
  END LOOP;
  RETURN pushed;
END
$$;

-- settle_dependents when job `id` has any (the cheap common case: none).
CREATE OR REPLACE FUNCTION _qc_.settle_if_any(
  queue text, id text, how text, now double precision, result bytea
) RETURNS integer
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
BEGIN
  IF NOT EXISTS (SELECT 1 FROM _qc_.dependents n WHERE n.queue = queue AND n.dep_id = id) THEN
    RETURN 0;
  END IF;
  RETURN _qc_.settle_dependents(queue, id, how, now, result);
END
$$;
