-- Per monitoring run, newest first: whether drift or performance breached, and whether it triggered retraining.
SELECT
  run_id,
  MAX(computed_at) AS computed_at,
  MAX(CASE WHEN breached AND kind IN ('data_drift', 'prediction_drift', 'performance') THEN 1 ELSE 0 END) AS breached,
  MAX(CASE WHEN kind = 'retrain' AND metric = 'triggered' AND value > 0 THEN 1 ELSE 0 END) AS triggered
FROM monitoring_metrics
GROUP BY run_id
ORDER BY computed_at DESC
