//! Mailbox write-back on servers Dovecot cannot play (issue 14), against the scripted IMAP
//! server with transcripts: no COPYUID (copies found by `UID SEARCH HEADER Message-ID`), no
//! UIDPLUS with another client's `\Deleted` message in the folder (no EXPUNGE sent; ours wait,
//! hidden; a later write-back expunges when it is safe), and a folder that does not keep
//! `\Deleted` (parked at once with the reason and the listener told).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed setup should fail loudly

use std::sync::{Arc, Mutex};

use anvert_core::{
    engine::Engine,
    imap::{self, ConnectOptions},
    net::{Credential, TlsConnector, Trust, WireMeter},
    store::{AccountId, FolderId, FolderRecord, FolderSyncState, MessageId, NewMessage, Role},
    sync::{self, DropReason, EventSink, SyncEvent},
};
use anvert_tests::scripted::{Reply, Script, ScriptedImap, ok};

#[derive(Default)]
struct Recorder(Mutex<Vec<SyncEvent>>);

impl EventSink for Recorder {
    fn emit(&self, event: SyncEvent) {
        self.0.lock().unwrap().push(event);
    }
}

/// What the scripted server answers that the test may change between write-backs.
#[derive(Default)]
struct Answers {
    /// `UID SEARCH DELETED` of INBOX.
    deleted: String,
    /// `UID SEARCH UID … UNDELETED`.
    undeleted: String,
}

fn script() -> Script {
    Script {
        // A minimal server: no UIDPLUS, no MOVE.
        capabilities: "IMAP4rev1 LITERAL+ IDLE UNSELECT".into(),
        ..Script::default()
    }
}

fn respond(answers: Arc<Mutex<Answers>>) -> impl FnMut(&str) -> Reply + Send + 'static {
    move |command: &str| {
        let a = answers.lock().unwrap();
        if command.starts_with("SELECT") && command.contains("INBOX") {
            ok("* 5 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 6] n\r\n")
        } else if command.starts_with("SELECT") && command.contains("Archive") {
            ok("* 2 EXISTS\r\n* OK [UIDVALIDITY 9] v\r\n* OK [UIDNEXT 3] n\r\n")
        } else if command.starts_with("UID SEARCH HEADER Message-ID \"<m2@example.org>\"") {
            ok("* SEARCH 2\r\n")
        } else if command.starts_with("UID SEARCH HEADER") {
            ok("* SEARCH\r\n")
        } else if command == "UID SEARCH DELETED" {
            ok(format!("* SEARCH{}\r\n", a.deleted))
        } else if command.starts_with("UID SEARCH UID") {
            ok(format!("* SEARCH{}\r\n", a.undeleted))
        } else if command == "EXPUNGE" {
            ok("* 3 EXPUNGE\r\n* 2 EXPUNGE\r\n")
        } else {
            // UID COPY without COPYUID, UID STORE, NOOP...
            ok("")
        }
    }
}

struct Setup {
    server: ScriptedImap,
    _dir: tempfile::TempDir,
    engine: Engine,
    account: AccountId,
    inbox: FolderId,
    archive: FolderId,
    ids: Vec<MessageId>,
    answers: Arc<Mutex<Answers>>,
    events: Arc<Recorder>,
}

/// INBOX with UIDs 1..=5 (message 3 has no Message-ID), Archive empty (UIDVALIDITY 9).
async fn setup() -> Setup {
    let answers = Arc::new(Mutex::new(Answers::default()));
    let server = ScriptedImap::start(script(), respond(answers.clone())).await;
    let dir = tempfile::tempdir().unwrap();
    let (engine, account) = server.engine(dir.path()).await;
    let store = engine.store();
    let folder = |name: &str, role| FolderRecord {
        name: name.into(),
        delimiter: Some("/".into()),
        role,
        subscribed: true,
        selectable: true,
    };
    let ids = store
        .upsert_folders(
            account,
            &[
                folder("INBOX", Some(Role::Inbox)),
                folder("Archive", Some(Role::Archive)),
            ],
        )
        .await
        .unwrap();
    let (inbox, archive) = (ids[0], ids[1]);
    let state = |uidvalidity, uidnext| FolderSyncState {
        uidvalidity: Some(uidvalidity),
        uidnext: Some(uidnext),
        ..FolderSyncState::default()
    };
    store.set_folder_state(archive, &state(9, 3)).await.unwrap();
    let messages: Vec<NewMessage> = (1..=5)
        .map(|uid| NewMessage {
            uid,
            internal_date: i64::from(uid),
            subject: format!("m{uid}"),
            message_id: (uid != 3).then(|| format!("m{uid}@example.org")),
            ..NewMessage::default()
        })
        .collect();
    store
        .insert_window(inbox, &state(7, 6), &messages)
        .await
        .unwrap();
    let page = engine.messages(inbox, None, 10).await.unwrap();
    let mut by_uid: Vec<(u32, MessageId)> = page.items.iter().map(|m| (m.uid, m.id)).collect();
    by_uid.sort();
    let events = Arc::new(Recorder::default());
    Setup {
        server,
        _dir: dir,
        engine,
        account,
        inbox,
        archive,
        ids: by_uid.into_iter().map(|(_, id)| id).collect(),
        answers,
        events,
    }
}

