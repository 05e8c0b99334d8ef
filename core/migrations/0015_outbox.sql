-- 0015: the outbox (core::store::outbox, issue 18). A message the app sends enters this
-- table in one transaction (with its draft leaving Drafts, for `send_draft`) and leaves it
-- only when every recipient has an answer and the Sent copy exists, or when the app cancels
-- it before it went out. The sync (or `flush_outbox`) sends it on the next connection.
--
-- source 'raw':     `raw` is the whole message.
-- source 'catenate': the message is assembled from `parts` (JSON: [{"text":[start,end]} |
--                   {"section":"2.MIME"} | {"section":""}]), where a text part is a byte
--                   range of `raw` and a section one of the *original* message (empty: the
--                   whole message): on the server by APPEND CATENATE where it can, else here
--                   from the sections fetched (a forward with its attachments; a draft that
--                   is only on the server). The original is found at send time where its
--                   row is then (`original_id`, a queued move's source while the move is
--                   queued), else where it was when queued (`orig_*`).
--                   `draft_expunge`: the original is a draft the send takes out of Drafts;
--                   its expunge is queued in the transaction that records the send.
--
-- state 'queued'     waiting for a connection (attempts, next_attempt_at: backoff; parked).
--       'appending'  an APPEND of the Sent copy was (maybe) sent and not recorded: look for
--                    the Message-ID in Sent before appending again.
--       'appended'   the Sent copy is at sent_uidvalidity/sent_uid (the BURL path).
--       'submitting' the final "." (or BURL ... LAST) was (maybe) written and its reply not
--                    recorded: the one state after which a restart can deliver twice.
--       'submitted'  the submission server answered for every recipient; the Sent copy
--                    (fallback path) may still be due (copy_done = 0).
--       'sent'       done: every recipient answered, the copy filed. `raw` is dropped.
--       'failed'     a permanent failure (5xx at MAIL FROM or DATA, every recipient
--                    refused, the message over the server's SIZE): kept with its error for
--                    the app, never retried.
--
-- `pending` is the JSON array of recipients still to send to (4xx answers are tried again;
-- accepted and 5xx ones leave it). `rejected` is the JSON array of permanent refusals
-- ({"address","code","enhanced","text"}). `resends` counts the sends repeated after a
-- 'submitting' state was found on start (a possible duplicate).

CREATE TABLE outbox (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id       INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    created_at       INTEGER NOT NULL DEFAULT (unixepoch()),
    message_id       TEXT    NOT NULL,
    mail_from        TEXT    NOT NULL,
    recipients       TEXT    NOT NULL,
    pending          TEXT    NOT NULL,
    rejected         TEXT    NOT NULL DEFAULT '[]',
    subject          TEXT    NOT NULL DEFAULT '',
    source           TEXT    NOT NULL CHECK (source IN ('raw', 'catenate')),
    raw              BLOB,
    parts            TEXT,
    original_id      INTEGER REFERENCES messages (id) ON DELETE SET NULL,
    orig_folder_id   INTEGER REFERENCES folders (id) ON DELETE SET NULL,
    orig_uidvalidity INTEGER CHECK (orig_uidvalidity BETWEEN 0 AND 4294967295),
    orig_uid         INTEGER CHECK (orig_uid BETWEEN 1 AND 4294967295),
    draft_expunge    INTEGER NOT NULL DEFAULT 0 CHECK (draft_expunge IN (0, 1)),
    size             INTEGER NOT NULL CHECK (size >= 0),
    eight_bit        INTEGER NOT NULL DEFAULT 0 CHECK (eight_bit IN (0, 1)),
    utf8             INTEGER NOT NULL DEFAULT 0 CHECK (utf8 IN (0, 1)),
    state            TEXT    NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'appending',
                              'appended', 'submitting', 'submitted', 'sent', 'failed')),
    path             TEXT    CHECK (path IN ('burl', 'data')),
    sent_folder_id   INTEGER REFERENCES folders (id) ON DELETE SET NULL,
    sent_uidvalidity INTEGER CHECK (sent_uidvalidity BETWEEN 0 AND 4294967295),
    sent_uid         INTEGER CHECK (sent_uid BETWEEN 1 AND 4294967295),
    copy_done        INTEGER NOT NULL DEFAULT 0 CHECK (copy_done IN (0, 1)),
    attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT,
    parked           INTEGER NOT NULL DEFAULT 0 CHECK (parked IN (0, 1)),
    resends          INTEGER NOT NULL DEFAULT 0 CHECK (resends >= 0),
    up_bytes         INTEGER NOT NULL DEFAULT 0 CHECK (up_bytes >= 0),
    sent_at          INTEGER,
    CHECK (state IN ('sent', 'failed') OR raw IS NOT NULL),
    CHECK ((source = 'catenate') = (parts IS NOT NULL))
) STRICT;

CREATE INDEX outbox_by_account ON outbox (account_id, state, id);
CREATE INDEX outbox_by_original ON outbox (original_id);
CREATE INDEX outbox_by_orig_folder ON outbox (orig_folder_id);

-- The submission server of an account (NULL: none set; sending is refused until one is),
-- and whether the account's server files sent mail into Sent by itself (NULL: not known
-- yet; found out after the first send by a `UID SEARCH HEADER Message-ID` in Sent).
ALTER TABLE accounts ADD COLUMN smtp_host TEXT;
ALTER TABLE accounts ADD COLUMN smtp_port INTEGER CHECK (smtp_port BETWEEN 1 AND 65535);
ALTER TABLE accounts ADD COLUMN smtp_security TEXT;
ALTER TABLE accounts ADD COLUMN sent_autofiled INTEGER CHECK (sent_autofiled IN (0, 1));
