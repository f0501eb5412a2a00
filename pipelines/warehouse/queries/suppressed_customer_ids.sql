-- Every customer who asked to be forgotten.
SELECT DISTINCT customer_id
FROM suppressed_customers
