//! The `Engine` object apps hold: one per process, serving many accounts. Each method is a
//! small wrapper that converts its arguments, runs the core call on the engine's runtime
//! (see `tasks`) and converts the answer. Queries are served from the store and work
//! offline; nothing here decides policy.

use std::{path::PathBuf, sync::Arc, time::Duration};

use anvert_core::{
    engine::{self as ce, AutoPorts},
    events::{DEFAULT_CAPACITY, Dispatcher, WatchScope, Watches},
    net::{Credential, Endpoint, Secret, TokenFuture},
    policy::SyncRequest,
    store::{AccountId, FolderId, MessageId},
};
use tokio::runtime::Runtime;

use crate::{
    error::AnvertError,
    events::{Listener, MailListener},
    logging::{self, LogLevel},
    tasks::{TaskHandle, block_on, run},
    types::*,
};

/// How to open the engine.
#[derive(Debug, Clone, uniffi::Record)]
pub struct EngineConfig {
    /// Where the database and downloads live (created if missing): the app's private files.
    pub data_dir: String,
    /// Cached bodies and downloaded attachments are trimmed to this many bytes (least
    /// recently used first) after each sync and download, never evicting the file a download
    /// just returned. `None`: no limit.
    #[uniffi(default = None)]
    pub cache_budget_bytes: Option<u64>,
    /// An extra trusted CA in PEM (a company CA, or a test server's), on top of the
    /// platform's roots. Certificates are always verified.
    #[uniffi(default = None)]
    pub extra_ca_pem: Option<String>,
    /// Applies to the logger set with `set_logger`.
    pub log_level: LogLevel,
    /// Keep each account's connection open between operations (the default). `false`: every
    /// operation connects and logs out (slower; for comparison, or where a socket cannot be
    /// held).
    #[uniffi(default = true)]
    pub warm: bool,
    /// In the foreground, a connection stays open this long after its last use (0: it closes
    /// when its work is done, as in the background).
    #[uniffi(default = 300)]
    pub keep_warm_seconds: u32,
    /// Push re-issues IDLE after this long at first (shorter after a connection died in
    /// IDLE; never more than 29 minutes). At least 1.
    #[uniffi(default = 900)]
    pub idle_interval_seconds: u32,
    /// A warm connection unused this long is checked (NOOP) before it is reused.
    #[uniffi(default = 60)]
    pub probe_after_seconds: u32,
    /// How long that check may take before the connection counts as dead and is replaced.
    /// At least 1.
    #[uniffi(default = 10)]
    pub probe_timeout_seconds: u32,
}

impl EngineConfig {
    /// The core's session knobs. Zero is kept where it means something (close at once,
    /// always check) and raised to one second where it does not (a timeout, an interval).
    fn session(&self) -> ce::SessionConfig {
        let seconds = |s: u32| Duration::from_secs(u64::from(s));
        ce::SessionConfig {
            warm: self.warm,
            keep_warm: seconds(self.keep_warm_seconds),
            idle_interval: seconds(self.idle_interval_seconds.max(1)),
            probe_after: seconds(self.probe_after_seconds),
            probe_timeout: seconds(self.probe_timeout_seconds.max(1)),
        }
    }
}

/// The app's source of OAuth2 access tokens (refresh tokens stay in the app).
#[uniffi::export(with_foreign)]
#[async_trait::async_trait]
pub trait TokenProvider: Send + Sync {
    /// A current access token for `username`; refresh it when `force_refresh` is true
    /// (the server just rejected the last one). On failure, say what kind it was:
    /// `Network` when the token endpoint could not be reached (the sync fails with
    /// `Network`, retry later), `Auth` when the user must sign in again (the sync fails with
    /// `Auth`); anything else becomes `Other`.
    async fn access_token(
        &self,
        username: String,
        force_refresh: bool,
    ) -> Result<String, AnvertError>;
}

/// Adapts a foreign provider to the core's trait.
struct ForeignTokens(Arc<dyn TokenProvider>);

impl std::fmt::Debug for ForeignTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ForeignTokens")
    }
}

impl anvert_core::net::TokenProvider for ForeignTokens {
    fn access_token<'a>(&'a self, username: &'a str, force_refresh: bool) -> TokenFuture<'a> {
        Box::pin(async move {
            self.0
                .access_token(username.to_string(), force_refresh)
                .await
                .map(Secret::new)
                .map_err(crate::error::token_failure)
        })
    }
}

