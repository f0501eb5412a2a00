-- Behaviour events in the history window [@history_start, @as_of), plus events without an event_ts
-- (extracted for the gate to reject and count instead of vanishing here).
SELECT *
FROM events
WHERE event_ts IS NULL
  OR (event_ts >= @history_start AND event_ts < @as_of)
