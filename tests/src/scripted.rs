//! A scripted IMAP server for hostile-server tests of the whole engine: it greets, accepts any
//! LOGIN, answers LOGOUT, and hands every other command to the test's `respond`, which picks
//! the exact bytes to send back. Plaintext (the engine connects with `DangerPlaintext`: the
//! bytes are the point) or implicit TLS with a throwaway CA, for the CLI, which only speaks
//! TLS. Connections are served concurrently; `respond` is called for one command at a time.
//!
//! With `COMPRESS=DEFLATE` among the capabilities, `COMPRESS DEFLATE` is answered by the
//! script as any command, and both directions are deflated after it.
//!
//! `TAG` at the start of a line of a reply becomes the command's tag. A command's literals (`{n}` or
//! `{n+}`, as APPEND sends) are read and kept in the command text as `{n}` plus the bytes.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use anvert_core::{
    engine::{AccountConfig, Engine, EngineConfig, Protocol},
    imap::ConnectOptions,
    net::{Credential, Endpoint, Security},
    store::AccountId,
};
use async_compression::tokio::{bufread::DeflateDecoder, write::DeflateEncoder};
use tokio::{
    io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader},
    net::TcpListener,
};

use crate::certs::TestPki;

/// What the server does with one command.
pub enum Reply {
    /// These untagged bytes, then `TAG OK done`.
    Ok(Vec<u8>),
    /// Exactly these bytes, nothing else.
    Raw(Vec<u8>),
    /// These bytes, then the connection is closed.
    Close(Vec<u8>),
    /// These bytes, then silence with the connection left open until the client leaves.
    Hang(Vec<u8>),
    /// `head`, then `len` bytes of `fill` written 64 KiB at a time (never held in memory
    /// whole, so the test process's peak memory is the engine's), then `tail`, then silence.
    Flood {
        head: Vec<u8>,
        fill: u8,
        len: usize,
        tail: Vec<u8>,
    },
}

/// `Reply::Ok` of `untagged`.
pub fn ok(untagged: impl AsRef<[u8]>) -> Reply {
    Reply::Ok(untagged.as_ref().to_vec())
}

/// How the server presents itself.
#[derive(Clone)]
pub struct Script {
    /// The greeting line, CRLF included.
    pub greeting: Vec<u8>,
    /// Bytes of `x` streamed after the greeting (a hostile greeting without an end).
    pub greeting_fill: usize,
    /// The capabilities in LOGIN's OK.
    pub capabilities: String,
    /// Implicit TLS with a fresh test CA.
    pub tls: bool,
}

impl Default for Script {
    fn default() -> Self {
        Script {
            greeting: b"* OK [CAPABILITY IMAP4rev1] scripted ready\r\n".to_vec(),
            greeting_fill: 0,
            capabilities: "IMAP4rev1 LITERAL+ UIDPLUS MOVE".to_string(),
            tls: false,
        }
    }
}

/// A running scripted server; stops when dropped.
pub struct ScriptedImap {
    pub addr: SocketAddr,
    /// The CA to trust, when the server speaks TLS.
    pub pki: Option<TestPki>,
    commands: Arc<Mutex<Vec<String>>>,
    stop: Option<(
        tokio::sync::oneshot::Sender<()>,
        std::thread::JoinHandle<()>,
    )>,
    _dir: tempfile::TempDir,
}

type Respond = Arc<Mutex<dyn FnMut(&str) -> Reply + Send>>;

