-- Customer ids of shard @shard out of @n_shards, by a stable hash of customer_id (forgotten customers left out).
SELECT customer_id
FROM customers
WHERE MOD(ABS(FARM_FINGERPRINT(customer_id)), @n_shards) = @shard
  AND customer_id NOT IN (SELECT customer_id FROM suppressed_customers)
