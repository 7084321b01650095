-- Providers added at runtime (the console's Providers page), beside the config
-- file's. `settings` is the provider's table as JSON without its key; `api_key` is
-- the upstream key sealed by the vault (XChaCha20-Poly1305 under the master key,
-- which is not in the database), NULL when the provider takes none.
CREATE TABLE runtime_providers (
    name TEXT PRIMARY KEY,
    settings TEXT NOT NULL,
    api_key BLOB,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
);
