//! Where a stored message lives on the server: its account, folder name, UID and the
//! folder's UIDVALIDITY, which a content fetch checks before trusting the UID.

use super::{
    AccountId, FolderId, MessageId, Store, codec::col, codec::col_opt_u32, codec::col_u32, sql,
};
use crate::Result;

/// A message's address on the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageLocation {
    pub account: AccountId,
    pub folder: FolderId,
    pub folder_name: String,
    pub uid: u32,
    pub uidvalidity: Option<u32>,
}

impl Store {
    pub async fn message_location(&self, message: MessageId) -> Result<Option<MessageLocation>> {
        let mut conn = self.read().await?;
        let row = sqlx::query(
            "SELECT f.account_id, f.id AS folder_id, f.name, m.uid, f.uidvalidity
               FROM messages AS m JOIN folders AS f ON f.id = m.folder_id
              WHERE m.id = ?1 AND m.tombstone = 0",
        )
        .bind(message.0)
        .fetch_optional(&mut *conn)
        .await
        .map_err(sql("locate a message"))?;
        row.map(|row| {
            Ok(MessageLocation {
                account: AccountId(col(&row, "account_id")?),
                folder: FolderId(col(&row, "folder_id")?),
                folder_name: col(&row, "name")?,
                uid: col_u32(&row, "uid")?,
                uidvalidity: col_opt_u32(&row, "uidvalidity")?,
            })
        })
        .transpose()
    }
}
