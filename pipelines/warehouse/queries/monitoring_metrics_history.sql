-- Every monitoring metric of every run, oldest first: the trends of the monitoring overview.
SELECT *
FROM monitoring_metrics
ORDER BY computed_at, run_id, kind, subject, metric
