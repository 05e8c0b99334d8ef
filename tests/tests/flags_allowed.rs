//! Flag write-back within what the server allows (issue 14), against a scripted server that
//! plays a minimal IMAP server (GNU Mailutils imap4d): Dovecot always lets clients keep any
//! keyword (`\*` in PERMANENTFLAGS), so a server without `\*` is a transcript here.
//!
//! - A keyword the server cannot keep is never sent: it stays on the device, named in
//!   `MessageSummary::local_keywords`, and the app hears `KeywordsLocalOnly`; the other flag
//!   changes are written back and nothing is left pending.
//! - A STORE the server refuses (NO or BAD) holds back that flag's changes alone, with the
//!   server's error on exactly those operations; the other STOREs go out.
//! - A change the server took but does not hold afterwards is a conflict: the sides disagree
//!   after the write-back, the server's value stands.
//!
//! The write-back runs over a real session and a real SQLite store; the scripted server keeps
//! the flags of twenty messages (UIDs 1 to 20 at sequence numbers 1 to 20) and applies
//! every STORE it accepts.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed setup should fail loudly

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{Arc, Mutex},
};

use anvert_core::{
    imap::{self, ConnectOptions},
    net::{Credential, TlsConnector, Trust, WireMeter},
    store::{
        AccountId, AccountKind, Flags, FolderId, FolderRecord, FolderSyncState, MessageId,
        NewAccount, NewMessage, Store, SystemFlags,
    },
    sync::{DropReason, EventSink, SyncEvent, write_back},
};
use anvert_tests::scripted::{Reply, Script, ScriptedImap, ok};

const MAILUTILS_PERMANENT: &str = "\\Answered \\Flagged \\Deleted \\Seen \\Draft";

#[derive(Default)]
struct Recorder(Mutex<Vec<SyncEvent>>);

impl EventSink for Recorder {
    fn emit(&self, event: SyncEvent) {
        self.0.lock().unwrap().push(event);
    }
}

/// The scripted server's mailbox: flags per UID.
type Mailbox = Arc<Mutex<BTreeMap<u32, BTreeSet<String>>>>;

/// What the server does with a STORE it refuses: `(command text match, reply)`.
type Refuse = fn(&str) -> Option<&'static str>;

/// A minimal server: SELECT INBOX with `permanent` as PERMANENTFLAGS, UID STORE and
/// UID FETCH (UID FLAGS) on the mailbox. `refuse` picks STOREs to answer NO or BAD;
/// `ignore` picks STOREs the server answers OK without applying (it keeps its own flags).
async fn server(
    permanent: &'static str,
    mailbox: Mailbox,
    refuse: Refuse,
    ignore: Refuse,
) -> ScriptedImap {
    ScriptedImap::start(
        Script {
            capabilities: "IMAP4rev1 IDLE LITERAL+ UNSELECT".into(),
            ..Script::default()
        },
        move |command| {
            let upper = command.to_ascii_uppercase();
            if upper.starts_with("SELECT ") {
                let n = mailbox.lock().unwrap().len();
                return ok(format!(
                    "* {n} EXISTS\r\n* 0 RECENT\r\n* FLAGS ({MAILUTILS_PERMANENT})\r\n\
                     * OK [PERMANENTFLAGS ({permanent})] Permanent flags\r\n\
                     * OK [UIDVALIDITY 7] UID validity status\r\n\
                     * OK [UIDNEXT 21] Predicted next UID\r\n"
                ));
            }
            if upper.starts_with("UID STORE ") {
                if let Some(reply) = refuse(command) {
                    return Reply::Raw(format!("TAG {reply}\r\n").into_bytes());
                }
                let mut words = command.splitn(4, ' ');
                let (_, _, set, rest) = (
                    words.next(),
                    words.next(),
                    words.next().unwrap(),
                    words.next().unwrap(),
                );
                let add = rest.starts_with('+');
                let flags: Vec<String> = rest
                    .split_once('(')
                    .unwrap()
                    .1
                    .trim_end_matches(')')
                    .split(' ')
                    .map(str::to_string)
                    .collect();
                let mut mailbox = mailbox.lock().unwrap();
                let mut out = String::new();
                for uid in uid_set(set) {
                    let Some(have) = mailbox.get_mut(&uid) else {
                        continue;
                    };
                    if ignore(command).is_none() {
                        for f in &flags {
                            if add {
                                have.insert(f.clone());
                            } else {
                                have.remove(f);
                            }
                        }
                    }
                    out.push_str(&fetch_line(uid, have));
                }
                return ok(out);
            }
            if upper.starts_with("UID FETCH ") {
                let set = command.split(' ').nth(2).unwrap();
                let mailbox = mailbox.lock().unwrap();
                let out: String = uid_set(set)
                    .into_iter()
                    .filter_map(|uid| Some(fetch_line(uid, mailbox.get(&uid)?)))
                    .collect();
                return ok(out);
            }
            Reply::Raw(b"TAG BAD unexpected command\r\n".to_vec())
        },
    )
    .await
}

