//! Accounts: where to connect and as whom. Removing an account removes everything stored for
//! it (folders, messages, parts, threads, ledger) through ON DELETE CASCADE. This table must
//! never hold a password or a token; credentials belong to the platform keystore.
//!
//! An account also remembers what the sync learnt about its server's answers, keyed by the
//! server's fingerprint (`ImapSession::server_fingerprint`): a server that answers every
//! PREVIEW with NIL (migration 0011).

use sqlx::sqlite::SqliteRow;

use super::{
    AccountId, FolderId, Store,
    codec::{col, col_u32},
    invalid, sql,
};
use crate::{Error, Result};

/// Which protocol an account syncs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AccountKind {
    Imap,
    Pop3,
    /// Not decided yet: the sync layer probes IMAP first, then POP3.
    Auto,
}

impl AccountKind {
    fn as_sql(self) -> &'static str {
        match self {
            AccountKind::Imap => "imap",
            AccountKind::Pop3 => "pop3",
            AccountKind::Auto => "auto",
        }
    }

    fn from_sql(text: &str) -> Result<AccountKind> {
        match text {
            "imap" => Ok(AccountKind::Imap),
            "pop3" => Ok(AccountKind::Pop3),
            "auto" => Ok(AccountKind::Auto),
            _ => Err(invalid("unknown account kind in the store")),
        }
    }
}

/// An account to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccount {
    /// What the user calls it.
    pub name: String,
    pub kind: AccountKind,
    pub host: String,
    pub port: u16,
    /// The transport security setting, as the engine spells it ("tls", "starttls",
    /// "danger_plaintext"); the store keeps it verbatim.
    pub security: String,
    pub username: String,
}

/// A stored account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub name: String,
    pub kind: AccountKind,
    pub host: String,
    pub port: u16,
    pub security: String,
    pub username: String,
    /// When the account was added (unix seconds).
    pub created_at: i64,
}

impl Store {
    /// Adds an account and returns its id.
    pub async fn add_account(&self, account: &NewAccount) -> Result<AccountId> {
        let mut tx = self.write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO accounts (name, kind, host, port, security, username)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             RETURNING id",
        )
        .bind(&account.name)
        .bind(account.kind.as_sql())
        .bind(&account.host)
        .bind(i64::from(account.port))
        .bind(&account.security)
        .bind(&account.username)
        .fetch_one(&mut *tx)
        .await
        .map_err(sql("add an account"))?;
        tx.commit().await.map_err(sql("commit a new account"))?;
        Ok(AccountId(id))
    }

    /// All accounts, oldest first.
    pub async fn accounts(&self) -> Result<Vec<Account>> {
        let mut conn = self.read().await?;
        let rows = sqlx::query(
            "SELECT id, name, kind, host, port, security, username, created_at
             FROM accounts
             ORDER BY id",
        )
        .fetch_all(&mut *conn)
        .await
        .map_err(sql("list accounts"))?;
        rows.iter().map(account_from_row).collect()
    }

    /// Removes an account and everything stored for it, in one transaction.
    /// What the account keeps on disk outside the database: its messages' ids (for the
    /// engine's own per-message directories) and every download destination, partial or
    /// complete. Read before `remove_account`, whose cascade forgets them.
    pub async fn account_files(&self, account: AccountId) -> Result<(Vec<i64>, Vec<String>)> {
        let mut conn = self.read().await?;
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT m.id FROM messages AS m JOIN folders AS f ON f.id = m.folder_id
              WHERE f.account_id = ?1",
        )
        .bind(account.0)
        .fetch_all(&mut *conn)
        .await
        .map_err(sql("list an account's messages"))?;
        let paths: Vec<String> = sqlx::query_scalar(
            "SELECT d.destination FROM part_downloads AS d
               JOIN messages AS m ON m.id = d.message_id
               JOIN folders AS f ON f.id = m.folder_id
              WHERE f.account_id = ?1",
        )
        .bind(account.0)
        .fetch_all(&mut *conn)
        .await
        .map_err(sql("list an account's downloads"))?;
        Ok((ids, paths))
    }

    pub async fn remove_account(&self, account: AccountId) -> Result<()> {
        let mut tx = self.write().await?;
        let removed = sqlx::query("DELETE FROM accounts WHERE id = ?1")
            .bind(account.0)
            .execute(&mut *tx)
            .await
            .map_err(sql("remove an account"))?
            .rows_affected();
        if removed == 0 {
            return Err(Error::NotFound {
                what: "account",
                id: account.0,
            });
        }
        tx.commit().await.map_err(sql("commit an account removal"))
    }
}

