-- Erase what the policy recorded about forgotten customers' decisions.
DELETE FROM decision_traces
WHERE customer_id IN UNNEST(@customer_ids)
