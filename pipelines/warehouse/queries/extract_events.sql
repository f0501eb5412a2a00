-- Behaviour events in the history window [@history_start, @as_of), plus events without an event_ts
-- (extracted for the gate to reject and count instead of vanishing here), except forgotten customers'.
SELECT *
FROM events
WHERE (event_ts IS NULL OR (event_ts >= @history_start AND event_ts < @as_of))
  AND (customer_id IS NULL OR customer_id NOT IN (SELECT customer_id FROM suppressed_customers))
