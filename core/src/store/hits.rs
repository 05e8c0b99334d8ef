//! Messages found by a search on the server (migration 0014): which of a page's UIDs are
//! stored already, storing the others through the sync's own write path (marked outside the
//! window when their UID is below it), the page's rows in the server's order, and the
//! removal of hits no search has returned for a while. Never decides what to search or
//! fetch; `sync::server_search` does.

use super::{
    AccountId, FolderId, MessageId, MessageSummary, NewMessage, Store,
    folders::folder_row,
    invalid,
    messages::{Indexing, write_messages},
    query::summary_from_row,
    sql,
};
use crate::Result;

/// How long a hit outside the window stays once no search returns it (seconds).
pub const SEARCH_HIT_TTL: i64 = 14 * 86_400;

impl Store {
    /// The UIDs of `uids` the folder already holds, with their message ids.
    pub async fn stored_among(
        &self,
        folder: FolderId,
        uids: &[u32],
    ) -> Result<Vec<(u32, MessageId)>> {
        if uids.is_empty() {
            return Ok(Vec::new());
        }
        let list = serde_json::to_string(uids).map_err(|_| invalid("encode a UID list"))?;
        let mut conn = self.read().await?;
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT m.uid, m.id FROM json_each(?2) AS j
             JOIN messages AS m ON m.folder_id = ?1 AND m.uid = j.value",
        )
        .bind(folder.0)
        .bind(list)
        .fetch_all(&mut *conn)
        .await
        .map_err(sql("look up stored UIDs"))?;
        rows.into_iter()
            .map(|(uid, id)| {
                u32::try_from(uid)
                    .map(|u| (u, MessageId(id)))
                    .map_err(|_| invalid("stored UID out of range"))
            })
            .collect()
    }

    /// Stores search hits of `folder` (new to it) like a sync window would, without moving
    /// the folder's sync state: a hit below the lowest synced UID (or in a folder with none)
    /// is marked outside the window. Hits already stored (`touched`) have their last search
    /// time renewed. Returns the ids of the stored messages, in the order given.
    pub async fn store_search_hits(
        &self,
        folder: FolderId,
        messages: &[NewMessage],
        touched: &[MessageId],
        now: i64,
    ) -> Result<Vec<MessageId>> {
        let mut tx = self.write().await?;
        let row = folder_row(&mut tx, folder).await?;
        write_messages(&mut tx, row.account, folder, messages, Indexing::Now).await?;
        let lowest: Option<i64> =
            sqlx::query_scalar("SELECT lowest_uid_synced FROM folders WHERE id = ?1")
                .bind(folder.0)
                .fetch_one(&mut *tx)
                .await
                .map_err(sql("read a folder's window"))?;
        let uids: Vec<u32> = messages.iter().map(|m| m.uid).collect();
        let list = serde_json::to_string(&uids).map_err(|_| invalid("encode a UID list"))?;
        sqlx::query(
            "UPDATE messages
             SET outside_window = (?3 IS NULL OR uid < ?3), search_hit_at = ?4
             WHERE folder_id = ?1 AND uid IN (SELECT value FROM json_each(?2))",
        )
        .bind(folder.0)
        .bind(&list)
        .bind(lowest)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(sql("mark search hits"))?;
        let ids = serde_json::to_string(&touched.iter().map(|m| m.0).collect::<Vec<_>>())
            .map_err(|_| invalid("encode an id list"))?;
        sqlx::query(
            "UPDATE messages SET search_hit_at = ?2
             WHERE outside_window = 1 AND id IN (SELECT value FROM json_each(?1))",
        )
        .bind(ids)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(sql("renew search hits"))?;
        let stored: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT m.uid, m.id FROM json_each(?2) AS j
             JOIN messages AS m ON m.folder_id = ?1 AND m.uid = j.value",
        )
        .bind(folder.0)
        .bind(&list)
        .fetch_all(&mut *tx)
        .await
        .map_err(sql("read back search hits"))?;
        tx.commit().await.map_err(sql("commit search hits"))?;
        Ok(uids
            .iter()
            .filter_map(|u| {
                stored
                    .iter()
                    .find(|(uid, _)| *uid == i64::from(*u))
                    .map(|(_, id)| MessageId(*id))
            })
            .collect())
    }

    /// The message list rows of `ids`, in that order (ids no longer stored are left out).
    pub async fn summaries_of(&self, ids: &[MessageId]) -> Result<Vec<MessageSummary>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let list = serde_json::to_string(&ids.iter().map(|m| m.0).collect::<Vec<_>>())
            .map_err(|_| invalid("encode an id list"))?;
        let mut conn = self.read().await?;
        let rows = sqlx::query(concat!(
            "SELECT ",
            summary_columns!(),
            " FROM json_each(?1) AS j JOIN messages AS m ON m.id = j.value ORDER BY j.key"
        ))
        .bind(list)
        .fetch_all(&mut *conn)
        .await
        .map_err(sql("read search hits"))?;
        rows.iter().map(summary_from_row).collect()
    }

    /// The UIDs of the folder's messages stored outside its sync window, ascending.
    pub async fn outside_window_uids(&self, folder: FolderId) -> Result<Vec<u32>> {
        let mut conn = self.read().await?;
        let uids: Vec<i64> = sqlx::query_scalar(
            "SELECT uid FROM messages WHERE folder_id = ?1 AND outside_window = 1 ORDER BY uid",
        )
        .bind(folder.0)
        .fetch_all(&mut *conn)
        .await
        .map_err(sql("list a folder's search hits"))?;
        uids.into_iter()
            .map(|uid| u32::try_from(uid).map_err(|_| invalid("stored UID out of range")))
            .collect()
    }

    /// Removes the account's hits outside the window that no search has returned since
    /// `now - SEARCH_HIT_TTL` and that have no download. Returns how many were removed.
    pub async fn prune_search_hits(&self, account: AccountId, now: i64) -> Result<u64> {
        let mut tx = self.write().await?;
        let removed = sqlx::query(
            "DELETE FROM messages
             WHERE outside_window = 1 AND search_hit_at < ?2
               AND folder_id IN (SELECT id FROM folders WHERE account_id = ?1)
               AND NOT EXISTS (SELECT 1 FROM part_downloads AS d WHERE d.message_id = messages.id)",
        )
        .bind(account.0)
        .bind(now - SEARCH_HIT_TTL)
        .execute(&mut *tx)
        .await
        .map_err(sql("remove old search hits"))?
        .rows_affected();
        tx.commit()
            .await
            .map_err(sql("commit removing search hits"))?;
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::store::FolderSyncState;

    fn message(uid: u32) -> NewMessage {
        NewMessage {
            uid,
            internal_date: 1_700_000_000 + i64::from(uid),
            subject: format!("m{uid}"),
            ..NewMessage::default()
        }
    }

    /// A store whose INBOX holds UIDs `lowest..=100`, the window the sync took.
    async fn folder_with_window(lowest: u32) -> (tempfile::TempDir, Store, AccountId, FolderId) {
        let (dir, store, account, ids) =
            crate::store::test_support::store_with_folders(&[("INBOX", None)]).await;
        let folder = ids[0];
        let state = FolderSyncState {
            uidvalidity: Some(1),
            uidnext: Some(101),
            lowest_uid_synced: Some(lowest),
            ..FolderSyncState::default()
        };
        let window: Vec<NewMessage> = (lowest..=100).map(message).collect();
        store.insert_window(folder, &state, &window).await.unwrap();
        (dir, store, account, folder)
    }

    #[tokio::test]
    async fn hits_below_the_window_are_marked_kept_and_taken_in_or_pruned() {
        let (_dir, store, account, folder) = folder_with_window(91).await;
        assert_eq!(store.message_count(folder).await.unwrap(), 10);
        let now = 1_800_000_000;
        let ids = store
            .store_search_hits(folder, &[message(5), message(40)], &[], now)
            .await
            .unwrap();
        assert_eq!(ids.len(), 2);
        assert_eq!(store.outside_window_uids(folder).await.unwrap(), [5, 40]);
        // Not counted in the window; listed like any message.
        assert_eq!(store.message_count(folder).await.unwrap(), 10);
        let rows = store.summaries_of(&[ids[1], ids[0]]).await.unwrap();
        assert_eq!(rows.iter().map(|m| m.uid).collect::<Vec<_>>(), [40, 5]);
        assert_eq!(
            store
                .stored_among(folder, &[5, 6, 40, 95])
                .await
                .unwrap()
                .len(),
            3
        );

        // The window grows down to 30: UID 40 is part of it now.
        let mut state = store.folder_state(folder).await.unwrap();
        state.lowest_uid_synced = Some(30);
        store.set_folder_state(folder, &state).await.unwrap();
        assert_eq!(store.outside_window_uids(folder).await.unwrap(), [5]);
        assert_eq!(store.message_count(folder).await.unwrap(), 11);

        // Not returned again for the TTL: removed; one renewed meanwhile stays.
        store
            .store_search_hits(folder, &[message(7)], &[], now)
            .await
            .unwrap();
        let later = now + SEARCH_HIT_TTL + 1;
        store
            .store_search_hits(folder, &[], &[ids[0]], later - 10)
            .await
            .unwrap();
        assert_eq!(store.prune_search_hits(account, later).await.unwrap(), 1);
        assert_eq!(store.outside_window_uids(folder).await.unwrap(), [5]);
        assert_eq!(store.message_count(folder).await.unwrap(), 11);
    }
}
