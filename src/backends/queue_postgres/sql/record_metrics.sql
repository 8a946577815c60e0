-- record_metrics.sql: add workers' counts to the metrics history, per queue, minute and job type.
-- Arguments: now, keep (seconds), then one array element per sample: queue, minute, job
-- type, processed, failed, run time (us), and the histograms flattened (`slots` counts
-- per sample, in sample order).
-- Returns: nothing. One queue's minute expires at minute + keep (the largest recorded
-- into it); counts added to a minute whose expiry is <= now start again from nothing.
-- Minutes expired a minute ago or more (this caller's clock) are collected.

CREATE OR REPLACE FUNCTION _qc_.record_metrics(
    p_now double precision, p_keep double precision, p_queues text[], p_minutes bigint[], p_types text[],
    p_processed bigint[], p_failed bigint[], p_runtime bigint[], p_slots integer, p_histograms bigint[]
) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_stored double precision;
    v_histogram bigint[];
BEGIN
    DELETE FROM _qc_.metric_minutes WHERE expires_at <= p_now - 60;
    -- each queue's minute once, its expiry judged before any count is added
    FOR i IN 1 .. coalesce(array_length(p_queues, 1), 0) LOOP
        SELECT expires_at INTO v_stored FROM _qc_.metric_minutes
        WHERE queue = p_queues[i] AND minute = p_minutes[i] FOR UPDATE;
        IF NOT FOUND THEN
            INSERT INTO _qc_.metric_minutes (queue, minute, expires_at)
            VALUES (p_queues[i], p_minutes[i], p_minutes[i] + p_keep)
            ON CONFLICT (queue, minute) DO NOTHING;
            IF NOT FOUND THEN  -- another writer created it meanwhile: judge what it wrote
                SELECT expires_at INTO v_stored FROM _qc_.metric_minutes
                WHERE queue = p_queues[i] AND minute = p_minutes[i] FOR UPDATE;
            END IF;
        END IF;
        IF v_stored IS NOT NULL AND v_stored <= p_now AND NOT EXISTS (
            -- a minute an earlier sample of this call reset must not be reset again
            SELECT 1 FROM generate_subscripts(p_queues, 1) AS j
            WHERE j < i AND p_queues[j] = p_queues[i] AND p_minutes[j] = p_minutes[i]
        ) THEN
            DELETE FROM _qc_.metrics WHERE queue = p_queues[i] AND minute = p_minutes[i];
            UPDATE _qc_.metric_minutes SET expires_at = p_minutes[i] + p_keep
            WHERE queue = p_queues[i] AND minute = p_minutes[i];
        ELSIF v_stored IS NOT NULL THEN
            UPDATE _qc_.metric_minutes SET expires_at = greatest(expires_at, p_minutes[i] + p_keep)
            WHERE queue = p_queues[i] AND minute = p_minutes[i];
        END IF;
        v_histogram := p_histograms[(i - 1) * p_slots + 1 : i * p_slots];
        INSERT INTO _qc_.metrics AS m (queue, minute, job_type, processed, failed, runtime_us, histogram)
        VALUES (p_queues[i], p_minutes[i], p_types[i], p_processed[i], p_failed[i], p_runtime[i], v_histogram)
        ON CONFLICT (queue, minute, job_type) DO UPDATE SET
            processed = m.processed + EXCLUDED.processed,
            failed = m.failed + EXCLUDED.failed,
            runtime_us = m.runtime_us + EXCLUDED.runtime_us,
            histogram = ARRAY(
                SELECT a + b FROM unnest(m.histogram, EXCLUDED.histogram) WITH ORDINALITY AS t(a, b, n) ORDER BY n
            );
    END LOOP;
END
$$;
