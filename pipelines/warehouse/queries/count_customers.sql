-- Row accounting of extract_customers: the table is extracted whole.
SELECT
  COUNT(*) AS source_rows,
  COUNT(*) AS in_window,
  0 AS no_timestamp
FROM customers