async fn write_back(s: &Setup) {
    let meter = WireMeter::new();
    let mut session = imap::connect(
        &s.server.endpoint(),
        &Credential::password("alice", "pw"),
        &TlsConnector::new(&Trust::default()).unwrap(),
        &meter,
        &ConnectOptions::default(),
    )
    .await
    .unwrap();
    let sink: Arc<dyn EventSink> = s.events.clone();
    sync::write_back(
        &mut session,
        s.engine.store(),
        s.account,
        i64::MAX / 2,
        sink.as_ref(),
    )
    .await
    .unwrap();
}

fn transcript(s: &Setup) -> Vec<String> {
    s.server
        .commands()
        .into_iter()
        .filter(|c| {
            !c.starts_with("LOGIN")
                && !c.starts_with("CAPABILITY")
                && !c.starts_with("LOGOUT")
                && !c.starts_with("ID")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_copyuid_or_uidplus_copies_are_found_by_message_id_and_a_foreign_deleted_blocks_expunge()
 {
    let s = setup().await;
    // UIDs 2 and 3 to Archive; someone else's UID 4 is marked \Deleted.
    s.engine
        .move_messages(&s.ids[1..3], s.archive)
        .await
        .unwrap();
    s.answers.lock().unwrap().deleted = " 2 3 4".into();
    write_back(&s).await;
    let commands = transcript(&s);
    println!("{commands:#?}");
    assert_eq!(
        commands,
        [
            "SELECT \"INBOX\"",
            "UID COPY 2:3 \"Archive\"",
            "SELECT \"Archive\"",
            "UID SEARCH HEADER Message-ID \"<m2@example.org>\"",
            "SELECT \"INBOX\"",
            "UID STORE 2:3 +FLAGS.SILENT (\\Deleted)",
            "UID SEARCH DELETED",
            "UID SEARCH UID 2:3 UNDELETED",
        ]
    );
    // The message with a Message-ID follows its copy (same row: body and downloads stay);
    // the one without is left to the target's sync.
    let moved = s.engine.message(s.ids[1]).await.unwrap().unwrap();
    assert_eq!((moved.summary.folder, moved.summary.uid), (s.archive, 2));
    assert!(s.engine.message(s.ids[2]).await.unwrap().is_none());
    // The originals wait, hidden here, with the reason; nothing parked, no attempt counted.
    let inbox: Vec<u32> = s
        .engine
        .messages(s.inbox, None, 10)
        .await
        .unwrap()
        .items
        .iter()
        .map(|m| m.uid)
        .collect();
    assert!(!inbox.contains(&2) && !inbox.contains(&3), "{inbox:?}");
    let pending = s
        .engine
        .pending_mailbox_operations(s.account)
        .await
        .unwrap();
    assert_eq!(pending.len(), 2, "{pending:?}");
    for op in &pending {
        assert!(!op.parked && op.attempts == 0, "{op:?}");
        let why = op.last_error.as_deref().unwrap();
        assert!(
            why.starts_with("waiting for a safe EXPUNGE: the server lacks UIDPLUS"),
            "{why}"
        );
        assert!(why.contains("1 other message(s)"), "{why}");
    }

    // Later the other client's message is gone: the next write-back expunges ours.
    s.answers.lock().unwrap().deleted = " 2 3".into();
    let before = s.server.commands().len();
    write_back(&s).await;
    let later: Vec<String> = s.server.commands()[before..]
        .iter()
        .filter(|c| {
            !c.starts_with("LOGIN")
                && !c.starts_with("CAPABILITY")
                && !c.starts_with("LOGOUT")
                && !c.starts_with("ID")
        })
        .cloned()
        .collect();
    assert_eq!(
        later,
        [
            "SELECT \"INBOX\"",
            "UID STORE 2:3 +FLAGS.SILENT (\\Deleted)",
            "UID SEARCH DELETED",
            "UID SEARCH UID 2:3 UNDELETED",
            "EXPUNGE",
        ]
    );
    assert!(
        s.engine
            .pending_mailbox_operations(s.account)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_that_does_not_keep_deleted_parks_the_deletion_at_once_and_says_why() {
    let s = setup().await;
    s.engine.delete_messages(&s.ids[4..5]).await.unwrap(); // no Trash: an expunge of UID 5
    s.answers.lock().unwrap().undeleted = " 5".into();
    write_back(&s).await;
    let commands = transcript(&s);
    assert!(!commands.iter().any(|c| c == "EXPUNGE"), "{commands:?}");
    let pending = s
        .engine
        .pending_mailbox_operations(s.account)
        .await
        .unwrap();
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert!(pending[0].parked, "{pending:?}");
    let why = pending[0].last_error.as_deref().unwrap();
    assert!(
        why.starts_with("can never be written back: the server does not keep \\Deleted"),
        "{why}"
    );
    let events = std::mem::take(&mut *s.events.0.lock().unwrap());
    assert!(
        events.iter().any(|e| matches!(
            e,
            SyncEvent::ChangeDropped { folder, uids, reason: DropReason::Parked }
                if *folder == s.inbox && uids == &[5]
        )),
        "{events:?}"
    );
}
