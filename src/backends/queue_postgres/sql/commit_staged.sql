-- commit_staged.sql: atomically enqueue the aggregate job and delete the staged members,
-- so a staging set is aggregated at most once even if its aggregator crashes.
-- Arguments: queue, group, set id, now, the aggregate job (one element of enqueue.sql's
-- jobs array), its payload.
-- Reply: jsonb [code, detail]: enqueue.sql's codes (0 enqueued, 1 id conflict, 2 duplicate
-- with the holder), or 3 stale: the set was committed, reclaimed, is of another group,
-- reached its deadline (<= now, as reclaim_staged judges it), or an operator took a member
-- out of it. When the aggregate is refused the set's deadline becomes now: due for
-- reclaim_staged at once, which gives the members back to their group.
-- The deleted members release their unique locks, settle the jobs waiting for them and
-- are announced as finished.

CREATE OR REPLACE FUNCTION _qc_.commit_staged(
  queue text, grp text, set_id text, now double precision, job jsonb, payload bytea
) RETURNS jsonb
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
  deadline double precision;
  reply jsonb;
  member text;
  pushed integer := 0;
BEGIN
  SELECT s.deadline INTO deadline FROM _qc_.staging s
    WHERE s.queue = queue AND s.set_id = set_id AND s.grp = grp FOR UPDATE;
  IF deadline IS NULL OR deadline <= now THEN
    RETURN jsonb_build_array(3, '');
  END IF;
  reply := _qc_.enqueue(now, jsonb_build_array(job), ARRAY[payload], false) -> 0;
  IF (reply ->> 0)::integer <> 0 THEN
    UPDATE _qc_.staging s SET deadline = now WHERE s.queue = queue AND s.set_id = set_id;
    RETURN reply;
  END IF;
  DELETE FROM _qc_.staging s WHERE s.queue = queue AND s.set_id = set_id;
  FOR member IN
    SELECT x.id FROM _qc_.jobs x WHERE x.queue = queue AND x.staged = set_id AND x.state = 'aggregating'
    ORDER BY x.joined_at, x.id COLLATE "C" FOR UPDATE
  LOOP
    pushed := pushed + _qc_.delete_now(queue, member, now);
  END LOOP;
  IF pushed > 0 THEN
    PERFORM _qc_.wake(queue);
  END IF;
  RETURN reply;
END
$$;
