//! Folder roles the app sets (migration 0009) against a real SQLite file: an override wins over
//! the listed role, takes the role from every other folder, survives every later folder list
//! (a sync), and can be reset; the queries that find the Trash and Drafts see it.

#![allow(clippy::unwrap_used)]

use anvert_core::{
    Error,
    store::{AccountId, AccountKind, FolderId, FolderRecord, NewAccount, Role, Store},
};

fn folder(name: &str, role: Option<Role>, selectable: bool) -> FolderRecord {
    FolderRecord {
        name: name.into(),
        delimiter: Some("/".into()),
        role,
        subscribed: true,
        selectable,
    }
}

/// What a LIST of this account gives: INBOX, a Trash by name, a Papierkorb without role, a
/// Drafts, and a container.
fn listing() -> Vec<FolderRecord> {
    vec![
        folder("INBOX", Some(Role::Inbox), true),
        folder("Trash", Some(Role::Trash), true),
        folder("Papierkorb", None, true),
        folder("Drafts", Some(Role::Drafts), true),
        folder("Archive", None, false),
    ]
}

async fn store_with_account(dir: &tempfile::TempDir) -> (Store, AccountId) {
    let store = Store::open(dir.path().join("anvert.sqlite3"))
        .await
        .unwrap();
    let account = store
        .add_account(&NewAccount {
            name: "Work".into(),
            kind: AccountKind::Imap,
            host: "imap.example.com".into(),
            port: 993,
            security: "tls".into(),
            username: "me@example.com".into(),
        })
        .await
        .unwrap();
    (store, account)
}

/// (name, role, set by the app) of every folder, by name.
async fn roles(store: &Store, account: AccountId) -> Vec<(String, Option<Role>, bool)> {
    store
        .folders(account)
        .await
        .unwrap()
        .into_iter()
        .map(|f| (f.name, f.role, f.role_set_by_app))
        .collect()
}

fn id_of(ids: &[FolderId], list: &[FolderRecord], name: &str) -> FolderId {
    ids[list.iter().position(|f| f.name == name).unwrap()]
}

#[tokio::test]
async fn an_override_wins_moves_the_role_and_survives_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let (store, account) = store_with_account(&dir).await;
    let list = listing();
    let ids = store.upsert_folders(account, &list).await.unwrap();
    let papierkorb = id_of(&ids, &list, "Papierkorb");
    let trash = id_of(&ids, &list, "Trash");
    let drafts = id_of(&ids, &list, "Drafts");
    assert_eq!(
        store.folder_with_role(account, "trash").await.unwrap(),
        Some(trash)
    );

    // The app says Papierkorb is the Trash: Trash loses the role it was listed with.
    store
        .set_folder_role(papierkorb, Some(Role::Trash))
        .await
        .unwrap();
    // And Drafts is no Drafts.
    store.set_folder_role(drafts, None).await.unwrap();
    let expected = vec![
        ("Archive".to_string(), None, false),
        ("Drafts".to_string(), None, true),
        ("INBOX".to_string(), Some(Role::Inbox), false),
        ("Papierkorb".to_string(), Some(Role::Trash), true),
        ("Trash".to_string(), None, false),
    ];
    assert_eq!(roles(&store, account).await, expected);
    assert_eq!(
        store.folder_with_role(account, "trash").await.unwrap(),
        Some(papierkorb)
    );
    assert_eq!(
        store.folder_with_role(account, "drafts").await.unwrap(),
        None
    );

    // A later sync lists the same folders with the same roles: the app's choice stays, and
    // so does it after the store is opened again.
    store.upsert_folders(account, &list).await.unwrap();
    assert_eq!(roles(&store, account).await, expected);
    store.close().await;
    let store = Store::open(dir.path().join("anvert.sqlite3"))
        .await
        .unwrap();
    store.upsert_folders(account, &list).await.unwrap();
    assert_eq!(roles(&store, account).await, expected);

    // Giving the role to a third folder takes it from the second override.
    let mut more = list.clone();
    more.push(folder("Deleted Items", None, true));
    let more_ids = store.upsert_folders(account, &more).await.unwrap();
    let deleted_items = id_of(&more_ids, &more, "Deleted Items");
    store
        .set_folder_role(deleted_items, Some(Role::Trash))
        .await
        .unwrap();
    let found = roles(&store, account).await;
    assert!(found.contains(&("Deleted Items".into(), Some(Role::Trash), true)));
    assert!(found.contains(&("Papierkorb".into(), None, false)));
    assert!(found.contains(&("Trash".into(), None, false)));

    // Reset: the listed roles come back.
    store.reset_folder_role(deleted_items).await.unwrap();
    store.reset_folder_role(drafts).await.unwrap();
    let found = roles(&store, account).await;
    assert!(found.contains(&("Trash".into(), Some(Role::Trash), false)));
    assert!(found.contains(&("Drafts".into(), Some(Role::Drafts), false)));
    assert!(found.contains(&("Deleted Items".into(), None, false)));
}

#[tokio::test]
async fn the_inbox_and_containers_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (store, account) = store_with_account(&dir).await;
    let list = listing();
    let ids = store.upsert_folders(account, &list).await.unwrap();
    let refused = [
        (id_of(&ids, &list, "Trash"), Some(Role::Inbox)),
        (id_of(&ids, &list, "INBOX"), Some(Role::Trash)),
        (id_of(&ids, &list, "INBOX"), None),
        (id_of(&ids, &list, "Archive"), Some(Role::Archive)),
    ];
    for (folder, role) in refused {
        let e = store.set_folder_role(folder, role).await.unwrap_err();
        assert!(matches!(e, Error::Config { .. }), "{e:?}");
    }
    let e = store
        .set_folder_role(FolderId(9_999), Some(Role::Trash))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
    // Nothing changed.
    assert_eq!(
        store.folder_with_role(account, "trash").await.unwrap(),
        Some(id_of(&ids, &list, "Trash"))
    );
}
