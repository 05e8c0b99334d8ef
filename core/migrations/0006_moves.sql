-- 0006: the mailbox half of the write-back queue (core::store::moves): moves, deletions
-- (expunges) and draft APPENDs the app made locally, waiting for a sync to send them. As with
-- flags (0004), a row is inserted in the transaction that applies the change to the stored
-- messages, so the local effect and its queued operation never exist one without the other.
--
-- A row names the message on the server by where it was when we last knew it: the source
-- folder, its UIDVALIDITY and the UID. Locally the message has already left that folder:
-- a moved message lives in the target folder under a local UID (>= 0xF0000000, never sent)
-- until the server's COPYUID gives its real one; a deleted message is gone. `message_id`
-- therefore only follows the local row (SET NULL when it goes), and the row is not removed
-- with the message the way flag rows are.
--
-- kind 'move':    source folder/UID -> target folder (UID MOVE, or COPY + \Deleted + UID
--                 EXPUNGE). A move of a message already queued to move is folded into this
--                 row (A->B then B->C is A->C; A->B->A is nothing).
-- kind 'expunge': \Deleted + UID EXPUNGE of the source UID (never a plain EXPUNGE).
-- kind 'append':  `raw` APPENDed to the target folder (drafts), with `\Draft \Seen`; the
--                 local row (message_id) is re-keyed by APPENDUID. Saving the draft again
--                 before the sync replaces `raw` in place: one APPEND.
--
-- `attempts`, `next_attempt_at` (unix seconds), `last_error` and `parked` drive the same
-- backoff and parking as the flag rows.

CREATE TABLE pending_mailbox_ops (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id         INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    kind               TEXT    NOT NULL CHECK (kind IN ('move', 'expunge', 'append')),
    message_id         INTEGER REFERENCES messages (id) ON DELETE SET NULL,
    source_folder_id   INTEGER REFERENCES folders (id) ON DELETE CASCADE,
    source_uidvalidity INTEGER CHECK (source_uidvalidity BETWEEN 0 AND 4294967295),
    source_uid         INTEGER CHECK (source_uid BETWEEN 1 AND 4294967295),
    target_folder_id   INTEGER REFERENCES folders (id) ON DELETE CASCADE,
    raw                BLOB,
    created_at         INTEGER NOT NULL DEFAULT (unixepoch()),
    attempts           INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at    INTEGER NOT NULL DEFAULT 0,
    last_error         TEXT,
    parked             INTEGER NOT NULL DEFAULT 0 CHECK (parked IN (0, 1)),
    CHECK ((kind = 'append') = (raw IS NOT NULL)),
    CHECK (kind = 'append' OR (source_folder_id IS NOT NULL AND source_uid IS NOT NULL)),
    CHECK (kind = 'expunge' OR target_folder_id IS NOT NULL)
) STRICT;

-- Replay per account in order; the local row's pending move (coalescing, flag rows waiting).
CREATE INDEX pending_mailbox_ops_by_account ON pending_mailbox_ops (account_id, id);
CREATE INDEX pending_mailbox_ops_by_message ON pending_mailbox_ops (message_id);
CREATE INDEX pending_mailbox_ops_by_source ON pending_mailbox_ops (source_folder_id);
CREATE INDEX pending_mailbox_ops_by_target ON pending_mailbox_ops (target_folder_id);
