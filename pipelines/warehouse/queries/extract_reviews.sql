-- Customer reviews written before @as_of, plus reviews without a created_at (kept for the gate to judge).
SELECT *
FROM reviews
WHERE created_at IS NULL
  OR created_at < @as_of
