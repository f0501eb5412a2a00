-- The decisions of the first scoring run a model version made: the baseline for prediction drift.
SELECT *
FROM decisions
WHERE model_name = @model_name
  AND model_version = @model_version
  AND run_id = (
    SELECT run_id
    FROM decisions
    WHERE model_name = @model_name AND model_version = @model_version
    ORDER BY decided_at ASC
    LIMIT 1
  )
