-- Which of @customer_ids still appear in customer_segments (a forget request must leave none).
SELECT DISTINCT customer_id
FROM customer_segments
WHERE customer_id IN UNNEST(@customer_ids)
