-- 0005: new messages are indexed for search by the store's write path, not by a trigger.
--
-- The insert trigger of 0001 rebuilt each new row's address text in SQL (six json_each
-- scans over the address columns); for a window of a thousand messages that was a large
-- share of the whole write. core::store::messages now inserts the `message_search` row
-- itself, in the same statement batch and transaction as the message, with exactly the text
-- the trigger built (each address as concat_ws(' ', name, email), From, Sender, Reply-To, To,
-- Cc, Bcc in order, joined by spaces; NULL when there are none). Every insert into
-- `messages` goes through that one function. The update and delete triggers stay: a changed
-- subject, preview or address list, and every removal (cascades included), still keep the
-- index in step by themselves.

DROP TRIGGER messages_search_insert;
