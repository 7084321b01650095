-- Responses API state (`store`, `previous_response_id`, `GET /v1/responses/{id}`)
-- kept by the gateway for every upstream: `turns` is the whole conversation up to
-- and including the response's output (canonical turns, reasoning state included),
-- so a chain is replayed from this one row; `input_items` and `response` are what
-- the caller sent and received. Rows are visible only to the key (or, with
-- `[responses] share = "project"`, the project) that made them; `created_ms` is
-- what retention purges by.
CREATE TABLE responses (
    id TEXT PRIMARY KEY,
    key_id TEXT NOT NULL,
    project_id TEXT,
    created_ms INTEGER NOT NULL,
    model TEXT NOT NULL,
    status TEXT NOT NULL,
    input_items TEXT,
    turns TEXT,
    response TEXT,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX responses_created ON responses (created_ms);
