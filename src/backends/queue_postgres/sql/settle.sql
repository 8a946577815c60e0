-- settle.sql: end N attempts, of any queues and kinds, each fenced by its lease token.
-- Arguments: now, items (jsonb array, one object per attempt: kind ('complete' | 'retry' |
--   'archive' | 'requeue' | 'revoke'), queue, id, token, and by kind:
--   complete: expires (end of retention, null: delete the job), has_result (bool);
--   retry: retry_at, error, failure (bool: uses a retry and counts), traceback (null: none);
--   archive: error, release_unique (bool), traceback),
--   results (bytea[], the complete items' results by position; null for none).
-- Reply: jsonb array of booleans, one per item: false when its lease was lost (fenced:
--   nothing changed).
-- complete: completed until `expires` (with its result) or deleted; counts processed;
--   releases the unique lock; jobs waiting for it are released (its result copied).
-- retry: to retry at retry_at with the error; a failure uses a retry and counts processed
--   and failed, a bounce only counts a bounce.
-- archive: archived with the error; counts processed and failed; dependents apply their
--   policies. Archive caps are applied by purge_expired.
-- requeue: to the head of pending, nothing counted. revoke: deleted, counts processed,
--   releases the unique lock; dependents apply their policies (it is gone).
-- Completed, archived and deleted ids are announced as finished; queues where jobs
-- became pending are woken.

CREATE OR REPLACE FUNCTION _qc_.settle(now double precision, items jsonb, results bytea[])
RETURNS jsonb
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
  n integer := jsonb_array_length(items);
  reply boolean[] := array_fill(false, ARRAY[n]);
  it jsonb;
  i integer;
  q text;
  jid text;
  kind text;
  cur record;
  res bytea;
  tb text;
  -- per queue: [processed, failed]; finished ids; queues to wake
  counts jsonb := '{}';
  done jsonb := '{}';
  woken text[] := '{}';
  pushed integer;
  p integer;
  f integer;
BEGIN
  FOR i IN 1..n LOOP
    it := items->(i - 1);
    q := it->>'queue';
    jid := it->>'id';
    kind := it->>'kind';
    SELECT x.state, x.lease, x.unique_name, x.result IS NOT NULL AS has_result INTO cur
      FROM _qc_.jobs x WHERE x.queue = q AND x.id = jid FOR UPDATE;
    CONTINUE WHEN NOT FOUND OR cur.state <> 'active' OR cur.lease IS DISTINCT FROM it->>'token';
    reply[i] := true;
    p := 0;
    f := 0;
    pushed := 0;
    tb := it->>'traceback';
    IF kind = 'complete' THEN
      res := CASE WHEN (it->>'has_result')::boolean THEN results[i] END;
      IF cur.unique_name IS NOT NULL THEN
        PERFORM _qc_.release_lock(q, cur.unique_name, jid);
      END IF;
      IF EXISTS (SELECT 1 FROM _qc_.dependents d WHERE d.queue = q AND d.dep_id = jid) THEN
        IF res IS NULL AND cur.has_result THEN
          SELECT x.result INTO res FROM _qc_.jobs x WHERE x.queue = q AND x.id = jid;
        END IF;
        pushed := _qc_.settle_dependents(q, jid, 'done', now, res);
        res := CASE WHEN (it->>'has_result')::boolean THEN results[i] END;
      END IF;
      IF it->>'expires' IS NOT NULL THEN
        UPDATE _qc_.jobs x SET state = 'completed', completed_at = now,
            expires_at = (it->>'expires')::double precision, lease = NULL, lease_expires_at = NULL,
            result = coalesce(res, x.result)
          WHERE x.queue = q AND x.id = jid;
      ELSE
        DELETE FROM _qc_.jobs x WHERE x.queue = q AND x.id = jid;
      END IF;
      p := 1;
      done := jsonb_set(done, ARRAY[q], coalesce(done->q, '[]') || to_jsonb(jid));
    ELSIF kind = 'retry' THEN
      UPDATE _qc_.jobs x SET state = 'retry', due_at = (it->>'retry_at')::double precision,
          last_error = it->>'error', last_failed_at = now, lease = NULL, lease_expires_at = NULL,
          traceback = tb,
          retried = x.retried + CASE WHEN (it->>'failure')::boolean THEN 1 ELSE 0 END,
          bounces = x.bounces + CASE WHEN (it->>'failure')::boolean THEN 0 ELSE 1 END
        WHERE x.queue = q AND x.id = jid;
      IF (it->>'failure')::boolean THEN
        p := 1;
        f := 1;
      END IF;
    ELSIF kind = 'archive' THEN
      IF (it->>'release_unique')::boolean AND cur.unique_name IS NOT NULL THEN
        PERFORM _qc_.release_lock(q, cur.unique_name, jid);
      END IF;
      UPDATE _qc_.jobs x SET state = 'archived', archived_at = now, last_error = it->>'error',
          last_failed_at = now, lease = NULL, lease_expires_at = NULL, traceback = tb
        WHERE x.queue = q AND x.id = jid;
      p := 1;
      f := 1;
      done := jsonb_set(done, ARRAY[q], coalesce(done->q, '[]') || to_jsonb(jid));
      pushed := _qc_.settle_if_any(q, jid, 'archived', now, NULL);
    ELSIF kind = 'requeue' THEN
      UPDATE _qc_.jobs x SET state = 'pending', seq = -nextval('_qc_.pending_seq'), pending_since = now,
          lease = NULL, lease_expires_at = NULL
        WHERE x.queue = q AND x.id = jid;
      pushed := 1;
    ELSE  -- revoke
      IF cur.unique_name IS NOT NULL THEN
        PERFORM _qc_.release_lock(q, cur.unique_name, jid);
      END IF;
      DELETE FROM _qc_.jobs x WHERE x.queue = q AND x.id = jid;
      p := 1;
      done := jsonb_set(done, ARRAY[q], coalesce(done->q, '[]') || to_jsonb(jid));
      pushed := _qc_.settle_if_any(q, jid, 'gone', now, NULL);
    END IF;
    IF p + f > 0 THEN
      counts := jsonb_set(counts, ARRAY[q], jsonb_build_array(
        coalesce((counts->q->>0)::integer, 0) + p, coalesce((counts->q->>1)::integer, 0) + f));
    END IF;
    IF pushed > 0 AND NOT q = ANY(woken) THEN
      woken := woken || q;
    END IF;
  END LOOP;
  FOR q IN SELECT jsonb_object_keys(counts) LOOP
    PERFORM _qc_.count(q, now, (counts->q->>0)::bigint, (counts->q->>1)::bigint);
  END LOOP;
  FOR q IN SELECT jsonb_object_keys(done) LOOP
    PERFORM _qc_.finished(q, ARRAY(SELECT jsonb_array_elements_text(done->q)));
  END LOOP;
  FOREACH q IN ARRAY woken LOOP
    PERFORM _qc_.wake(q);
  END LOOP;
  RETURN to_jsonb(reply);
END
$$;