/// Download progress and outcome, called on the engine's event thread (never the thread
/// that downloads): progress is coalesced to the latest value when the listener is slow,
/// and the outcome comes after the last progress.
#[uniffi::export(with_foreign)]
pub trait DownloadListener: Send + Sync {
    /// Encoded bytes done of the part's encoded size.
    fn on_progress(&self, done: u64, total: u64);
    /// The finished file.
    fn on_complete(&self, path: String);
    /// It stopped; a `Cancelled` or network error keeps what was downloaded for a resume.
    fn on_error(&self, error: AnvertError);
}

struct Progress(Arc<dyn DownloadListener>);

impl ce::ProgressListener for Progress {
    fn progress(&self, done: u64, total: u64) {
        self.0.on_progress(done, total);
    }
}

/// The mail engine.
#[derive(uniffi::Object)]
pub struct Engine {
    core: Arc<ce::Engine>,
    /// The one runtime; `Option` only so that `Drop` can shut it down without blocking.
    rt: Option<Runtime>,
    /// The thread that calls every listener (watches, downloads), never the runtime's.
    dispatcher: Dispatcher,
    /// The core's event sink and the watch model.
    watches: Arc<Watches>,
}

impl Engine {
    fn rt(&self) -> Result<&Runtime, AnvertError> {
        self.rt.as_ref().ok_or(AnvertError::Other {
            reason: "the engine is closed".into(),
        })
    }

    pub(crate) async fn call<T, F, Fut>(&self, f: F) -> Result<T, AnvertError>
    where
        F: FnOnce(Arc<ce::Engine>) -> Fut,
        Fut: Future<Output = anvert_core::Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        run(self.rt()?, f(self.core.clone())).await
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

fn credential(username: &str, password: String) -> Credential {
    Credential::password(username, password)
}

fn endpoint(setup: &AccountSetup, port: u16) -> Endpoint {
    Endpoint {
        host: setup.host.clone(),
        port,
        security: setup.security.into(),
    }
}

#[uniffi::export]
impl Engine {
    /// Opens (or creates) the engine's store under `config.data_dir`. Blocking: call it off
    /// the main thread (Kotlin: `Dispatchers.IO`).
    #[uniffi::constructor]
    pub fn open(config: EngineConfig) -> Result<Arc<Engine>, AnvertError> {
        logging::set_level(config.log_level);
        let rt = crate::tasks::runtime()?;
        let core_config = ce::EngineConfig {
            data_dir: PathBuf::from(&config.data_dir),
            extra_roots_pem: config.extra_ca_pem.clone(),
            cache_budget: config.cache_budget_bytes,
            session: config.session(),
            ..ce::EngineConfig::default()
        };
        let core = Arc::new(block_on(&rt, ce::Engine::open(core_config))?);
        let dispatcher = Dispatcher::new(DEFAULT_CAPACITY)?;
        let watches = Arc::new(Watches::new(core.store().clone(), dispatcher.sender()));
        core.set_listener(Some(watches.clone()));
        Ok(Arc::new(Engine {
            core,
            rt: Some(rt),
            dispatcher,
            watches,
        }))
    }

    /// Adds an account with a password (kept in memory only; the app keeps it in the
    /// Keystore / Keychain and hands it over again after a restart with
    /// `update_password`). `Auto` probes IMAP (TLS, then STARTTLS), then POP3.
    pub async fn add_account(
        &self,
        setup: AccountSetup,
        password: String,
    ) -> Result<Account, AnvertError> {
        let cred = credential(&setup.username, password);
        self.add(setup, cred).await
    }

    /// Adds an account that logs in with OAuth2 tokens from `provider`.
    pub async fn add_oauth_account(
        &self,
        setup: AccountSetup,
        provider: Arc<dyn TokenProvider>,
    ) -> Result<Account, AnvertError> {
        let cred = Credential::oauth2(&setup.username, Arc::new(ForeignTokens(provider)));
        self.add(setup, cred).await
    }

    /// Hands the engine an account's password (after a restart, or when it changed).
    pub async fn update_password(&self, account: i64, password: String) -> Result<(), AnvertError> {
        let username = self.account(account).await?.username;
        let cred = credential(&username, password);
        self.call(move |e| async move { e.set_credential(AccountId(account), cred).await })
            .await
    }

    /// Hands the engine an account's token provider (after a restart).
    pub async fn update_token_provider(
        &self,
        account: i64,
        provider: Arc<dyn TokenProvider>,
    ) -> Result<(), AnvertError> {
        let username = self.account(account).await?.username;
        let cred = Credential::oauth2(username, Arc::new(ForeignTokens(provider)));
        self.call(move |e| async move { e.set_credential(AccountId(account), cred).await })
            .await
    }

