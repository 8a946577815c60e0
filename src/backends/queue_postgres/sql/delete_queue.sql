-- delete_queue.sql: remove a queue with its jobs, groups, staging sets, pause flag and totals.
-- Arguments: queue, force.
-- Reply: 'missing' (not registered), 'active' (refused: jobs are running), 'not_empty'
-- (refused without force: jobs counted in QueueStats.size remain; completed and staged
-- ones do not count) or 'ok'.
-- The deleted jobs are announced as finished and release the unique locks they hold.
-- Daily counters and the metrics history are left to expire.

CREATE OR REPLACE FUNCTION _qc_.delete_queue(queue text, force boolean) RETURNS text
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
  ids text[];
BEGIN
  PERFORM 1 FROM _qc_.queues q WHERE q.name = queue FOR UPDATE;
  IF NOT FOUND THEN
    RETURN 'missing';
  END IF;
  IF EXISTS (SELECT 1 FROM _qc_.jobs x WHERE x.queue = queue AND x.state = 'active') THEN
    RETURN 'active';
  END IF;
  IF NOT force AND EXISTS (
    SELECT 1 FROM _qc_.jobs x WHERE x.queue = queue
      AND (x.state IN ('pending', 'scheduled', 'retry', 'archived', 'waiting')
           OR (x.state = 'aggregating' AND x.staged IS NULL))
  ) THEN
    RETURN 'not_empty';
  END IF;
  DELETE FROM _qc_.unique_locks u USING _qc_.jobs x
    WHERE u.queue = queue AND x.queue = queue AND x.unique_name = u.name AND u.holder = x.id;
  DELETE FROM _qc_.dependents n WHERE n.queue = queue;
  WITH gone AS (DELETE FROM _qc_.jobs x WHERE x.queue = queue RETURNING x.id)
  SELECT array_agg(id) INTO ids FROM gone;
  DELETE FROM _qc_.staging s WHERE s.queue = queue;
  DELETE FROM _qc_.paused p WHERE p.queue = queue;
  DELETE FROM _qc_.counters c WHERE c.queue = queue;
  DELETE FROM _qc_.queues q WHERE q.name = queue;
  PERFORM _qc_.finished(queue, ids);
  RETURN 'ok';
END
$$;
