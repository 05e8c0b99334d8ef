-- 0001: the initial schema of the local store (core::store).
--
-- Conventions: every table is STRICT; columns with a natural default are NOT NULL DEFAULT;
-- a NULL means "the server did not say" (no Date header, no UIDVALIDITY seen yet, preview not
-- fetched yet) and is kept distinct from an empty value. u32 values (UIDs, sizes) and u64
-- values (MODSEQ, byte counts) are INTEGER; the Rust side refuses values above i64::MAX
-- instead of wrapping. Timestamps are unix seconds. JSON columns hold small lists
-- (addresses, keywords, references) that are only ever read whole. Ids handed to apps
-- (accounts, folders, messages) are AUTOINCREMENT so a removed row's id is never reused.
-- Never a password or token column: credentials live in the platform keystore.

CREATE TABLE accounts (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL DEFAULT '',
    kind       TEXT    NOT NULL CHECK (kind IN ('imap', 'pop3', 'auto')),
    host       TEXT    NOT NULL,
    port       INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
    security   TEXT    NOT NULL,
    username   TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL DEFAULT (unixepoch())
) STRICT;

-- One row per mailbox from the server's LIST. The sync state columns describe what the local
-- rows reflect; they only ever move together with the message rows (one transaction).
CREATE TABLE folders (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id        INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name              TEXT    NOT NULL,
    delimiter         TEXT,
    role              TEXT    CHECK (role IN ('inbox', 'sent', 'drafts', 'trash', 'junk',
                                              'archive', 'all', 'flagged')),
    subscribed        INTEGER NOT NULL DEFAULT 0 CHECK (subscribed IN (0, 1)),
    selectable        INTEGER NOT NULL DEFAULT 1 CHECK (selectable IN (0, 1)),
    uidvalidity       INTEGER CHECK (uidvalidity BETWEEN 0 AND 4294967295),
    uidnext           INTEGER CHECK (uidnext BETWEEN 0 AND 4294967295),
    highest_modseq    INTEGER CHECK (highest_modseq >= 0),
    lowest_uid_synced INTEGER CHECK (lowest_uid_synced BETWEEN 0 AND 4294967295),
    exists_count      INTEGER NOT NULL DEFAULT 0 CHECK (exists_count BETWEEN 0 AND 4294967295),
    UNIQUE (account_id, name)
) STRICT;

-- One row per message in a folder (a message copied to two folders is two rows).
-- `id` is the MessageId the apps see. `flags` is the bit set of system flags
-- (1 \Seen, 2 \Answered, 4 \Flagged, 8 \Deleted, 16 \Draft); `keywords` a JSON array.
-- Address columns are JSON arrays of [name-or-null, email].
-- `header_*` columns are the RFC 5322 headers exactly as the sync layer gave them.
CREATE TABLE messages (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    folder_id          INTEGER NOT NULL REFERENCES folders (id) ON DELETE CASCADE,
    uid                INTEGER NOT NULL CHECK (uid BETWEEN 1 AND 4294967295),
    modseq             INTEGER NOT NULL DEFAULT 0 CHECK (modseq >= 0),
    flags              INTEGER NOT NULL DEFAULT 0 CHECK (flags BETWEEN 0 AND 31),
    keywords           TEXT    NOT NULL DEFAULT '[]',
    internal_date      INTEGER NOT NULL,
    date               INTEGER,
    size               INTEGER NOT NULL DEFAULT 0 CHECK (size BETWEEN 0 AND 4294967295),
    subject            TEXT    NOT NULL DEFAULT '',
    from_addrs         TEXT    NOT NULL DEFAULT '[]',
    sender_addrs       TEXT    NOT NULL DEFAULT '[]',
    reply_to_addrs     TEXT    NOT NULL DEFAULT '[]',
    to_addrs           TEXT    NOT NULL DEFAULT '[]',
    cc_addrs           TEXT    NOT NULL DEFAULT '[]',
    bcc_addrs          TEXT    NOT NULL DEFAULT '[]',
    header_message_id  TEXT,
    header_in_reply_to TEXT,
    header_references  TEXT    NOT NULL DEFAULT '[]',
    preview            TEXT,
    has_attachments    INTEGER NOT NULL DEFAULT 0 CHECK (has_attachments IN (0, 1)),
    thread_id          INTEGER NOT NULL,
    UNIQUE (folder_id, uid)
) STRICT;

