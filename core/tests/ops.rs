//! The write-back queue against a real SQLite file: a local flag change and its queue rows
//! are one transaction, rows coalesce per message and flag, backoff and parking hide rows
//! from replay, and an expunge takes the message's rows with it.
#![allow(clippy::unwrap_used)]

use anvert_core::store::{
    AccountKind, FlagChange, Flags, FolderId, FolderRecord, FolderSyncState, LocalKeyword,
    MessageId, NewAccount, NewMessage, Store, SystemFlags, UidRange,
};

struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    account: anvert_core::store::AccountId,
    inbox: FolderId,
}

async fn fixture(count: u32) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
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
    let messages: Vec<NewMessage> = (1..=count)
        .map(|uid| NewMessage {
            uid,
            modseq: 1,
            internal_date: i64::from(uid),
            subject: format!("m{uid}"),
            ..NewMessage::default()
        })
        .collect();
    let state = FolderSyncState {
        uidvalidity: Some(7),
        uidnext: Some(count + 1),
        highest_modseq: Some(1),
        lowest_uid_synced: Some(1),
        exists: count,
    };
    store.insert_window(inbox, &state, &messages).await.unwrap();
    Fixture {
        _dir: dir,
        store,
        account,
        inbox,
    }
}

impl Fixture {
    async fn ids(&self) -> Vec<MessageId> {
        let page = self
            .store
            .messages_page(self.inbox, None, 500)
            .await
            .unwrap();
        let mut items: Vec<_> = page.items.iter().map(|m| (m.uid, m.id)).collect();
        items.sort();
        items.into_iter().map(|(_, id)| id).collect()
    }

    async fn flags(&self, id: MessageId) -> Flags {
        self.store.message(id).await.unwrap().unwrap().summary.flags
    }
}

fn system(bits: SystemFlags) -> Flags {
    Flags {
        system: bits,
        keywords: Vec::new(),
    }
}

