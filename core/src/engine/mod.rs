//! The engine: the public Rust API that the bindings wrap one to one. One `Engine` serves
//! many accounts over one store. It schedules nothing by itself: the app asks for a sync
//! (with a network kind and a budget), a query or a download, and the engine does that.
//!
//! Credentials live in memory only, handed over by the app (which keeps them in the
//! platform keystore); the store keeps where to connect and as whom, never a secret. After
//! a restart the app calls [`Engine::set_credential`] before syncing.

mod accounts;
mod changes;
mod content;
mod moves;
mod pop3;
mod probe;
mod roles;

use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::{Arc, LockResult, Mutex, RwLock},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

pub use accounts::{AccountConfig, Protocol};
pub use content::{Body, ProgressListener};
pub use moves::{Draft, DraftAttachment};
pub use probe::AutoPorts;
pub use tokio_util::sync::CancellationToken;

use crate::{
    error::{Error, Result},
    imap::{self, ConnectOptions, IdleOutcome},
    net::{Credential, Endpoint, Purpose, TlsConnector, Trust, WireMeter, WireTotals},
    policy::{NetworkKind, SyncRequest},
    store::{
        Account, AccountId, Cursor, FolderId, FolderSummary, MessageDetail, MessageId,
        MessageSummary, Page, Store, UsageRow,
    },
    sync::{self, EventSink, StopReason, SyncReport},
};

/// How long a sync may overrun its deadline while a network read hangs before it is cut.
const DEADLINE_GRACE: Duration = Duration::from_secs(2);

/// How to open an engine.
#[derive(Debug, Clone, Default)]
pub struct EngineConfig {
    /// Where the database and downloads live; created if missing.
    pub data_dir: PathBuf,
    /// Extra trusted CA certificates in PEM (a private CA), on top of the platform's.
    pub extra_roots_pem: Option<String>,
    /// Connection knobs (timeouts, compression).
    pub connect: ConnectOptions,
    /// Cached bodies and downloaded files are trimmed to this many bytes per account (least
    /// recently used first) after each sync and download. `None`: no limit.
    pub cache_budget: Option<u64>,
}

/// The mail engine.
pub struct Engine {
    store: Store,
    data_dir: PathBuf,
    tls: TlsConnector,
    connect: ConnectOptions,
    cache_budget: Option<u64>,
    accounts: Mutex<BTreeMap<AccountId, Arc<Runtime>>>,
    listener: RwLock<Option<Arc<dyn EventSink>>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").finish_non_exhaustive()
    }
}

/// What the engine holds for an account while it runs: where, as whom, and its meter.
struct Runtime {
    endpoint: Endpoint,
    protocol: Protocol,
    credential: Credential,
    meter: WireMeter,
    /// One sync at a time per account.
    busy: tokio::sync::Mutex<()>,
    /// Held while the write-back replays the queue, and by local moves, deletions and
    /// drafts (which fold into queued rows), so neither sees the other half-done.
    queue: tokio::sync::Mutex<()>,
}

impl Engine {
    /// Opens (or creates) the engine's store under `config.data_dir`.
    pub async fn open(config: EngineConfig) -> Result<Engine> {
        std::fs::create_dir_all(&config.data_dir)?;
        let store = Store::open(config.data_dir.join("anvert.db")).await?;
        let mut trust = Trust::default();
        if let Some(pem) = &config.extra_roots_pem {
            trust = trust.with_extra_roots_pem(pem)?;
        }
        Ok(Engine {
            store,
            data_dir: config.data_dir.clone(),
            tls: TlsConnector::new(&trust)?,
            connect: config.connect,
            cache_budget: config.cache_budget,
            accounts: Mutex::new(BTreeMap::new()),
            listener: RwLock::new(None),
        })
    }

    /// Where sync events go (`None` to stop them). Events arrive in commit order.
    pub fn set_listener(&self, listener: Option<Arc<dyn EventSink>>) {
        *recover(self.listener.write(), "the event listener") = listener;
    }

