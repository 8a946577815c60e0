-- dequeue.sql: lease up to `lim` pending jobs, trying `queues` in the given order.
-- Arguments: queues (text[]), now, expiry (the leases' end), token_prefix, lim.
-- Rows: per leased job, in order (queue by queue, head first): the job's fields as
--   JobRecord wants them, and its fencing token '<token_prefix>:<id>'.
-- Paused queues are skipped. Rows are taken with FOR UPDATE SKIP LOCKED, so concurrent
-- dequeues never wait for each other nor take one job twice. A job whose deadline is at
-- or before `now` is archived ("deadline exceeded before start", counted processed and
-- failed, announced as finished, its dependents settled) instead of leased.

CREATE OR REPLACE FUNCTION _qc_.dequeue(
  queues text[], now double precision, expiry double precision, token_prefix text, lim integer
) RETURNS TABLE (
  r_queue text, r_id text, r_token text, r_type text, r_payload bytea, r_max_retries integer,
  r_retried integer, r_timeout double precision, r_deadline double precision, r_retention double precision,
  r_group text, r_unique_name text, r_headers text, r_enqueued_at double precision, r_crashes integer,
  r_bounces integer, r_last_error text
)
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
  q text;
  taken integer := 0;
  got integer;
  expired text[];
  pushed integer;
  j record;
BEGIN
  FOREACH q IN ARRAY queues LOOP
    EXIT WHEN taken >= lim;
    CONTINUE WHEN EXISTS (SELECT 1 FROM _qc_.paused p WHERE p.queue = q);
    expired := '{}';
    pushed := 0;
    LOOP
      got := 0;
      FOR j IN
        SELECT x.id, x.deadline FROM _qc_.jobs x
        WHERE x.queue = q AND x.state = 'pending'
        ORDER BY x.seq
        LIMIT lim - taken
        FOR UPDATE SKIP LOCKED
      LOOP
        got := got + 1;
        IF j.deadline IS NOT NULL AND j.deadline <= now THEN
          UPDATE _qc_.jobs x SET state = 'archived', seq = NULL, archived_at = now, last_failed_at = now,
              last_error = 'deadline exceeded before start'
            WHERE x.queue = q AND x.id = j.id;
          expired := expired || j.id;
          -- a dependent released here (policy 'run') is pending: the next round may take it
          pushed := pushed + _qc_.settle_if_any(q, j.id, 'archived', now, NULL);
        ELSE
          RETURN QUERY
            UPDATE _qc_.jobs x SET state = 'active', seq = NULL, lease = token_prefix || ':' || x.id,
                started_at = now, lease_expires_at = expiry
              WHERE x.queue = q AND x.id = j.id
              RETURNING x.queue, x.id, x.lease, x.type, x.payload, x.max_retries, x.retried, x.timeout,
                x.deadline, x.retention, x.grp, x.unique_name, x.headers, x.enqueued_at, x.crashes,
                x.bounces, x.last_error;
          taken := taken + 1;
        END IF;
      END LOOP;
      EXIT WHEN got = 0 OR taken >= lim;
    END LOOP;
    IF cardinality(expired) > 0 THEN
      PERFORM _qc_.count(q, now, cardinality(expired), cardinality(expired));
      PERFORM _qc_.finished(q, expired);
    END IF;
    IF pushed > 0 THEN
      PERFORM _qc_.wake(q);
    END IF;
  END LOOP;
END
$$;
