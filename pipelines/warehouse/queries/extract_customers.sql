-- All customers with every column (columns beyond the contract are profile features), except those forgotten.
SELECT *
FROM customers
WHERE customer_id IS NULL
  OR customer_id NOT IN (SELECT customer_id FROM suppressed_customers)
