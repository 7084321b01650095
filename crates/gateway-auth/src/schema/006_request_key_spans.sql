-- The request log's filter by key, without an index entry per request. The writer
-- adds one row here per key and committed batch: the first and last row id the key
-- has in that batch, and the earliest and latest arrival among those rows. Reading a
-- key's log walks its spans newest first and looks only inside them.
--
-- It replaces the `(key_ref, ts_ms)` index: every request put an entry into the
-- middle of that index (keys interleave), which cost the writer about a fifth of its
-- work per record (docs/BENCHMARKS.md, usage recording); a span is one row per key
-- per batch, appended.
CREATE TABLE request_key_spans (
    key_ref  INTEGER NOT NULL,
    first_id INTEGER NOT NULL,
    last_id  INTEGER NOT NULL,
    min_ts   INTEGER NOT NULL,
    max_ts   INTEGER NOT NULL
);

-- Rows already written: spans of at most 2,000 ids per key, as the writer's batches.
INSERT INTO request_key_spans (key_ref, first_id, last_id, min_ts, max_ts)
    SELECT key_ref, MIN(id), MAX(id), MIN(ts_ms), MAX(ts_ms)
    FROM request_rows GROUP BY key_ref, id / 2000;

CREATE INDEX request_key_spans_key ON request_key_spans (key_ref, last_id);
DROP INDEX request_rows_key_ts;

-- Rows written through the view by hand (tools, tests) get their names interned and
-- a span of their own.
DROP TRIGGER requests_insert;
CREATE TRIGGER requests_insert INSTEAD OF INSERT ON requests BEGIN
    INSERT OR IGNORE INTO usage_names (name)
        SELECT value FROM (SELECT NEW.key_id AS value UNION ALL SELECT NEW.project_id
            UNION ALL SELECT NEW.requested_model UNION ALL SELECT NEW.routed_model
            UNION ALL SELECT NEW.provider UNION ALL SELECT NEW.caller_shape
            UNION ALL SELECT NEW.upstream_shape UNION ALL SELECT NEW.error_kind)
        WHERE value IS NOT NULL;
    INSERT INTO request_rows (id, request_id, ts_ms, key_ref, project_ref, requested_ref,
        routed_ref, provider_ref, caller_shape_ref, upstream_shape_ref, input_tokens,
        output_tokens, cached_tokens, cache_write_tokens, reasoning_tokens, cost_micros,
        ttfb_ms, total_ms, status, streamed, error_ref, request_body, response_body)
    VALUES (NEW.id, NEW.request_id, NEW.ts_ms,
        (SELECT id FROM usage_names WHERE name = NEW.key_id),
        (SELECT id FROM usage_names WHERE name = NEW.project_id),
        (SELECT id FROM usage_names WHERE name = NEW.requested_model),
        (SELECT id FROM usage_names WHERE name = NEW.routed_model),
        (SELECT id FROM usage_names WHERE name = NEW.provider),
        (SELECT id FROM usage_names WHERE name = NEW.caller_shape),
        (SELECT id FROM usage_names WHERE name = NEW.upstream_shape),
        COALESCE(NEW.input_tokens, 0), COALESCE(NEW.output_tokens, 0),
        COALESCE(NEW.cached_tokens, 0), COALESCE(NEW.cache_write_tokens, 0),
        COALESCE(NEW.reasoning_tokens, 0), NEW.cost_micros, NEW.ttfb_ms, NEW.total_ms,
        NEW.status, NEW.streamed,
        (SELECT id FROM usage_names WHERE name = NEW.error_kind),
        NEW.request_body, NEW.response_body);
    INSERT INTO request_key_spans (key_ref, first_id, last_id, min_ts, max_ts)
        SELECT key_ref, id, id, ts_ms, ts_ms FROM request_rows WHERE id = last_insert_rowid();
END;
