-- Behaviour events in the history window [@history_start, @as_of), except forgotten customers'.
SELECT *
FROM events
WHERE event_ts >= @history_start
  AND event_ts < @as_of
  AND customer_id NOT IN (SELECT customer_id FROM suppressed_customers)
