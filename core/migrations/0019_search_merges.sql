-- 0019: the search index merges its segments eight at a time instead of four (issue 19).
--
-- FTS5 writes what a transaction added as a new segment when it commits: one per window of a
-- header sync. With `automerge` at its default of 4, every four segments of a level are merged
-- into one of the next, so each indexed word is rewritten about log4(windows) times while a
-- folder syncs; at 10,000 messages that merging was a fifth of the commit's time. At 8 it is
-- rewritten half as often: the commits of a 10,000-message header sync took 32-35 ms in all
-- instead of 42-48 ms. A search reads up to eight segments per level instead of four: at
-- 100,000 messages the commonest word's query stayed at 11-12 ms (p99, README).

INSERT INTO message_search (message_search, rank) VALUES ('automerge', 8);
