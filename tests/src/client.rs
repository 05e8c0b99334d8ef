//! Helpers that point the real engine code at a harness server (Dovecot, or any
//! [`TestServer`]): endpoints for each listener, a TLS connector trusting the harness CA, a
//! one-call IMAP login, and a raw async-imap session for baselines that bypass the engine.

use std::net::SocketAddr;

use anvert_core::{
    engine::{AccountConfig, Engine, EngineConfig, Protocol},
    imap::{self, ConnectOptions, ImapSession},
    net::{BoxedIo, Credential, Endpoint, Security, TlsConnector, Trust, WireMeter},
    store::AccountId,
};

use crate::{dovecot::Dovecot, server::TestServer};

impl Dovecot {
    /// A TLS connector that trusts this server's test CA as an extra root.
    pub fn tls(&self) -> TlsConnector {
        TlsConnector::new(&self.trust()).unwrap()
    }

    /// The trust settings a client needs for this server.
    pub fn trust(&self) -> Trust {
        Trust::default()
            .with_extra_roots_pem(&self.pki.ca_pem)
            .unwrap()
    }

    pub fn credential(&self, user: &str) -> Credential {
        Credential::password(user, self.password(user))
    }

    /// Logs `user` in over IMAP with implicit TLS (every extension the server offers).
    pub async fn imap_login(&self, user: &str) -> ImapSession {
        let meter = WireMeter::new();
        imap::connect(
            &endpoint(self.imaps_addr(), Security::ImplicitTls),
            &self.credential(user),
            &self.tls(),
            &meter,
            &ConnectOptions::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("IMAP login failed: {e}\n{}", self.log()))
    }
}

impl Dovecot {
    /// [`engine_with_alice`] on this Dovecot.
    pub async fn engine_with_alice(
        &self,
        addr: SocketAddr,
        dir: &std::path::Path,
        config: EngineConfig,
    ) -> (Engine, AccountId) {
        engine_with_alice(self, addr, dir, config).await
    }
}

/// An engine over `dir` (with `config`'s other settings) trusting `server`'s CA, and one
/// IMAP account, `alice`, reached at `addr` (the server itself, or a tap in front of it)
/// with implicit TLS.
pub async fn engine_with_alice(
    server: &dyn TestServer,
    addr: SocketAddr,
    dir: &std::path::Path,
    config: EngineConfig,
) -> (Engine, AccountId) {
    let engine = Engine::open(EngineConfig {
        data_dir: dir.to_path_buf(),
        // The caller's roots where it gives some (they must then include this server's).
        extra_roots_pem: config.extra_roots_pem.clone().or(Some(server.ca_pem())),
        ..config
    })
    .await
    .unwrap();
    let account = engine
        .add_account(AccountConfig {
            name: "Alice".into(),
            protocol: Protocol::Imap,
            endpoint: endpoint(addr, Security::ImplicitTls),
            credential: server.credential("alice"),
        })
        .await
        .unwrap();
    (engine, account)
}

/// Logs `user` in to any harness server over IMAP with implicit TLS (every extension the
/// server offers).
pub async fn imap_login(server: &dyn TestServer, user: &str) -> ImapSession {
    imap::connect(
        &endpoint(server.imaps_addr(), Security::ImplicitTls),
        &server.credential(user),
        &server.tls(),
        &WireMeter::new(),
        &ConnectOptions::default(),
    )
    .await
    .unwrap_or_else(|e| {
        panic!(
            "IMAP login to {} failed: {e}\n{}",
            server.name(),
            server.log()
        )
    })
}

/// An endpoint for a loopback address, named by IP so the certificate's IP SAN is checked.
pub fn endpoint(addr: SocketAddr, security: Security) -> Endpoint {
    Endpoint {
        host: addr.ip().to_string(),
        port: addr.port(),
        security,
    }
}

