-- herald check: sends naming a customer or a message that does not exist.
SELECT
  COUNTIF(c.customer_id IS NULL AND s.customer_id IS NOT NULL) AS unknown_customer,
  COUNTIF(m.message_id IS NULL AND s.message_id IS NOT NULL) AS unknown_message
FROM sends AS s
LEFT JOIN customers AS c ON s.customer_id = c.customer_id
LEFT JOIN messages AS m ON s.message_id = m.message_id
