-- The review texts of some customers: their embeddings are purged from the text cache when they are forgotten.
SELECT text
FROM reviews
WHERE customer_id IN UNNEST(@customer_ids)
  AND text IS NOT NULL
