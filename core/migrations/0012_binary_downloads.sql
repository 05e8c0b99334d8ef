-- Issue 16: attachment downloads through BINARY (RFC 3516) and pipelined chunks.
--
-- `mode` says what the offsets of a partial download count: 'body' = encoded bytes of
-- BODY.PEEK ranges, with the decoder's carry in `decoder_state` (every record written before
-- this migration, which resumes as it was); 'binary' = decoded bytes of BINARY.PEEK ranges
-- (`encoded_offset` then equals `decoded_len` and `decoder_state` stays empty); 'auto' = no
-- chunk yet, the first one picks BINARY where the server offers it. A part the server
-- cannot decode (`NO [UNKNOWN-CTE]`) is switched to 'body' for good.
--
-- `chunk_len` is the chunk size the download had reached (0: none yet), so a resume starts
-- there rather than at the smallest chunk.

ALTER TABLE part_downloads ADD COLUMN mode TEXT NOT NULL DEFAULT 'body'
    CHECK (mode IN ('auto', 'body', 'binary'));
ALTER TABLE part_downloads ADD COLUMN chunk_len INTEGER NOT NULL DEFAULT 0
    CHECK (chunk_len >= 0);
