-- write_result.sql: store a result on an active job this lease still holds.
-- Arguments: queue, id, token, result. Reply: true written, false fenced (nothing
-- written; never creates a record).

CREATE OR REPLACE FUNCTION _qc_.write_result(queue text, id text, token text, result bytea)
RETURNS boolean
LANGUAGE sql AS $$
  WITH written AS (
    UPDATE _qc_.jobs x SET result = $4
    WHERE x.queue = $1 AND x.id = $2 AND x.state = 'active' AND x.lease = $3
    RETURNING 1
  )
  SELECT EXISTS (SELECT 1 FROM written)
$$;
