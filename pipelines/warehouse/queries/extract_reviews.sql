-- Customer reviews written before @as_of, except forgotten customers'.
SELECT *
FROM reviews
WHERE created_at < @as_of
  AND customer_id NOT IN (SELECT customer_id FROM suppressed_customers)
