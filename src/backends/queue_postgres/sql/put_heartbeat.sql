-- put_heartbeat.sql: record a live worker or scheduler with its info until now + ttl.
-- Arguments: kind, member id, info, now, ttl.
-- Returns: nothing. A member that beats again gets the new info and expiry.

CREATE OR REPLACE FUNCTION _qc_.put_heartbeat(
    p_kind text, p_member text, p_info bytea, p_now double precision, p_ttl double precision
) RETURNS void LANGUAGE sql AS $$
    INSERT INTO _qc_.heartbeats (kind, member_id, info, expires_at) VALUES (p_kind, p_member, p_info, p_now + p_ttl)
    ON CONFLICT (kind, member_id) DO UPDATE SET info = EXCLUDED.info, expires_at = EXCLUDED.expires_at;
$$;
