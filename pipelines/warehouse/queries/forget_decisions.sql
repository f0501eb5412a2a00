-- Erase the decisions made for customers who asked to be forgotten.
DELETE FROM decisions
WHERE customer_id IN UNNEST(@customer_ids)
