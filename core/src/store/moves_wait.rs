//! What the mailbox write-back needs beyond the queue itself (`moves`): the Message-IDs that
//! find a copy on a server without COPYUID, rows that wait for a safe EXPUNGE, and the server
//! UIDs a folder's resync must not bring back because the app moved or deleted them.
//!
//! A queued removal waits (not failed, not parked) on a server without UIDPLUS while another
//! message in its folder is marked `\Deleted`: only a plain EXPUNGE could remove ours, and it
//! would take that one too. Its row keeps the reason in `last_error`, is tried again by every
//! sync, and does not count as an attempt.

use std::collections::BTreeMap;

use super::{FolderId, MessageId, Store, sql};
use crate::Result;

impl Store {
    /// The `Message-ID` header (as stored, with its angle brackets) of each message that has
    /// one.
    pub async fn header_message_ids(
        &self,
        messages: &[MessageId],
    ) -> Result<BTreeMap<MessageId, String>> {
        if messages.is_empty() {
            return Ok(BTreeMap::new());
        }
        let ids: Vec<i64> = messages.iter().map(|m| m.0).collect();
        let mut conn = self.read().await?;
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT id, header_message_id FROM messages
             WHERE id IN (SELECT value FROM json_each(?1)) AND header_message_id IS NOT NULL
               AND header_message_id <> ''",
        )
        .bind(super::codec::batch_json(&ids, "message ids")?)
        .fetch_all(&mut *conn)
        .await
        .map_err(sql("read Message-IDs"))?;
        Ok(crate::sort::map_from(
            rows.into_iter().map(|(id, header)| (MessageId(id), header)),
        ))
    }

    /// Marks mailbox operations as waiting, with the reason: tried again by the next sync,
    /// no attempt counted, never parked for it.
    pub async fn record_mailbox_waiting(&self, ids: &[i64], reason: &str) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut tx = self.write().await?;
        sqlx::query(
            "UPDATE pending_mailbox_ops SET last_error = ?2, next_attempt_at = 0
             WHERE id IN (SELECT value FROM json_each(?1))",
        )
        .bind(super::codec::batch_json(ids, "operation ids")?)
        .bind(reason)
        .execute(&mut *tx)
        .await
        .map_err(sql("record a waiting mailbox operation"))?;
        tx.commit()
            .await
            .map_err(sql("commit a waiting mailbox operation"))?;
        Ok(())
    }

    /// Server UIDs of a folder (at its stored UIDVALIDITY) that queued moves and deletions
    /// take away: the app no longer shows them there, so a resync must not fetch them back
    /// while the server still lists them (a removal waiting for a safe EXPUNGE, or one not
    /// written back yet), and drafts the outbox is sending from the server's copy (they left
    /// Drafts locally; their expunge follows the send). Ascending.
    pub async fn queued_away_uids(&self, folder: FolderId) -> Result<Vec<u32>> {
        let mut conn = self.read().await?;
        let uids: Vec<i64> = sqlx::query_scalar(
            "SELECT o.source_uid FROM pending_mailbox_ops AS o
               JOIN folders AS f ON f.id = o.source_folder_id
             WHERE o.source_folder_id = ?1 AND o.kind IN ('move', 'expunge')
               AND o.source_uid IS NOT NULL AND o.source_uidvalidity IS f.uidvalidity
             UNION
             SELECT b.orig_uid FROM outbox AS b JOIN folders AS f ON f.id = b.orig_folder_id
             WHERE b.orig_folder_id = ?1 AND b.draft_expunge = 1
               AND b.state NOT IN ('sent', 'failed') AND b.orig_uidvalidity IS f.uidvalidity
             ORDER BY 1",
        )
        .bind(folder.0)
        .fetch_all(&mut *conn)
        .await
        .map_err(sql("read a folder's queued-away UIDs"))?;
        Ok(uids
            .into_iter()
            .filter_map(|u| u32::try_from(u).ok())
            .collect())
    }
}