/// A fingerprint as the store keeps it: 16 hex digits.
fn fingerprint_text(fingerprint: u64) -> String {
    format!("{fingerprint:016x}")
}

impl Store {
    /// Whether the server of `folder`'s account, as long as it reports `fingerprint`, is known
    /// to answer every PREVIEW with NIL. A fingerprint stored for another server version is
    /// forgotten here: that server is asked again.
    pub async fn preview_nil(&self, folder: FolderId, fingerprint: u64) -> Result<bool> {
        let stored: Option<String> = {
            let mut conn = self.read().await?;
            sqlx::query_scalar(
                "SELECT a.preview_nil_server FROM accounts AS a
                   JOIN folders AS f ON f.account_id = a.id
                  WHERE f.id = ?1",
            )
            .bind(folder.0)
            .fetch_optional(&mut *conn)
            .await
            .map_err(sql("read what is known about a server's PREVIEW"))?
        };
        let current = fingerprint_text(fingerprint);
        match stored {
            Some(s) if s == current => Ok(true),
            Some(s) if !s.is_empty() => {
                self.write_preview_nil(folder, "").await?;
                Ok(false)
            }
            _ => Ok(false),
        }
    }

    /// Records that the server of `folder`'s account, reporting `fingerprint`, answered every
    /// PREVIEW of a summary window with NIL.
    pub async fn set_preview_nil(&self, folder: FolderId, fingerprint: u64) -> Result<()> {
        self.write_preview_nil(folder, &fingerprint_text(fingerprint))
            .await
    }

    async fn write_preview_nil(&self, folder: FolderId, value: &str) -> Result<()> {
        let mut tx = self.write().await?;
        sqlx::query(
            "UPDATE accounts SET preview_nil_server = ?2
              WHERE id = (SELECT account_id FROM folders WHERE id = ?1)",
        )
        .bind(folder.0)
        .bind(value)
        .execute(&mut *tx)
        .await
        .map_err(sql("record what is known about a server's PREVIEW"))?;
        tx.commit()
            .await
            .map_err(sql("commit what is known about a server's PREVIEW"))
    }
}

fn account_from_row(row: &SqliteRow) -> Result<Account> {
    let port = col_u32(row, "port")?;
    Ok(Account {
        id: AccountId(col(row, "id")?),
        name: col(row, "name")?,
        kind: AccountKind::from_sql(col(row, "kind")?)?,
        host: col(row, "host")?,
        port: u16::try_from(port).map_err(|_| invalid("stored port is out of range"))?,
        security: col(row, "security")?,
        username: col(row, "username")?,
        created_at: col(row, "created_at")?,
    })
}

/// Fails with `NotFound` unless the account exists.
pub(super) async fn ensure_account(
    conn: &mut sqlx::SqliteConnection,
    account: AccountId,
) -> Result<()> {
    let found: Option<i64> = sqlx::query_scalar("SELECT id FROM accounts WHERE id = ?1")
        .bind(account.0)
        .fetch_optional(conn)
        .await
        .map_err(sql("look up an account"))?;
    match found {
        Some(_) => Ok(()),
        None => Err(Error::NotFound {
            what: "account",
            id: account.0,
        }),
    }
}
