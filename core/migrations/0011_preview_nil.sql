-- 0011: servers that answer every PREVIEW with NIL (issue 16). Cyrus IMAP 3.6 offers PREVIEW
-- (RFC 8970) and answers NIL for every message; asking cost bytes in every window, and the
-- snippets were fetched separately anyway. When the first summary window of a folder sync
-- that asked for PREVIEW (with at least one readable message) got NIL for all of them, the
-- sync records the server's fingerprint here, and summary fetches on that account stop
-- asking for PREVIEW while a session reports the same fingerprint.
--
-- The fingerprint (`ImapSession::server_fingerprint`, 16 hex digits) is a stable hash of the
-- server's post-login capabilities (without AUTH=, STARTTLS, LOGINDISABLED and COMPRESS=) and
-- the product and version words of its greeting (without times, ids and addresses). A
-- session to another server version has another fingerprint: the value is forgotten and
-- PREVIEW is asked again. '' means no such server is known.

ALTER TABLE accounts ADD COLUMN preview_nil_server TEXT NOT NULL DEFAULT '';
