-- aggregation_check.sql: stage a ready group's members for aggregation.
-- Arguments: queue, group, now, grace, max delay (NULL: none), max size (NULL: none),
-- staging deadline, the new set's id.
-- Returns: the set id when members were staged, else NULL (the group is empty or not ready).
-- Ready when: size >= max size (the oldest max size are taken); or the oldest member
-- waited >= max delay; or the newest waited >= grace (up to max size taken, oldest first).
-- Members are the group's aggregating jobs not staged yet, ordered by joined_at, then id;
-- staging marks them (jobs.staged = set id) and records the set's deadline (staging).

CREATE OR REPLACE FUNCTION _qc_.aggregation_check(
    p_queue text, p_group text, p_now double precision, p_grace double precision,
    p_max_delay double precision, p_max_size integer, p_deadline double precision, p_set_id text
) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_size integer;
    v_oldest double precision;
    v_newest double precision;
    v_ready boolean;
BEGIN
    -- lock the members, so two aggregators never stage one job twice
    PERFORM 1 FROM _qc_.jobs
    WHERE queue = p_queue AND state = 'aggregating' AND grp = p_group AND staged IS NULL FOR UPDATE;
    SELECT count(*), min(joined_at), max(joined_at) INTO v_size, v_oldest, v_newest FROM _qc_.jobs
    WHERE queue = p_queue AND state = 'aggregating' AND grp = p_group AND staged IS NULL;
    IF v_size = 0 THEN
        RETURN NULL;
    END IF;
    v_ready := (p_max_size IS NOT NULL AND v_size >= p_max_size)
        OR (p_max_delay IS NOT NULL AND p_now - v_oldest >= p_max_delay)
        OR p_now - v_newest >= p_grace;
    IF NOT v_ready THEN
        RETURN NULL;
    END IF;
    UPDATE _qc_.jobs j SET staged = p_set_id
    FROM (
        SELECT id FROM _qc_.jobs
        WHERE queue = p_queue AND state = 'aggregating' AND grp = p_group AND staged IS NULL
        ORDER BY joined_at, id COLLATE "C" LIMIT p_max_size
    ) AS taken
    WHERE j.queue = p_queue AND j.id = taken.id;
    INSERT INTO _qc_.staging (queue, set_id, grp, deadline) VALUES (p_queue, p_set_id, p_group, p_deadline);
    RETURN p_set_id;
END
$$;
