-- The decisions of the most recent scoring run (by decision time), for prediction drift.
SELECT *
FROM decisions
WHERE run_id = (
  SELECT run_id FROM decisions ORDER BY decided_at DESC LIMIT 1
)
