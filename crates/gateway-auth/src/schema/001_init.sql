-- Keys, projects and usage. Amounts of money are stored in micro-dollars (integers)
-- so sums are exact; timestamps are Unix milliseconds (UTC).

CREATE TABLE projects (
    id          TEXT PRIMARY KEY,            -- public id, e.g. prj_7Hq2
    name        TEXT NOT NULL UNIQUE,
    policy      TEXT NOT NULL,               -- JSON: crate::policy::Limits
    created_ms  INTEGER NOT NULL,
    updated_ms  INTEGER NOT NULL
);

CREATE TABLE keys (
    id            TEXT PRIMARY KEY,          -- public id: names the key in logs and the UI
    name          TEXT NOT NULL,
    prefix        TEXT NOT NULL,             -- short display prefix of the secret, e.g. "pbk_Ab12…"
    secret_sha256 BLOB NOT NULL UNIQUE,      -- SHA-256 of the whole secret; never the secret
    old_sha256    BLOB,                      -- previous secret during a rotation's grace period
    old_until_ms  INTEGER,                   -- end of that grace period
    project_id    TEXT REFERENCES projects(id),
    policy        TEXT NOT NULL,             -- JSON: crate::policy::KeyPolicy
    disabled      INTEGER NOT NULL DEFAULT 0,
    revoked_ms    INTEGER,
    expires_ms    INTEGER,
    created_ms    INTEGER NOT NULL,
    updated_ms    INTEGER NOT NULL
);
CREATE INDEX keys_old_sha256 ON keys(old_sha256) WHERE old_sha256 IS NOT NULL;

-- One row per request. No key material; bodies only when logging is on for the key.
CREATE TABLE requests (
    id              INTEGER PRIMARY KEY,
    request_id      TEXT NOT NULL,
    ts_ms           INTEGER NOT NULL,
    key_id          TEXT NOT NULL,
    project_id      TEXT,
    requested_model TEXT NOT NULL,
    routed_model    TEXT,
    provider        TEXT,
    caller_shape    TEXT NOT NULL,
    upstream_shape  TEXT,
    input_tokens    INTEGER NOT NULL DEFAULT 0,
    output_tokens   INTEGER NOT NULL DEFAULT 0,
    cached_tokens   INTEGER NOT NULL DEFAULT 0,
    cache_write_tokens INTEGER NOT NULL DEFAULT 0,
    reasoning_tokens INTEGER NOT NULL DEFAULT 0,
    cost_micros     INTEGER,                 -- NULL: cost unknown (unpriced model), never 0 by default
    ttfb_ms         INTEGER,
    total_ms        INTEGER NOT NULL,
    status          INTEGER NOT NULL,
    streamed        INTEGER NOT NULL,
    error_kind      TEXT,
    request_body    BLOB,
    response_body   BLOB
);
CREATE INDEX requests_ts ON requests(ts_ms);
CREATE INDEX requests_key_ts ON requests(key_id, ts_ms);

-- Hourly rollups: what `usage`, the admin API and the quota windows read. Retention
-- prunes `requests`, never these.
CREATE TABLE usage_hourly (
    hour_ms        INTEGER NOT NULL,         -- start of the hour
    key_id         TEXT NOT NULL,
    project_id     TEXT NOT NULL DEFAULT '',
    model          TEXT NOT NULL,            -- routed model, else requested
    provider       TEXT NOT NULL DEFAULT '',
    requests       INTEGER NOT NULL,
    errors         INTEGER NOT NULL,
    input_tokens   INTEGER NOT NULL,
    output_tokens  INTEGER NOT NULL,
    cached_tokens  INTEGER NOT NULL,
    reasoning_tokens INTEGER NOT NULL,
    cost_micros    INTEGER NOT NULL,         -- priced requests only
    unpriced       INTEGER NOT NULL,         -- requests whose cost is unknown
    PRIMARY KEY (hour_ms, key_id, project_id, model, provider)
);

CREATE TABLE meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
