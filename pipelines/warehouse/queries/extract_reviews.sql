-- Customer reviews written before @as_of.
SELECT *
FROM reviews
WHERE created_at < @as_of
