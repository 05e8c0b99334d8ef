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
mod doctor;
mod lifecycle;
mod moves;
mod pop3;
mod probe;
mod roles;
mod search;
mod send;

use std::{
    path::PathBuf,
    sync::{Arc, LockResult, Mutex, RwLock},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

pub use crate::account::{Body, ProgressListener, SessionConfig};
pub use crate::imap::SearchQuery;
pub(crate) use accounts::security_from_name;
pub use accounts::{AccountConfig, Protocol};
pub use doctor::{DoctorReport, ExtensionUse, Pop3Facts};
pub use moves::{Draft, DraftAttachment};
pub use probe::{AutoPorts, AutoReport, ProbeAttempt};
pub use search::{SearchCursor, SearchPageRequest, ServerSearchPage};
pub use tokio_util::sync::CancellationToken;

use crate::{
    account::{AccountSession, Shared},
    error::{Error, Result},
    imap::ConnectOptions,
    net::{Credential, Endpoint, TlsConnector, Trust},
    policy::{NetworkKind, SyncRequest},
    store::{
        Account, AccountId, Cursor, FolderId, FolderSummary, MessageDetail, MessageId,
        MessageSummary, Page, Store, UsageRow,
    },
    sync::{self, EventSink, StopReason, SyncReport},
};

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
    /// How accounts keep their connections (warm by default).
    pub session: SessionConfig,
}

/// The mail engine.
pub struct Engine {
    store: Store,
    data_dir: PathBuf,
    cache_budget: Option<u64>,
    shared: Arc<Shared>,
    accounts: Mutex<Running>,
    listener: RwLock<Option<Arc<dyn EventSink>>>,
    searches: Mutex<search::SearchCache>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").finish_non_exhaustive()
    }
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
        let tls = TlsConnector::new(&trust)?;
        let shared = Arc::new(Shared::new(
            store.clone(),
            tls,
            config.connect,
            config.session.clone(),
        ));
        Ok(Engine {
            store,
            data_dir: config.data_dir.clone(),
            shared,
            cache_budget: config.cache_budget,
            accounts: Mutex::new(Running::default()),
            listener: RwLock::new(None),
            searches: Mutex::new(search::SearchCache::default()),
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
    /// An account already running keeps its connections, locks and queue: only the
    /// credential is swapped, and the next connection uses it.
    pub async fn set_credential(&self, account: AccountId, credential: Credential) -> Result<()> {
        if let Some(running) = recover(self.accounts.lock(), "the accounts").get(&account) {
            running.set_credential(credential);
            return Ok(());
        }
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
                match crate::blobs::fsio::remove_file(&file).await {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                    _ => {}
                }
            }
        }
        for id in messages {
            let dir = self.data_dir.join("attachments").join(id.to_string());
            match crate::blobs::fsio::remove_dir_all(&dir).await {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                _ => {}
            }
        }
        let removed = recover(self.accounts.lock(), "the accounts").remove(&account);
        // Its warm connection logs out (its bytes have no account to be booked to).
        if let Some(running) = removed {
            running.close_idle();
        }
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
        if runtime.protocol == Protocol::Pop3 {
            let listener = self.listener();
            return runtime
                .sync_pop3(request, unix_now(), &self.data_dir, events(&listener))
                .await;
        }
        let listener = self.listener();
        let report = runtime
            .sync_imap(request, unix_now(), &self.data_dir, events(&listener))
            .await?;
        self.keep_cache_budget(account, None).await?;
        Ok(report)
    }

    /// Push for one folder (usually INBOX) while the app is in the foreground: sync it, then
    /// IDLE on a connection of its own; each change the server reports wakes a delta sync of
    /// that folder. IDLE is re-issued on an adaptive interval that starts at `idle_max`
    /// (or `SessionConfig::idle_interval` when that is shorter) and never exceeds 29
    /// minutes; a connection that dies is replaced. Runs until `cancel` fires, or fails for
    /// what reconnecting cannot fix.
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
        let runtime = self.runtime(account)?;
        let listener = self.listener();
        runtime
            .push(
                folder,
                request,
                idle_max,
                unix_now,
                events(&listener),
                &cancel,
            )
            .await
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
        let session = Arc::new(AccountSession::new(
            id,
            protocol,
            endpoint,
            credential,
            self.shared.clone(),
        ));
        recover(self.accounts.lock(), "the accounts").insert(id, session);
    }

    fn runtime(&self, account: AccountId) -> Result<Arc<AccountSession>> {
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
pub(crate) fn recover<G>(result: LockResult<G>, what: &'static str) -> G {
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

/// The running accounts by id, ascending: a sorted list (an app has a handful of accounts;
/// a `BTreeMap` here was one more copy of the B-tree code in the library).
#[derive(Default)]
struct Running(Vec<(AccountId, Arc<AccountSession>)>);

impl Running {
    fn at(&self, account: AccountId) -> std::result::Result<usize, usize> {
        self.0.binary_search_by_key(&account, |(id, _)| *id)
    }

    fn get(&self, account: &AccountId) -> Option<&Arc<AccountSession>> {
        let at = self.at(*account).ok()?;
        self.0.get(at).map(|(_, session)| session)
    }

    /// Adds or replaces the account's session.
    fn insert(&mut self, account: AccountId, session: Arc<AccountSession>) {
        match self.at(account) {
            Ok(at) => {
                if let Some(slot) = self.0.get_mut(at) {
                    slot.1 = session;
                }
            }
            Err(at) => self.0.insert(at, (account, session)),
        }
    }

    fn remove(&mut self, account: &AccountId) -> Option<Arc<AccountSession>> {
        let at = self.at(*account).ok()?;
        Some(self.0.remove(at).1)
    }

    fn values(&self) -> impl Iterator<Item = &Arc<AccountSession>> {
        self.0.iter().map(|(_, session)| session)
    }
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
