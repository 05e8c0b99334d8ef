//! Folders (IMAP mailboxes) and their sync state. The sync layer hands over the full LIST
//! result; folders missing from it are gone on the server (deleted or renamed) and are removed
//! here with their messages. The sync state only changes together with the message rows it
//! describes, and never silently across a UIDVALIDITY change: that takes `reset_folder`.

use sqlx::{SqliteConnection, sqlite::SqliteRow};

use super::{
    AccountId, FolderId, Store,
    accounts::ensure_account,
    codec::{batch_json, col, col_opt_u32, col_opt_u64, col_u32, int_u64},
    invalid, sql,
};
use crate::{Error, Result};

/// What a folder is for (RFC 6154 SPECIAL-USE, or guessed from its name by the sync layer,
/// or set by the app).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Role {
    Inbox,
    Sent,
    Drafts,
    Trash,
    Junk,
    Archive,
    All,
    Flagged,
}

impl Role {
    fn as_sql(self) -> &'static str {
        match self {
            Role::Inbox => "inbox",
            Role::Sent => "sent",
            Role::Drafts => "drafts",
            Role::Trash => "trash",
            Role::Junk => "junk",
            Role::Archive => "archive",
            Role::All => "all",
            Role::Flagged => "flagged",
        }
    }

    fn from_sql(text: &str) -> Result<Role> {
        Ok(match text {
            "inbox" => Role::Inbox,
            "sent" => Role::Sent,
            "drafts" => Role::Drafts,
            "trash" => Role::Trash,
            "junk" => Role::Junk,
            "archive" => Role::Archive,
            "all" => Role::All,
            "flagged" => Role::Flagged,
            _ => return Err(invalid("unknown folder role in the store")),
        })
    }
}

/// One folder as listed by the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderRecord {
    /// The full name, decoded from modified UTF-7.
    pub name: String,
    /// The hierarchy delimiter; `None` for a flat namespace.
    pub delimiter: Option<String>,
    pub role: Option<Role>,
    pub subscribed: bool,
    /// False for `\Noselect` / `\NonExistent` containers.
    pub selectable: bool,
}

/// A folder for the app's folder list, with counts taken from the stored messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderSummary {
    pub id: FolderId,
    pub name: String,
    pub delimiter: Option<String>,
    /// The effective role: the app's ([`Store::set_folder_role`]) where it set one, else
    /// SPECIAL-USE or a well-known name.
    pub role: Option<Role>,
    /// Whether the role is the app's choice rather than the server's LIST.
    pub role_set_by_app: bool,
    pub subscribed: bool,
    pub selectable: bool,
    /// Stored messages without `\Seen`.
    pub unread: u32,
    /// Stored messages (the server may hold more than have been synced).
    pub total: u32,
}

/// What the stored rows of a folder reflect on the server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FolderSyncState {
    pub uidvalidity: Option<u32>,
    pub uidnext: Option<u32>,
    /// HIGHESTMODSEQ (CONDSTORE); `None` when the server has no mod-sequences.
    pub highest_modseq: Option<u64>,
    /// The lowest UID of the window synced so far (headers-first sync goes backwards).
    pub lowest_uid_synced: Option<u32>,
    /// EXISTS at the time of the sync.
    pub exists: u32,
}

/// The parts of a folder row that writes check before touching it.
pub(super) struct FolderRow {
    pub account: AccountId,
    pub uidvalidity: Option<u32>,
}

