//! Saving drafts without a server: an empty draft is refused at save time (nothing stored,
//! nothing queued, so nothing can ever be APPENDed), a draft with any content is queued.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use anvert_core::{
    Error,
    engine::{AccountConfig, Draft, Engine, EngineConfig, Protocol},
    net::{Credential, Endpoint, Security},
    store::{Address, FolderRecord, Role},
};

#[tokio::test]
async fn an_empty_draft_is_refused_at_save_time() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(EngineConfig {
        data_dir: dir.path().to_path_buf(),
        ..EngineConfig::default()
    })
    .await
    .unwrap();
    let account = engine
        .add_account(AccountConfig {
            name: "Work".into(),
            protocol: Protocol::Imap,
            endpoint: Endpoint {
                host: "imap.example.com".into(),
                port: 993,
                security: Security::ImplicitTls,
            },
            credential: Credential::password("me", "pw"),
        })
        .await
        .unwrap();
    let drafts = engine
        .store()
        .upsert_folders(
            account,
            &[FolderRecord {
                name: "Drafts".into(),
                delimiter: Some("/".into()),
                role: Some(Role::Drafts),
                subscribed: true,
                selectable: true,
            }],
        )
        .await
        .unwrap()[0];
    let me = Address {
        name: None,
        email: "me@example.com".into(),
    };

    // Nothing written (a sender and blanks are not a draft): refused, nothing queued.
    for empty in [
        Draft::default(),
        Draft {
            from: me.clone(),
            subject: "  ".into(),
            text: "\n".into(),
            html: Some(String::new()),
            ..Draft::default()
        },
    ] {
        let result = engine.save_draft(account, empty, None).await;
        assert!(
            matches!(&result, Err(Error::Config { reason }) if reason.contains("empty")),
            "{result:?}"
        );
    }
    assert!(
        engine
            .pending_mailbox_operations(account)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(engine.folders(account).await.unwrap()[0].total, 0);

    // Any content at all is a draft.
    let saved = engine
        .save_draft(
            account,
            Draft {
                from: me,
                text: "call me".into(),
                ..Draft::default()
            },
            None,
        )
        .await
        .unwrap();
    let stored = engine.message(saved).await.unwrap().unwrap();
    assert_eq!(stored.summary.folder, drafts);
    assert_eq!(
        engine
            .pending_mailbox_operations(account)
            .await
            .unwrap()
            .len(),
        1
    );
}
