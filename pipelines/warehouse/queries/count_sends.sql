-- Row accounting of extract_sends: every row of sends is a forgotten customer's, in the window, outside
-- it, or has no sent_at.
SELECT
  COUNT(*) AS source_rows,
  COUNTIF(NOT suppressed AND sent_at >= @since AND sent_at < @until) AS in_window,
  COUNTIF(NOT suppressed AND sent_at IS NULL) AS no_timestamp,
  COUNTIF(suppressed) AS suppressed
FROM (
  SELECT
    sent_at,
    COALESCE(customer_id IN (SELECT customer_id FROM suppressed_customers), FALSE) AS suppressed
  FROM sends
)
