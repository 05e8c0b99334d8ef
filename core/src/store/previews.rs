//! Snippets for the message list: which messages still lack one (with the part to take it
//! from), and storing them. A stored preview also feeds the search index (by trigger).

use super::{FolderId, MessageId, Store, codec::col, codec::col_u32, sql};
use crate::Result;

/// A message that has no preview yet, and its first readable text part.
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

/// Newest first; the text part is the first non-attachment text/plain, else text/html.
const NEEDING_PREVIEW: &str = "
    SELECT m.id, m.uid, p.section, p.mime_type, p.encoding, p.charset, p.size
      FROM messages AS m
      JOIN parts AS p ON p.id = (
            SELECT q.id FROM parts AS q
             WHERE q.message_id = m.id AND q.is_attachment = 0
               AND q.mime_type IN ('text/plain', 'text/html')
             ORDER BY q.mime_type = 'text/plain' DESC, q.id
             LIMIT 1)
     WHERE m.folder_id = ?1 AND m.preview IS NULL
     ORDER BY m.internal_date DESC, m.uid DESC
     LIMIT ?2";

impl Store {
    /// Up to `limit` of the folder's newest messages without a preview.
    pub async fn messages_needing_preview(&self, folder: FolderId, limit: u32) -> Result<Vec<PreviewSource>> {
        let mut conn = self.read().await?;
        let rows = sqlx::query(NEEDING_PREVIEW)
            .bind(folder.0)
            .bind(i64::from(limit))
            .fetch_all(&mut *conn)
            .await
            .map_err(sql("list messages needing a preview"))?;
        rows.iter()
            .map(|row| {
                Ok(PreviewSource {
                    message: MessageId(col(row, "id")?),
                    uid: col_u32(row, "uid")?,
                    section: col(row, "section")?,
                    mime_type: col(row, "mime_type")?,
                    encoding: col(row, "encoding")?,
                    charset: col(row, "charset")?,
                    size: col_u32(row, "size")?,
                })
            })
            .collect()
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