impl Store {
    /// Replaces the account's folder list with `folders` (the full LIST result): updates the
    /// folders that exist, adds the new ones and removes the missing ones with their messages.
    /// Returns the folder ids in the order given.
    pub async fn upsert_folders(
        &self,
        account: AccountId,
        folders: &[FolderRecord],
    ) -> Result<Vec<FolderId>> {
        let mut tx = self.write().await?;
        ensure_account(&mut tx, account).await?;
        let names: Vec<&str> = folders.iter().map(|f| f.name.as_str()).collect();
        sqlx::query(
            "DELETE FROM folders
             WHERE account_id = ?1 AND name NOT IN (SELECT value FROM json_each(?2))",
        )
        .bind(account.0)
        .bind(batch_json(&names, "folder names")?)
        .execute(&mut *tx)
        .await
        .map_err(sql("remove vanished folders"))?;

        let mut ids = Vec::with_capacity(folders.len());
        for folder in folders {
            // The listed role only: `role` is derived below, with the app's overrides.
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO folders (account_id, name, delimiter, listed_role, subscribed,
                                      selectable)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (account_id, name) DO UPDATE SET
                     delimiter = excluded.delimiter,
                     listed_role = excluded.listed_role,
                     subscribed = excluded.subscribed,
                     selectable = excluded.selectable
                 RETURNING id",
            )
            .bind(account.0)
            .bind(&folder.name)
            .bind(folder.delimiter.as_deref())
            .bind(folder.role.map(Role::as_sql))
            .bind(folder.subscribed)
            .bind(folder.selectable)
            .fetch_one(&mut *tx)
            .await
            .map_err(sql("store a folder"))?;
            ids.push(FolderId(id));
        }
        derive_roles(&mut tx, account).await?;
        tx.commit().await.map_err(sql("commit the folder list"))?;
        Ok(ids)
    }

    /// Sets the role of a folder as the app sees it, over what the server's LIST says, for
    /// good (later syncs keep it): `Some(role)` makes the folder the account's folder for
    /// that role (no other folder keeps it, whatever its SPECIAL-USE or name; another
    /// folder's override to the same role is removed); `None` makes it a folder without a
    /// role. [`Store::reset_folder_role`] returns to the listed role. INBOX is always the
    /// inbox: the inbox role cannot be given, and INBOX's cannot be changed; a folder that
    /// cannot be selected cannot hold a role (`Error::Config`).
    /// Returns the folder's account.
    pub async fn set_folder_role(&self, folder: FolderId, role: Option<Role>) -> Result<AccountId> {
        let value = match role {
            Some(Role::Inbox) => {
                return Err(Error::Config {
                    reason: "the inbox role belongs to INBOX".into(),
                });
            }
            Some(r) => r.as_sql(),
            None => "none",
        };
        self.write_role_override(folder, value).await
    }

    /// Drops the app's role for a folder: its role is again the one its LIST entry gives
    /// (SPECIAL-USE or a well-known name).
    /// Returns the folder's account.
    pub async fn reset_folder_role(&self, folder: FolderId) -> Result<AccountId> {
        self.write_role_override(folder, "auto").await
    }

    async fn write_role_override(&self, folder: FolderId, value: &str) -> Result<AccountId> {
        let mut tx = self.write().await?;
        let row = sqlx::query("SELECT account_id, name, selectable FROM folders WHERE id = ?1")
            .bind(folder.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(sql("look up a folder"))?
            .ok_or(Error::NotFound {
                what: "folder",
                id: folder.0,
            })?;
        let account = AccountId(col(&row, "account_id")?);
        let name: String = col(&row, "name")?;
        let selectable: bool = col(&row, "selectable")?;
        if name.eq_ignore_ascii_case("INBOX") && value != "auto" {
            return Err(Error::Config {
                reason: "INBOX's role cannot be changed".into(),
            });
        }
        if !selectable && !matches!(value, "auto" | "none") {
            return Err(Error::Config {
                reason: "a folder that cannot be selected cannot have a role".into(),
            });
        }
        if !matches!(value, "auto" | "none") {
            sqlx::query(
                "UPDATE folders SET role_override = 'auto'
                 WHERE account_id = ?1 AND role_override = ?2 AND id <> ?3",
            )
            .bind(account.0)
            .bind(value)
            .bind(folder.0)
            .execute(&mut *tx)
            .await
            .map_err(sql("move a folder role"))?;
        }
        sqlx::query("UPDATE folders SET role_override = ?2 WHERE id = ?1")
            .bind(folder.0)
            .bind(value)
            .execute(&mut *tx)
            .await
            .map_err(sql("set a folder role"))?;
        derive_roles(&mut tx, account).await?;
        tx.commit().await.map_err(sql("commit a folder role"))?;
        Ok(account)
    }

    /// The account's folders by name, with unread and total counts of the stored messages.
    pub async fn folders(&self, account: AccountId) -> Result<Vec<FolderSummary>> {
        let mut conn = self.read().await?;
        let rows = sqlx::query(FOLDER_SUMMARIES)
            .bind(account.0)
            .fetch_all(&mut *conn)
            .await
            .map_err(sql("list folders"))?;
        rows.iter().map(summary_from_row).collect()
    }

    /// The summed RFC822.SIZE of a folder's stored messages: the least that downloading
    /// them whole would move (what a headers-first sync is measured against).
    pub async fn folder_bytes(&self, folder: FolderId) -> Result<u64> {
        let mut conn = self.read().await?;
        let bytes: i64 = sqlx::query_scalar(
            "SELECT coalesce(sum(size), 0) FROM messages WHERE folder_id = ?1 AND tombstone = 0",
        )
        .bind(folder.0)
        .fetch_one(&mut *conn)
        .await
        .map_err(sql("sum a folder's message sizes"))?;
        u64::try_from(bytes).map_err(|_| invalid("a negative sum of message sizes"))
    }

    /// The names of the account's folders with a stored sync state (synced at least once).
    pub async fn synced_folder_names(&self, account: AccountId) -> Result<Vec<String>> {
        let mut conn = self.read().await?;
        sqlx::query_scalar(
            "SELECT name FROM folders WHERE account_id = ?1 AND uidvalidity IS NOT NULL",
        )
        .bind(account.0)
        .fetch_all(&mut *conn)
        .await
        .map_err(sql("list an account's synced folders"))
    }

    /// The stored sync state of a folder.
    pub async fn folder_state(&self, folder: FolderId) -> Result<FolderSyncState> {
        let mut conn = self.read().await?;
        let row = sqlx::query(
            "SELECT uidvalidity, uidnext, highest_modseq, lowest_uid_synced, exists_count
             FROM folders WHERE id = ?1",
        )
        .bind(folder.0)
        .fetch_optional(&mut *conn)
        .await
        .map_err(sql("read a folder's sync state"))?
        .ok_or(Error::NotFound {
            what: "folder",
            id: folder.0,
        })?;
        Ok(FolderSyncState {
            uidvalidity: col_opt_u32(&row, "uidvalidity")?,
            uidnext: col_opt_u32(&row, "uidnext")?,
            highest_modseq: col_opt_u64(&row, "highest_modseq")?,
            lowest_uid_synced: col_opt_u32(&row, "lowest_uid_synced")?,
            exists: col_u32(&row, "exists_count")?,
        })
    }

    /// Stores a folder's sync state. Refuses to change a known UIDVALIDITY: the old messages
    /// would be mixed with the new generation's UIDs; use [`Store::reset_folder`] for that.
    pub async fn set_folder_state(&self, folder: FolderId, state: &FolderSyncState) -> Result<()> {
        let mut tx = self.write().await?;
        let stored = folder_row(&mut tx, folder).await?;
        write_state(&mut tx, folder, &stored, state).await?;
        tx.commit()
            .await
            .map_err(sql("commit a folder's sync state"))
    }

    /// Starts a folder over after a UIDVALIDITY change: removes all its messages and parts and
    /// records the new UIDVALIDITY with an otherwise empty state, in one transaction.
    /// Returns how many messages were removed.
    pub async fn reset_folder(&self, folder: FolderId, uidvalidity: u32) -> Result<u64> {
        let mut tx = self.write().await?;
        folder_row(&mut tx, folder).await?;
        let removed = sqlx::query("DELETE FROM messages WHERE folder_id = ?1")
            .bind(folder.0)
            .execute(&mut *tx)
            .await
            .map_err(sql("remove a folder's messages"))?
            .rows_affected();
        sqlx::query(
            "UPDATE folders
             SET uidvalidity = ?2, uidnext = NULL, highest_modseq = NULL,
                 lowest_uid_synced = NULL, exists_count = 0
             WHERE id = ?1",
        )
        .bind(folder.0)
        .bind(i64::from(uidvalidity))
        .execute(&mut *tx)
        .await
        .map_err(sql("reset a folder's sync state"))?;
        tx.commit().await.map_err(sql("commit a folder reset"))?;
        Ok(removed)
    }
}

