-- A round trip and nothing else: a read-only statement, no transaction id,
-- so its commit writes and flushes nothing.
SELECT 1;
