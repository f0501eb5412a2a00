-- Past sends and their outcomes in the window [@since, @until), except to forgotten customers.
SELECT *
FROM sends
WHERE sent_at >= @since
  AND sent_at < @until
  AND customer_id NOT IN (SELECT customer_id FROM suppressed_customers)
