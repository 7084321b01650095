-- The operator console's login sessions, shared so a browser's requests may reach
-- any instance. Only the SHA-256 of a session id is kept; times are wall-clock
-- milliseconds.
CREATE TABLE console_sessions (
    id_digest BYTEA PRIMARY KEY,
    csrf TEXT NOT NULL,
    started_ms BIGINT NOT NULL,
    last_used_ms BIGINT NOT NULL
);
CREATE INDEX console_sessions_last_used ON console_sessions (last_used_ms);
