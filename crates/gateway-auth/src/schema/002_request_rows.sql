-- The request log, narrowed: a row per request stores its names (key, project,
-- models, provider, API shapes, error kind) as ids into `usage_names`, which the
-- usage writer keeps in memory, so a row, its index entries and its binding are a few
-- small integers instead of eight strings copied, stored and compared (issue 11).
-- `requests` stays, as a view with the old columns, for whoever reads it by hand.

CREATE TABLE usage_names (
    id    INTEGER PRIMARY KEY,
    name  TEXT NOT NULL UNIQUE
);

CREATE TABLE request_rows (
    id                 INTEGER PRIMARY KEY,
    request_id         TEXT NOT NULL,
    ts_ms              INTEGER NOT NULL,
    key_ref            INTEGER NOT NULL,     -- usage_names.id, as are the other *_ref
    project_ref        INTEGER,
    requested_ref      INTEGER NOT NULL,
    routed_ref         INTEGER,
    provider_ref       INTEGER,
    caller_shape_ref   INTEGER NOT NULL,
    upstream_shape_ref INTEGER,
    input_tokens       INTEGER NOT NULL DEFAULT 0,
    output_tokens      INTEGER NOT NULL DEFAULT 0,
    cached_tokens      INTEGER NOT NULL DEFAULT 0,
    cache_write_tokens INTEGER NOT NULL DEFAULT 0,
    reasoning_tokens   INTEGER NOT NULL DEFAULT 0,
    cost_micros        INTEGER,              -- NULL: cost unknown (unpriced model)
    ttfb_ms            INTEGER,
    total_ms           INTEGER NOT NULL,
    status             INTEGER NOT NULL,
    streamed           INTEGER NOT NULL,
    error_ref          INTEGER,
    request_body       BLOB,
    response_body      BLOB
);

INSERT INTO usage_names (name)
    SELECT key_id FROM requests
    UNION SELECT project_id FROM requests WHERE project_id IS NOT NULL
    UNION SELECT requested_model FROM requests
    UNION SELECT routed_model FROM requests WHERE routed_model IS NOT NULL
    UNION SELECT provider FROM requests WHERE provider IS NOT NULL
    UNION SELECT caller_shape FROM requests
    UNION SELECT upstream_shape FROM requests WHERE upstream_shape IS NOT NULL
    UNION SELECT error_kind FROM requests WHERE error_kind IS NOT NULL;

INSERT INTO request_rows (id, request_id, ts_ms, key_ref, project_ref, requested_ref,
    routed_ref, provider_ref, caller_shape_ref, upstream_shape_ref, input_tokens,
    output_tokens, cached_tokens, cache_write_tokens, reasoning_tokens, cost_micros,
    ttfb_ms, total_ms, status, streamed, error_ref, request_body, response_body)
SELECT r.id, r.request_id, r.ts_ms,
    (SELECT n.id FROM usage_names n WHERE n.name = r.key_id),
    (SELECT n.id FROM usage_names n WHERE n.name = r.project_id),
    (SELECT n.id FROM usage_names n WHERE n.name = r.requested_model),
    (SELECT n.id FROM usage_names n WHERE n.name = r.routed_model),
    (SELECT n.id FROM usage_names n WHERE n.name = r.provider),
    (SELECT n.id FROM usage_names n WHERE n.name = r.caller_shape),
    (SELECT n.id FROM usage_names n WHERE n.name = r.upstream_shape),
    r.input_tokens, r.output_tokens, r.cached_tokens, r.cache_write_tokens,
    r.reasoning_tokens, r.cost_micros, r.ttfb_ms, r.total_ms, r.status, r.streamed,
    (SELECT n.id FROM usage_names n WHERE n.name = r.error_kind),
    r.request_body, r.response_body
FROM requests r;

DROP TABLE requests;

CREATE INDEX request_rows_ts ON request_rows(ts_ms);
CREATE INDEX request_rows_key_ts ON request_rows(key_ref, ts_ms);

-- The old table's columns, in its order. Names are looked up only for the columns a
-- query uses (a count reads `request_rows` alone).
CREATE VIEW requests AS SELECT
    r.id AS id,
    r.request_id AS request_id,
    r.ts_ms AS ts_ms,
    (SELECT name FROM usage_names WHERE id = r.key_ref) AS key_id,
    (SELECT name FROM usage_names WHERE id = r.project_ref) AS project_id,
    (SELECT name FROM usage_names WHERE id = r.requested_ref) AS requested_model,
    (SELECT name FROM usage_names WHERE id = r.routed_ref) AS routed_model,
    (SELECT name FROM usage_names WHERE id = r.provider_ref) AS provider,
    (SELECT name FROM usage_names WHERE id = r.caller_shape_ref) AS caller_shape,
    (SELECT name FROM usage_names WHERE id = r.upstream_shape_ref) AS upstream_shape,
    r.input_tokens AS input_tokens,
    r.output_tokens AS output_tokens,
    r.cached_tokens AS cached_tokens,
    r.cache_write_tokens AS cache_write_tokens,
    r.reasoning_tokens AS reasoning_tokens,
    r.cost_micros AS cost_micros,
    r.ttfb_ms AS ttfb_ms,
    r.total_ms AS total_ms,
    r.status AS status,
    r.streamed AS streamed,
    (SELECT name FROM usage_names WHERE id = r.error_ref) AS error_kind,
    r.request_body AS request_body,
    r.response_body AS response_body
FROM request_rows r;

-- Rows written through the view by hand (tools, tests) get their names interned.
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
END;
