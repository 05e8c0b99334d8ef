//! Snippets and prefetch: which messages still lack a preview or a body (with the part to
//! take it from), and storing previews. A stored preview also feeds the search index.

use super::{FolderId, MessageId, Store, codec::col, codec::col_u32, sql};
use crate::Result;

/// A message and the readable text part to take a preview or a body from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewSource {
    pub message: MessageId,
    pub uid: u32,
    pub section: String,
    pub mime_type: String,
    pub encoding: Option<String>,
    pub charset: Option<String>,
    /// Encoded size of the part.
    pub size: u32,
}

/// Among the folder's newest `?2` messages, those without a preview, newest first; the text
/// part is the first non-attachment text/plain, else text/html.
const NEEDING_PREVIEW: &str = "
    SELECT m.id, m.uid, p.section, p.mime_type, p.encoding, p.charset, p.size
      FROM messages AS m
      JOIN parts AS p ON p.id = (
            SELECT q.id FROM parts AS q
             WHERE q.message_id = m.id AND q.is_attachment = 0
               AND q.mime_type IN ('text/plain', 'text/html')
             ORDER BY q.mime_type = 'text/plain' DESC, q.id
             LIMIT 1)
     WHERE m.id IN (SELECT n.id FROM messages AS n WHERE n.folder_id = ?1 AND n.tombstone = 0
                     ORDER BY n.internal_date DESC, n.uid DESC LIMIT ?2)
       AND m.preview IS NULL
     ORDER BY m.internal_date DESC, m.uid DESC";

/// Among the folder's newest `?2` messages, those with no stored body, and their readable part (HTML first when
/// `?3` is 1, else plain text first).
const NEEDING_BODY: &str = "
    SELECT m.id, m.uid, p.section, p.mime_type, p.encoding, p.charset, p.size
      FROM messages AS m
      JOIN parts AS p ON p.id = (
            SELECT q.id FROM parts AS q
             WHERE q.message_id = m.id AND q.is_attachment = 0
               AND q.mime_type IN ('text/plain', 'text/html')
             ORDER BY (q.mime_type = 'text/html') = ?3 DESC, q.id
             LIMIT 1)
     WHERE m.id IN (SELECT n.id FROM messages AS n WHERE n.folder_id = ?1 AND n.tombstone = 0
                     ORDER BY n.internal_date DESC, n.uid DESC LIMIT ?2)
       AND NOT EXISTS (SELECT 1 FROM bodies AS b WHERE b.message_id = m.id)
     ORDER BY m.internal_date DESC, m.uid DESC";

impl Store {
    /// Those of the folder's newest `limit` messages that have no stored body (for prefetch).
    pub async fn messages_needing_body(
        &self,
        folder: FolderId,
        limit: u32,
        prefer_html: bool,
    ) -> Result<Vec<PreviewSource>> {
        let mut conn = self.read().await?;
        let rows = sqlx::query(NEEDING_BODY)
            .bind(folder.0)
            .bind(i64::from(limit))
            .bind(i64::from(prefer_html))
            .fetch_all(&mut *conn)
            .await
            .map_err(sql("list messages needing a body"))?;
        rows.iter().map(source_from_row).collect()
    }

    /// Those of the folder's newest `limit` messages that have no preview.
    pub async fn messages_needing_preview(
        &self,
        folder: FolderId,
        limit: u32,
    ) -> Result<Vec<PreviewSource>> {
        let mut conn = self.read().await?;
        let rows = sqlx::query(NEEDING_PREVIEW)
            .bind(folder.0)
            .bind(i64::from(limit))
            .fetch_all(&mut *conn)
            .await
            .map_err(sql("list messages needing a preview"))?;
        rows.iter().map(source_from_row).collect()
    }

    /// Stores previews, all in one transaction. An existing preview is never replaced.
    pub async fn set_previews(&self, previews: &[(MessageId, String)]) -> Result<()> {
        let mut tx = self.write().await?;
        for (message, text) in previews {
            sqlx::query("UPDATE messages SET preview = ?2 WHERE id = ?1 AND preview IS NULL")
                .bind(message.0)
                .bind(text)
                .execute(&mut *tx)
                .await
                .map_err(sql("store a preview"))?;
        }
        tx.commit().await.map_err(sql("commit previews"))
    }
}

fn source_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<PreviewSource> {
    Ok(PreviewSource {
        message: MessageId(col(row, "id")?),
        uid: col_u32(row, "uid")?,
        section: col(row, "section")?,
        mime_type: col(row, "mime_type")?,
        encoding: col(row, "encoding")?,
        charset: col(row, "charset")?,
        size: col_u32(row, "size")?,
    })
}

/// An attachment the prefetch policy wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefetchPart {
    pub message: MessageId,
    pub uid: u32,
    pub section: String,
    pub filename: Option<String>,
}

impl Store {
    /// Attachments of the folder's newest `newest` messages that are not downloaded and
    /// whose encoded size is at most `max_encoded`.
    pub async fn attachments_to_prefetch(
        &self,
        folder: FolderId,
        newest: u32,
        max_encoded: u32,
    ) -> Result<Vec<PrefetchPart>> {
        let mut conn = self.read().await?;
        let rows = sqlx::query(
            "SELECT m.id, m.uid, p.section, p.filename
               FROM messages AS m JOIN parts AS p ON p.message_id = m.id
              WHERE m.id IN (SELECT n.id FROM messages AS n
                              WHERE n.folder_id = ?1 AND n.tombstone = 0
                              ORDER BY n.internal_date DESC, n.uid DESC LIMIT ?2)
                AND p.is_attachment = 1 AND p.download_state = 'none' AND p.size <= ?3
                AND p.mime_type <> 'message/rfc822'
              ORDER BY m.internal_date DESC, m.uid DESC, p.id",
        )
        .bind(folder.0)
        .bind(i64::from(newest))
        .bind(i64::from(max_encoded))
        .fetch_all(&mut *conn)
        .await
        .map_err(sql("list attachments to prefetch"))?;
        rows.iter()
            .map(|row| {
                Ok(PrefetchPart {
                    message: MessageId(col(row, "id")?),
                    uid: col_u32(row, "uid")?,
                    section: col(row, "section")?,
                    filename: col(row, "filename")?,
                })
            })
            .collect()
    }
}
