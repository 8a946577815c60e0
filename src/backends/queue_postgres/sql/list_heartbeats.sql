-- list_heartbeats.sql: the live members of a kind; the expired ones are deleted.
-- Arguments: kind, now.
-- Returns: (member_id, info) of every member whose expiry is after now, by member id.

CREATE OR REPLACE FUNCTION _qc_.list_heartbeats(p_kind text, p_now double precision)
RETURNS TABLE (member_id text, info bytea) LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM _qc_.heartbeats h WHERE h.kind = p_kind AND h.expires_at <= p_now;
    RETURN QUERY SELECT h.member_id, h.info FROM _qc_.heartbeats h WHERE h.kind = p_kind ORDER BY h.member_id;
END
$$;
