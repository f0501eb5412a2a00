-- Per customer, the last @max_events (at most 50) events before @as_of, newest first, as an array of structs.
SELECT
  customer_id,
  -- BigQuery requires a literal in ARRAY_AGG's LIMIT, so 50 is a hard cap; QUALIFY below applies @max_events.
  -- Field names are written out (BigQuery would infer the same ones): the emulator cannot return inferred ones.
  ARRAY_AGG(
    STRUCT(event_type AS event_type, product_category AS product_category, amount AS amount, event_ts AS event_ts)
    ORDER BY event_ts DESC, event_id DESC
    LIMIT 50
  ) AS events
FROM (
  SELECT customer_id, event_id, event_type, product_category, amount, event_ts
  FROM events
  WHERE event_ts < @as_of
  QUALIFY ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY event_ts DESC, event_id DESC) <= @max_events
)
GROUP BY customer_id
