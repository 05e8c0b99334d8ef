-- 0013: RFC 8474 OBJECTID (issue 16). Where the server offers it, every message row carries
-- the server's EMAILID (stable across folders: a message moved or copied by another client
-- keeps it) and THREADID (NULL where the server answered NIL, or never said).
--
-- `email_id` finds the stored copy of a message that appears in another folder, so its
-- envelope, parts, body and downloads are taken over instead of fetched again. Values are
-- validated before they are stored (RFC 8474 objectid: 1 to 255 of ALPHA / DIGIT / "-" /
-- "_"), and checked here again.
--
-- `tombstone` > 0 marks a row whose UID the server expunged while it had an EMAILID (the
-- value is when, in unix milliseconds; 0 is a live row): it may reappear in another folder (a
-- move whose source folder was synced first, in this account pass or by push). Such a row
-- is invisible to every query an app makes (lists, counts, detail, search, conversations);
-- it is taken over by the folder where its EMAILID reappears, or removed when the first
-- account pass that began after it ends.
--
-- `objectid_checks` lists UIDs whose rows another folder took over (a move seen at its
-- target first): the source folder's next sync asks the server whether they are still
-- there (then it was a copy, and the UID is fetched again) instead of trusting its
-- unchanged state.

ALTER TABLE messages ADD COLUMN email_id TEXT
    CHECK (email_id IS NULL OR (length(email_id) BETWEEN 1 AND 255
                                AND email_id NOT GLOB '*[^A-Za-z0-9_-]*'));
ALTER TABLE messages ADD COLUMN server_thread TEXT
    CHECK (server_thread IS NULL OR (length(server_thread) BETWEEN 1 AND 255
                                     AND server_thread NOT GLOB '*[^A-Za-z0-9_-]*'));
ALTER TABLE messages ADD COLUMN tombstone INTEGER NOT NULL DEFAULT 0
    CHECK (tombstone >= 0);

-- Owners of an EMAILID (messages carry no account column: the lookup joins `folders`).
CREATE INDEX messages_by_email_id ON messages (email_id) WHERE email_id IS NOT NULL;
-- Tombstones to purge.
-- Tombstones to purge, and to leave out of the folder counts (folder, flags: covering).
CREATE INDEX messages_tombstones ON messages (folder_id, flags) WHERE tombstone > 0;

CREATE TABLE objectid_checks (
    folder_id INTEGER NOT NULL REFERENCES folders (id) ON DELETE CASCADE,
    uid       INTEGER NOT NULL CHECK (uid BETWEEN 1 AND 4294967295),
    PRIMARY KEY (folder_id, uid)
) STRICT, WITHOUT ROWID;
