-- 0018: conversation links keyed by a 64-bit hash of the Message-ID instead of its text
-- (issue 19).
--
-- Message-IDs are random: each window of a sync inserts its links all over the table, and at
-- 100,000 messages `thread_links` (1,261 pages, 58% of every page written to the log) had most
-- of its pages rewritten at every commit. An 8-byte key makes the table about a third of
-- that. The key is the first eight bytes of the normalised id's SHA-256, little-endian, as a
-- signed integer (core::store::threads::link_key); two ids with one key would share a
-- conversation (about 3 in 100 million at a million ids).
--
-- The old rows are carried over by the migration runner (core::store::migrate), which hashes
-- them in Rust after this script and then drops `thread_links`: SQL has no SHA-256.

CREATE TABLE thread_keys (
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    key        INTEGER NOT NULL,
    thread_id  INTEGER NOT NULL,
    PRIMARY KEY (account_id, key)
) STRICT, WITHOUT ROWID;

CREATE INDEX thread_keys_by_thread ON thread_keys (thread_id);

-- Forget the links of a thread once its last message is gone.
DROP TRIGGER messages_thread_cleanup;
CREATE TRIGGER messages_thread_cleanup AFTER DELETE ON messages
WHEN NOT EXISTS (SELECT 1 FROM messages WHERE thread_id = old.thread_id)
BEGIN
    DELETE FROM thread_keys WHERE thread_id = old.thread_id;
END;