/// A bare async-imap session, bypassing the engine: TCP to `addr`, TLS verified by `tls`
/// (the server named by `addr`'s IP), the greeting read, LOGIN, then COMPRESS=DEFLATE when
/// `compress`. For baselines (the benchmarks' raw fetches, byte counts through a tap); the
/// caller selects and logs out. Panics on any failure.
pub async fn raw_session(
    tls: &TlsConnector,
    addr: SocketAddr,
    user: &str,
    password: &str,
    compress: bool,
) -> async_imap::Session<BoxedIo> {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let stream = tls
        .connect(
            &addr.ip().to_string(),
            tcp,
            std::time::Duration::from_secs(10),
        )
        .await
        .unwrap();
    let mut client = async_imap::Client::new(BoxedIo::new(stream));
    // A naive client trusts whatever the server announces (upstream async-imap took literals
    // up to 512 MiB): the baselines fetch a whole 100 MiB part in one response.
    client.set_limits(async_imap::framing::ResponseLimits {
        max_literal: 512 << 20,
        max_line: 512 << 20,
        max_response: 1 << 30,
        max_depth: u32::MAX,
    });
    client.read_response().await.unwrap().unwrap();
    let mut session = client
        .login(user, password)
        .await
        .map_err(|(e, _)| e)
        .unwrap();
    if compress {
        session = session.compress(BoxedIo::new).await.unwrap();
    }
    session
}

/// Everything a sync test needs on the client side: a real SQLite store in a temp dir and
/// an account row pointing at the harness server.
pub struct SyncClient {
    pub dir: tempfile::TempDir,
    pub store: anvert_core::store::Store,
    pub account: anvert_core::store::AccountId,
}

impl SyncClient {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = anvert_core::store::Store::open(dir.path().join("anvert.db"))
            .await
            .unwrap();
        let account = store
            .add_account(&anvert_core::store::NewAccount {
                name: "alice".into(),
                kind: anvert_core::store::AccountKind::Imap,
                host: "127.0.0.1".into(),
                port: 993,
                security: "tls".into(),
                username: "alice".into(),
            })
            .await
            .unwrap();
        SyncClient {
            dir,
            store,
            account,
        }
    }

    /// Connects to `addr` (the server, or a tap in front of it) with implicit TLS, syncs
    /// once, logs out.
    pub async fn sync(
        &self,
        server: &dyn TestServer,
        addr: SocketAddr,
        request: &anvert_core::policy::SyncRequest,
    ) -> anvert_core::sync::SyncReport {
        self.sync_with(server, addr, request, &ConnectOptions::default())
            .await
    }

    pub async fn sync_with(
        &self,
        server: &dyn TestServer,
        addr: SocketAddr,
        request: &anvert_core::policy::SyncRequest,
        options: &ConnectOptions,
    ) -> anvert_core::sync::SyncReport {
        let meter = WireMeter::new();
        let mut session = imap::connect(
            &endpoint(addr, Security::ImplicitTls),
            &server.credential("alice"),
            &server.tls(),
            &meter,
            options,
        )
        .await
        .unwrap_or_else(|e| panic!("connect: {e}\n{}", server.log()));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let report = anvert_core::sync::sync_imap_account(
            &mut session,
            &self.store,
            self.account,
            request,
            now,
        )
        .await
        .unwrap_or_else(|e| panic!("sync: {e}\n{}", server.log()));
        session.logout().await.unwrap();
        report
    }

    /// [`SyncClient::sync`] that hands back a failed connect or sync instead of panicking
    /// (for fault tests). Logs out only after a successful sync.
    pub async fn try_sync(
        &self,
        server: &dyn TestServer,
        addr: SocketAddr,
        request: &anvert_core::policy::SyncRequest,
    ) -> anvert_core::Result<anvert_core::sync::SyncReport> {
        let mut session = imap::connect(
            &endpoint(addr, Security::ImplicitTls),
            &server.credential("alice"),
            &server.tls(),
            &WireMeter::new(),
            &ConnectOptions::default(),
        )
        .await?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let report = anvert_core::sync::sync_imap_account(
            &mut session,
            &self.store,
            self.account,
            request,
            now,
        )
        .await?;
        session.logout().await?;
        Ok(report)
    }

    /// The stored folder id for `name`.
    pub async fn folder(&self, name: &str) -> anvert_core::store::FolderId {
        self.store
            .folders(self.account)
            .await
            .unwrap()
            .into_iter()
            .find(|f| f.name == name)
            .expect("folder stored")
            .id
    }

    /// Every stored message of a folder, newest first, with its parts.
    pub async fn all_messages(
        &self,
        folder: anvert_core::store::FolderId,
    ) -> Vec<anvert_core::store::MessageDetail> {
        let mut out = Vec::new();
        let mut cursor = None;
        loop {
            let page = self.store.messages_page(folder, cursor, 500).await.unwrap();
            for item in &page.items {
                out.push(self.store.message(item.id).await.unwrap().unwrap());
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        out
    }
}
