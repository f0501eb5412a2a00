-- What a consumer of decisions reads: rows of complete scoring runs only, one run per logical date.
SELECT d.*
FROM decisions AS d
JOIN scoring_runs AS r
  ON r.run_id = d.run_id
  AND r.logical_date = d.logical_date
WHERE r.status = 'complete'
