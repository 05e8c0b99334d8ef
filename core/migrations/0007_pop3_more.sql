-- 0007: POP3 deletion from the app (core::store::pop3). `deleted_locally` is set when the user
-- deleted the message in the app: its message row is gone (message_id is NULL), the row stays so
-- the message is never downloaded again, and the next POP3 sync whose deletion policy allows
-- it (anything but leave-on-server) sends DELE for it. `deleted_on_server` (0003) records
-- when the server stopped listing it.

ALTER TABLE pop3_messages
    ADD COLUMN deleted_locally INTEGER NOT NULL DEFAULT 0 CHECK (deleted_locally IN (0, 1));
