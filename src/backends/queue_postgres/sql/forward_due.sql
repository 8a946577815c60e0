-- forward_due.sql: move due scheduled and retry jobs to pending, or to their group.
-- Arguments: queues (text[]), now, lim (most jobs moved in this call, over all queues).
-- Reply: how many moved (callers repeat while it returns lim). Per queue: scheduled first,
-- then retry; earliest first (ties by id). A job with a group joins it (aggregating, its
-- wait counting from now); the others go to the tail of pending and wake the queue.

CREATE OR REPLACE FUNCTION _qc_.forward_due(queues text[], now double precision, lim integer)
RETURNS integer
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
  q text;
  s text;
  moved integer := 0;
  pushed integer;
  j record;
BEGIN
  FOREACH q IN ARRAY queues LOOP
    EXIT WHEN moved >= lim;
    pushed := 0;
    FOREACH s IN ARRAY ARRAY['scheduled', 'retry'] LOOP
      EXIT WHEN moved >= lim;
      FOR j IN
        SELECT x.id, x.grp FROM _qc_.jobs x
        WHERE x.queue = q AND x.state = s AND x.due_at <= now
        ORDER BY x.due_at, x.id
        LIMIT lim - moved
        FOR UPDATE SKIP LOCKED
      LOOP
        IF j.grp IS NOT NULL THEN
          UPDATE _qc_.jobs x SET state = 'aggregating', joined_at = now WHERE x.queue = q AND x.id = j.id;
        ELSE
          UPDATE _qc_.jobs x SET state = 'pending', seq = nextval('_qc_.pending_seq'), pending_since = now
            WHERE x.queue = q AND x.id = j.id;
          pushed := pushed + 1;
        END IF;
        moved := moved + 1;
      END LOOP;
    END LOOP;
    IF pushed > 0 THEN
      PERFORM _qc_.wake(q);
    END IF;
  END LOOP;
  RETURN moved;
END
$$;
