-- enqueue.sql: store N jobs, each pending, scheduled, aggregating, or waiting for its
-- dependencies (archived at once when a dependency it must not outlive was archived).
-- Arguments: now, jobs (jsonb array, one object per job:
--   queue, id, type, max_retries, state ('pending' | 'scheduled' | 'aggregating'),
--   due_at (null for now), and only when set: timeout, deadline, retention, group,
--   headers (JSON text), deps (array of ids), dep_policy, unique (the lock name),
--   unique_until (epoch s)),
--   payloads (bytea[], one per job, same order), atomic (per queue all or nothing: a flow).
-- Reply: jsonb array, per job [code, detail]: code 0 stored (detail 'waiting' or
--   'archived' when its dependencies decided the state, else ''), 1 id conflict,
--   2 duplicate (detail: the lock holder), 4 dependency missing (detail: its id),
--   5 not written (another job of the flow's queue was refused).
-- A refused job writes nothing (no lock is left behind). With atomic, each queue's jobs
-- are checked first (a dependency may be an earlier job of the call) and one refusal
-- writes nothing of that queue. A queue is registered when a job is stored in it.
-- Wakes a queue's workers when a job became pending there, or when a scheduled job
-- became the earliest of its queue (so a forwarder sleeping until the next due time
-- wakes for it).

CREATE OR REPLACE FUNCTION _qc_.enqueue(now double precision, jobs jsonb, payloads bytea[], atomic boolean)
RETURNS jsonb
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
  n integer := jsonb_array_length(jobs);
  reply jsonb[] := array_fill(NULL::jsonb, ARRAY[n]);
  refused_queues text[] := '{}';
  woken text[] := '{}';
  registered text[] := '{}';
  earliest jsonb := '{}';  -- queue -> earliest scheduled due time before this call
  j jsonb;
  i integer;
  q text;
  id text;
  code integer;
  detail text;
  dep text;
  dep_state text;
  dep_result bytea;
  policy text;
  cancelled_by text;
  waits text[];
  copies text[];
  lock_name text;
  held_by text;
  state text;
  due double precision;
  first_due double precision;
  stored boolean;
  -- flow check
  batch_ids text[];
  batch_locks jsonb;
  fq text;
  refused integer;
  refused_code integer;
  refused_detail text;
BEGIN
  IF atomic THEN
    FOR fq IN SELECT DISTINCT e->>'queue' FROM jsonb_array_elements(jobs) e LOOP
      batch_ids := '{}';
      batch_locks := '{}';
      refused := NULL;
      FOR i IN 1..n LOOP
        j := jobs->(i - 1);
        CONTINUE WHEN j->>'queue' <> fq;
        id := j->>'id';
        IF id = ANY(batch_ids) OR EXISTS (SELECT 1 FROM _qc_.jobs x WHERE x.queue = fq AND x.id = j->>'id') THEN
          refused := i; refused_code := 1; refused_detail := '';
          EXIT;
        END IF;
        detail := NULL;
        IF j ? 'deps' THEN
          FOR dep IN SELECT jsonb_array_elements_text(j->'deps') LOOP
            IF NOT dep = ANY(batch_ids) AND NOT EXISTS (SELECT 1 FROM _qc_.jobs x WHERE x.queue = fq AND x.id = dep) THEN
              detail := dep;
              EXIT;
            END IF;
          END LOOP;
        END IF;
        IF detail IS NOT NULL THEN
          refused := i; refused_code := 4; refused_detail := detail;
          EXIT;
        END IF;
        IF j ? 'unique' THEN
          lock_name := j->>'unique';
          held_by := batch_locks->>lock_name;
          IF held_by IS NULL THEN
            SELECT u.holder INTO held_by FROM _qc_.unique_locks u
              WHERE u.queue = fq AND u.name = lock_name AND u.held_until > now;
          END IF;
          batch_locks := batch_locks || jsonb_build_object(lock_name, id);
          IF held_by IS NOT NULL THEN
            refused := i; refused_code := 2; refused_detail := held_by;
            EXIT;
          END IF;
        END IF;
        batch_ids := batch_ids || id;
      END LOOP;
      IF refused IS NOT NULL THEN
        refused_queues := refused_queues || fq;
        FOR i IN 1..n LOOP
          IF jobs->(i - 1)->>'queue' = fq THEN
            reply[i] := CASE WHEN i = refused THEN jsonb_build_array(refused_code, refused_detail)
                             ELSE jsonb_build_array(5, '') END;
          END IF;
        END LOOP;
      END IF;
    END LOOP;
  END IF;

  FOR i IN 1..n LOOP
    j := jobs->(i - 1);
    q := j->>'queue';
    CONTINUE WHEN q = ANY(refused_queues);
    id := j->>'id';
    code := 0;
    detail := '';
    IF EXISTS (SELECT 1 FROM _qc_.jobs x WHERE x.queue = q AND x.id = id) THEN
      reply[i] := jsonb_build_array(1, '');
      CONTINUE;
    END IF;
    -- dependencies: each must exist; completed ones are satisfied (results copied),
    -- archived ones apply the policy now, the others are waited for
    policy := coalesce(j->>'dep_policy', 'cancel');
    cancelled_by := NULL;
    waits := '{}';
    copies := '{}';
    IF j ? 'deps' THEN
      FOR dep IN SELECT jsonb_array_elements_text(j->'deps') LOOP
        -- FOR SHARE: a dependency settling concurrently waits for this transaction, so
        -- its release sees the dependents row written here (or this sees it settled)
        SELECT x.state INTO dep_state FROM _qc_.jobs x WHERE x.queue = q AND x.id = dep FOR SHARE;
        IF NOT FOUND THEN
          code := 4;
          detail := dep;
          EXIT;
        ELSIF dep_state = 'completed' THEN
          copies := copies || dep;
        ELSIF dep_state = 'archived' THEN
          IF policy = 'cancel' THEN
            cancelled_by := coalesce(cancelled_by, dep);
          ELSIF policy = 'wait' THEN
            waits := waits || dep;
          END IF;
        ELSE
          waits := waits || dep;
        END IF;
      END LOOP;
      IF code = 4 THEN
        reply[i] := jsonb_build_array(4, detail);
        CONTINUE;
      END IF;
    END IF;
    lock_name := j->>'unique';
    IF lock_name IS NOT NULL THEN
      held_by := NULL;
      INSERT INTO _qc_.unique_locks AS u (queue, name, holder, held_until)
        VALUES (q, lock_name, id, (j->>'unique_until')::double precision)
        ON CONFLICT ON CONSTRAINT unique_locks_pkey DO UPDATE
          SET holder = excluded.holder, held_until = excluded.held_until
          WHERE u.held_until <= now
        RETURNING u.holder INTO held_by;
      IF held_by IS NULL THEN
        SELECT u.holder INTO held_by FROM _qc_.unique_locks u WHERE u.queue = q AND u.name = lock_name;
        reply[i] := jsonb_build_array(2, coalesce(held_by, ''));
        CONTINUE;
      END IF;
    END IF;
    state := j->>'state';
    due := coalesce((j->>'due_at')::double precision, now);
    IF cancelled_by IS NOT NULL THEN
      state := 'archived';
      detail := 'archived';
    ELSIF cardinality(waits) > 0 THEN
      state := 'waiting';
      detail := 'waiting';
    END IF;
    IF state = 'scheduled' AND NOT earliest ? q THEN
      SELECT min(x.due_at) INTO first_due FROM _qc_.jobs x WHERE x.queue = q AND x.state = 'scheduled';
      earliest := earliest || jsonb_build_object(q, first_due);
    END IF;
    INSERT INTO _qc_.jobs AS x (
      queue, id, state, type, payload, max_retries, enqueued_at, timeout, deadline, retention, grp,
      headers, unique_name, seq, pending_since, due_at, joined_at, archived_at, last_error, last_failed_at,
      depends_on, dep_policy, deps_left
    ) VALUES (
      q, id, state, j->>'type', payloads[i], (j->>'max_retries')::integer, now,
      (j->>'timeout')::double precision, (j->>'deadline')::double precision,
      coalesce((j->>'retention')::double precision, 0), j->>'group', j->>'headers', lock_name,
      CASE WHEN state = 'pending' THEN nextval('_qc_.pending_seq') END,
      CASE WHEN state = 'pending' THEN now END,
      due,
      CASE WHEN state = 'aggregating' THEN now END,
      CASE WHEN state = 'archived' THEN now END,
      CASE WHEN state = 'archived' THEN 'cancelled: dependency ' || cancelled_by || ' did not complete' END,
      CASE WHEN state = 'archived' THEN now END,
      CASE WHEN j ? 'deps' THEN ARRAY(SELECT jsonb_array_elements_text(j->'deps')) END,
      CASE WHEN j ? 'deps' THEN policy END,
      cardinality(waits)
    ) ON CONFLICT ON CONSTRAINT jobs_pkey DO NOTHING
    RETURNING true INTO stored;
    IF stored IS NULL THEN
      -- stored meanwhile by a concurrent call: refused, and the lock just taken goes
      IF lock_name IS NOT NULL THEN
        PERFORM _qc_.release_lock(q, lock_name, id);
      END IF;
      reply[i] := jsonb_build_array(1, '');
      CONTINUE;
    END IF;
    IF cardinality(copies) > 0 THEN
      INSERT INTO _qc_.dependency_results (queue, job_id, dep_id, result)
        SELECT q, id, x.id, x.result FROM _qc_.jobs x
        WHERE x.queue = q AND x.id = ANY(copies) AND x.result IS NOT NULL
        ON CONFLICT DO NOTHING;
    END IF;
    IF state = 'waiting' THEN
      INSERT INTO _qc_.dependents (queue, dep_id, job_id)
        SELECT q, w, id FROM unnest(waits) w ON CONFLICT DO NOTHING;
    ELSIF state = 'pending' THEN
      IF NOT q = ANY(woken) THEN
        woken := woken || q;
      END IF;
    ELSIF state = 'scheduled' THEN
      first_due := (earliest->>q)::double precision;
      IF (first_due IS NULL OR due < first_due) THEN
        earliest := earliest || jsonb_build_object(q, due);
        IF NOT q = ANY(woken) THEN
          woken := woken || q;
        END IF;
      END IF;
    END IF;
    IF NOT q = ANY(registered) THEN
      registered := registered || q;
    END IF;
    reply[i] := jsonb_build_array(0, detail);
  END LOOP;
  INSERT INTO _qc_.queues (name, created_at) SELECT r, now FROM unnest(registered) r ON CONFLICT DO NOTHING;
  FOREACH q IN ARRAY woken LOOP
    PERFORM _qc_.wake(q);
  END LOOP;
  RETURN to_jsonb(reply);
END
$$;
