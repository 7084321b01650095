-- Responses API state (`store`, `previous_response_id`, `GET /v1/responses/{id}`),
-- as gateway-auth's SQLite migration 004: a response the gateway keeps itself
-- (`turns`: the whole conversation up to and including its output) or a pointer to
-- one an OpenAI provider keeps (`provider` set). Numbered 005 to follow the console
-- sessions' 004; its version is its place in `migrate::MIGRATIONS`.
CREATE TABLE responses (
    id TEXT PRIMARY KEY,
    key_id TEXT NOT NULL,
    project_id TEXT,
    created_ms BIGINT NOT NULL,
    model TEXT NOT NULL,
    status TEXT NOT NULL,
    provider TEXT,
    input_items TEXT,
    turns TEXT,
    response TEXT,
    input_tokens BIGINT NOT NULL DEFAULT 0,
    output_tokens BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX responses_created ON responses (created_ms);
