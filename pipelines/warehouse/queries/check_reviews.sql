-- herald check: keys and NULLs of reviews.
SELECT
  COUNT(*) AS n_rows,
  COUNTIF(review_id IS NULL) AS null_key,
  COUNT(review_id) - COUNT(DISTINCT review_id) AS repeated_key,
  COUNTIF(customer_id IS NULL) AS null_customer_id
FROM reviews
