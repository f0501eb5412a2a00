-- Past sends and their outcomes in the window [@since, @until), plus sends without a sent_at: no window
-- can place those, so they are extracted for the gate to reject and count instead of vanishing here.
SELECT *
FROM sends
WHERE sent_at IS NULL
  OR (sent_at >= @since AND sent_at < @until)
