-- Per shard, the decisions a scoring run staged for its logical date: rows, distinct customers, messages sent.
SELECT
  shard,
  COUNT(*) AS decisions,
  COUNT(DISTINCT customer_id) AS customers,
  COUNTIF(message_id IS NOT NULL) AS messages_sent
FROM decisions_staging
WHERE logical_date = @logical_date
  AND run_id = @run_id
GROUP BY shard