    /// Removes an account and everything stored for it.
    pub async fn remove_account(&self, account: i64) -> Result<(), AnvertError> {
        self.call(move |e| async move { e.remove_account(AccountId(account)).await })
            .await
    }

    pub async fn accounts(&self) -> Result<Vec<Account>, AnvertError> {
        let list = self.call(|e| async move { e.accounts().await }).await?;
        Ok(list.into_iter().map(Into::into).collect())
    }

    /// One sync pass within the options' network kind, byte budget and deadline: pending
    /// local changes first, then folders headers-first, then what the policy prefetches.
    pub async fn sync(
        &self,
        account: i64,
        options: SyncOptions,
    ) -> Result<SyncReport, AnvertError> {
        let request = options.to_core();
        let report = self
            .call(move |e| async move { e.sync(AccountId(account), &request).await })
            .await?;
        Ok(report.into())
    }

    /// Push while the app is in the foreground: syncs `folder`, then IDLE; each change wakes a
    /// delta sync. `listener` gets the account's folders first, then every change, then
    /// `PushStopped`. Cancel (or drop) the handle to stop.
    pub fn start_push(
        &self,
        account: i64,
        folder: String,
        network: NetworkKind,
        listener: Arc<dyn MailListener>,
    ) -> Result<Arc<TaskHandle>, AnvertError> {
        let rt = self.rt()?;
        let core = self.core.clone();
        let (watch, stop) = self.watches.watch(
            WatchScope::Account(AccountId(account)),
            0,
            Arc::new(Listener(listener)),
        );
        let request = SyncRequest {
            network: network.into(),
            ..SyncRequest::default()
        };
        Ok(TaskHandle::spawn(rt, move |cancel| async move {
            // The watch ends with the `PushStopped` the push sends when it ends (cancelled
            // or failed), so that the listener always hears it.
            let delivery =
                crate::tasks::spawn_unit(watch.run(tokio_util::sync::CancellationToken::new()));
            let result = core
                .push(
                    AccountId(account),
                    &folder,
                    &request,
                    Duration::from_secs(28 * 60),
                    cancel.clone(),
                )
                .await;
            stop.stop(result.err());
            let _ = delivery.await;
        }))
    }

    /// Watches a folder's message list: `listener` gets the newest `limit` messages first,
    /// then every change to the folder in commit order.
    pub fn watch_folder(
        &self,
        folder: i64,
        limit: u32,
        listener: Arc<dyn MailListener>,
    ) -> Result<Arc<TaskHandle>, AnvertError> {
        let (watch, _) = self.watches.watch(
            WatchScope::Folder(FolderId(folder)),
            limit,
            Arc::new(Listener(listener)),
        );
        Ok(TaskHandle::spawn(self.rt()?, move |cancel| {
            watch.run(cancel)
        }))
    }

    /// Watches an account: its folders first, then every change in its folders.
    pub fn watch_account(
        &self,
        account: i64,
        listener: Arc<dyn MailListener>,
    ) -> Result<Arc<TaskHandle>, AnvertError> {
        let (watch, _) = self.watches.watch(
            WatchScope::Account(AccountId(account)),
            0,
            Arc::new(Listener(listener)),
        );
        Ok(TaskHandle::spawn(self.rt()?, move |cancel| {
            watch.run(cancel)
        }))
    }

    pub async fn folders(&self, account: i64) -> Result<Vec<Folder>, AnvertError> {
        let list = self
            .call(move |e| async move { e.folders(AccountId(account)).await })
            .await?;
        Ok(list.into_iter().map(Into::into).collect())
    }

    /// Sets a folder's role for good, over the server's SPECIAL-USE and well-known names:
    /// a role makes it the account's folder for that role (no other folder keeps it); `None`
    /// makes it a folder without a role. Later syncs keep it; `reset_folder_role` undoes it.
    /// The inbox role, INBOX itself, `Other`, and a folder that cannot be selected are refused.
    pub async fn set_folder_role(
        &self,
        folder: i64,
        role: Option<FolderRole>,
    ) -> Result<(), AnvertError> {
        let role = match role {
            None => None,
            Some(r) => Some(r.to_core().ok_or(AnvertError::Other {
                reason: "Other is not a role that can be set".into(),
            })?),
        };
        self.call(move |e| async move { e.set_folder_role(FolderId(folder), role).await })
            .await
    }

