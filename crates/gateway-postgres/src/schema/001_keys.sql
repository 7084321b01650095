-- Keys and projects, as in the SQLite store (gateway-auth's 001_init.sql): the same
-- columns and meanings; timestamps are Unix milliseconds, digests raw bytes.

CREATE TABLE projects (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    policy      TEXT NOT NULL,               -- JSON: gateway_auth::Limits
    created_ms  BIGINT NOT NULL,
    updated_ms  BIGINT NOT NULL
);

CREATE TABLE keys (
    seq           BIGSERIAL NOT NULL UNIQUE, -- insertion order (SQLite's rowid)
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    prefix        TEXT NOT NULL,
    secret_sha256 BYTEA NOT NULL UNIQUE,
    old_sha256    BYTEA,
    old_until_ms  BIGINT,
    project_id    TEXT REFERENCES projects(id),
    policy        TEXT NOT NULL,             -- JSON: gateway_auth::KeyPolicy
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    revoked_ms    BIGINT,
    expires_ms    BIGINT,
    created_ms    BIGINT NOT NULL,
    updated_ms    BIGINT NOT NULL
);
CREATE INDEX keys_name ON keys(name);

CREATE TABLE meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
