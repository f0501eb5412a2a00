-- Row accounting of extract_events: every row of events is in the window, outside it, or has no event_ts.
SELECT
  COUNT(*) AS source_rows,
  COUNTIF(event_ts >= @history_start AND event_ts < @as_of) AS in_window,
  COUNTIF(event_ts IS NULL) AS no_timestamp
FROM events
