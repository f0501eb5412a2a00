-- All customers with every column: columns beyond the contract are profile features.
SELECT *
FROM customers
