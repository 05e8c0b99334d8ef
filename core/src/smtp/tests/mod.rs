//! Transcript tests for the SMTP client: a scripted fake server on an in-memory pipe plays the
//! server's bytes and checks the client's, byte for byte, with real TLS (a throwaway CA the
//! client trusts as an extra root) where a test needs it. No network, no real server (the
//! real-Dovecot tests live in the `tests` crate).

mod connect;
mod hostile;
mod send;

use std::{
    pin::Pin,
    sync::{
        Arc, OnceLock,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream, ReadBuf},
    task::JoinHandle,
};

use super::{SmtpOptions, SmtpSession, connect::establish};
use crate::{
    error::Result,
    net::{BoxedIo, Credential, Endpoint, Io, Security, TlsConnector, Trust, WireMeter},
};

/// One move of the fake server.
pub(super) enum Step {
    /// Write these bytes in one go.
    Send(Vec<u8>),
    /// Read exactly these bytes from the client.
    Expect(Vec<u8>),
    /// Accept a TLS handshake on the connection (implicit TLS, or after STARTTLS's 220).
    Tls,
    /// Close the connection now.
    Close,
}

pub(super) fn send(bytes: impl AsRef<[u8]>) -> Step {
    Step::Send(bytes.as_ref().to_vec())
}

pub(super) fn expect(bytes: impl AsRef<[u8]>) -> Step {
    Step::Expect(bytes.as_ref().to_vec())
}

/// A throwaway CA and a server certificate for `mail.example.test`, made once per run.
struct Pki {
    ca: CertificateDer<'static>,
    acceptor: tokio_rustls::TlsAcceptor,
}

fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "anvert smtp test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["mail.example.test".to_string()]).unwrap();
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let leaf = params.signed_by(&key, &issuer).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
        Pki {
            ca: ca.der().clone(),
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        }
    })
}

pub(super) fn tls() -> TlsConnector {
    TlsConnector::new(&Trust {
        extra_roots: vec![pki().ca.clone()],
    })
    .unwrap()
}

/// Starts the fake server. Its handle yields every byte the client sent after the script
/// (inside TLS where the script started it), until the client hung up.
pub(super) fn server(script: Vec<Step>) -> (DuplexStream, JoinHandle<Vec<u8>>) {
    let (client, server) = tokio::io::duplex(256 * 1024);
    let handle = tokio::spawn(async move {
        let mut stream: Box<dyn Io> = Box::new(server);
        let mut extra = Vec::new();
        for step in script {
            match step {
                Step::Send(bytes) => {
                    if stream.write_all(&bytes).await.is_err() || stream.flush().await.is_err() {
                        return extra;
                    }
                }
                Step::Expect(want) => {
                    let mut got = vec![0; want.len()];
                    if let Err(e) = stream.read_exact(&mut got).await {
                        panic!(
                            "expected {:?} from the client, got {e}",
                            String::from_utf8_lossy(&want)
                        );
                    }
                    assert_eq!(
                        String::from_utf8_lossy(&got),
                        String::from_utf8_lossy(&want),
                        "client sent"
                    );
                }
                Step::Tls => {
                    stream = Box::new(pki().acceptor.accept(stream).await.unwrap());
                }
                Step::Close => return extra,
            }
        }
        let _ = stream.read_to_end(&mut extra).await;
        extra
    });
    (client, handle)
}

pub(super) fn endpoint(security: Security) -> Endpoint {
    Endpoint {
        host: "mail.example.test".into(),
        port: 587,
        security,
    }
}

pub(super) const USER: &str = "alice";
pub(super) const PASSWORD: &str = "s3cret pass";
/// base64("\0alice\0s3cret pass")
pub(super) const PLAIN_IR: &str = "AGFsaWNlAHMzY3JldCBwYXNz";

pub(super) fn credential() -> Credential {
    Credential::password(USER, PASSWORD)
}

pub(super) fn options() -> SmtpOptions {
    SmtpOptions {
        timeout: Duration::from_secs(5),
        final_reply_timeout: Duration::from_secs(5),
    }
}

/// Counts the client's writes that reach the socket (one per `poll_write` that took bytes).
#[derive(Debug, Clone, Default)]
pub(super) struct Writes(Arc<AtomicUsize>);

impl Writes {
    pub(super) fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

struct Counted {
    inner: DuplexStream,
    writes: Writes,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let res = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = res
            && n > 0
        {
            self.writes.0.fetch_add(1, Ordering::SeqCst);
        }
        res
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// What a test gets back: the session (or error), the server's leftovers, the meter and the
/// client's write count.
pub(super) struct Opened {
    pub result: Result<SmtpSession>,
    pub server: JoinHandle<Vec<u8>>,
    pub meter: WireMeter,
    pub writes: Writes,
}

/// Runs `establish` against the fake server.
pub(super) async fn open_with(
    security: Security,
    credential: &Credential,
    script: Vec<Step>,
) -> Opened {
    let meter = WireMeter::new();
    let writes = Writes::default();
    let (io, server) = server(script);
    let io = Counted {
        inner: io,
        writes: writes.clone(),
    };
    let result = establish(
        BoxedIo::new(meter.wrap(io)),
        &endpoint(security),
        credential,
        &tls(),
        &meter,
        &options(),
    )
    .await;
    Opened {
        result,
        server,
        meter,
        writes,
    }
}

pub(super) async fn open(security: Security, script: Vec<Step>) -> Opened {
    open_with(security, &credential(), script).await
}

/// Greeting, EHLO with `caps` (lines after the name, each `250-`/`250 ` added), AUTH PLAIN.
pub(super) fn prelude(caps: &[&str]) -> Vec<Step> {
    vec![
        send("220 fake.test ESMTP ready\r\n"),
        expect("EHLO [127.0.0.1]\r\n"),
        send(ehlo_reply(caps)),
        expect(format!("AUTH PLAIN {PLAIN_IR}\r\n")),
        send("235 2.7.0 Authentication successful\r\n"),
    ]
}

/// An EHLO reply naming the server, then `caps`, one a line.
pub(super) fn ehlo_reply(caps: &[&str]) -> String {
    let mut lines = vec!["fake.test".to_string()];
    lines.extend(caps.iter().map(|c| c.to_string()));
    let n = lines.len();
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| format!("250{}{l}\r\n", if i + 1 == n { ' ' } else { '-' }))
        .collect()
}

/// A plaintext session logged in by `prelude(caps)`, then playing `rest`.
pub(super) async fn session_with(caps: &[&str], rest: Vec<Step>) -> Opened {
    let mut script = prelude(caps);
    script.extend(rest);
    open(Security::DangerPlaintext, script).await
}
