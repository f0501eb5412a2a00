-- Row accounting of extract_reviews: every row of reviews is a forgotten customer's, before @as_of, after
-- it, or has no created_at.
SELECT
  COUNT(*) AS source_rows,
  COUNTIF(NOT suppressed AND created_at < @as_of) AS in_window,
  COUNTIF(NOT suppressed AND created_at IS NULL) AS no_timestamp,
  COUNTIF(suppressed) AS suppressed
FROM (
  SELECT
    created_at,
    COALESCE(customer_id IN (SELECT customer_id FROM suppressed_customers), FALSE) AS suppressed
  FROM reviews
)
