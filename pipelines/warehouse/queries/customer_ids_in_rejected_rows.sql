-- Which of @customer_ids still appear in rejected_rows (a forget request must leave none).
SELECT DISTINCT JSON_VALUE(row_json, '$.customer_id') AS customer_id
FROM rejected_rows
WHERE JSON_VALUE(row_json, '$.customer_id') IN UNNEST(@customer_ids)
