-- Row accounting of extract_reviews: every row of reviews is before @as_of, after it, or has no created_at.
SELECT
  COUNT(*) AS source_rows,
  COUNTIF(created_at < @as_of) AS in_window,
  COUNTIF(created_at IS NULL) AS no_timestamp
FROM reviews
