-- The message catalogue with every column: columns beyond the contract are message attributes.
SELECT *
FROM messages
