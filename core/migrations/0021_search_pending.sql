-- 0021: the search index may trail the newest messages (issue 19).
--
-- A header sync wrote each window's search rows in the window's own transaction: FTS5's
-- tokenizing, its segment flush at every commit and the merges of those segments were about
-- a fifth of the engine's CPU in the sync, on the path the app waits on for its message list.
-- Now the windows of a header sync are stored without their search rows, and an index pass
-- (core::store::search) adds them afterwards in large batches: fewer, larger segments, so
-- less merge work in all. A search first brings the index up to date, so it never misses a
-- stored message.
--
-- `search_progress.indexed_to` is the largest message id the index covers: every message
-- with an id at or below it is indexed, every one above it is not. Message ids only grow
-- (AUTOINCREMENT), so the messages waiting for the index are one rowid range. The triggers
-- that keep indexed rows in step on updates and deletes now leave the waiting rows alone:
-- the pass reads their current text when it gets to them.

CREATE TABLE search_progress (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    indexed_to INTEGER NOT NULL CHECK (indexed_to >= 0)
) STRICT;

INSERT INTO search_progress (id, indexed_to) SELECT 1, coalesce(max(id), 0) FROM messages;

DROP TRIGGER messages_search_delete;
CREATE TRIGGER messages_search_delete AFTER DELETE ON messages
WHEN old.id <= (SELECT indexed_to FROM search_progress)
BEGIN
    DELETE FROM message_search WHERE rowid = old.id;
END;

DROP TRIGGER messages_search_update;
CREATE TRIGGER messages_search_update
AFTER UPDATE OF subject, preview, from_addrs, sender_addrs, reply_to_addrs, to_addrs, cc_addrs,
                bcc_addrs ON messages
WHEN old.id <= (SELECT indexed_to FROM search_progress)
 AND (old.subject IS NOT new.subject
   OR old.preview IS NOT new.preview
   OR old.from_addrs IS NOT new.from_addrs
   OR old.sender_addrs IS NOT new.sender_addrs
   OR old.reply_to_addrs IS NOT new.reply_to_addrs
   OR old.to_addrs IS NOT new.to_addrs
   OR old.cc_addrs IS NOT new.cc_addrs
   OR old.bcc_addrs IS NOT new.bcc_addrs)
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
