-- Decisions made in [@since, @until): the ones whose realised outcomes monitoring can now judge.
SELECT run_id, decided_at, customer_id, message_id, channel, p_response, uplift, policy, model_name, model_version
FROM decisions
WHERE decided_at >= @since
  AND decided_at < @until
