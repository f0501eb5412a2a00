-- Erase quarantined input rows of forgotten customers (rejected rows keep the row as JSON).
DELETE FROM rejected_rows
WHERE JSON_VALUE(row_json, '$.customer_id') IN UNNEST(@customer_ids)
