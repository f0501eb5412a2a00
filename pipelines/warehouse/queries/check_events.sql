-- herald check: keys and NULLs of events, and the newest event.
SELECT
  COUNT(*) AS n_rows,
  COUNTIF(event_id IS NULL) AS null_key,
  COUNT(event_id) - COUNT(DISTINCT event_id) AS repeated_key,
  COUNTIF(customer_id IS NULL) AS null_customer_id,
  COUNTIF(event_ts IS NULL) AS null_event_ts,
  MAX(event_ts) AS last_event_ts
FROM events
