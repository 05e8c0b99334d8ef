-- 0014: messages found by a search on the server (issue 16, item 5) outside the sync window.
-- A server search fetches the summaries of the hits on the page shown that are not stored
-- yet and stores them like any message (the message list, threads and local search see
-- them), with `outside_window = 1` when their UID is below the folder's lowest synced UID
-- (or the folder has no synced window yet). `search_hit_at` is when a server search last
-- returned the message (Unix seconds; NULL for messages the sync stored).
--
-- Lifetime: a hit is an ordinary stored message for the sync's delta (flags follow the
-- server, an expunge removes it, a UIDVALIDITY change drops it). It does not count toward
-- the window's message count, and it does not widen the range the sync treats as its own
-- (no backfill of the gap below the window). When the window grows down to its UID
-- (backfill, a larger window), the sync's own state write clears the mark: it is then part
-- of the window. A hit no search has returned for 14 days, with no download, is removed by
-- the next server search of its account (`Store::prune_search_hits`).

ALTER TABLE messages
    ADD COLUMN outside_window INTEGER NOT NULL DEFAULT 0 CHECK (outside_window IN (0, 1));
ALTER TABLE messages ADD COLUMN search_hit_at INTEGER;

-- The few hits of a folder, without scanning it.
CREATE INDEX messages_outside_window ON messages (folder_id, uid) WHERE outside_window = 1;
