//! The byte ledger: how many bytes each account moved, by network kind ("wifi", "cellular",
//! ...) and purpose ("sync_metadata", "bodies", ...), so the app can show data usage and the
//! policy can keep budgets. Totals are kept per UTC day, so the table grows by at most one row
//! per account, kind and purpose a day. It counts; it never decides anything.

use super::{
    AccountId, Store,
    accounts::ensure_account,
    codec::{col, col_u64, int_u64},
    sql,
};
use crate::Result;

/// Bytes moved for one network kind and purpose, over the account's whole history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRow {
    pub network_kind: String,
    pub purpose: String,
    pub bytes_up: u64,
    pub bytes_down: u64,
}

impl Store {
    /// Adds bytes to today's totals of the account for this network kind and purpose.
    pub async fn add_usage(
        &self,
        account: AccountId,
        network_kind: &str,
        purpose: &str,
        bytes_up: u64,
        bytes_down: u64,
    ) -> Result<()> {
        let up = int_u64(bytes_up, "byte count")?;
        let down = int_u64(bytes_down, "byte count")?;
        let mut tx = self.write().await?;
        ensure_account(&mut tx, account).await?;
        sqlx::query(
            "INSERT INTO byte_ledger (account_id, day, network_kind, purpose, bytes_up, bytes_down)
             VALUES (?1, unixepoch() / 86400, ?2, ?3, ?4, ?5)
             ON CONFLICT (account_id, network_kind, purpose, day) DO UPDATE SET
                 bytes_up = bytes_up + excluded.bytes_up,
                 bytes_down = bytes_down + excluded.bytes_down",
        )
        .bind(account.0)
        .bind(network_kind)
        .bind(purpose)
        .bind(up)
        .bind(down)
        .execute(&mut *tx)
        .await
        .map_err(sql("add to the byte ledger"))?;
        tx.commit().await.map_err(sql("commit the byte ledger"))
    }

    /// The account's totals by network kind and purpose (sorted by both).
    pub async fn usage(&self, account: AccountId) -> Result<Vec<UsageRow>> {
        let mut conn = self.read().await?;
        let rows = sqlx::query(
            "SELECT network_kind, purpose, sum(bytes_up) AS bytes_up,
                    sum(bytes_down) AS bytes_down
             FROM byte_ledger
             WHERE account_id = ?1
             GROUP BY network_kind, purpose
             ORDER BY network_kind, purpose",
        )
        .bind(account.0)
        .fetch_all(&mut *conn)
        .await
        .map_err(sql("read the byte ledger"))?;
        rows.iter()
            .map(|row| {
                Ok(UsageRow {
                    network_kind: col(row, "network_kind")?,
                    purpose: col(row, "purpose")?,
                    bytes_up: col_u64(row, "bytes_up")?,
                    bytes_down: col_u64(row, "bytes_down")?,
                })
            })
            .collect()
    }
}
