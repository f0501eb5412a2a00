-- Every champion/challenger gate decision, oldest first: which model served from when, and why.
SELECT run_id, decided_at, model_name, version, alias, previous_champion_version, promoted, actor, reason, metrics
FROM model_promotions
ORDER BY decided_at
