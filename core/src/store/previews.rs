//! Snippets and prefetch: which messages still lack a preview or a body (with the part to
//! take it from), and storing previews. A stored preview also feeds the search index.

use super::{
    FolderId, MessageId, Store,
    codec::{col, col_strings, col_u32},
    messages::NewPart,
    parts, sql,
};
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

/// Among the folder's newest `?2` messages, those without a preview, newest first, with their
/// parts.
const NEEDING_PREVIEW: &str = "
    SELECT m.id, m.uid, m.parts
      FROM messages AS m
     WHERE m.id IN (SELECT n.id FROM messages AS n WHERE n.folder_id = ?1 AND n.tombstone = 0
                     ORDER BY n.internal_date DESC, n.uid DESC LIMIT ?2)
       AND m.preview IS NULL
     ORDER BY m.internal_date DESC, m.uid DESC";

/// Among the folder's newest `?2` messages, those with no stored body, with their parts.
const NEEDING_BODY: &str = "
    SELECT m.id, m.uid, m.parts
      FROM messages AS m
     WHERE m.id IN (SELECT n.id FROM messages AS n WHERE n.folder_id = ?1 AND n.tombstone = 0
                     ORDER BY n.internal_date DESC, n.uid DESC LIMIT ?2)
       AND NOT EXISTS (SELECT 1 FROM bodies AS b WHERE b.message_id = m.id)
     ORDER BY m.internal_date DESC, m.uid DESC";

/// The folder's newest `?2` messages with their parts and the sections with content stored
/// (a JSON list).
const NEWEST_WITH_STATES: &str = "
    SELECT m.id, m.uid, m.parts,
           (SELECT json_group_array(s.section) FROM part_states AS s
             WHERE s.message_id = m.id) AS stored
      FROM messages AS m
     WHERE m.id IN (SELECT n.id FROM messages AS n WHERE n.folder_id = ?1 AND n.tombstone = 0
                     ORDER BY n.internal_date DESC, n.uid DESC LIMIT ?2)
     ORDER BY m.internal_date DESC, m.uid DESC";

/// The readable text part of a message: the first non-attachment part of the preferred type
/// (text/html with `prefer_html`, else text/plain), else the first of the other; `None`
/// without either.
fn readable(parts: Vec<NewPart>, prefer_html: bool) -> Option<NewPart> {
    let preferred = if prefer_html {
        "text/html"
    } else {
        "text/plain"
    };
    let mut other = None;
    for part in parts {
        if part.is_attachment || !matches!(part.mime_type.as_str(), "text/plain" | "text/html") {
            continue;
        }
        if part.mime_type == preferred {
            return Some(part);
        }
        other.get_or_insert(part);
    }
    other
}

/// The messages of `rows` (id, uid, parts) that have a readable part, with it.
fn sources(rows: &[sqlx::sqlite::SqliteRow], prefer_html: bool) -> Result<Vec<PreviewSource>> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let Some(part) = readable(parts::decode(col(row, "parts")?)?, prefer_html) else {
            continue;
        };
        out.push(PreviewSource {
            message: MessageId(col(row, "id")?),
            uid: col_u32(row, "uid")?,
            section: part.section,
            mime_type: part.mime_type,
            encoding: part.encoding,
            charset: part.charset,
            size: part.size,
        });
    }
    Ok(out)
}

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
            .fetch_all(&mut *conn)
            .await
            .map_err(sql("list messages needing a body"))?;
        sources(&rows, prefer_html)
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
        sources(&rows, false)
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
        let rows = sqlx::query(NEWEST_WITH_STATES)
            .bind(folder.0)
            .bind(i64::from(newest))
            .fetch_all(&mut *conn)
            .await
            .map_err(sql("list attachments to prefetch"))?;
        let mut out = Vec::new();
        for row in &rows {
            let stored: Vec<String> = col_strings(row, "stored")?;
            let message = MessageId(col(row, "id")?);
            let uid = col_u32(row, "uid")?;
            out.extend(
                parts::decode(col(row, "parts")?)?
                    .into_iter()
                    .filter(|p| {
                        p.is_attachment
                            && p.size <= max_encoded
                            && p.mime_type != "message/rfc822"
                            && !stored.contains(&p.section)
                    })
                    .map(|p| PrefetchPart {
                        message,
                        uid,
                        section: p.section,
                        filename: p.filename,
                    }),
            );
        }
        Ok(out)
    }
}
