-- One customer's decisions made by scoring runs whose logical date is @day, newest run first.
SELECT *
FROM decisions
WHERE customer_id = @customer_id
  AND DATE(decided_at) = @day
ORDER BY decided_at DESC, run_id DESC