    /// The store, for queries the engine does not wrap.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Adds an account and keeps its credential in memory.
    pub async fn add_account(&self, config: AccountConfig) -> Result<AccountId> {
        let id = self.store.add_account(&config.new_account()).await?;
        self.install(id, config.endpoint, config.protocol, config.credential);
        Ok(id)
    }

    /// Hands the engine an account's credential again (after a restart, or a new password).
    pub async fn set_credential(&self, account: AccountId, credential: Credential) -> Result<()> {
        let stored = self.account(account).await?;
        let (endpoint, protocol) = accounts::endpoint_of(&stored)?;
        self.install(account, endpoint, protocol, credential);
        Ok(())
    }

    /// Removes an account and everything stored for it: its rows, cached bodies, and the
    /// files of its downloads (finished or partial) and of its POP3 attachments.
    pub async fn remove_account(&self, account: AccountId) -> Result<()> {
        let (messages, downloads) = self.store.account_files(account).await?;
        self.store.remove_account(account).await?;
        // The rows are gone first: a crash here leaves stray files, never rows without files.
        for path in downloads {
            let path = PathBuf::from(path);
            for file in [crate::blobs::part_path(&path), path] {
                match tokio::fs::remove_file(&file).await {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                    _ => {}
                }
            }
        }
        for id in messages {
            let dir = self.data_dir.join("attachments").join(id.to_string());
            match tokio::fs::remove_dir_all(&dir).await {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                _ => {}
            }
        }
        recover(self.accounts.lock(), "the accounts").remove(&account);
        Ok(())
    }

    pub async fn accounts(&self) -> Result<Vec<Account>> {
        self.store.accounts().await
    }

    /// One sync pass. Offline does nothing and says so; otherwise connect, sync within the
    /// request's window and budget, log out, and add the bytes to the ledger.
    pub async fn sync(&self, account: AccountId, request: &SyncRequest) -> Result<SyncReport> {
        let result = self.sync_once(account, request).await;
        // Counts and ids only: nothing personal at info level (issue 7).
        match &result {
            Ok(r) => tracing::info!(
                account = account.0,
                added = r.added(),
                changed = r.changed(),
                removed = r.removed(),
                bytes = r.bytes.total(),
                stopped = ?r.stopped,
                folder_errors = r.errors.len(),
                "sync finished"
            ),
            Err(_) => tracing::warn!(account = account.0, "sync failed"),
        }
        result
    }

    async fn sync_once(&self, account: AccountId, request: &SyncRequest) -> Result<SyncReport> {
        if request.network == NetworkKind::Offline {
            return Ok(SyncReport {
                stopped: Some(StopReason::Offline),
                ..SyncReport::default()
            });
        }
        let runtime = self.runtime(account)?;
        let _one_at_a_time = runtime.busy.lock().await;
        if runtime.protocol == Protocol::Pop3 {
            return self.sync_pop3(account, &runtime, request).await;
        }
        let before = runtime.meter.totals();
        let listener = self.listener();
        let result = async {
            let mut session = imap::connect(
                &runtime.endpoint,
                &runtime.credential,
                &self.tls,
                &runtime.meter,
                &self.connect,
            )
            .await?;
            self.write_back(&mut session, account).await?;
            let mut report = sync::sync_imap_account_with(
                &mut session,
                &self.store,
                account,
                request,
                unix_now(),
                events(&listener),
            )
            .await;
            if let Ok(r) = &mut report
                && r.stopped.is_none()
            {
                let folders: Vec<String> = r.folders.iter().map(|f| f.name.clone()).collect();
                let budget = sync::Budget::new(
                    &runtime.meter,
                    request
                        .byte_budget
                        .map(|b| b.saturating_sub(r.bytes.total())),
                )
                .with_deadline(request.deadline);
                match self
                    .prefetch_attachments(
                        &mut session,
                        account,
                        &folders,
                        &request.content(),
                        || !budget.exhausted(),
                    )
                    .await
                {
                    Ok(n) => r.attachments = n,
                    Err(e) => r.errors.push(("attachments".into(), e.to_string())),
                }
            }
            // Log out even when the sync failed part-way; a failed LOGOUT loses nothing.
            let _ = session.logout().await;
            report
        };
        let result = match request.deadline {
            None => result.await,
            // The sync stops itself at a clean point after the deadline; a network read that
            // hangs past it is cut here (what was committed stays, the rest waits).
            Some(deadline) => tokio::time::timeout_at((deadline + DEADLINE_GRACE).into(), result)
                .await
                .unwrap_or_else(|_| {
                    Ok(SyncReport {
                        stopped: Some(StopReason::Deadline),
                        ..SyncReport::default()
                    })
                }),
        };
        // Bytes are recorded whatever happened: they were spent.
        let spent = self
            .record_usage(account, request.network, &runtime, &before)
            .await?;
        let mut report = result?;
        report.bytes = spent;
        self.keep_cache_budget(account, None).await?;
        Ok(report)
    }

