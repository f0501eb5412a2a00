-- The champion serving at @at: the newest promotion decided at or before it (model_promotions keeps every gate decision).
SELECT model_name, version, decided_at, run_id, previous_champion_version, reason
FROM model_promotions
WHERE promoted
  AND decided_at <= @at
ORDER BY decided_at DESC
LIMIT 1