impl ScriptedImap {
    pub async fn start(
        script: Script,
        respond: impl FnMut(&str) -> Reply + Send + 'static,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let pki = script
            .tls
            .then(|| TestPki::create(dir.path(), "anvert scripted CA").unwrap());
        let acceptor = pki.as_ref().map(|pki| {
            let certs = certs_der(&pki.server_cert_pem);
            let key = rustls_pki_types::PrivateKeyDer::try_from(pem_der(
                &pki.server_key_pem,
                "PRIVATE KEY",
            ))
            .unwrap();
            let config = rustls::ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
            tokio_rustls::TlsAcceptor::from(Arc::new(config))
        });
        // The server runs on a thread of its own, so the test thread's CPU time (see
        // `thread_cpu`) is the engine's alone.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let commands = Arc::new(Mutex::new(Vec::new()));
        let respond: Respond = Arc::new(Mutex::new(respond));
        let seen = commands.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = TcpListener::from_std(listener).unwrap();
                let serve = async {
                    loop {
                        let Ok((socket, _)) = listener.accept().await else {
                            return;
                        };
                        let (script, respond, seen, acceptor) = (
                            script.clone(),
                            respond.clone(),
                            seen.clone(),
                            acceptor.clone(),
                        );
                        tokio::spawn(async move {
                            match acceptor {
                                Some(acceptor) => {
                                    if let Ok(tls) = acceptor.accept(socket).await {
                                        converse(tls, &script, &respond, &seen).await;
                                    }
                                }
                                None => converse(socket, &script, &respond, &seen).await,
                            }
                        });
                    }
                };
                tokio::select! {
                    _ = serve => {}
                    _ = stopped => {}
                }
            });
        });
        ScriptedImap {
            addr,
            pki,
            commands,
            stop: Some((stop, thread)),
            _dir: dir,
        }
    }

    /// Every command received so far, in order, without tags (LOGIN's arguments left out).
    pub fn commands(&self) -> Vec<String> {
        self.commands.lock().unwrap().clone()
    }

    /// How many commands received so far start with `prefix`.
    pub fn count(&self, prefix: &str) -> usize {
        self.commands()
            .iter()
            .filter(|c| c.starts_with(prefix))
            .count()
    }

    /// An engine over a fresh data directory in `dir`, trusting this server's CA, with one
    /// IMAP account (`alice`) on this server.
    pub async fn engine(&self, dir: &std::path::Path) -> (Engine, AccountId) {
        let engine = Engine::open(EngineConfig {
            data_dir: dir.to_path_buf(),
            extra_roots_pem: self.pki.as_ref().map(|p| p.ca_pem.clone()),
            connect: ConnectOptions {
                timeout: std::time::Duration::from_secs(10),
                ..ConnectOptions::default()
            },
            cache_budget: None,
            ..EngineConfig::default()
        })
        .await
        .unwrap();
        let account = engine
            .add_account(AccountConfig {
                name: "scripted".into(),
                protocol: Protocol::Imap,
                endpoint: self.endpoint(),
                credential: Credential::password("alice", "pw"),
            })
            .await
            .unwrap();
        (engine, account)
    }

    /// The endpoint the engine should use.
    pub fn endpoint(&self) -> Endpoint {
        Endpoint {
            host: self.addr.ip().to_string(),
            port: self.addr.port(),
            security: if self.pki.is_some() {
                Security::ImplicitTls
            } else {
                Security::DangerPlaintext
            },
        }
    }
}

impl Drop for ScriptedImap {
    fn drop(&mut self) {
        if let Some((stop, thread)) = self.stop.take() {
            let _ = stop.send(());
            let _ = thread.join();
        }
    }
}

type Reader = BufReader<Box<dyn AsyncRead + Unpin + Send>>;
type Writer = Box<dyn AsyncWrite + Unpin + Send>;