    /// Gives a folder back the role the server's LIST gives it.
    pub async fn reset_folder_role(&self, folder: i64) -> Result<(), AnvertError> {
        self.call(move |e| async move { e.reset_folder_role(FolderId(folder)).await })
            .await
    }

    /// A page of a folder's messages, newest first; pass the previous page's `next` to go on.
    pub async fn messages(
        &self,
        folder: i64,
        after: Option<PageCursor>,
        limit: u32,
    ) -> Result<MessagePage, AnvertError> {
        let page = self
            .call(move |e| async move {
                e.messages(FolderId(folder), after.map(Into::into), limit)
                    .await
            })
            .await?;
        Ok(page.into())
    }

    /// A message with all its headers and parts.
    pub async fn message(&self, id: i64) -> Result<MessageDetail, AnvertError> {
        let found = self
            .call(move |e| async move { e.message(MessageId(id)).await })
            .await?;
        found.map(Into::into).ok_or(AnvertError::NotFound)
    }

    /// Full-text search over subjects, addresses and previews (FTS5 syntax).
    pub async fn search(
        &self,
        account: i64,
        query: String,
        limit: u32,
    ) -> Result<Vec<MessageSummary>, AnvertError> {
        let list = self
            .call(move |e| async move { e.search(AccountId(account), &query, limit).await })
            .await?;
        Ok(summaries(list))
    }

    /// The conversation a message belongs to, oldest first.
    pub async fn thread(&self, id: i64) -> Result<Vec<MessageSummary>, AnvertError> {
        let list = self
            .call(move |e| async move { e.thread(MessageId(id)).await })
            .await?;
        Ok(summaries(list))
    }

    /// The readable body: from the store, or fetched (only the text part) and cached.
    pub async fn fetch_body(
        &self,
        message: i64,
        network: NetworkKind,
    ) -> Result<Body, AnvertError> {
        let body = self
            .call(move |e| async move { e.fetch_body(MessageId(message), network.into()).await })
            .await?;
        Ok(body.into())
    }

    /// Downloads one part into the directory `destination` (under a safe name derived from
    /// its file name), in resumable chunks; progress and the outcome go to `listener`.
    /// Cancelling keeps what was downloaded: calling again resumes.
    pub fn download_part(
        &self,
        message: i64,
        section: String,
        destination: String,
        network: NetworkKind,
        listener: Arc<dyn DownloadListener>,
    ) -> Result<Arc<TaskHandle>, AnvertError> {
        let core = self.core.clone();
        let events = self.dispatcher.sender();
        Ok(TaskHandle::spawn(self.rt()?, move |cancel| async move {
            // Progress is queued, coalesced, on the event thread: the download never waits.
            let progress = events.progress(Arc::new(Progress(listener.clone())));
            let dir = PathBuf::from(destination);
            let result = core
                .download_part(
                    MessageId(message),
                    &section,
                    &dir,
                    network.into(),
                    Some(progress.as_ref()),
                    &cancel,
                )
                .await
                .map(|path| path.to_string_lossy().into_owned())
                .map_err(AnvertError::from);
            // After the last progress, on the same thread.
            events.call(move || match result {
                Ok(path) => listener.on_complete(path),
                Err(e) => listener.on_error(e),
            });
        }))
    }

    /// Forgets a download (partial or complete) and removes its files.
    pub async fn delete_download(&self, message: i64, section: String) -> Result<(), AnvertError> {
        self.call(move |e| async move { e.delete_download(MessageId(message), &section).await })
            .await
    }

    /// Frees at least `bytes` of the account's cached bodies and downloads, least recently
    /// used first; returns the bytes freed.
    pub async fn evict_cache(&self, account: i64, bytes: u64) -> Result<u64, AnvertError> {
        self.call(move |e| async move { e.evict_cache(AccountId(account), bytes).await })
            .await
    }

    /// Sets `add` and clears `remove` on many messages: applied locally at once, written
    /// back on the next sync (any network but offline).
    pub async fn set_flags(
        &self,
        messages: Vec<i64>,
        add: Vec<Flag>,
        remove: Vec<Flag>,
    ) -> Result<(), AnvertError> {
        let ids: Vec<MessageId> = messages.into_iter().map(MessageId).collect();
        let (add, remove) = (core_flags(&add), core_flags(&remove));
        self.call(move |e| async move { e.set_flags(&ids, add, remove).await })
            .await
    }

