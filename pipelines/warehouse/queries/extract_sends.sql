-- Past sends and their outcomes in the window [@since, @until).
SELECT *
FROM sends
WHERE sent_at >= @since
  AND sent_at < @until
