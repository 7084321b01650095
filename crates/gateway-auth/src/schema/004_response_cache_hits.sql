-- Requests answered from the gateway's response cache (issue 15): no upstream was
-- asked, no tokens were spent, the cost is 0. The flag tells them apart from answers
-- that were free for another reason. The `requests` view keeps its old columns.
ALTER TABLE request_rows ADD COLUMN cache_hit INTEGER NOT NULL DEFAULT 0;
