-- take_tokens.sql: a token bucket shared by every process (distributed rate limit).
-- Arguments: the bucket's key, now, rate (tokens per second), burst (bucket size).
-- Returns: 0 when a token was taken, else the seconds until one is free.
-- A bucket starts full; a clock that went backwards mints no tokens and does not move
-- the bucket's time back. A bucket is full again, the same as no row, burst / rate
-- seconds after its time: buckets past that by a minute (this caller's clock) are collected.

CREATE OR REPLACE FUNCTION _qc_.take_tokens(p_key text, p_now double precision, p_rate double precision, p_burst integer)
RETURNS double precision LANGUAGE plpgsql AS $$
DECLARE
    v_tokens double precision;
    v_at double precision;
    v_wait double precision := 0;
BEGIN
    DELETE FROM _qc_.buckets WHERE collect_at <= p_now AND key <> p_key;
    INSERT INTO _qc_.buckets (key, tokens, at, collect_at) VALUES (p_key, p_burst, p_now, p_now)
    ON CONFLICT (key) DO NOTHING;
    SELECT tokens, at INTO v_tokens, v_at FROM _qc_.buckets WHERE key = p_key FOR UPDATE;
    v_tokens := least(p_burst::double precision, v_tokens + greatest(0, p_now - v_at) * p_rate);
    IF v_tokens >= 1 THEN
        v_tokens := v_tokens - 1;
    ELSE
        v_wait := (1 - v_tokens) / p_rate;
    END IF;
    v_at := greatest(p_now, v_at);
    UPDATE _qc_.buckets SET tokens = v_tokens, at = v_at, collect_at = v_at + p_burst / p_rate + 60
    WHERE key = p_key;
    RETURN v_wait;
END
$$;
