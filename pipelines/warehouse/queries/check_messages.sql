-- herald check: the message catalogue (small): keys, banner URIs and active dates.
SELECT message_id, image_uri, active_from, active_to
FROM messages
