-- Row accounting of extract_events: every row of events is a forgotten customer's, in the window, outside
-- it, or has no event_ts.
SELECT
  COUNT(*) AS source_rows,
  COUNTIF(NOT suppressed AND event_ts >= @history_start AND event_ts < @as_of) AS in_window,
  COUNTIF(NOT suppressed AND event_ts IS NULL) AS no_timestamp,
  COUNTIF(suppressed) AS suppressed
FROM (
  SELECT
    event_ts,
    COALESCE(customer_id IN (SELECT customer_id FROM suppressed_customers), FALSE) AS suppressed
  FROM events
)
