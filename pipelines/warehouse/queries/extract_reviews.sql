-- Customer reviews written before @as_of, plus reviews without a created_at (kept for the gate to judge),
-- except forgotten customers'.
SELECT *
FROM reviews
WHERE (created_at IS NULL OR created_at < @as_of)
  AND (customer_id IS NULL OR customer_id NOT IN (SELECT customer_id FROM suppressed_customers))
