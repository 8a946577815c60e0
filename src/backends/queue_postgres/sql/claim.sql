-- claim.sql: a once-per-key claim, judged by the caller's clock.
-- Arguments: the key, now, ttl (seconds).
-- Returns: true when this call claimed the key, false while a claim that has not expired
-- (expires_at > now) holds it. Two callers racing for one key: the row lock of the upsert
-- lets exactly one of them in.
-- Claims expired more than a minute ago (by this caller's clock) are collected.

CREATE OR REPLACE FUNCTION _qc_.claim(p_key text, p_now double precision, p_ttl double precision)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM _qc_.claims WHERE expires_at <= p_now - 60 AND key <> p_key;
    INSERT INTO _qc_.claims AS c (key, expires_at) VALUES (p_key, p_now + p_ttl)
    ON CONFLICT (key) DO UPDATE SET expires_at = EXCLUDED.expires_at WHERE c.expires_at <= p_now;
    RETURN FOUND;
END
$$;