    /// Moves messages (of one account) to the folder `to`: at once locally (cached bodies and
    /// downloads move with them), on the server with the next sync.
    pub async fn move_messages(&self, messages: Vec<i64>, to: i64) -> Result<(), AnvertError> {
        let ids: Vec<MessageId> = messages.into_iter().map(MessageId).collect();
        self.call(move |e| async move { e.move_messages(&ids, FolderId(to)).await })
            .await
    }

    /// Deletes messages: to Trash where the account has one (from Trash: for good). POP3
    /// accounts follow their deletion policy.
    pub async fn delete_messages(&self, messages: Vec<i64>) -> Result<(), AnvertError> {
        let ids: Vec<MessageId> = messages.into_iter().map(MessageId).collect();
        self.call(move |e| async move { e.delete_messages(&ids).await })
            .await
    }

    /// Removes every message in the account's Trash, locally now and on the next sync.
    pub async fn empty_trash(&self, account: i64) -> Result<(), AnvertError> {
        self.call(move |e| async move { e.empty_trash(AccountId(account)).await })
            .await
    }

    /// Saves a draft into Drafts (replacing `replaces`, its previous version); returns the
    /// new message's id. Stored at once; APPENDed on the next sync.
    pub async fn save_draft(
        &self,
        account: i64,
        draft: Draft,
        replaces: Option<i64>,
    ) -> Result<i64, AnvertError> {
        let draft: anvert_core::engine::Draft = draft.into();
        let id = self
            .call(move |e| async move {
                e.save_draft(AccountId(account), draft, replaces.map(MessageId))
                    .await
            })
            .await?;
        Ok(id.0)
    }

    /// The account's queued local changes (flags, moves, deletions, drafts), oldest first.
    pub async fn pending_operations(
        &self,
        account: i64,
    ) -> Result<Vec<PendingOperation>, AnvertError> {
        let (flags, mailbox) = self
            .call(move |e| async move {
                let flags = e.pending_operations(AccountId(account)).await?;
                let mailbox = e.pending_mailbox_operations(AccountId(account)).await?;
                Ok((flags, mailbox))
            })
            .await?;
        let mut list: Vec<PendingOperation> = flags.into_iter().map(Into::into).collect();
        list.extend(mailbox.into_iter().map(Into::into));
        Ok(list)
    }

    /// Retries parked operations on the next sync; returns how many.
    pub async fn retry_parked(&self, account: i64) -> Result<u64, AnvertError> {
        self.call(move |e| async move { e.retry_parked(AccountId(account)).await })
            .await
    }

    /// The app came to the foreground (`true`) or went to the background (`false`); call it
    /// from the process lifecycle (Android: `ProcessLifecycleOwner` onStart/onStop; iOS:
    /// `scenePhase`). In the background, idle connections close now and later ones as soon
    /// as their work is done; in the foreground they stay open `keep_warm_seconds`.
    pub fn set_foreground(&self, foreground: bool) {
        if let Some(rt) = self.rt.as_ref() {
            // Closing connections spawns their logouts: inside the runtime.
            let _guard = rt.enter();
            self.core.set_foreground(foreground);
        }
    }

    /// The network changed (Android: `ConnectivityManager.NetworkCallback`; iOS:
    /// `NWPathMonitor`). Warm connections close at once; the next operation connects on the
    /// new network, and reads made meanwhile reconnect on their own.
    pub fn network_changed(&self, network: NetworkKind) {
        if let Some(rt) = self.rt.as_ref() {
            let _guard = rt.enter();
            self.core.network_changed(network.into());
        }
    }

    /// Logs out of every idle connection and returns when they are closed (an app about to
    /// be suspended). The next operation connects again.
    pub async fn close_connections(&self) -> Result<(), AnvertError> {
        self.call(|e| async move { e.close_connections().await })
            .await
    }

