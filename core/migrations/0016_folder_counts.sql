-- 0016: each folder's message and unread counts, kept by triggers (issue 19).
--
-- The folder list showed counts computed on every read: four count(*) subqueries per folder,
-- each a walk over the folder's index entries. At 100,000 messages in one folder that took
-- 6.9 ms for the 50 folders of the store benchmark (the target is 5 ms at p99), and the time
-- grows with the mailbox. Here the counts are kept as the rows change, and the folder list
-- reads one row per folder.
--
-- `total` counts a folder's live messages (tombstone = 0), `unread` those of them without
-- \Seen (flags bit 1): exactly what the old query counted. Every change to `messages` that
-- can move a count goes through these triggers: an insert, a delete (cascades included), and
-- an update of flags, tombstone or folder_id (a move, an EMAILID takeover). A folder's row
-- is created with the folder and goes with it.
--
-- `messages_by_flags` existed only for the counts: nothing else reads it, and every insert
-- and flag change paid for it. It goes.

CREATE TABLE folder_counts (
    folder_id INTEGER PRIMARY KEY REFERENCES folders (id) ON DELETE CASCADE,
    total     INTEGER NOT NULL DEFAULT 0,
    unread    INTEGER NOT NULL DEFAULT 0
) STRICT;

INSERT INTO folder_counts (folder_id, total, unread)
SELECT f.id,
       (SELECT count(*) FROM messages AS m WHERE m.folder_id = f.id AND m.tombstone = 0),
       (SELECT count(*) FROM messages AS m
        WHERE m.folder_id = f.id AND m.tombstone = 0 AND (m.flags & 1) = 0)
FROM folders AS f;

CREATE TRIGGER folder_counts_new_folder AFTER INSERT ON folders
BEGIN
    INSERT OR IGNORE INTO folder_counts (folder_id) VALUES (new.id);
END;

CREATE TRIGGER folder_counts_insert AFTER INSERT ON messages
WHEN new.tombstone = 0
BEGIN
    UPDATE folder_counts
    SET total = total + 1, unread = unread + ((new.flags & 1) = 0)
    WHERE folder_id = new.folder_id;
END;

CREATE TRIGGER folder_counts_delete AFTER DELETE ON messages
WHEN old.tombstone = 0
BEGIN
    UPDATE folder_counts
    SET total = total - 1, unread = unread - ((old.flags & 1) = 0)
    WHERE folder_id = old.folder_id;
END;

CREATE TRIGGER folder_counts_update AFTER UPDATE OF flags, tombstone, folder_id ON messages
WHEN old.folder_id <> new.folder_id
  OR (old.tombstone = 0) <> (new.tombstone = 0)
  OR (old.flags & 1) <> (new.flags & 1)
BEGIN
    UPDATE folder_counts
    SET total = total - (old.tombstone = 0),
        unread = unread - (old.tombstone = 0 AND (old.flags & 1) = 0)
    WHERE folder_id = old.folder_id;
    UPDATE folder_counts
    SET total = total + (new.tombstone = 0),
        unread = unread + (new.tombstone = 0 AND (new.flags & 1) = 0)
    WHERE folder_id = new.folder_id;
END;

DROP INDEX messages_by_flags;

-- Search (core::store::search) picks the newest matches of an FTS query on this index alone:
-- each match's date, folder and tombstone without reading its whole row. A common word
-- matches tens of thousands of messages at 100,000; sorting their whole rows took 42 ms.
CREATE INDEX messages_by_id_date ON messages (id, internal_date, folder_id, tombstone);
