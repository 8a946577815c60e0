-- purge_expired.sql: delete completed jobs past retention and archived jobs beyond the caps.
-- Arguments: queues (text[]), now, max_size (archived jobs kept per queue, newest),
--   oldest_kept (archived before this are deleted), batch (most records deleted per
--   queue and cap per call).
-- Reply: how many job records were deleted. Deleted jobs release their unique locks;
-- jobs waiting for a deleted one apply their policies; deleted ids are announced as
-- finished. Also collects what only the callers' clock frees: unique locks and daily
-- counters whose time has passed.

CREATE OR REPLACE FUNCTION _qc_.purge_expired(
  queues text[], now double precision, max_size integer, oldest_kept double precision, batch integer
) RETURNS integer
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
  q text;
  gone text[];
  deleted integer := 0;
  excess integer;
  pushed integer;
  d text;
BEGIN
  FOREACH q IN ARRAY queues LOOP
    pushed := 0;
    -- completed past retention (expiry order), archived too old (archive order)
    gone := ARRAY(
      SELECT x.id FROM _qc_.jobs x WHERE x.queue = q AND x.state = 'completed' AND x.expires_at <= now
      ORDER BY x.expires_at, x.id LIMIT batch FOR UPDATE SKIP LOCKED);
    gone := gone || ARRAY(
      SELECT x.id FROM _qc_.jobs x WHERE x.queue = q AND x.state = 'archived' AND x.archived_at < oldest_kept
      ORDER BY x.archived_at, x.id LIMIT batch FOR UPDATE SKIP LOCKED);
    -- then the oldest archived beyond max_size
    SELECT count(*) - max_size INTO excess FROM _qc_.jobs x
      WHERE x.queue = q AND x.state = 'archived' AND NOT x.id = ANY(gone);
    IF excess > 0 THEN
      gone := gone || ARRAY(
        SELECT x.id FROM _qc_.jobs x WHERE x.queue = q AND x.state = 'archived' AND NOT x.id = ANY(gone)
        ORDER BY x.archived_at, x.id LIMIT least(excess, batch) FOR UPDATE SKIP LOCKED);
    END IF;
    CONTINUE WHEN cardinality(gone) = 0;
    DELETE FROM _qc_.unique_locks u USING _qc_.jobs x
      WHERE x.queue = q AND x.id = ANY(gone) AND u.queue = q AND u.name = x.unique_name AND u.holder = x.id;
    DELETE FROM _qc_.jobs x WHERE x.queue = q AND x.id = ANY(gone);
    FOREACH d IN ARRAY gone LOOP
      pushed := pushed + _qc_.settle_if_any(q, d, 'gone', now, NULL);
    END LOOP;
    deleted := deleted + cardinality(gone);
    PERFORM _qc_.finished(q, gone);
    IF pushed > 0 THEN
      PERFORM _qc_.wake(q);
    END IF;
  END LOOP;
  DELETE FROM _qc_.unique_locks u WHERE u.queue = ANY(queues) AND u.held_until <= now;
  DELETE FROM _qc_.daily d WHERE d.queue = ANY(queues) AND d.expires_at <= now;
  RETURN deleted;
END
$$;
