//! What the store's integration tests share: a store in a temporary folder with one IMAP
//! account and the folders a test names, and the sync state a window commits with;
//! `store_fixture` is the fixture of the `store`, `store_queries` and `store_accounts` tests.
#![allow(clippy::unwrap_used, dead_code)] // each test file uses its own subset

pub mod store_fixture;

use anvert_core::store::{
    AccountId, AccountKind, FolderId, FolderRecord, FolderSyncState, MessageId, NewAccount, Store,
};

/// A store with one account and `folders` (in order), in a folder removed on drop.
pub struct StoreFx {
    pub dir: tempfile::TempDir,
    pub store: Store,
    pub account: AccountId,
    pub folders: Vec<FolderId>,
}

impl StoreFx {
    pub async fn new(folders: &[&str]) -> StoreFx {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("db.sqlite")).await.unwrap();
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
        let records: Vec<FolderRecord> = folders.iter().map(|n| folder(n)).collect();
        let folders = store.upsert_folders(account, &records).await.unwrap();
        StoreFx {
            dir,
            store,
            account,
            folders,
        }
    }
}

/// A plain subscribed, selectable folder record.
pub fn folder(name: &str) -> FolderRecord {
    FolderRecord {
        name: name.into(),
        delimiter: Some("/".into()),
        role: None,
        subscribed: true,
        selectable: true,
    }
}

/// The state a window of a folder with UIDVALIDITY 1 commits with.
pub fn state(uidnext: u32) -> FolderSyncState {
    FolderSyncState {
        uidvalidity: Some(1),
        uidnext: Some(uidnext),
        highest_modseq: Some(1),
        lowest_uid_synced: Some(1),
        exists: 0,
    }
}

/// The UIDs of a message's conversation, ascending.
pub async fn thread_uids(store: &Store, message: MessageId) -> Vec<u32> {
    let mut uids: Vec<u32> = store
        .thread(message)
        .await
        .unwrap()
        .iter()
        .map(|m| m.uid)
        .collect();
    uids.sort_unstable();
    uids
}
