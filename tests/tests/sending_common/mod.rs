//! What the sending tests share: a Dovecot with its submission service, taps in front of
//! its IMAP and submission listeners, an engine with alice's account (submission server
//! set, first sync done), and ways to read what arrived.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // test code, shared by several tests

use std::time::Duration;

use anvert_core::{
    engine::{Engine, EngineConfig},
    net::Security,
    policy::{NetworkKind, SyncRequest},
    store::{AccountId, Address, MessageId, OutboxId, OutboxItem},
};
use anvert_tests::{
    client::{endpoint, imap_login},
    dovecot::{Dovecot, SubmissionOptions},
    tap::{Tap, TapMark},
};
use sha2::{Digest, Sha256};

pub struct Setup {
    pub server: Dovecot,
    pub imap_tap: Tap,
    pub smtp_tap: Tap,
    pub engine: Engine,
    pub account: AccountId,
    pub dir: tempfile::TempDir,
}

pub struct Marks(TapMark, TapMark);

impl Setup {
    pub async fn start(options: SubmissionOptions) -> Setup {
        let server = Dovecot::with_submission(options);
        Setup::over(server, EngineConfig::default()).await
    }

    pub async fn over(server: Dovecot, config: EngineConfig) -> Setup {
        let imap_tap = Tap::start(server.imaps_addr()).unwrap();
        let smtp_tap = Tap::start(server.submissions_addr()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (engine, account) = server
            .engine_with_alice(imap_tap.addr(), dir.path(), config)
            .await;
        engine
            .set_submission(
                account,
                Some(endpoint(smtp_tap.addr(), Security::ImplicitTls)),
            )
            .await
            .unwrap();
        let setup = Setup {
            server,
            imap_tap,
            smtp_tap,
            engine,
            account,
            dir,
        };
        setup.sync().await;
        setup
    }

    pub async fn sync(&self) {
        let report = self
            .engine
            .sync(
                self.account,
                &SyncRequest {
                    network: NetworkKind::Metered,
                    ..SyncRequest::default()
                },
            )
            .await
            .unwrap_or_else(|e| panic!("sync: {e}\n{}", self.server.log()));
        assert!(report.errors.is_empty(), "{:?}", report.errors);
    }

    /// `flush_outbox` now, on a metered network.
    pub async fn flush(&self) -> anvert_core::sync::SendReport {
        self.engine
            .flush_outbox(self.account, anvert_core::policy::NetworkKind::Metered)
            .await
            .unwrap_or_else(|e| panic!("flush_outbox: {e}\n{}", self.server.log()))
    }

    /// Waits until the receiver has `n` messages and returns them.
    pub async fn delivered(&self, n: usize) -> Vec<anvert_tests::smtp_sink::Received> {
        self.server
            .smtp_sink()
            .wait_for_messages(n, Dovecot::RELAY_TIMEOUT)
            .await
    }

    pub fn mark(&self) -> Marks {
        Marks(self.imap_tap.mark(), self.smtp_tap.mark())
    }

    /// Bytes the client wrote on both connections since `mark`.
    pub fn up_since(&self, mark: &Marks) -> u64 {
        self.imap_tap.stats_since(&mark.0).up + self.smtp_tap.stats_since(&mark.1).up
    }

    /// Bytes the client read on both connections since `mark`.
    pub fn down_since(&self, mark: &Marks) -> u64 {
        self.imap_tap.stats_since(&mark.0).down + self.smtp_tap.stats_since(&mark.1).down
    }

    pub async fn folder(&self, name: &str) -> anvert_core::store::FolderId {
        self.engine
            .folders(self.account)
            .await
            .unwrap()
            .into_iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("no folder {name}"))
            .id
    }

    pub async fn item(&self, id: OutboxId) -> OutboxItem {
        self.engine
            .outbox(self.account)
            .await
            .unwrap()
            .into_iter()
            .find(|i| i.id == id)
            .expect("the outbox entry")
    }

    pub async fn item_path(&self) -> Option<String> {
        self.engine
            .outbox(self.account)
            .await
            .unwrap()
            .last()
            .and_then(|i| i.path.clone())
    }

    /// Every message of alice's Sent, as the server holds them (BODY.PEEK[]).
    pub async fn sent_messages(&self) -> Vec<Vec<u8>> {
        Setup::sent_messages_of(&self.server).await
    }

    /// [`Setup::sent_messages`] of any server.
    pub async fn sent_messages_of(server: &dyn anvert_tests::server::TestServer) -> Vec<Vec<u8>> {
        let mut session = imap_login(server, "alice").await;
        session.ensure_examined("Sent", None).await.ok();
        let uids = session.all_uids().await.unwrap();
        let mut out = Vec::new();
        for uid in uids {
            let mut whole = Vec::new();
            loop {
                let ranges = session
                    .message_ranges(&[(uid, whole.len() as u64, 4 << 20)])
                    .await
                    .unwrap();
                let Some(r) = ranges.into_iter().next() else {
                    break;
                };
                let n = r.data.len();
                whole.extend_from_slice(&r.data);
                if n < 4 << 20 {
                    break;
                }
            }
            out.push(whole);
        }
        let _ = session.logout().await;
        out
    }

    /// Puts a message with `attachment` in alice's INBOX (as mail delivered by another
    /// sender), syncs its headers (nothing of the attachment), and returns its id.
    pub async fn deliver_with_attachment(&self, subject: &str, attachment: &[u8]) -> MessageId {
        let carol = Address {
            name: Some("Carol".into()),
            email: "carol@example.org".into(),
        };
        let alice = [Address {
            name: None,
            email: "alice@localhost".into(),
        }];
        let raw = anvert_core::sync::compose::build(&anvert_core::sync::compose::Outgoing {
            from: &carol,
            to: &alice,
            subject,
            text: "The file you asked for.",
            attachments: vec![("big.bin", "application/octet-stream", attachment)],
            message_id: "original@example.org",
            ..Default::default()
        })
        .unwrap();
        let new = self.server.maildir("alice").join("new");
        std::fs::create_dir_all(&new).unwrap();
        std::fs::write(new.join(format!("{subject}.eml").replace(' ', "_")), &raw).unwrap();
        self.server.fix_ownership();
        let before = self.imap_tap.stats().down;
        self.sync().await;
        let synced = self.imap_tap.stats().down - before;
        assert!(
            synced < 64 * 1024,
            "the sync fetched {synced} B: more than headers"
        );
        let inbox = self
            .engine
            .folders(self.account)
            .await
            .unwrap()
            .into_iter()
            .find(|f| f.name == "INBOX")
            .unwrap();
        let page = self.engine.messages(inbox.id, None, 50).await.unwrap();
        page.items
            .into_iter()
            .find(|m| m.subject == subject)
            .map(|m| m.id)
            .expect("the delivered message")
    }
}

pub fn to_bob() -> Vec<Address> {
    vec![Address {
        name: Some("Bob".into()),
        email: "bob@localhost".into(),
    }]
}

pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// `n` bytes that do not compress (seeded).
pub fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

pub const WAIT: Duration = Duration::from_secs(30);
