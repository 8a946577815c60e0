-- operate_job.sql: an operator runs, archives, deletes or cancels one job.
-- Arguments: queue, job id, action ('run' | 'archive' | 'delete' | 'cancel'), now.
-- Reply: text[] {outcome, former state}: outcome 'ok', 'no_queue' (the queue is not
-- registered), 'missing' (no such job) or 'refused' (not allowed in its state, named).
-- run: a scheduled, retry, archived, aggregating or waiting job to the tail of pending (a
--   waiting job is released by hand, its links dropped); an earlier cancel request is
--   withdrawn. archive: a pending, scheduled, retry, aggregating or waiting job, at now,
--   no error recorded, its unique lock kept. delete: any state but active; the lock is
--   released. cancel: an active job is flagged (its worker sees the flag at lease
--   renewal) and its id notified on the schema's cancel channel; a pending, scheduled,
--   retry, aggregating or waiting job is archived with error 'cancelled'.
-- Archived and deleted jobs are announced as finished and the jobs waiting for them apply
-- their policies. Nothing is counted.

CREATE OR REPLACE FUNCTION _qc_.operate_job(queue text, id text, action text, now double precision)
RETURNS text[]
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
  former text;
  staged text;
  pushed integer := 0;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM _qc_.queues q WHERE q.name = queue) THEN
    RETURN ARRAY['no_queue', ''];
  END IF;
  SELECT x.state, x.staged INTO former, staged FROM _qc_.jobs x WHERE x.queue = queue AND x.id = id FOR UPDATE;
  IF NOT FOUND THEN
    RETURN ARRAY['missing', ''];
  END IF;
  IF action = 'cancel' AND former = 'active' THEN
    UPDATE _qc_.jobs x SET cancel_requested = true WHERE x.queue = queue AND x.id = id;
    PERFORM pg_notify('@schema.cancel', id);
    RETURN ARRAY['ok', former];
  END IF;
  IF NOT former = ANY(CASE action
      WHEN 'run' THEN ARRAY['scheduled', 'retry', 'archived', 'aggregating', 'waiting']
      WHEN 'archive' THEN ARRAY['pending', 'scheduled', 'retry', 'aggregating', 'waiting']
      WHEN 'delete' THEN ARRAY['pending', 'scheduled', 'retry', 'archived', 'completed', 'aggregating', 'waiting']
      ELSE ARRAY['pending', 'scheduled', 'retry', 'aggregating', 'waiting'] END) THEN
    RETURN ARRAY['refused', former];
  END IF;
  PERFORM _qc_.detach(queue, id, former, staged);
  IF action = 'run' THEN
    PERFORM _qc_.run_now(queue, id, now);
  ELSIF action = 'archive' THEN
    pushed := _qc_.archive_now(queue, id, now, NULL);
  ELSIF action = 'delete' THEN
    pushed := _qc_.delete_now(queue, id, now);
  ELSE
    pushed := _qc_.archive_now(queue, id, now, 'cancelled');
  END IF;
  IF pushed > 0 THEN
    PERFORM _qc_.wake(queue);
  END IF;
  RETURN ARRAY['ok', former];
END
$$;
