-- Row accounting of extract_sends: every row of sends is in the window, outside it, or has no sent_at.
SELECT
  COUNT(*) AS source_rows,
  COUNTIF(sent_at >= @since AND sent_at < @until) AS in_window,
  COUNTIF(sent_at IS NULL) AS no_timestamp
FROM sends