-- The message list: newest first, keyset paging on (internal_date, uid).
CREATE INDEX messages_by_date ON messages (folder_id, internal_date, uid);
-- Unread/total counts per folder without touching the table.
CREATE INDEX messages_by_flags ON messages (folder_id, flags);
-- Conversations in date order, and thread merges.
CREATE INDEX messages_by_thread ON messages (thread_id, internal_date);

-- The MIME parts of a message, from BODYSTRUCTURE. `section` is the IMAP part number.
CREATE TABLE parts (
    id             INTEGER PRIMARY KEY,
    message_id     INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    section        TEXT    NOT NULL CHECK (section <> '' AND section NOT GLOB '*[^0-9.]*'),
    mime_type      TEXT    NOT NULL,
    charset        TEXT,
    encoding       TEXT,
    size           INTEGER NOT NULL DEFAULT 0 CHECK (size BETWEEN 0 AND 4294967295),
    lines          INTEGER CHECK (lines BETWEEN 0 AND 4294967295),
    disposition    TEXT,
    filename       TEXT,
    content_id     TEXT,
    is_attachment  INTEGER NOT NULL DEFAULT 0 CHECK (is_attachment IN (0, 1)),
    download_state TEXT    NOT NULL DEFAULT 'none'
                           CHECK (download_state IN ('none', 'partial', 'complete')),
    UNIQUE (message_id, section)
) STRICT;

-- Conversation threading: every Message-ID an account has seen (as a message's own id, or
-- referenced from In-Reply-To/References) maps to the thread it belongs to. Referenced ids
-- whose message is not stored yet stay here, so a parent arriving after its child joins the
-- child's thread. Rows go away when their thread has no message left (trigger below).
CREATE TABLE thread_links (
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    mid        TEXT    NOT NULL,
    thread_id  INTEGER NOT NULL,
    PRIMARY KEY (account_id, mid)
) STRICT, WITHOUT ROWID;

CREATE INDEX thread_links_by_thread ON thread_links (thread_id);

-- Full-text search over subjects, addresses and previews. Contentless: the text lives in
-- `messages`; rowid = messages.id. Kept in sync by the triggers below, which also run for
-- rows removed by ON DELETE CASCADE.
CREATE VIRTUAL TABLE message_search USING fts5 (
    subject,
    addresses,
    preview,
    content = '',
    contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER messages_search_insert AFTER INSERT ON messages
BEGIN
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

CREATE TRIGGER messages_search_delete AFTER DELETE ON messages
BEGIN
    DELETE FROM message_search WHERE rowid = old.id;
END;

CREATE TRIGGER messages_search_update
AFTER UPDATE OF subject, preview, from_addrs, sender_addrs, reply_to_addrs, to_addrs, cc_addrs,
                bcc_addrs ON messages
WHEN old.subject IS NOT new.subject
  OR old.preview IS NOT new.preview
  OR old.from_addrs IS NOT new.from_addrs
  OR old.sender_addrs IS NOT new.sender_addrs
  OR old.reply_to_addrs IS NOT new.reply_to_addrs
  OR old.to_addrs IS NOT new.to_addrs
  OR old.cc_addrs IS NOT new.cc_addrs
  OR old.bcc_addrs IS NOT new.bcc_addrs
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

-- Forget the Message-ID links of a thread once its last message is gone.
CREATE TRIGGER messages_thread_cleanup AFTER DELETE ON messages
WHEN NOT EXISTS (SELECT 1 FROM messages WHERE thread_id = old.thread_id)
BEGIN
    DELETE FROM thread_links WHERE thread_id = old.thread_id;
END;

-- The byte ledger: traffic per account, network kind (wifi, cellular, ...) and purpose,
-- bucketed by UTC day so the table stays small.
CREATE TABLE byte_ledger (
    account_id   INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    day          INTEGER NOT NULL,
    network_kind TEXT    NOT NULL,
    purpose      TEXT    NOT NULL,
    bytes_up     INTEGER NOT NULL DEFAULT 0 CHECK (bytes_up >= 0),
    bytes_down   INTEGER NOT NULL DEFAULT 0 CHECK (bytes_down >= 0),
    PRIMARY KEY (account_id, network_kind, purpose, day)
) STRICT, WITHOUT ROWID;