/// Derives every folder's `role` of an account from its listed role and the app's
/// overrides (migration 0009): an override wins, and a role the app gave a folder is no
/// other folder's.
async fn derive_roles(conn: &mut SqliteConnection, account: AccountId) -> Result<()> {
    sqlx::query(
        "UPDATE folders SET role = CASE
             WHEN role_override = 'none' THEN NULL
             WHEN role_override <> 'auto' THEN role_override
             WHEN EXISTS (SELECT 1 FROM folders AS o
                          WHERE o.account_id = folders.account_id AND o.id <> folders.id
                            AND o.role_override = folders.listed_role) THEN NULL
             ELSE listed_role
         END
         WHERE account_id = ?1",
    )
    .bind(account.0)
    .execute(conn)
    .await
    .map_err(sql("derive folder roles"))?;
    Ok(())
}

/// Unread and total are kept by triggers in `folder_counts` (migration 0016): tombstones
/// (`objectid`) are not counted.
pub(super) const FOLDER_SUMMARIES: &str = "
    SELECT f.id, f.name, f.delimiter, f.role, f.role_override, f.subscribed, f.selectable,
           coalesce(c.total, 0) AS total, coalesce(c.unread, 0) AS unread
    FROM folders AS f LEFT JOIN folder_counts AS c ON c.folder_id = f.id
    WHERE f.account_id = ?1
    ORDER BY f.name";

