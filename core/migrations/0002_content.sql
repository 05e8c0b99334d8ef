-- 0002: content kept locally (core::store::content): message bodies, decoded to UTF-8 and
-- compressed with zstd by core::blobs, and the progress of part (attachment) downloads, so a
-- download resumes from its last committed chunk after a cut connection or an app restart.
--
-- Both count against the app's storage budget: `stored_bytes` and `bytes_on_disk` are what a
-- row costs, and `last_used` orders eviction (least recently used first). `last_used` is in
-- unix *milliseconds*, so that uses within the same second keep their order; `fetched_at`
-- and `updated_at` are unix seconds like every other timestamp. Evicting removes the row
-- (and the engine removes the file); the message and part metadata stay, so evicted content
-- can be fetched again. The files themselves are never stored here, only their paths.

CREATE TABLE bodies (
    message_id   INTEGER PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
    text_zstd    BLOB,
    html_zstd    BLOB,
    stored_bytes INTEGER NOT NULL CHECK (stored_bytes >= 0),
    fetched_at   INTEGER NOT NULL,
    last_used    INTEGER NOT NULL
) STRICT;

CREATE INDEX bodies_by_last_used ON bodies (last_used);

-- One row per part with a download started. `encoded_offset` is where the next partial
-- fetch starts in the encoded part, `decoded_len` how many decoded bytes the partial file
-- holds (anything past it is cut off on resume), `decoder_state` the few encoded bytes the
-- transfer decoder carries between chunks. These three only ever move together, after the
-- file was fsynced. The part's `parts.download_state` moves in the same transactions.
CREATE TABLE part_downloads (
    message_id     INTEGER NOT NULL,
    section        TEXT    NOT NULL,
    destination    TEXT    NOT NULL,
    encoded_offset INTEGER NOT NULL CHECK (encoded_offset >= 0),
    decoded_len    INTEGER NOT NULL CHECK (decoded_len >= 0),
    decoder_state  BLOB    NOT NULL,
    state          TEXT    NOT NULL CHECK (state IN ('partial', 'complete')),
    bytes_on_disk  INTEGER NOT NULL CHECK (bytes_on_disk >= 0),
    updated_at     INTEGER NOT NULL,
    last_used      INTEGER NOT NULL,
    PRIMARY KEY (message_id, section),
    FOREIGN KEY (message_id, section) REFERENCES parts (message_id, section) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

CREATE INDEX part_downloads_by_last_used ON part_downloads (state, last_used);
