-- Responses API state (`store`, `previous_response_id`, `GET /v1/responses/{id}`).
-- A row is either a response the gateway keeps itself (any upstream that holds no
-- state: `turns` is the whole conversation up to and including its output, so a
-- chain is replayed from this one row) or a pointer to a response an OpenAI provider
-- keeps (`provider` set, no `turns`), so later calls go to that provider. Rows are
-- visible only to the key (or, with `[responses] share = "project"`, the project)
-- that made them; `created_ms` is what retention purges by.
CREATE TABLE responses (
    id TEXT PRIMARY KEY,
    key_id TEXT NOT NULL,
    project_id TEXT,
    created_ms INTEGER NOT NULL,
    model TEXT NOT NULL,
    status TEXT NOT NULL,
    provider TEXT,
    input_items TEXT,
    turns TEXT,
    response TEXT,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX responses_created ON responses (created_ms);
