-- The ledger row of one scoring run.
SELECT *
FROM scoring_runs
WHERE run_id = @run_id
