//! Set-up shared by the store's unit tests: a store in a temporary directory with one IMAP
//! account and the folders asked for.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use super::{AccountId, AccountKind, FolderId, FolderRecord, NewAccount, Role, Store};

/// A fresh store (kept alive by the returned directory) with account `a` on `h:993` and the
/// folders `(name, role)` in order, `/`-delimited, subscribed and selectable.
pub(super) async fn store_with_folders(
    folders: &[(&str, Option<Role>)],
) -> (tempfile::TempDir, Store, AccountId, Vec<FolderId>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("t.db")).await.unwrap();
    let account = store
        .add_account(&NewAccount {
            name: "a".into(),
            kind: AccountKind::Imap,
            host: "h".into(),
            port: 993,
            security: "tls".into(),
            username: "u".into(),
        })
        .await
        .unwrap();
    let records: Vec<FolderRecord> = folders
        .iter()
        .map(|(name, role)| FolderRecord {
            name: (*name).into(),
            delimiter: Some("/".into()),
            role: *role,
            subscribed: true,
            selectable: true,
        })
        .collect();
    let ids = store.upsert_folders(account, &records).await.unwrap();
    (dir, store, account, ids)
}
