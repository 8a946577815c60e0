-- record_event.sql: append an event to a named history, keeping the newest `keep`.
-- Arguments: stream, event (unique bytes; recording one again moves it to `now`), now, keep.
-- Returns: nothing. Newest means latest recorded-at time, then greatest bytes.

CREATE OR REPLACE FUNCTION _qc_.record_event(p_stream text, p_event bytea, p_now double precision, p_keep integer)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO _qc_.events (stream, event, at) VALUES (p_stream, p_event, p_now)
    ON CONFLICT (stream, event) DO UPDATE SET at = EXCLUDED.at;
    DELETE FROM _qc_.events e WHERE e.stream = p_stream AND (e.at, e.event) NOT IN (
        SELECT k.at, k.event FROM _qc_.events k WHERE k.stream = p_stream
        ORDER BY k.at DESC, k.event DESC LIMIT greatest(p_keep, 0)
    );
END
$$;
