-- Which of @customer_ids still appear in decision_traces (a forget request must leave none).
SELECT DISTINCT customer_id
FROM decision_traces
WHERE customer_id IN UNNEST(@customer_ids)
