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
-- '<queue> <id> <id> ...', cut below PostgreSQL's 8000-byte payload limit.
CREATE OR REPLACE FUNCTION _qc_.finished(queue text, ids text[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  chunk text := '';
  one text;
BEGIN
  IF ids IS NULL OR cardinality(ids) = 0 THEN
    RETURN;
  END IF;
  FOREACH one IN ARRAY ids LOOP
    IF chunk <> '' AND octet_length(chunk) + octet_length(one) + octet_length(queue) > 7000 THEN
      PERFORM pg_notify('@schema.done', queue || ' ' || chunk);
      chunk := '';
    END IF;
    chunk := CASE WHEN chunk = '' THEN one ELSE chunk || ' ' || one END;
  END LOOP;
  PERFORM pg_notify('@schema.done', queue || ' ' || chunk);
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
