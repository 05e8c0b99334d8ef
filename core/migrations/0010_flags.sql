-- 0010: flags within what the server allows (issue 14). A folder remembers the flags its
-- server lets clients change permanently (PERMANENTFLAGS from its last SELECT), as a JSON
-- array of flag names; `\*` means any keyword. The default is `["\*"]`, RFC 3501's rule for
-- a server that sends no PERMANENTFLAGS: every flag can be changed permanently.
--
-- A keyword set on a message in a folder whose server cannot keep keywords (such as GNU
-- Mailutils: `PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft)`) is never queued
-- for the server: it stays on this device only. `keywords` holds it like any keyword (the
-- app shows it), and `local_keywords` (a JSON array) names it local-only, so a flag scan,
-- which replaces the stored keywords with the server's, keeps it.

ALTER TABLE folders ADD COLUMN permanent_flags TEXT NOT NULL DEFAULT '["\\*"]';

ALTER TABLE messages ADD COLUMN local_keywords TEXT NOT NULL DEFAULT '[]';
