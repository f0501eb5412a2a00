-- herald check: row count, NULL and repeated keys of customers.
SELECT
  COUNT(*) AS n_rows,
  COUNTIF(customer_id IS NULL) AS null_key,
  COUNT(customer_id) - COUNT(DISTINCT customer_id) AS repeated_key
FROM customers