async fn converse<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    socket: S,
    script: &Script,
    respond: &Respond,
    seen: &Mutex<Vec<String>>,
) {
    let (read, write) = tokio::io::split(socket);
    let mut read: Reader = BufReader::new(Box::new(read));
    let mut write: Writer = Box::new(write);
    if flood(
        &mut write,
        &script.greeting,
        b'x',
        script.greeting_fill,
        b"",
    )
    .await
    .is_err()
    {
        return;
    }
    let mut compress_next = false;
    loop {
        if std::mem::take(&mut compress_next) {
            // The OK went out plain; both directions are raw DEFLATE from here on (RFC 4978).
            let inner = read.into_inner();
            read = BufReader::new(Box::new(DeflateDecoder::new(BufReader::new(inner))));
            write = Box::new(DeflateEncoder::new(write));
        }
        let Some(text) = read_command(&mut read, &mut write).await else {
            return;
        };
        let (tag, command) = text.split_once(' ').unwrap_or((&text, ""));
        compress_next =
            command == "COMPRESS DEFLATE" && script.capabilities.contains("COMPRESS=DEFLATE");
        let reply = if command.starts_with("LOGIN ") {
            seen.lock().unwrap().push("LOGIN".to_string());
            Reply::Raw(
                format!("TAG OK [CAPABILITY {}] logged in\r\n", script.capabilities).into_bytes(),
            )
        } else if command == "LOGOUT" {
            seen.lock().unwrap().push(command.to_string());
            Reply::Close(b"* BYE bye\r\nTAG OK done\r\n".to_vec())
        } else {
            // A bare `DONE` (after IDLE) has no tag: it reaches `respond` whole.
            let command = if command.is_empty() { tag } else { command };
            seen.lock().unwrap().push(command.to_string());
            let mut respond = respond.lock().unwrap();
            (*respond)(command)
        };
        let with_tag = |bytes: Vec<u8>| replace(&bytes, b"TAG", tag.as_bytes());
        let (bytes, then) = match reply {
            Reply::Ok(untagged) => {
                let mut bytes = with_tag(untagged);
                bytes.extend_from_slice(format!("{tag} OK done\r\n").as_bytes());
                (bytes, None)
            }
            Reply::Raw(bytes) => (with_tag(bytes), None),
            Reply::Close(bytes) => (with_tag(bytes), Some(false)),
            Reply::Hang(bytes) => (with_tag(bytes), Some(true)),
            Reply::Flood {
                head,
                fill,
                len,
                tail,
            } => {
                let _ = flood(&mut write, &with_tag(head), fill, len, &with_tag(tail)).await;
                let mut sink = Vec::new();
                let _ = read.read_to_end(&mut sink).await;
                return;
            }
        };
        if write.write_all(&bytes).await.is_err() || write.flush().await.is_err() {
            return;
        }
        match then {
            None => {}
            Some(false) => {
                let _ = write.shutdown().await;
                return;
            }
            Some(true) => {
                let mut sink = Vec::new();
                let _ = read.read_to_end(&mut sink).await;
                return;
            }
        }
    }
}

async fn flood(
    write: &mut Writer,
    head: &[u8],
    fill: u8,
    len: usize,
    tail: &[u8],
) -> std::io::Result<()> {
    write.write_all(head).await?;
    let chunk = vec![fill; 64 * 1024];
    let mut left = len;
    while left > 0 {
        let n = left.min(chunk.len());
        write.write_all(&chunk[..n]).await?;
        left -= n;
    }
    write.write_all(tail).await?;
    write.flush().await
}

/// One command line, with its literals read (a synchronizing one is answered `+`).
async fn read_command<R, W>(read: &mut BufReader<R>, write: &mut W) -> Option<String>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut text = Vec::new();
    loop {
        let mut line = Vec::new();
        if read.read_until(b'\n', &mut line).await.ok()? == 0 {
            return None;
        }
        while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            line.pop();
        }
        let literal = literal_size(&line);
        text.extend_from_slice(&line);
        let Some((size, synchronizing)) = literal else {
            return Some(String::from_utf8_lossy(&text).into_owned());
        };
        if synchronizing {
            write.write_all(b"+ go ahead\r\n").await.ok()?;
            write.flush().await.ok()?;
        }
        let mut bytes = vec![0; size];
        read.read_exact(&mut bytes).await.ok()?;
        text.extend_from_slice(&bytes);
    }
}

