-- herald check: keys and NULLs of sends, their time range, and the labelled sends in [@since, @until).
SELECT
  COUNT(*) AS n_rows,
  COUNTIF(send_id IS NULL) AS null_key,
  COUNT(send_id) - COUNT(DISTINCT send_id) AS repeated_key,
  COUNTIF(customer_id IS NULL) AS null_customer_id,
  COUNTIF(channel IS NULL) AS null_channel,
  COUNTIF(sent_at IS NULL) AS null_sent_at,
  MIN(sent_at) AS first_sent_at,
  MAX(sent_at) AS last_sent_at,
  COUNTIF(sent_at >= @since AND sent_at < @until) AS in_window,
  COUNTIF(sent_at >= @since AND sent_at < @until AND converted IS NOT NULL) AS labelled_converted,
  COUNTIF(sent_at >= @since AND sent_at < @until AND clicked IS NOT NULL) AS labelled_clicked,
  COUNTIF(sent_at >= @since AND sent_at < @until AND opened IS NOT NULL) AS labelled_opened
FROM sends
