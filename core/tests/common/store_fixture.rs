//! The fixture of the store tests (`store`, `store_queries`, `store_accounts`): a store in a
//! fresh file with one IMAP account and its INBOX, and the folders, sync states and messages
//! (each with a text and an HTML alternative and an attachment) those tests write.

use std::{ops::RangeInclusive, path::PathBuf};

use sqlx::{Connection, SqliteConnection};
use tempfile::TempDir;

use anvert_core::store::{
    AccountId, AccountKind, Address, FlagChange, Flags, FolderId, FolderRecord, FolderSyncState,
    MessageDetail, MessageId, MessageSummary, NewAccount, NewMessage, NewPart, Role, Store,
    SystemFlags,
};

/// A store in a fresh file with one account and its INBOX.
pub struct Fixture {
    pub dir: TempDir,
    pub store: Store,
    pub account: AccountId,
    pub inbox: FolderId,
}

impl Fixture {
    pub async fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(db_path(&dir)).await.unwrap();
        let account = store.add_account(&new_account("Work")).await.unwrap();
        let inbox = folder("INBOX", Some(Role::Inbox));
        let ids = store.upsert_folders(account, &[inbox]).await.unwrap();
        Fixture {
            dir,
            store,
            account,
            inbox: ids[0],
        }
    }

    pub async fn insert(&self, folder: FolderId, state: FolderSyncState, messages: &[NewMessage]) {
        let store = &self.store;
        store.insert_window(folder, &state, messages).await.unwrap();
    }

    pub async fn uids(&self, folder: FolderId) -> Vec<u32> {
        self.store.uids(folder).await.unwrap()
    }

    pub async fn state(&self, folder: FolderId) -> FolderSyncState {
        self.store.folder_state(folder).await.unwrap()
    }

    /// The id of the message with this UID in the folder.
    pub async fn id_of(&self, folder: FolderId, uid: u32) -> MessageId {
        let page = self.store.messages_page(folder, None, 500).await.unwrap();
        page.items.iter().find(|m| m.uid == uid).unwrap().id
    }

    pub async fn detail(&self, folder: FolderId, uid: u32) -> MessageDetail {
        let id = self.id_of(folder, uid).await;
        self.store.message(id).await.unwrap().unwrap()
    }

    /// The UIDs the account's search finds, in result order.
    pub async fn found(&self, query: &str) -> Vec<u32> {
        let found = self.store.search(self.account, query, 100).await.unwrap();
        uids_of(&found)
    }

    /// The UIDs of the conversation of the message with this UID in the folder.
    pub async fn thread_of(&self, folder: FolderId, uid: u32) -> Vec<u32> {
        let id = self.id_of(folder, uid).await;
        uids_of(&self.store.thread(id).await.unwrap())
    }

    /// (unread, total) of the account's first folder.
    pub async fn counts(&self) -> (u32, u32) {
        let folders = self.store.folders(self.account).await.unwrap();
        (folders[0].unread, folders[0].total)
    }

    /// A raw connection for checks the public API does not offer.
    pub async fn raw(&self) -> SqliteConnection {
        let url = format!("sqlite://{}", db_path(&self.dir).display());
        SqliteConnection::connect(&url).await.unwrap()
    }
}

pub fn db_path(dir: &TempDir) -> PathBuf {
    dir.path().join("anvert.sqlite3")
}

pub fn uids_of(messages: &[MessageSummary]) -> Vec<u32> {
    messages.iter().map(|m| m.uid).collect()
}

pub fn new_account(name: &str) -> NewAccount {
    NewAccount {
        name: name.into(),
        kind: AccountKind::Imap,
        host: "imap.example.com".into(),
        port: 993,
        security: "tls".into(),
        username: "me@example.com".into(),
    }
}

pub fn folder(name: &str, role: Option<Role>) -> FolderRecord {
    let delimiter = Some("/".into());
    FolderRecord {
        name: name.into(),
        delimiter,
        role,
        subscribed: true,
        selectable: true,
    }
}

pub fn addr(name: Option<&str>, email: &str) -> Address {
    Address {
        name: name.map(Into::into),
        email: email.into(),
    }
}

pub fn state(uidvalidity: u32, uidnext: u32, modseq: u64, exists: u32) -> FolderSyncState {
    FolderSyncState {
        uidvalidity: Some(uidvalidity),
        uidnext: Some(uidnext),
        highest_modseq: Some(modseq),
        lowest_uid_synced: Some(1),
        exists,
    }
}

/// A message with a text and an HTML alternative and one attachment.
pub fn message(uid: u32, internal_date: i64) -> NewMessage {
    NewMessage {
        uid,
        modseq: u64::from(uid),
        internal_date,
        date: Some(internal_date - 60),
        size: 2_000 + uid,
        subject: format!("Message number {uid}"),
        from: vec![addr(Some("Alice Example"), "alice@example.com")],
        to: vec![addr(None, "me@example.com")],
        message_id: Some(format!("<m{uid}@example.com>")),
        preview: Some(format!("preview text {uid}")),
        parts: vec![
            part("1.1", "text/plain", false),
            part("1.2", "text/html", false),
            part("2", "application/pdf", true),
        ],
        ..NewMessage::default()
    }
}

/// Messages for these UIDs, each dated by its UID.
pub fn messages(uids: RangeInclusive<u32>) -> Vec<NewMessage> {
    uids.map(|uid| message(uid, i64::from(uid))).collect()
}

pub fn part(section: &str, mime_type: &str, is_attachment: bool) -> NewPart {
    NewPart {
        section: section.into(),
        mime_type: mime_type.into(),
        charset: (!is_attachment).then(|| "utf-8".into()),
        encoding: Some(
            if is_attachment {
                "base64"
            } else {
                "quoted-printable"
            }
            .into(),
        ),
        size: 1_234,
        lines: (!is_attachment).then_some(40),
        disposition: is_attachment.then(|| "attachment".into()),
        filename: is_attachment.then(|| "Rechnung März.pdf".into()),
        content_id: None,
        is_attachment,
    }
}

pub fn seen() -> Flags {
    Flags {
        system: SystemFlags::SEEN,
        keywords: Vec::new(),
    }
}

pub fn flag_change(uid: u32, flags: Flags, modseq: u64) -> FlagChange {
    FlagChange { uid, flags, modseq }
}
