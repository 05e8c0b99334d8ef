-- 0020: a message's MIME parts in one column of its row, and a row per part only for the
-- parts with content stored locally (issue 19).
--
-- `parts` held a row per MIME part from BODYSTRUCTURE (2.35 a message in the benchmark's
-- mailbox), each with its own key and a unique index: in a header sync those rows were
-- 64-81 ms of the SQLite thread's ~450 ms at 10,000 messages, for a description that is
-- written once (a UID's structure never changes) and read only whole, for one message at a
-- time (its detail, the text part for a preview or a body, the attachments to prefetch).
--
-- `messages.parts` is that description as a JSON array, one array per part in BODYSTRUCTURE
-- order: [section, mime_type, charset, encoding, size, lines, disposition, filename,
-- content_id, is_attachment (0 or 1)], NULL where the server gave none
-- (core::store::parts encodes and decodes it).
--
-- `part_states` holds how much of a part is stored, only for parts with some of it stored
-- ('partial' or 'complete'); a part without a row has nothing stored. `part_downloads` now
-- belongs to the message rather than to a `parts` row (its rows still go with their
-- message).

ALTER TABLE messages ADD COLUMN parts TEXT NOT NULL DEFAULT '[]';

UPDATE messages
   SET parts = (SELECT json_group_array(json_array(p.section, p.mime_type, p.charset,
                            p.encoding, p.size, p.lines, p.disposition, p.filename,
                            p.content_id, p.is_attachment))
                  FROM (SELECT * FROM parts WHERE parts.message_id = messages.id
                         ORDER BY parts.id) AS p)
 WHERE id IN (SELECT message_id FROM parts);

CREATE TABLE part_states (
    message_id     INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    section        TEXT    NOT NULL,
    download_state TEXT    NOT NULL CHECK (download_state IN ('partial', 'complete')),
    PRIMARY KEY (message_id, section)
) STRICT, WITHOUT ROWID;

INSERT INTO part_states (message_id, section, download_state)
SELECT message_id, section, download_state FROM parts WHERE download_state <> 'none';

CREATE TABLE part_downloads_0020 (
    message_id     INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    section        TEXT    NOT NULL,
    destination    TEXT    NOT NULL,
    encoded_offset INTEGER NOT NULL CHECK (encoded_offset >= 0),
    decoded_len    INTEGER NOT NULL CHECK (decoded_len >= 0),
    decoder_state  BLOB    NOT NULL,
    state          TEXT    NOT NULL CHECK (state IN ('partial', 'complete')),
    bytes_on_disk  INTEGER NOT NULL CHECK (bytes_on_disk >= 0),
    updated_at     INTEGER NOT NULL,
    last_used      INTEGER NOT NULL,
    mode           TEXT    NOT NULL DEFAULT 'body' CHECK (mode IN ('auto', 'body', 'binary')),
    chunk_len      INTEGER NOT NULL DEFAULT 0 CHECK (chunk_len >= 0),
    PRIMARY KEY (message_id, section)
) STRICT, WITHOUT ROWID;

INSERT INTO part_downloads_0020
SELECT message_id, section, destination, encoded_offset, decoded_len, decoder_state, state,
       bytes_on_disk, updated_at, last_used, mode, chunk_len
  FROM part_downloads;

DROP TABLE part_downloads;
ALTER TABLE part_downloads_0020 RENAME TO part_downloads;
CREATE INDEX part_downloads_by_last_used ON part_downloads (state, last_used);

DROP TABLE parts;
