-- The decisions one scoring run wrote, all shards.
SELECT *
FROM decisions
WHERE run_id = @run_id
