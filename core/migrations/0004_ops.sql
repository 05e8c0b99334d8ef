-- 0004: the write-back queue (core::store::ops). Local changes the app made (flags, for now)
-- wait here until a sync sends them to the server. Each row is one flag of one message: the
-- value it had just before the change (`before`, what we last knew of the server or of an
-- earlier queued change) and the value wanted (`value`). A row is inserted in the same
-- transaction that changes the message's stored flags, so the local effect and its queued
-- operation never exist one without the other.
--
-- Rows of a message are coalesced at replay time: per flag, the first row's `before` against
-- the last row's `value` (read then unread is nothing). A message removed locally (expunged
-- on the server, UIDVALIDITY reset, account removed) takes its rows with it (ON DELETE
-- CASCADE). `attempts`, `next_attempt_at` (unix seconds) and `last_error` drive the backoff;
-- a `parked` row is no longer retried and is shown to the app with its error.

CREATE TABLE pending_ops (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id      INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    folder_id       INTEGER NOT NULL REFERENCES folders (id) ON DELETE CASCADE,
    message_id      INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    kind            TEXT    NOT NULL DEFAULT 'flag' CHECK (kind IN ('flag')),
    flag            TEXT    NOT NULL CHECK (flag <> ''),
    before          INTEGER NOT NULL CHECK (before IN (0, 1)),
    value           INTEGER NOT NULL CHECK (value IN (0, 1)),
    created_at      INTEGER NOT NULL DEFAULT (unixepoch()),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    parked          INTEGER NOT NULL DEFAULT 0 CHECK (parked IN (0, 1))
) STRICT;

-- Replay per folder, in order per message.
CREATE INDEX pending_ops_by_folder ON pending_ops (folder_id, message_id, id);
-- ON DELETE CASCADE from messages, and the app's list per account.
CREATE INDEX pending_ops_by_message ON pending_ops (message_id);
CREATE INDEX pending_ops_by_account ON pending_ops (account_id, id);
