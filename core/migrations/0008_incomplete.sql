-- 0008: messages stored with only part of their summary (issue 13: no message is dropped
-- silently). When a server's summary of a message cannot be read (an unparsable FETCH
-- response, a message left out of a window, a structure that could not be read any other
-- way), the sync still stores what it could read (at least the UID and flags) and marks the
-- row 'incomplete'; the next sync of the folder fetches those messages again and stores
-- them 'complete'. An incomplete row never replaces the headers of a complete one.

ALTER TABLE messages
    ADD COLUMN summary_state TEXT NOT NULL DEFAULT 'complete'
        CHECK (summary_state IN ('complete', 'incomplete'));

-- The few incomplete rows of a folder, without scanning it.
CREATE INDEX messages_incomplete ON messages (folder_id, uid) WHERE summary_state = 'incomplete';
