-- Customers a scoring run staged segments for, on its logical date.
SELECT COUNT(*) AS segments
FROM customer_segments_staging
WHERE logical_date = @logical_date
  AND run_id = @run_id
