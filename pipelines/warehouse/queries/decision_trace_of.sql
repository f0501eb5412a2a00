-- What the policy recorded for one customer's decision in one scoring run (top candidates, hold-out).
SELECT trace_json
FROM decision_traces
WHERE run_id = @run_id
  AND customer_id = @customer_id
