-- Row accounting of extract_customers: the table is extracted whole, but for forgotten customers.
SELECT
  COUNT(*) AS source_rows,
  COUNTIF(NOT suppressed) AS in_window,
  0 AS no_timestamp,
  COUNTIF(suppressed) AS suppressed
FROM (
  SELECT COALESCE(customer_id IN (SELECT customer_id FROM suppressed_customers), FALSE) AS suppressed
  FROM customers
)