fn fetch_line(uid: u32, flags: &BTreeSet<String>) -> String {
    let list: Vec<&str> = flags.iter().map(String::as_str).collect();
    format!("* {uid} FETCH (UID {uid} FLAGS ({}))\r\n", list.join(" "))
}

fn uid_set(set: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for item in set.split(',') {
        match item.split_once(':') {
            Some((a, b)) => out.extend(a.parse::<u32>().unwrap()..=b.parse::<u32>().unwrap()),
            None => out.push(item.parse().unwrap()),
        }
    }
    out
}

/// Twenty messages, the first ten read, on both sides.
fn mailbox() -> Mailbox {
    Arc::new(Mutex::new(
        (1..=20)
            .map(|uid| {
                let flags = if uid <= 10 {
                    BTreeSet::from(["\\Seen".to_string()])
                } else {
                    BTreeSet::new()
                };
                (uid, flags)
            })
            .collect(),
    ))
}

struct Client {
    _dir: tempfile::TempDir,
    store: Store,
    account: AccountId,
    inbox: FolderId,
    ids: BTreeMap<u32, MessageId>,
}

impl Client {
    async fn new() -> Client {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("anvert.sqlite3"))
            .await
            .unwrap();
        let account = store
            .add_account(&NewAccount {
                name: "Mailutils".into(),
                kind: AccountKind::Imap,
                host: "127.0.0.1".into(),
                port: 143,
                security: "plain".into(),
                username: "alice".into(),
            })
            .await
            .unwrap();
        let inbox = store
            .upsert_folders(
                account,
                &[FolderRecord {
                    name: "INBOX".into(),
                    delimiter: Some("/".into()),
                    role: None,
                    subscribed: true,
                    selectable: true,
                }],
            )
            .await
            .unwrap()[0];
        let messages: Vec<NewMessage> = (1..=20)
            .map(|uid| NewMessage {
                uid,
                internal_date: i64::from(uid),
                subject: format!("m{uid}"),
                flags: Flags {
                    system: if uid <= 10 {
                        SystemFlags::SEEN
                    } else {
                        SystemFlags::default()
                    },
                    keywords: Vec::new(),
                },
                ..NewMessage::default()
            })
            .collect();
        let state = FolderSyncState {
            uidvalidity: Some(7),
            uidnext: Some(21),
            highest_modseq: None,
            lowest_uid_synced: Some(1),
            exists: 20,
        };
        store.insert_window(inbox, &state, &messages).await.unwrap();
        let ids = store
            .messages_page(inbox, None, 100)
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|m| (m.uid, m.id))
            .collect();
        Client {
            _dir: dir,
            store,
            account,
            inbox,
            ids,
        }
    }

    fn ids(&self, uids: std::ops::RangeInclusive<u32>) -> Vec<MessageId> {
        uids.map(|u| self.ids[&u]).collect()
    }

    /// The issue's changes: `$Important` on 11-13, `+\Flagged` on 9-13, `-\Seen` on 1-5.
    async fn queue_the_issues_changes(&self) {
        let keyword = Flags {
            system: SystemFlags::default(),
            keywords: vec!["$Important".into()],
        };
        self.store
            .queue_flags(&self.ids(11..=13), &keyword, &Flags::default())
            .await
            .unwrap();
        let flagged = Flags {
            system: SystemFlags::FLAGGED,
            keywords: Vec::new(),
        };
        self.store
            .queue_flags(&self.ids(9..=13), &flagged, &Flags::default())
            .await
            .unwrap();
        let seen = Flags {
            system: SystemFlags::SEEN,
            keywords: Vec::new(),
        };
        self.store
            .queue_flags(&self.ids(1..=5), &Flags::default(), &seen)
            .await
            .unwrap();
    }

    async fn write_back(&self, server: &ScriptedImap, events: &Recorder) {
        let meter = WireMeter::new();
        let mut session = imap::connect(
            &server.endpoint(),
            &Credential::password("alice", "pw"),
            &TlsConnector::new(&Trust::default()).unwrap(),
            &meter,
            &ConnectOptions::default(),
        )
        .await
        .unwrap();
        write_back(&mut session, &self.store, self.account, 1_000, events)
            .await
            .unwrap();
        session.logout().await.unwrap();
    }

    async fn summary(&self, uid: u32) -> anvert_core::store::MessageSummary {
        self.store
            .message(self.ids[&uid])
            .await
            .unwrap()
            .unwrap()
            .summary
    }
}