#[tokio::test]
async fn flags_change_locally_and_queue_together() {
    let f = fixture(5).await;
    let ids = f.ids().await;
    let add = Flags {
        system: SystemFlags::SEEN,
        keywords: vec!["$Work".into()],
    };
    let changed = f
        .store
        .queue_flags(&ids[..3], &add, &Flags::default())
        .await
        .unwrap();
    assert_eq!(changed.changed, [(f.inbox, vec![1, 2, 3])]);
    assert!(changed.local_only.is_empty());
    let stored = f.flags(ids[0]).await;
    assert!(stored.system.contains(SystemFlags::SEEN));
    assert_eq!(stored.keywords, ["$Work"]);
    assert_eq!(
        f.store.pending_operations(f.account).await.unwrap().len(),
        6
    );

    let ops = f.store.pending_flag_ops(f.inbox, 0).await.unwrap();
    assert_eq!(ops.len(), 3);
    assert_eq!(ops[0].uid, 1);
    let flags: Vec<&str> = ops[0].changes.iter().map(|c| c.flag.as_str()).collect();
    assert_eq!(flags, ["\\Seen", "$Work"]);

    // Setting what is already set queues nothing; unknown ids change nothing at all.
    f.store
        .queue_flags(&ids[..1], &add, &Flags::default())
        .await
        .unwrap();
    assert_eq!(
        f.store.pending_operations(f.account).await.unwrap().len(),
        6
    );
    let missing = f
        .store
        .queue_flags(
            &[ids[4], MessageId(9999)],
            &system(SystemFlags::FLAGGED),
            &Flags::default(),
        )
        .await;
    assert!(missing.is_err());
    assert!(
        !f.flags(ids[4]).await.system.contains(SystemFlags::FLAGGED),
        "all or nothing"
    );
    // Bad keywords and contradictions are refused before anything is stored.
    let bad = Flags {
        system: SystemFlags::empty(),
        keywords: vec!["two words".into()],
    };
    assert!(
        f.store
            .queue_flags(&ids, &bad, &Flags::default())
            .await
            .is_err()
    );
    assert!(
        f.store
            .queue_flags(&ids, &system(SystemFlags::SEEN), &system(SystemFlags::SEEN))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn read_then_unread_coalesces_to_nothing() {
    let f = fixture(3).await;
    let ids = f.ids().await;
    f.store
        .queue_flags(&ids, &system(SystemFlags::SEEN), &Flags::default())
        .await
        .unwrap();
    f.store
        .queue_flags(&ids, &Flags::default(), &system(SystemFlags::SEEN))
        .await
        .unwrap();
    f.store
        .queue_flags(&ids[..1], &system(SystemFlags::FLAGGED), &Flags::default())
        .await
        .unwrap();
    let ops = f.store.pending_flag_ops(f.inbox, 0).await.unwrap();
    assert_eq!(ops.len(), 3);
    assert_eq!(ops[0].changes.len(), 1);
    assert_eq!(ops[0].changes[0].flag, "\\Flagged");
    assert_eq!(ops[0].noop_ops.len(), 2);
    assert!(ops[1].changes.is_empty() && ops[2].changes.is_empty());
    let all: Vec<i64> = ops.iter().flat_map(|m| m.all_ops()).collect();
    assert_eq!(all.len(), 7);
    f.store.complete_ops(&all).await.unwrap();
    assert!(
        f.store
            .pending_operations(f.account)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn failures_back_off_then_park() {
    let f = fixture(2).await;
    let ids = f.ids().await;
    f.store
        .queue_flags(&ids, &system(SystemFlags::FLAGGED), &Flags::default())
        .await
        .unwrap();
    let ops = f.store.pending_flag_ops(f.inbox, 100).await.unwrap();
    let first = ops[0].all_ops();
    f.store
        .record_op_failure(&first, "NO [SERVERBUG] try later", 500)
        .await
        .unwrap();
    let ready = f.store.pending_flag_ops(f.inbox, 100).await.unwrap();
    assert_eq!(ready.len(), 1, "the failed message waits for its backoff");
    let later = f.store.pending_flag_ops(f.inbox, 500).await.unwrap();
    assert_eq!((later.len(), later[0].attempts), (2, 1));
    assert_eq!(
        f.store
            .folders_with_pending_ops(f.account, 100)
            .await
            .unwrap(),
        [f.inbox]
    );

    f.store.park(&first).await.unwrap();
    assert_eq!(
        f.store
            .pending_flag_ops(f.inbox, 10_000)
            .await
            .unwrap()
            .len(),
        1
    );
    let listed = f.store.pending_operations(f.account).await.unwrap();
    let parked = listed.iter().find(|p| p.parked).unwrap();
    assert_eq!(
        parked.last_error.as_deref(),
        Some("NO [SERVERBUG] try later")
    );
    assert_eq!(
        (parked.flag.as_str(), parked.value, parked.attempts),
        ("\\Flagged", true, 1)
    );
    assert_eq!(f.store.unpark(f.account).await.unwrap(), 1);
    assert_eq!(f.store.pending_flag_ops(f.inbox, 0).await.unwrap().len(), 2);
}

#[tokio::test]
async fn an_expunge_drops_the_queued_change() {
    let f = fixture(3).await;
    let ids = f.ids().await;
    f.store
        .queue_flags(&ids, &system(SystemFlags::SEEN), &Flags::default())
        .await
        .unwrap();
    f.store
        .apply_expunges(f.inbox, &[UidRange::single(2)], Some(2))
        .await
        .unwrap();
    let ops = f.store.pending_flag_ops(f.inbox, 0).await.unwrap();
    let uids: Vec<u32> = ops.iter().map(|m| m.uid).collect();
    assert_eq!(uids, [1, 3]);
    assert_eq!(
        f.store.pending_operations(f.account).await.unwrap().len(),
        2
    );

    // Completing with the server's flags stores them in the same transaction.
    let done = ops[0].all_ops();
    let server = FlagChange {
        uid: 1,
        flags: system(SystemFlags::SEEN | SystemFlags::ANSWERED),
        modseq: 9,
    };
    f.store
        .complete_ops_with_flags(Some(f.inbox), &done, &[server])
        .await
        .unwrap();
    assert_eq!(
        f.flags(ids[0]).await.system,
        SystemFlags::SEEN | SystemFlags::ANSWERED
    );
    assert_eq!(
        f.store.pending_operations(f.account).await.unwrap().len(),
        1
    );
}

/// A scanned message's flags, at the MODSEQ the fixture stored.
fn change(uid: u32, flags: Flags) -> FlagChange {
    FlagChange {
        uid,
        flags,
        modseq: 1,
    }
}

#[tokio::test]
async fn a_flag_scan_counts_only_real_changes() {
    let f = fixture(6).await;
    let ids = f.ids().await;
    let work = |names: &[&str]| Flags {
        system: SystemFlags::SEEN,
        keywords: names.iter().map(|n| (*n).to_string()).collect(),
    };
    // A full scan lists every message of the folder, with the MODSEQ already stored.
    let scan = |flags: &dyn Fn(u32) -> Flags| -> Vec<FlagChange> {
        (1..=6)
            .map(|uid| FlagChange {
                uid,
                flags: flags(uid),
                modseq: 1,
            })
            .collect()
    };
    let first = scan(&|uid| {
        if uid <= 3 {
            work(&["$A", "$B"])
        } else {
            Flags::default()
        }
    });
    let n = f.store.apply_flag_changes(f.inbox, &first, None).await;
    assert_eq!(n.unwrap(), 3);

    // The same flags again (keywords in another order and case): nothing changed.
    let same = scan(&|uid| {
        if uid <= 3 {
            work(&["$b", "$A"])
        } else {
            Flags::default()
        }
    });
    let n = f.store.apply_flag_changes(f.inbox, &same, None).await;
    assert_eq!(n.unwrap(), 0);
    let applied = f
        .store
        .apply_delta(
            f.inbox,
            &anvert_core::store::Delta {
                changed: same.clone(),
                state_after: f.store.folder_state(f.inbox).await.unwrap(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!((applied.flags_changed, applied.changed_uids), (0, vec![]));

    // Two real changes among six: exactly those two.
    let two = scan(&|uid| match uid {
        1 => Flags::default(),
        5 => work(&[]),
        u if u <= 3 => work(&["$A", "$B"]),
        _ => Flags::default(),
    });
    let applied = f
        .store
        .apply_delta(
            f.inbox,
            &anvert_core::store::Delta {
                changed: two,
                state_after: f.store.folder_state(f.inbox).await.unwrap(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (applied.flags_changed, applied.changed_uids),
        (2, vec![1, 5])
    );
    assert_eq!(f.flags(ids[0]).await, Flags::default());
    assert_eq!(f.flags(ids[4]).await, work(&[]));
}

#[tokio::test]
async fn a_flag_scan_keeps_changes_still_queued() {
    let f = fixture(3).await;
    let ids = f.ids().await;
    // 1: marked read here, not yet written back. 2: read then unread here (nets to nothing).
    f.store
        .queue_flags(&ids[..2], &system(SystemFlags::SEEN), &Flags::default())
        .await
        .unwrap();
    f.store
        .queue_flags(&ids[1..2], &Flags::default(), &system(SystemFlags::SEEN))
        .await
        .unwrap();
    // The server still has 1 unread but flagged elsewhere; 2 was read elsewhere.
    let scan = [
        change(1, system(SystemFlags::FLAGGED)),
        change(2, system(SystemFlags::SEEN)),
        change(3, Flags::default()),
    ];
    let n = f.store.apply_flag_changes(f.inbox, &scan, None).await;
    assert_eq!(n.unwrap(), 2);
    assert_eq!(
        f.flags(ids[0]).await,
        system(SystemFlags::SEEN | SystemFlags::FLAGGED)
    );
    assert_eq!(f.flags(ids[1]).await, system(SystemFlags::SEEN));
    assert_eq!(f.flags(ids[2]).await, Flags::default());
    // The same scan again changes nothing, and the queue is untouched.
    let n = f.store.apply_flag_changes(f.inbox, &scan, None).await;
    assert_eq!(n.unwrap(), 0);
    assert_eq!(
        f.store.pending_operations(f.account).await.unwrap().len(),
        3
    );
}

fn mailutils_permanent_flags() -> Vec<String> {
    ["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"]
        .map(String::from)
        .to_vec()
}

#[tokio::test]
async fn a_keyword_the_server_cannot_keep_stays_local_and_survives_a_flag_scan() {
    let f = fixture(3).await;
    let ids = f.ids().await;
    // Never selected: RFC 3501's default, any flag.
    assert_eq!(f.store.permanent_flags(f.inbox).await.unwrap(), ["\\*"]);
    f.store
        .set_permanent_flags(f.inbox, &mailutils_permanent_flags())
        .await
        .unwrap();
    let add = Flags {
        system: SystemFlags::FLAGGED,
        keywords: vec!["$Important".into()],
    };
    let queued = f
        .store
        .queue_flags(&ids[..2], &add, &Flags::default())
        .await
        .unwrap();
    assert_eq!(queued.changed, [(f.inbox, vec![1, 2])]);
    assert_eq!(queued.local_only, [(f.inbox, vec![1, 2])]);
    // Only \Flagged is queued; the keyword is stored, named local-only.
    let listed = f.store.pending_operations(f.account).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|p| p.flag == "\\Flagged"));
    let m = f.store.message(ids[0]).await.unwrap().unwrap().summary;
    assert_eq!(m.flags.keywords, ["$Important"]);
    assert_eq!(m.local_keywords, ["$Important"]);

    // A flag scan from the server (which never holds the keyword) keeps it.
    let scan = FlagChange {
        uid: 1,
        flags: Flags {
            system: SystemFlags::SEEN,
            keywords: Vec::new(),
        },
        modseq: 2,
    };
    f.store
        .apply_flag_changes(f.inbox, &[scan], None)
        .await
        .unwrap();
    let m = f.store.message(ids[0]).await.unwrap().unwrap().summary;
    assert_eq!(m.flags.keywords, ["$Important"]);
    assert!(
        m.flags
            .system
            .contains(SystemFlags::SEEN | SystemFlags::FLAGGED)
    );

    // Clearing it clears it locally, with nothing queued.
    let queued = f
        .store
        .queue_flags(
            &ids[..1],
            &Flags::default(),
            &Flags {
                system: SystemFlags::default(),
                keywords: vec!["$important".into()],
            },
        )
        .await
        .unwrap();
    assert_eq!(queued.local_only, [(f.inbox, vec![1])]);
    let m = f.store.message(ids[0]).await.unwrap().unwrap().summary;
    assert!(m.flags.keywords.is_empty() && m.local_keywords.is_empty());
    assert_eq!(
        f.store.pending_operations(f.account).await.unwrap().len(),
        2
    );
}

#[tokio::test]
async fn a_queued_keyword_is_kept_locally_later_and_one_waiting_flag_holds_back_only_itself() {
    let f = fixture(2).await;
    let ids = f.ids().await;
    let add = Flags {
        system: SystemFlags::FLAGGED,
        keywords: vec!["$Important".into()],
    };
    f.store
        .queue_flags(&ids, &add, &Flags::default())
        .await
        .unwrap();
    let ops = f.store.pending_flag_ops(f.inbox, 0).await.unwrap();
    // The \Flagged row of message 1 fails: its $Important goes on.
    let flagged_1 = ops[0].changes[0].ops.clone();
    assert_eq!(ops[0].changes[0].flag, "\\Flagged");
    f.store
        .record_op_failure(&flagged_1, "BAD no", 500)
        .await
        .unwrap();
    let ready = f.store.pending_flag_ops(f.inbox, 100).await.unwrap();
    assert_eq!(ready.len(), 2);
    assert_eq!(ready[0].changes.len(), 1);
    assert_eq!(ready[0].changes[0].flag, "$Important");
    assert_eq!(ready[1].changes.len(), 2);

    // The server turns out not to keep keywords: the rows go, the keyword stays, local-only.
    let local: Vec<LocalKeyword> = ready
        .iter()
        .map(|m| {
            let c = m.changes.iter().find(|c| c.flag == "$Important").unwrap();
            LocalKeyword {
                message: m.message,
                keyword: c.flag.clone(),
                value: true,
                ops: c.ops.clone(),
            }
        })
        .collect();
    f.store.keep_keywords_locally(&local).await.unwrap();
    let listed = f.store.pending_operations(f.account).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|p| p.flag == "\\Flagged"));
    let failed = listed.iter().find(|p| p.attempts == 1).unwrap();
    assert_eq!(failed.last_error.as_deref(), Some("BAD no"));
    for id in &ids {
        let m = f.store.message(*id).await.unwrap().unwrap().summary;
        assert_eq!(m.local_keywords, ["$Important"]);
        assert_eq!(m.flags.keywords, ["$Important"]);
    }
}
