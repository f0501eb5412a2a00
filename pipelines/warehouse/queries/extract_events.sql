-- Behaviour events in the history window [@history_start, @as_of).
SELECT *
FROM events
WHERE event_ts >= @history_start
  AND event_ts < @as_of
