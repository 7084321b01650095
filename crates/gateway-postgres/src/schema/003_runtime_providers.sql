-- Providers added at runtime (the console's Providers page), as in the SQLite store:
-- `settings` is the provider's table as JSON without its key; `api_key` is the
-- upstream key sealed by the vault under the master key, which is not in the
-- database (every instance needs the same one: PATCHBAY_MASTER_KEY).
CREATE TABLE runtime_providers (
    name       TEXT PRIMARY KEY,
    settings   TEXT NOT NULL,
    api_key    BYTEA,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);
