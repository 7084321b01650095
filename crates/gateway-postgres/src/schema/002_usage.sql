-- Usage, as in the SQLite store: one row per request (the request log) and the
-- hourly rollups every usage query and the limiter's seeding read. Names are kept as
-- text: PostgreSQL compresses and indexes them well enough, and several instances
-- write here at once, so ids handed out by one writer would need a round trip each.

CREATE TABLE requests (
    id                 BIGSERIAL PRIMARY KEY,
    request_id         TEXT NOT NULL,
    ts_ms              BIGINT NOT NULL,
    key_id             TEXT NOT NULL,
    project_id         TEXT,
    requested_model    TEXT NOT NULL,
    routed_model       TEXT,
    provider           TEXT,
    caller_shape       TEXT NOT NULL,
    upstream_shape     TEXT,
    input_tokens       BIGINT NOT NULL DEFAULT 0,
    output_tokens      BIGINT NOT NULL DEFAULT 0,
    cached_tokens      BIGINT NOT NULL DEFAULT 0,
    cache_write_tokens BIGINT NOT NULL DEFAULT 0,
    reasoning_tokens   BIGINT NOT NULL DEFAULT 0,
    cost_micros        BIGINT,                -- NULL: cost unknown (unpriced model)
    ttfb_ms            BIGINT,
    total_ms           BIGINT NOT NULL,
    status             INTEGER NOT NULL,
    streamed           BOOLEAN NOT NULL,
    error_kind         TEXT,
    request_body       BYTEA,
    response_body      BYTEA
);
CREATE INDEX requests_ts ON requests(ts_ms);
CREATE INDEX requests_key_ts ON requests(key_id, ts_ms);

CREATE TABLE usage_hourly (
    hour_ms          BIGINT NOT NULL,
    key_id           TEXT NOT NULL,
    project_id       TEXT NOT NULL DEFAULT '',
    model            TEXT NOT NULL,
    provider         TEXT NOT NULL DEFAULT '',
    requests         BIGINT NOT NULL,
    errors           BIGINT NOT NULL,
    input_tokens     BIGINT NOT NULL,
    output_tokens    BIGINT NOT NULL,
    cached_tokens    BIGINT NOT NULL,
    reasoning_tokens BIGINT NOT NULL,
    cost_micros      BIGINT NOT NULL,
    unpriced         BIGINT NOT NULL,
    PRIMARY KEY (hour_ms, key_id, project_id, model, provider)
);
