-- herald check: how many sends each channel value holds.
SELECT channel, COUNT(*) AS n_rows
FROM sends
GROUP BY channel
ORDER BY n_rows DESC
