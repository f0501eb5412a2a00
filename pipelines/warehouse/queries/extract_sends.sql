-- Past sends and their outcomes in the window [@since, @until), plus sends without a sent_at: no window
-- can place those, so they are extracted for the gate to reject and count instead of vanishing here.
-- Sends to forgotten customers are left out (and counted as such by count_sends.sql).
SELECT *
FROM sends
WHERE (sent_at IS NULL OR (sent_at >= @since AND sent_at < @until))
  AND (customer_id IS NULL OR customer_id NOT IN (SELECT customer_id FROM suppressed_customers))
