-- Erase the segments assigned to customers who asked to be forgotten.
DELETE FROM customer_segments
WHERE customer_id IN UNNEST(@customer_ids)
