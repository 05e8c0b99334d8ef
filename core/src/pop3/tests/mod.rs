//! Transcript tests for the POP3 client: a scripted fake server on an in-memory pipe plays
//! the server's bytes and checks the client's, byte for byte. No network, no real server
//! (the real-Dovecot tests live in the `tests` crate).

mod connect;
mod session;

use std::time::Duration;

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt, DuplexStream},
    task::JoinHandle,
};

use super::{Pop3Options, Pop3Session, connect::establish};
use crate::{
    error::Result,
    net::{BoxedIo, Credential, Endpoint, Security, TlsConnector, Trust, WireMeter},
};

/// One move of the fake server.
pub(super) enum Step {
    /// Write these bytes in one go.
    Send(Vec<u8>),
    /// Write these bytes one at a time, yielding in between.
    SendSlowly(Vec<u8>),
    /// Read exactly these bytes from the client.
    Expect(Vec<u8>),
    /// Read whatever arrives in one read and keep it for the test.
    Capture,
    /// Close the connection now.
    Close,
}

pub(super) fn send(bytes: impl AsRef<[u8]>) -> Step {
    Step::Send(bytes.as_ref().to_vec())
}

pub(super) fn expect(bytes: impl AsRef<[u8]>) -> Step {
    Step::Expect(bytes.as_ref().to_vec())
}

/// Starts the fake server. Its handle yields every byte it read beyond the `Expect`ed ones:
/// `Capture`d bytes, then whatever the client sent after the script until it hung up.
pub(super) fn server(script: Vec<Step>) -> (DuplexStream, JoinHandle<Vec<u8>>) {
    let (client, mut server) = tokio::io::duplex(64 * 1024);
    let handle = tokio::spawn(async move {
        let mut extra = Vec::new();
        for step in script {
            match step {
                Step::Send(bytes) => {
                    if server.write_all(&bytes).await.is_err() {
                        return extra;
                    }
                }
                Step::SendSlowly(bytes) => {
                    for b in bytes {
                        if server.write_all(&[b]).await.is_err() {
                            return extra;
                        }
                        tokio::task::yield_now().await;
                    }
                }
                Step::Expect(want) => {
                    let mut got = vec![0; want.len()];
                    if let Err(e) = server.read_exact(&mut got).await {
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
                Step::Capture => {
                    let mut buf = vec![0; 64 * 1024];
                    let n = server.read(&mut buf).await.unwrap_or(0);
                    extra.extend_from_slice(&buf[..n]);
                }
                Step::Close => return extra,
            }
        }
        let _ = server.read_to_end(&mut extra).await;
        extra
    });
    (client, handle)
}

pub(super) fn endpoint(security: Security) -> Endpoint {
    Endpoint {
        host: "mail.example.test".into(),
        port: 110,
        security,
    }
}

pub(super) const USER: &str = "alice";
pub(super) const PASSWORD: &str = "s3cret pass";

pub(super) fn credential() -> Credential {
    Credential::password(USER, PASSWORD)
}

pub(super) fn options() -> Pop3Options {
    Pop3Options {
        timeout: Duration::from_secs(5),
        ..Pop3Options::default()
    }
}

pub(super) fn tls() -> TlsConnector {
    TlsConnector::new(&Trust::default()).unwrap()
}

/// Runs `establish` against the fake server.
pub(super) async fn open(
    security: Security,
    script: Vec<Step>,
    options: &Pop3Options,
) -> (Result<Pop3Session>, JoinHandle<Vec<u8>>, WireMeter) {
    let meter = WireMeter::new();
    let (io, handle) = server(script);
    let result = establish(
        BoxedIo::new(meter.wrap(io)),
        &endpoint(security),
        &credential(),
        &tls(),
        &meter,
        options,
    )
    .await;
    (result, handle, meter)
}

pub(super) const BASIC_CAPS: &str = "TOP\r\nUIDL\r\nUSER\r\nRESP-CODES\r\n";

/// Greeting (with an APOP timestamp), CAPA, APOP (preferred on plaintext) and the CAPA
/// after login, with `caps` announced both times.
pub(super) fn prelude(caps: &str) -> Vec<Step> {
    vec![
        send("+OK Fake POP3 ready <1896.697170952@fake.test>\r\n"),
        expect("CAPA\r\n"),
        send(format!("+OK Capability list follows\r\n{caps}.\r\n")),
        // md5("<1896.697170952@fake.test>s3cret pass")
        expect(format!("APOP {USER} b5f7aa99562982ba7c98744594da3e25\r\n")),
        send("+OK Logged in.\r\n"),
        expect("CAPA\r\n"),
        send(format!("+OK\r\n{caps}.\r\n")),
    ]
}

/// A plaintext session logged in by `prelude(caps)`, then playing `rest`.
pub(super) async fn session_with(
    caps: &str,
    rest: Vec<Step>,
) -> (Pop3Session, JoinHandle<Vec<u8>>, WireMeter) {
    session_with_options(caps, rest, &options()).await
}

pub(super) async fn session_with_options(
    caps: &str,
    rest: Vec<Step>,
    options: &Pop3Options,
) -> (Pop3Session, JoinHandle<Vec<u8>>, WireMeter) {
    let mut script = prelude(caps);
    script.extend(rest);
    let (session, handle, meter) = open(Security::DangerPlaintext, script, options).await;
    (session.unwrap(), handle, meter)
}

/// This thread's CPU time (with a current-thread runtime, the client's and the fake server's
/// work together).
pub(super) use crate::mutate::thread_cpu;
