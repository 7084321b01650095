-- Requests answered from the gateway's response cache (issue 15): no upstream was
-- asked, no tokens were spent, the cost is 0.
ALTER TABLE requests ADD COLUMN cache_hit BOOLEAN NOT NULL DEFAULT FALSE;