    /// Data usage from the byte ledger, by network kind and purpose.
    pub async fn usage(&self, account: i64) -> Result<Vec<UsageRow>, AnvertError> {
        let rows = self
            .call(move |e| async move { e.usage(AccountId(account)).await })
            .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }
}

impl Engine {
    async fn add(&self, setup: AccountSetup, cred: Credential) -> Result<Account, AnvertError> {
        let id = match setup.protocol {
            AccountProtocol::Auto => {
                // One explicit port: the probe tries it for every service in turn.
                let ports = setup
                    .port
                    .map_or_else(AutoPorts::default, AutoPorts::single);
                let (name, host) = (setup.name.clone(), setup.host.clone());
                self.call(
                    move |e| async move { e.add_account_auto(&name, &host, ports, cred).await },
                )
                .await?
            }
            protocol => {
                let protocol = if protocol == AccountProtocol::Pop3 {
                    ce::Protocol::Pop3
                } else {
                    ce::Protocol::Imap
                };
                let port = setup
                    .port
                    .unwrap_or_else(|| protocol.default_port(setup.security.into()));
                let config = ce::AccountConfig {
                    name: setup.name.clone(),
                    protocol,
                    endpoint: endpoint(&setup, port),
                    credential: cred,
                };
                self.call(move |e| async move { e.add_account(config).await })
                    .await?
            }
        };
        self.account(id.0).await
    }

    async fn account(&self, id: i64) -> Result<Account, AnvertError> {
        self.accounts()
            .await?
            .into_iter()
            .find(|a| a.id == id)
            .ok_or(AnvertError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A provider that fails with the error it was given.
    struct Failing(AnvertError);

    #[async_trait::async_trait]
    impl TokenProvider for Failing {
        async fn access_token(&self, _: String, _: bool) -> Result<String, AnvertError> {
            Err(self.0.clone())
        }
    }

    async fn through_the_engine(e: AnvertError) -> AnvertError {
        let tokens = ForeignTokens(Arc::new(Failing(e)));
        match anvert_core::net::TokenProvider::access_token(&tokens, "alice", false).await {
            Ok(_) => panic!("a failing provider gave a token"),
            Err(e) => e.into(),
        }
    }

    #[test]
    fn a_data_dir_that_cannot_be_created_is_a_storage_error() {
        // A regular file where the data directory's parent should be: a local I/O error.
        let file = std::env::temp_dir().join(format!("anvert-ffi-file-{}", std::process::id()));
        std::fs::write(&file, b"not a directory").unwrap();
        let result = Engine::open(EngineConfig {
            data_dir: file.join("data").to_string_lossy().into_owned(),
            cache_budget_bytes: None,
            extra_ca_pem: None,
            log_level: crate::logging::LogLevel::Debug,
            warm: true,
            keep_warm_seconds: 300,
            idle_interval_seconds: 900,
            probe_after_seconds: 60,
            probe_timeout_seconds: 10,
        });
        std::fs::remove_file(&file).unwrap();
        match result {
            Err(AnvertError::Storage { .. }) => {}
            Err(e) => panic!("a local file error became {e:?}"),
            Ok(_) => panic!("opened an engine under a regular file"),
        }
    }

    #[test]
    fn session_knobs_reach_the_core_and_zero_is_raised_only_where_meaningless() {
        let config = EngineConfig {
            data_dir: String::new(),
            cache_budget_bytes: None,
            extra_ca_pem: None,
            log_level: crate::logging::LogLevel::Off,
            warm: false,
            keep_warm_seconds: 0,
            idle_interval_seconds: 0,
            probe_after_seconds: 0,
            probe_timeout_seconds: 0,
        };
        let session = config.session();
        assert!(!session.warm);
        assert_eq!(session.keep_warm, Duration::ZERO);
        assert_eq!(session.probe_after, Duration::ZERO);
        assert_eq!(session.idle_interval, Duration::from_secs(1));
        assert_eq!(session.probe_timeout, Duration::from_secs(1));
        let config = EngineConfig {
            warm: true,
            keep_warm_seconds: 120,
            idle_interval_seconds: 600,
            probe_after_seconds: 30,
            probe_timeout_seconds: 5,
            ..config
        };
        let session = config.session();
        assert!(session.warm);
        assert_eq!(
            (
                session.keep_warm,
                session.idle_interval,
                session.probe_after,
                session.probe_timeout
            ),
            (
                Duration::from_secs(120),
                Duration::from_secs(600),
                Duration::from_secs(30),
                Duration::from_secs(5)
            )
        );
    }

    #[tokio::test]
    async fn a_provider_offline_is_a_network_error_not_a_new_login() {
        let e = through_the_engine(AnvertError::Network {
            reason: "token endpoint unreachable".into(),
        })
        .await;
        assert!(matches!(e, AnvertError::Network { .. }), "{e:?}");
        assert_eq!(
            through_the_engine(AnvertError::Auth).await,
            AnvertError::Auth
        );
        let e = through_the_engine(AnvertError::Other {
            reason: "keychain locked".into(),
        })
        .await;
        assert!(matches!(e, AnvertError::Other { .. }), "{e:?}");
    }
}
