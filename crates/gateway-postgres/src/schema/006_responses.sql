-- Responses API state (`store`, `previous_response_id`, `GET /v1/responses/{id}`),
-- as gateway-auth's SQLite migration 004: `turns` is the whole conversation up to
-- and including the response's output, replayed by the next call. Numbered 005 to follow the console
-- sessions' 004; its version is its place in `migrate::MIGRATIONS`.
CREATE TABLE responses (
    id TEXT PRIMARY KEY,
    key_id TEXT NOT NULL,
    project_id TEXT,
    created_ms BIGINT NOT NULL,
    model TEXT NOT NULL,
    status TEXT NOT NULL,
    input_items TEXT,
    turns TEXT,
    response TEXT,
    input_tokens BIGINT NOT NULL DEFAULT 0,
    output_tokens BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX responses_created ON responses (created_ms);
