-- 0003: POP3 sync state (core::store::pop3). A POP3 account's messages live in one synthetic
-- folder named INBOX; this table maps each server message, identified by its UIDL, to the
-- stored message row, so a UIDL once seen is never fetched again (across sessions and
-- restarts). `state` is 'headers' (TOP only: headers stored, structure pending) or 'full'
-- (RETR downloaded and parsed: parts, body and attachments stored). `deleted_on_server` is
-- set when the UIDL no longer appears in the server's listing (our DELE after QUIT, or
-- another client). The row outlives its message row (message_id becomes NULL) so that a
-- message the user removed locally is not downloaded again.

CREATE TABLE pop3_messages (
    account_id          INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    uidl                TEXT    NOT NULL CHECK (uidl <> ''),
    message_id          INTEGER REFERENCES messages (id) ON DELETE SET NULL,
    size                INTEGER NOT NULL DEFAULT 0 CHECK (size BETWEEN 0 AND 4294967295),
    state               TEXT    NOT NULL CHECK (state IN ('headers', 'full')),
    first_downloaded_at INTEGER NOT NULL,
    deleted_on_server   INTEGER NOT NULL DEFAULT 0 CHECK (deleted_on_server IN (0, 1)),
    PRIMARY KEY (account_id, uidl)
) STRICT, WITHOUT ROWID;

CREATE INDEX pop3_messages_by_message ON pop3_messages (message_id);