/// The server's flags of `uids`, as held now.
fn held(mailbox: &Mailbox, uid: u32, flag: &str) -> bool {
    mailbox.lock().unwrap()[&uid].contains(flag)
}

#[tokio::test]
async fn a_keyword_the_server_cannot_keep_stays_local_and_the_other_flags_go_out() {
    let mailbox = mailbox();
    let server = server(
        MAILUTILS_PERMANENT,
        mailbox.clone(),
        |command| {
            command
                .contains("$Important")
                .then_some("BAD Unrecognized flag")
        },
        |_| None,
    )
    .await;
    let client = Client::new().await;
    // Queued before the folder was ever selected: the store cannot know yet.
    client.queue_the_issues_changes().await;
    let events = Recorder::default();
    client.write_back(&server, &events).await;

    // No keyword STORE went out; the \Flagged and \Seen ones did.
    let stores: Vec<String> = server
        .commands()
        .into_iter()
        .filter(|c| c.starts_with("UID STORE"))
        .collect();
    assert_eq!(
        stores,
        [
            "UID STORE 9:13 +FLAGS (\\Flagged)",
            "UID STORE 1:5 -FLAGS (\\Seen)"
        ]
    );
    for uid in 9..=13 {
        assert!(held(&mailbox, uid, "\\Flagged"), "uid {uid}");
    }
    for uid in 1..=5 {
        assert!(!held(&mailbox, uid, "\\Seen"), "uid {uid}");
    }
    // Nothing pending, nothing parked.
    assert_eq!(
        client
            .store
            .pending_operations(client.account)
            .await
            .unwrap(),
        []
    );
    // The keyword stays on the device, named local-only, and the app was told.
    for uid in 11..=13 {
        let m = client.summary(uid).await;
        assert_eq!(m.flags.keywords, ["$Important"], "uid {uid}");
        assert_eq!(m.local_keywords, ["$Important"], "uid {uid}");
        assert!(m.flags.system.contains(SystemFlags::FLAGGED));
    }
    assert_eq!(client.summary(9).await.local_keywords, Vec::<String>::new());
    let events = std::mem::take(&mut *events.0.lock().unwrap());
    assert!(
        events.contains(&SyncEvent::KeywordsLocalOnly {
            folder: client.inbox,
            uids: vec![11, 12, 13],
        }),
        "{events:?}"
    );
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, SyncEvent::ChangeDropped { .. })),
        "{events:?}"
    );

    // Now the folder's PERMANENTFLAGS are known: a new keyword is local-only at once.
    let queued = client
        .store
        .queue_flags(
            &client.ids(14..=14),
            &Flags {
                system: SystemFlags::default(),
                keywords: vec!["$Work".into()],
            },
            &Flags::default(),
        )
        .await
        .unwrap();
    assert_eq!(queued.local_only, [(client.inbox, vec![14])]);
    assert_eq!(
        client
            .store
            .pending_operations(client.account)
            .await
            .unwrap(),
        []
    );
    assert_eq!(client.summary(14).await.local_keywords, ["$Work"]);
}

