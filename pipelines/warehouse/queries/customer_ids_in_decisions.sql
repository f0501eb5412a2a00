-- Which of @customer_ids still appear in decisions (a forget request must leave none).
SELECT DISTINCT customer_id
FROM decisions
WHERE customer_id IN UNNEST(@customer_ids)
