-- recover_expired.sql: reclaim active jobs whose lease expired at or before `now`, and
-- active jobs with no lease entry at all (lease_expires_at NULL).
-- Arguments: queues (text[]), now, max_crashes.
-- Reply: jsonb {"requeued": [ids], "archived": [ids]}.
-- Each job is claimed here under its row lock (SKIP LOCKED), so two callers never recover
-- it twice: its crashes grow by one and it goes back to the head of pending, or to the
-- archive once crashes exceed max_crashes. Counts processed and failed; archived ids are
-- announced as finished (their dependents apply their policies); queues with requeued
-- or released jobs are woken.

CREATE OR REPLACE FUNCTION _qc_.recover_expired(queues text[], now double precision, max_crashes integer)
RETURNS jsonb
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
  q text;
  j record;
  requeued text[] := '{}';
  archived text[] := '{}';
  q_archived text[];
  n integer;
  pushed integer;
BEGIN
  FOREACH q IN ARRAY queues LOOP
    q_archived := '{}';
    n := 0;
    pushed := 0;
    FOR j IN
      SELECT x.id, x.crashes + 1 AS crashes FROM _qc_.jobs x
      WHERE x.queue = q AND x.state = 'active' AND (x.lease_expires_at IS NULL OR x.lease_expires_at <= now)
      -- as the Redis driver: expired leases by expiry, then jobs without one by start
      ORDER BY x.lease_expires_at IS NULL, x.lease_expires_at,
        CASE WHEN x.lease_expires_at IS NULL THEN x.started_at END, x.id
      FOR UPDATE SKIP LOCKED
    LOOP
      n := n + 1;
      IF j.crashes > max_crashes THEN
        UPDATE _qc_.jobs x SET state = 'archived', crashes = j.crashes, lease = NULL, lease_expires_at = NULL,
            archived_at = now, last_failed_at = now,
            last_error = 'lease expired ' || j.crashes || ' times (the job may crash its worker)'
          WHERE x.queue = q AND x.id = j.id;
        q_archived := q_archived || j.id;
        pushed := pushed + _qc_.settle_if_any(q, j.id, 'archived', now, NULL);
      ELSE
        UPDATE _qc_.jobs x SET state = 'pending', crashes = j.crashes, lease = NULL, lease_expires_at = NULL,
            seq = -nextval('_qc_.pending_seq'), pending_since = now, last_error = 'lease expired',
            last_failed_at = now
          WHERE x.queue = q AND x.id = j.id;
        requeued := requeued || j.id;
        pushed := pushed + 1;
      END IF;
    END LOOP;
    PERFORM _qc_.count(q, now, n, n);
    PERFORM _qc_.finished(q, q_archived);
    archived := archived || q_archived;
    IF pushed > 0 THEN
      PERFORM _qc_.wake(q);
    END IF;
  END LOOP;
  RETURN jsonb_build_object('requeued', to_jsonb(requeued), 'archived', to_jsonb(archived));
END
$$;