fn summary_from_row(row: &SqliteRow) -> Result<FolderSummary> {
    let role: Option<&str> = col(row, "role")?;
    Ok(FolderSummary {
        id: FolderId(col(row, "id")?),
        name: col(row, "name")?,
        delimiter: col(row, "delimiter")?,
        role: role.map(Role::from_sql).transpose()?,
        role_set_by_app: col::<&str>(row, "role_override")? != "auto",
        subscribed: col(row, "subscribed")?,
        selectable: col(row, "selectable")?,
        unread: col_u32(row, "unread")?,
        total: col_u32(row, "total")?,
    })
}

/// Reads the folder's account and UIDVALIDITY; `NotFound` if the folder is gone.
pub(super) async fn folder_row(conn: &mut SqliteConnection, folder: FolderId) -> Result<FolderRow> {
    let row = sqlx::query("SELECT account_id, uidvalidity FROM folders WHERE id = ?1")
        .bind(folder.0)
        .fetch_optional(conn)
        .await
        .map_err(sql("look up a folder"))?
        .ok_or(Error::NotFound {
            what: "folder",
            id: folder.0,
        })?;
    Ok(FolderRow {
        account: AccountId(col(&row, "account_id")?),
        uidvalidity: col_opt_u32(&row, "uidvalidity")?,
    })
}

/// Writes the whole sync state, refusing a change of a known UIDVALIDITY.
pub(super) async fn write_state(
    conn: &mut SqliteConnection,
    folder: FolderId,
    stored: &FolderRow,
    state: &FolderSyncState,
) -> Result<()> {
    if stored.uidvalidity.is_some() && stored.uidvalidity != state.uidvalidity {
        return Err(invalid(
            "UIDVALIDITY differs from the stored one; reset the folder first",
        ));
    }
    sqlx::query(
        "UPDATE folders
         SET uidvalidity = ?2, uidnext = ?3, highest_modseq = ?4, lowest_uid_synced = ?5,
             exists_count = ?6
         WHERE id = ?1",
    )
    .bind(folder.0)
    .bind(state.uidvalidity.map(i64::from))
    .bind(state.uidnext.map(i64::from))
    .bind(
        state
            .highest_modseq
            .map(|m| int_u64(m, "HIGHESTMODSEQ"))
            .transpose()?,
    )
    .bind(state.lowest_uid_synced.map(i64::from))
    .bind(i64::from(state.exists))
    .execute(&mut *conn)
    .await
    .map_err(sql("store a folder's sync state"))?;
    // Search hits the window now reaches are part of it (migration 0014).
    if let Some(lowest) = state.lowest_uid_synced {
        sqlx::query(
            "UPDATE messages SET outside_window = 0
             WHERE folder_id = ?1 AND outside_window = 1 AND uid >= ?2",
        )
        .bind(folder.0)
        .bind(i64::from(lowest))
        .execute(&mut *conn)
        .await
        .map_err(sql("take search hits into the window"))?;
    }
    Ok(())
}

/// Moves only HIGHESTMODSEQ (for flag changes and expunges outside a full delta).
pub(super) async fn write_highest_modseq(
    conn: &mut SqliteConnection,
    folder: FolderId,
    highest_modseq: u64,
) -> Result<()> {
    sqlx::query("UPDATE folders SET highest_modseq = ?2 WHERE id = ?1")
        .bind(folder.0)
        .bind(int_u64(highest_modseq, "HIGHESTMODSEQ")?)
        .execute(conn)
        .await
        .map_err(sql("store HIGHESTMODSEQ"))?;
    Ok(())
}