    /// Push for one folder (usually INBOX) while the app is in the foreground: sync it, then
    /// IDLE; each change the server reports wakes a delta sync of that folder. IDLE is
    /// re-issued every `idle_max` (keep it under 29 minutes). Runs until `cancel` fires or
    /// the connection fails (the app decides when to start again).
    pub async fn push(
        &self,
        account: AccountId,
        folder: &str,
        request: &SyncRequest,
        idle_max: Duration,
        cancel: CancellationToken,
    ) -> Result<()> {
        if request.network == NetworkKind::Offline {
            return Ok(());
        }
        // Servers may drop an IDLE after 30 minutes of silence (RFC 2177): re-issue before 29.
        let idle_max = idle_max.min(Duration::from_secs(28 * 60));
        let runtime = self.runtime(account)?;
        let listener = self.listener();
        let one_folder = SyncRequest {
            folders: vec![folder.to_string()],
            ..request.clone()
        };
        let mut before = runtime.meter.totals();
        let mut session = imap::connect(
            &runtime.endpoint,
            &runtime.credential,
            &self.tls,
            &runtime.meter,
            &self.connect,
        )
        .await?;
        let result = async {
            sync::sync_imap_account_with(
                &mut session,
                &self.store,
                account,
                &one_folder,
                unix_now(),
                events(&listener),
            )
            .await?;
            // The account sync may have left another folder selected (or none, when this one
            // was unchanged); IDLE watches the selected one. Select again after each delta.
            let mut select = true;
            loop {
                self.record_usage(account, request.network, &runtime, &before)
                    .await?;
                before = runtime.meter.totals();
                if select {
                    session.select(folder, None).await?;
                    select = false;
                }
                match session.idle(idle_max, &cancel).await? {
                    IdleOutcome::Cancelled => return Ok(()),
                    IdleOutcome::Timeout => {}
                    IdleOutcome::Changed => {
                        select = true;
                        let now = unix_now();
                        sync::sync_imap_folder(
                            &mut session,
                            &self.store,
                            account,
                            folder,
                            &one_folder,
                            now,
                            events(&listener),
                        )
                        .await?;
                    }
                }
            }
        }
        .await;
        let _ = session.logout().await;
        self.record_usage(account, request.network, &runtime, &before)
            .await?;
        result
    }

    /// Adds what the account's meter counted since `before` to the ledger; returns it.
    async fn record_usage(
        &self,
        account: AccountId,
        network: NetworkKind,
        runtime: &Runtime,
        before: &WireTotals,
    ) -> Result<WireTotals> {
        let spent = runtime.meter.totals().since(before);
        for purpose in Purpose::ALL {
            let (up, down) = (spent.written_for(purpose), spent.read_for(purpose));
            if up + down > 0 {
                self.store
                    .add_usage(account, network.as_str(), purpose.as_str(), up, down)
                    .await?;
            }
        }
        Ok(spent)
    }

    fn listener(&self) -> Option<Arc<dyn EventSink>> {
        recover(self.listener.read(), "the event listener").clone()
    }

    pub async fn folders(&self, account: AccountId) -> Result<Vec<FolderSummary>> {
        self.store.folders(account).await
    }

