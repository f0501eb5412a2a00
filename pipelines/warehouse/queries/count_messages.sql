-- Row accounting of extract_messages: the catalogue is extracted whole (activity is judged when scoring).
SELECT
  COUNT(*) AS source_rows,
  COUNT(*) AS in_window,
  0 AS no_timestamp
FROM messages