async fn one_refused_store_holds_back_only_itself(reply: &'static str, refuse: Refuse) {
    let mailbox = mailbox();
    // This server keeps any keyword, yet refuses the keyword's STORE.
    let server = server(
        "\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*",
        mailbox.clone(),
        refuse,
        |_| None,
    )
    .await;
    let client = Client::new().await;
    client.queue_the_issues_changes().await;
    let events = Recorder::default();
    client.write_back(&server, &events).await;

    // All three STOREs went out, in one flight.
    let stores: Vec<String> = server
        .commands()
        .into_iter()
        .filter(|c| c.starts_with("UID STORE"))
        .collect();
    assert_eq!(stores.len(), 3, "{stores:?}");
    for uid in 9..=13 {
        assert!(held(&mailbox, uid, "\\Flagged"), "uid {uid}");
        assert!(!held(&mailbox, uid, "$Important"), "uid {uid}");
    }
    for uid in 1..=5 {
        assert!(!held(&mailbox, uid, "\\Seen"), "uid {uid}");
    }
    // Only the keyword's three operations are pending, each with the server's error.
    let pending = client
        .store
        .pending_operations(client.account)
        .await
        .unwrap();
    assert_eq!(pending.len(), 3, "{pending:?}");
    for p in &pending {
        assert_eq!(
            (p.flag.as_str(), p.value, p.attempts),
            ("$Important", true, 1)
        );
        assert!(!p.parked);
        let error = p.last_error.as_deref().unwrap();
        assert!(error.contains(reply), "{error}");
    }
    // The keyword stays set locally, waiting for the retry; \Flagged is stored as written.
    let m = client.summary(12).await;
    assert_eq!(m.flags.keywords, ["$Important"]);
    assert!(m.local_keywords.is_empty());
    assert!(m.flags.system.contains(SystemFlags::FLAGGED));
}

#[tokio::test]
async fn a_store_refused_with_bad_holds_back_only_its_flag() {
    one_refused_store_holds_back_only_itself("Unrecognized flag", |command| {
        command
            .contains("$Important")
            .then_some("BAD Unrecognized flag")
    })
    .await;
}

#[tokio::test]
async fn a_store_refused_with_no_holds_back_only_its_flag() {
    one_refused_store_holds_back_only_itself("keyword quota exceeded", |command| {
        command
            .contains("$Important")
            .then_some("NO [LIMIT] keyword quota exceeded")
    })
    .await;
}

#[tokio::test]
async fn a_change_the_server_does_not_hold_after_the_write_back_is_a_conflict() {
    let mailbox = mailbox();
    // The server answers OK to `-\Seen` but keeps the messages read.
    let server = server(
        MAILUTILS_PERMANENT,
        mailbox.clone(),
        |_| None,
        |command| command.contains("-FLAGS (\\Seen)").then_some(""),
    )
    .await;
    let client = Client::new().await;
    client.queue_the_issues_changes().await;
    let events = Recorder::default();
    client.write_back(&server, &events).await;

    let events = std::mem::take(&mut *events.0.lock().unwrap());
    let conflicts: Vec<&SyncEvent> = events
        .iter()
        .filter(|e| {
            matches!(
                e,
                SyncEvent::ChangeDropped {
                    reason: DropReason::Conflict,
                    ..
                }
            )
        })
        .collect();
    // Only the messages whose flags disagree after the write-back: 1 to 5, not 9 to 13.
    assert_eq!(
        conflicts,
        [&SyncEvent::ChangeDropped {
            folder: client.inbox,
            uids: vec![1, 2, 3, 4, 5],
            reason: DropReason::Conflict,
        }]
    );
    // The server's value stands, and nothing is left to retry forever.
    for uid in 1..=5 {
        assert!(
            client
                .summary(uid)
                .await
                .flags
                .system
                .contains(SystemFlags::SEEN)
        );
    }
    assert_eq!(
        client
            .store
            .pending_operations(client.account)
            .await
            .unwrap(),
        []
    );
}
