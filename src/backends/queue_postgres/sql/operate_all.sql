-- operate_all.sql: an operator runs, archives or deletes up to a batch of the jobs of one
-- state (one group's, for aggregating jobs; members staged for aggregation are left alone).
-- Arguments: queue, state, group (NULL unless aggregating), action ('run' | 'archive' |
-- 'delete'), now, batch.
-- Reply: how many were taken (-1: the queue is not registered). Callers repeat while it
-- equals the batch. The caller checked that the action is allowed in the state.
-- Jobs are taken in the state's order (pending: head first; a group: oldest first; the
-- others by their time, ties by id), so run moves them to the tail of pending in that
-- order. A waiting job that an earlier one of the batch cancelled (policy 'cancel') is
-- archived already: it counts, and archive leaves it; one that an earlier one released
-- is taken from where it went. Each job as operate_job does it.

CREATE OR REPLACE FUNCTION _qc_.operate_all(
  queue text, state text, grp text, action text, now double precision, batch integer
) RETURNS integer
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
  ids text[];
  one text;
  current_state text;
  order_by text;
  pushed integer := 0;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM _qc_.queues q WHERE q.name = queue) THEN
    RETURN -1;
  END IF;
  -- the state's own order, through its partial index (the state is a literal for the planner)
  order_by := CASE state WHEN 'pending' THEN 'seq' WHEN 'scheduled' THEN 'due_at' WHEN 'retry' THEN 'due_at'
    WHEN 'archived' THEN 'archived_at' WHEN 'completed' THEN 'expires_at' WHEN 'waiting' THEN 'enqueued_at'
    ELSE 'joined_at' END;
  EXECUTE format(
    'SELECT array_agg(t.id ORDER BY t.k, t.id COLLATE "C") FROM ('
    ' SELECT x.id, x.%1$I AS k FROM _qc_.jobs x WHERE x.queue = $1 AND x.state = %2$L'
    ' AND (%2$L <> ''aggregating'' OR (x.grp = $2 AND x.staged IS NULL))'
    ' ORDER BY x.%1$I, x.id COLLATE "C" LIMIT $3 FOR UPDATE) t',
    order_by, state)
    INTO ids USING queue, grp, batch;
  IF ids IS NULL THEN
    RETURN 0;
  END IF;
  FOREACH one IN ARRAY ids LOOP
    SELECT x.state INTO current_state FROM _qc_.jobs x WHERE x.queue = queue AND x.id = one;
    IF current_state = 'waiting' THEN
      PERFORM _qc_.detach(queue, one, 'waiting', NULL);
    END IF;
    IF action = 'run' THEN
      PERFORM _qc_.run_now(queue, one, now);
    ELSIF action = 'archive' THEN
      IF current_state <> 'archived' THEN
        pushed := pushed + _qc_.archive_now(queue, one, now, NULL);
      END IF;
    ELSE
      pushed := pushed + _qc_.delete_now(queue, one, now);
    END IF;
  END LOOP;
  IF pushed > 0 THEN
    PERFORM _qc_.wake(queue);
  END IF;
  RETURN cardinality(ids);
END
$$;