    /// The summed RFC822.SIZE of a folder's stored messages: what downloading them whole
    /// would move at least.
    pub async fn folder_bytes(&self, folder: FolderId) -> Result<u64> {
        self.store.folder_bytes(folder).await
    }

    /// A page of a folder's messages, newest first; pass the previous page's `next` as `before`.
    pub async fn messages(
        &self,
        folder: FolderId,
        before: Option<Cursor>,
        limit: u32,
    ) -> Result<Page> {
        self.store.messages_page(folder, before, limit).await
    }

    pub async fn message(&self, id: MessageId) -> Result<Option<MessageDetail>> {
        self.store.message(id).await
    }

    pub async fn search(
        &self,
        account: AccountId,
        query: &str,
        limit: u32,
    ) -> Result<Vec<MessageSummary>> {
        self.store.search(account, query, limit).await
    }

    pub async fn thread(&self, id: MessageId) -> Result<Vec<MessageSummary>> {
        self.store.thread(id).await
    }

    /// Data usage by network kind and purpose.
    pub async fn usage(&self, account: AccountId) -> Result<Vec<UsageRow>> {
        self.store.usage(account).await
    }

    fn install(
        &self,
        id: AccountId,
        endpoint: Endpoint,
        protocol: Protocol,
        credential: Credential,
    ) {
        let runtime = Arc::new(Runtime {
            endpoint,
            protocol,
            credential,
            meter: WireMeter::new(),
            busy: tokio::sync::Mutex::new(()),
            queue: tokio::sync::Mutex::new(()),
        });
        recover(self.accounts.lock(), "the accounts").insert(id, runtime);
    }

    fn runtime(&self, account: AccountId) -> Result<Arc<Runtime>> {
        recover(self.accounts.lock(), "the accounts")
            .get(&account)
            .cloned()
            .ok_or(Error::NoCredential)
    }

    async fn account(&self, id: AccountId) -> Result<Account> {
        self.store
            .accounts()
            .await?
            .into_iter()
            .find(|a| a.id == id)
            .ok_or(Error::NotFound {
                what: "account",
                id: id.0,
            })
    }
}

/// The guard of a lock, also when a panic elsewhere poisoned it, with a warning. Safe for
/// the engine's locks: each is held for one call on a std collection or one assignment,
/// which leaves the data whole even when the holder panicked (a lost insertion at worst).
fn recover<G>(result: LockResult<G>, what: &'static str) -> G {
    result.unwrap_or_else(|poisoned| {
        tracing::warn!(
            lock = what,
            "a panic while this lock was held poisoned it; carrying on with its data"
        );
        poisoned.into_inner()
    })
}

fn events(listener: &Option<Arc<dyn EventSink>>) -> &dyn EventSink {
    match listener {
        Some(l) => l.as_ref(),
        None => &sync::NoEvents,
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    /// Panics on another thread while holding `lock`, which poisons it.
    fn poison<T>(lock: impl FnOnce() -> T + Send) {
        std::thread::scope(|s| {
            let held = s.spawn(move || {
                let _guard = lock();
                panic!("poisoning the lock on purpose");
            });
            assert!(held.join().is_err());
        });
    }

    #[tokio::test]
    async fn poisoned_locks_are_recovered_not_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(EngineConfig {
            data_dir: dir.path().to_path_buf(),
            ..EngineConfig::default()
        })
        .await
        .unwrap();
        poison(|| engine.accounts.lock());
        poison(|| engine.listener.write());
        assert!(engine.accounts.is_poisoned() && engine.listener.is_poisoned());

        // An account added after the poisoning still has its credential.
        let id = engine
            .add_account(AccountConfig {
                name: "a".into(),
                protocol: Protocol::Imap,
                endpoint: Endpoint {
                    host: "imap.example.com".into(),
                    port: 993,
                    security: crate::net::Security::ImplicitTls,
                },
                credential: Credential::password("a", "pw"),
            })
            .await
            .unwrap();
        assert!(engine.runtime(id).is_ok());
        // And a listener set now receives events.
        engine.set_listener(Some(Arc::new(sync::NoEvents)));
        assert!(engine.listener().is_some());
    }
}
