-- reclaim_staged.sql: give the members of staging sets past their deadline back to their
-- groups (their aggregation crashed or failed, or an operator took a member out).
-- Arguments: queue, now.
-- Returns: the number of members given back. Each keeps its joined_at: its wait in the
-- group goes on from when it first joined.

CREATE OR REPLACE FUNCTION _qc_.reclaim_staged(p_queue text, p_now double precision)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v_returned integer;
BEGIN
    WITH due AS (
        DELETE FROM _qc_.staging WHERE queue = p_queue AND deadline <= p_now RETURNING set_id
    )
    UPDATE _qc_.jobs j SET staged = NULL FROM due WHERE j.queue = p_queue AND j.staged = due.set_id;
    GET DIAGNOSTICS v_returned = ROW_COUNT;
    RETURN v_returned;
END
$$;
