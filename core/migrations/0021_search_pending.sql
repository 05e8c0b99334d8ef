-- 0021: messages may wait for the search index (issue 19).
--
-- A header sync wrote each window's search rows in the window's own transaction: FTS5's
-- tokenizing, its segment flush at every commit and the merges of those segments were about
-- a fifth of the engine's CPU in the sync, on the path the app waits on for its message list.
-- Now the windows of a header sync are stored with a row here instead, holding the search
-- text of the message's addresses (built by the write path, as for an index row), and an
-- index pass (core::store::search) moves the waiting messages into the index afterwards, in
-- large batches, with one INSERT … SELECT each. A search first runs the pass when anything
-- waits, so it never misses a stored message.
--
-- A message is in the index or waiting here, never both. The triggers that keep indexed
-- messages in step now leave waiting ones alone; a waiting message whose addresses change
-- gets its address text rebuilt here (its subject and preview are read by the pass as they
-- are then), and a removed message stops waiting.

CREATE TABLE search_waiting (
    id        INTEGER PRIMARY KEY,
    addresses TEXT
) STRICT;

DROP TRIGGER messages_search_delete;
CREATE TRIGGER messages_search_delete AFTER DELETE ON messages
BEGIN
    DELETE FROM message_search
     WHERE rowid = old.id AND NOT EXISTS (SELECT 1 FROM search_waiting WHERE id = old.id);
    DELETE FROM search_waiting WHERE id = old.id;
END;

DROP TRIGGER messages_search_update;
CREATE TRIGGER messages_search_update
AFTER UPDATE OF subject, preview, from_addrs, sender_addrs, reply_to_addrs, to_addrs, cc_addrs,
                bcc_addrs ON messages
WHEN (old.subject IS NOT new.subject
   OR old.preview IS NOT new.preview
   OR old.from_addrs IS NOT new.from_addrs
   OR old.sender_addrs IS NOT new.sender_addrs
   OR old.reply_to_addrs IS NOT new.reply_to_addrs
   OR old.to_addrs IS NOT new.to_addrs
   OR old.cc_addrs IS NOT new.cc_addrs
   OR old.bcc_addrs IS NOT new.bcc_addrs)
 AND NOT EXISTS (SELECT 1 FROM search_waiting WHERE id = old.id)
BEGIN
    DELETE FROM message_search WHERE rowid = old.id;
    INSERT INTO message_search (rowid, subject, addresses, preview)
    VALUES (
        new.id,
        new.subject,
        (SELECT group_concat(concat_ws(' ', a.value ->> 0, a.value ->> 1), ' ')
         FROM (SELECT value FROM json_each(new.from_addrs)
               UNION ALL SELECT value FROM json_each(new.sender_addrs)
               UNION ALL SELECT value FROM json_each(new.reply_to_addrs)
               UNION ALL SELECT value FROM json_each(new.to_addrs)
               UNION ALL SELECT value FROM json_each(new.cc_addrs)
               UNION ALL SELECT value FROM json_each(new.bcc_addrs)) AS a),
        coalesce(new.preview, '')
    );
END;

CREATE TRIGGER messages_search_waiting_update
AFTER UPDATE OF from_addrs, sender_addrs, reply_to_addrs, to_addrs, cc_addrs, bcc_addrs
ON messages
WHEN (old.from_addrs IS NOT new.from_addrs
   OR old.sender_addrs IS NOT new.sender_addrs
   OR old.reply_to_addrs IS NOT new.reply_to_addrs
   OR old.to_addrs IS NOT new.to_addrs
   OR old.cc_addrs IS NOT new.cc_addrs
   OR old.bcc_addrs IS NOT new.bcc_addrs)
 AND EXISTS (SELECT 1 FROM search_waiting WHERE id = old.id)
BEGIN
    UPDATE search_waiting
       SET addresses =
           (SELECT group_concat(concat_ws(' ', a.value ->> 0, a.value ->> 1), ' ')
            FROM (SELECT value FROM json_each(new.from_addrs)
                  UNION ALL SELECT value FROM json_each(new.sender_addrs)
                  UNION ALL SELECT value FROM json_each(new.reply_to_addrs)
                  UNION ALL SELECT value FROM json_each(new.to_addrs)
                  UNION ALL SELECT value FROM json_each(new.cc_addrs)
                  UNION ALL SELECT value FROM json_each(new.bcc_addrs)) AS a)
     WHERE id = new.id;
END;
