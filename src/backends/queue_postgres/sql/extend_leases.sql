-- extend_leases.sql: renew the leases of N active jobs (any queues).
-- Arguments: expiry (the new end of each lease), items (jsonb array of [queue, id, token]).
-- Reply: jsonb array, per item 0 (lost: not active under this token), 1 (renewed),
--   2 (renewed, and an operator asked to cancel it).
-- A renewal also writes a lease entry the job had lost (lease_expires_at NULL).

CREATE OR REPLACE FUNCTION _qc_.extend_leases(expiry double precision, items jsonb)
RETURNS jsonb
LANGUAGE sql AS $$
  WITH wanted AS (
    SELECT e.ord, e.value->>0 AS queue, e.value->>1 AS id, e.value->>2 AS token
    FROM jsonb_array_elements(items) WITH ORDINALITY AS e(value, ord)
  ),
  -- a lease named twice is renewed once and reported held both times
  renewed AS (
    UPDATE _qc_.jobs x SET lease_expires_at = expiry
    FROM (SELECT DISTINCT queue, id, token FROM wanted) w
    WHERE x.queue = w.queue AND x.id = w.id AND x.state = 'active' AND x.lease = w.token
    RETURNING x.queue, x.id, x.lease, x.cancel_requested
  )
  SELECT coalesce(jsonb_agg(CASE WHEN r.id IS NULL THEN 0 WHEN r.cancel_requested THEN 2 ELSE 1 END ORDER BY w.ord), '[]')
  FROM wanted w LEFT JOIN renewed r ON r.queue = w.queue AND r.id = w.id AND r.lease = w.token
$$;