/// `{n}` (synchronizing) or `{n+}` at the end of a line.
fn literal_size(line: &[u8]) -> Option<(usize, bool)> {
    let body = line.strip_suffix(b"}")?;
    let open = body.iter().rposition(|b| *b == b'{')?;
    let inner = &body[open + 1..];
    let (digits, synchronizing) = match inner.strip_suffix(b"+") {
        Some(d) => (d, false),
        None => (inner, true),
    };
    let size = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some((size, synchronizing))
}

/// `haystack` with `from` replaced by `to` where it begins a line (tags only begin lines; a
/// literal's bytes elsewhere are left alone).
fn replace(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut rest = haystack;
    loop {
        if let Some(after) = rest.strip_prefix(from) {
            out.extend_from_slice(to);
            rest = after;
        }
        match rest.iter().position(|b| *b == b'\n') {
            Some(i) => {
                out.extend_from_slice(&rest[..=i]);
                rest = &rest[i + 1..];
            }
            None => {
                out.extend_from_slice(rest);
                return out;
            }
        }
    }
}

fn certs_der(pem: &str) -> Vec<rustls_pki_types::CertificateDer<'static>> {
    vec![rustls_pki_types::CertificateDer::from(pem_der(
        pem,
        "CERTIFICATE",
    ))]
}

/// The DER inside the first PEM block labelled `label` (`…PRIVATE KEY` matches any key kind).
fn pem_der(pem: &str, label: &str) -> Vec<u8> {
    use base64::Engine as _;
    let mut inside = false;
    let mut b64 = String::new();
    for line in pem.lines() {
        if line.starts_with("-----BEGIN") && line.contains(label) {
            inside = true;
        } else if line.starts_with("-----END") && inside {
            break;
        } else if inside {
            b64.push_str(line.trim());
        }
    }
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap()
}

/// CPU time (user + system) this thread has used so far, from `/proc/thread-self/stat`. With a
/// current-thread runtime this is the engine's protocol work (framing, parsing, conversion);
/// SQLite runs on sqlx's own threads and is not counted.
pub fn thread_cpu() -> std::time::Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    // The command name (field 2) may hold spaces: count fields after its closing paren.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After ")" field 3 is index 0, so utime (14) is index 11 and stime (15) index 12.
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
        .sum();
    // In USER_HZ, which is 100 on every architecture Linux supports.
    std::time::Duration::from_millis(ticks * 10)
}

/// Resets this process's peak resident set (`VmHWM`) to its current size (Linux
/// `clear_refs`), so the next [`peak_rss`] tells the peak of what runs in between.
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// This process's resident set now (`VmRSS`), in bytes.
pub fn rss() -> u64 {
    proc_status_kb("VmRSS:") * 1024
}

/// This process's peak resident set so far (`VmHWM`), in bytes. Process-wide: a test that
/// asserts on it runs alone in its own test binary.
pub fn peak_rss() -> u64 {
    proc_status_kb("VmHWM:") * 1024
}

fn proc_status_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use anvert_core::policy::SyncRequest;

    use super::*;

    #[tokio::test]
    async fn the_engine_syncs_an_empty_inbox_from_a_script_over_tls() {
        let script = Script {
            tls: true,
            ..Script::default()
        };
        let server = ScriptedImap::start(script, |command| {
            if command.starts_with("LIST") {
                ok("* LIST () \"/\" INBOX\r\n")
            } else if command.starts_with("SELECT") {
                ok("* 0 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT 1] ok\r\n")
            } else {
                ok("")
            }
        })
        .await;
        let dir = tempfile::tempdir().unwrap();
        let (engine, account) = server.engine(dir.path()).await;
        let report = engine.sync(account, &SyncRequest::default()).await.unwrap();
        assert_eq!(report.folders.len(), 1, "{report:?}");
        assert!(server.count("SELECT") >= 1, "{:?}", server.commands());
    }
}
