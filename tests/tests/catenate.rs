//! Lemonade's IMAP side against the real servers: a forward assembled on the server with
//! CATENATE (RFC 4469) from new text and URL references to an attachment the client never
//! downloads, measured with the tap; CATENATE refusals; GENURLAUTH (RFC 4467) and a URLFETCH
//! of the signed URL.
//!
//! The original is a text part and a 1.5 MB base64 attachment of random bytes. The forward
//! built by `sync::forward_catenate_parts` goes into Sent; fetched back, it must be exactly
//! the new text, the original's part header and body as they were delivered, and the closing
//! boundary, and its attachment must decode to the original bytes (sha256). The upload must
//! stay within the TEXT parts plus [`UPLOAD_SLACK`], whatever the attachment's size.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed setup should fail loudly

use anvert_core::{
    Error,
    imap::{self, BADURL, CatPart, ConnectOptions, ImapSession, OwnedCatPart, url},
    net::{Security, WireMeter},
    sync::{ForwardOriginal, ForwardText, forward_catenate_parts},
};
use anvert_tests::{
    client::{endpoint, imap_login, raw_session},
    on_each_server,
    server::TestServer,
    tap::Tap,
};
use base64::Engine as _;
use rand::RngCore;
use rand_chacha::{ChaCha8Rng, rand_core::SeedableRng};
use sha2::{Digest, Sha256};

/// Upload allowed beyond the TEXT parts' bytes: the command words, mailbox, flags and URLs
/// and one TLS record's overhead (measured: 202 bytes on both servers).
const UPLOAD_SLACK: u64 = 512;

const ATTACHMENT_SIZE: usize = 1_500_000;

/// The original message: its bytes, its attachment's MIME header and body exactly as
/// `BODY[2.MIME]` and `BODY[2]` return them, and the attachment's decoded bytes.
struct Original {
    raw: Vec<u8>,
    part_header: Vec<u8>,
    part_body: Vec<u8>,
    attachment: Vec<u8>,
}

fn original(tag: &str) -> Original {
    original_of(tag, ATTACHMENT_SIZE)
}

fn original_of(tag: &str, size: usize) -> Original {
    let mut attachment = vec![0u8; size];
    ChaCha8Rng::seed_from_u64(18).fill_bytes(&mut attachment);
    let encoded = base64::engine::general_purpose::STANDARD.encode(&attachment);
    let lines: Vec<&str> = encoded
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    let part_body = lines.join("\r\n").into_bytes();
    let part_header = b"Content-Type: application/octet-stream; name=\"report.bin\"\r\n\
        Content-Transfer-Encoding: base64\r\n\
        Content-Disposition: attachment; filename=\"report.bin\"\r\n\r\n"
        .to_vec();
    let mut raw = format!(
        "From: Bob <bob@example.com>\r\nTo: Alice <alice@example.com>\r\n\
         Subject: Report\r\nDate: Sun, 06 Dec 2026 10:00:00 +0000\r\n\
         Message-ID: <original-{tag}@example.com>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"outer-b0undary\"\r\n\r\n\
         --outer-b0undary\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         Here is the report.\r\n--outer-b0undary\r\n"
    )
    .into_bytes();
    raw.extend_from_slice(&part_header);
    raw.extend_from_slice(&part_body);
    raw.extend_from_slice(b"\r\n--outer-b0undary--\r\n");
    Original {
        raw,
        part_header,
        part_body,
        attachment,
    }
}

/// Appends the original to alice's INBOX (directly, not through any tap); its UIDVALIDITY
/// and UID.
async fn seed(server: &dyn TestServer, original: &Original) -> (u32, u32) {
    let mut session = imap_login(server, "alice").await;
    let out = session.append("INBOX", &[], &original.raw).await.unwrap();
    session.logout().await.unwrap();
    out.uid.expect("APPENDUID (both servers offer UIDPLUS)")
}

/// alice's session through `tap`, uncompressed so the tap counts what the command costs.
async fn tapped_session(server: &dyn TestServer, tap: &Tap) -> ImapSession {
    imap::connect(
        &endpoint(tap.addr(), Security::ImplicitTls),
        &server.credential("alice"),
        &server.tls(),
        &WireMeter::new(),
        &ConnectOptions {
            compress: false,
            ..ConnectOptions::default()
        },
    )
    .await
    .unwrap()
}

/// `BODY.PEEK[]` of `uid` in alice's `folder`, read with a bare async-imap session.
async fn fetch_raw(server: &dyn TestServer, folder: &str, uid: u32) -> Vec<u8> {
    use futures::TryStreamExt;
    let mut session = raw_session(
        &server.tls(),
        server.imaps_addr(),
        "alice",
        server.password("alice"),
        false,
    )
    .await;
    session.select(folder).await.unwrap();
    let fetches: Vec<_> = session
        .uid_fetch(uid.to_string(), "BODY.PEEK[]")
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let body = fetches
        .iter()
        .find_map(|f| f.body().map(<[u8]>::to_vec))
        .expect("the message is there");
    session.logout().await.unwrap();
    body
}

fn text_bytes(parts: &[OwnedCatPart]) -> u64 {
    parts
        .iter()
        .map(|p| match p {
            OwnedCatPart::Text(t) => t.len() as u64,
            OwnedCatPart::Url(_) => 0,
        })
        .sum()
}

/// Forwards an original with an attachment of `size` bytes through CATENATE, checks the
/// stored forward byte for byte and the attachment's sha256, and returns the tap's count of
/// the APPEND and the TEXT bytes it carried.
async fn forward_of(server: &dyn TestServer, size: usize) -> (anvert_tests::tap::TapStats, u64) {
    let original = original_of(&format!("{}-{size}", server.name()), size);
    let (uid_validity, uid) = seed(server, &original).await;
    let tap = Tap::start(server.imaps_addr()).unwrap();
    let mut session = tapped_session(server, &tap).await;
    assert!(
        session.capabilities().catenate(),
        "{} offers CATENATE",
        server.name()
    );

    let text_part = b"Content-Type: text/plain; charset=utf-8\r\n\r\nForwarding the report.\r\n";
    let headers = b"From: Alice <alice@example.com>\r\nTo: Carol <carol@example.com>\r\n\
        Subject: Fwd: Report\r\nDate: Sun, 06 Dec 2026 11:00:00 +0000\r\n\
        Message-ID: <forward@example.com>\r\n";
    let parts = forward_catenate_parts(
        ForwardText { headers, text_part },
        ForwardOriginal {
            mailbox: "INBOX",
            uid_validity,
            uid,
        },
        &["2"],
    )
    .unwrap();
    assert_eq!(parts.len(), 4, "TEXT, URL 2.MIME, URL 2, TEXT");
    let borrowed: Vec<CatPart<'_>> = parts.iter().map(OwnedCatPart::as_part).collect();

    let mark = tap.mark();
    let out = session
        .append_catenate("Sent", &["\\Seen"], &borrowed)
        .await
        .unwrap_or_else(|e| panic!("CATENATE on {}: {e}\n{}", server.name(), server.log()));
    let cost = tap.stats_since(&mark);
    let (sent_validity, sent_uid) = out.uid.expect("APPENDUID");

    // Still usable: the session read the completion and nothing else is pending; Sent now
    // holds the forward under its APPENDUID.
    let sent = session.select("Sent", None).await.unwrap();
    assert_eq!(sent.uid_validity, Some(sent_validity));
    session.logout().await.unwrap();

    let stored = fetch_raw(server, "Sent", sent_uid).await;
    let (OwnedCatPart::Text(first), OwnedCatPart::Text(last)) = (&parts[0], &parts[3]) else {
        panic!("{parts:?}")
    };
    let expected = [
        first.as_slice(),
        &original.part_header,
        &original.part_body,
        last,
    ]
    .concat();
    assert_eq!(
        stored.len(),
        expected.len(),
        "{} stored the forward with another size",
        server.name()
    );
    assert!(stored == expected, "the forward's bytes differ");
    let parsed = mail_parser::MessageParser::default()
        .parse(&stored)
        .unwrap();
    let attachment = parsed.attachment(0).expect("the attachment");
    assert_eq!(
        hex::encode(Sha256::digest(attachment.contents())),
        hex::encode(Sha256::digest(&original.attachment))
    );
    assert_eq!(parsed.subject(), Some("Fwd: Report"));
    (cost, text_bytes(&parts))
}

async fn forward_assembled_on_the_server(server: &dyn TestServer) {
    let (cost, text) = forward_of(server, ATTACHMENT_SIZE).await;
    println!(
        "{}: CATENATE forward of a {ATTACHMENT_SIZE}-byte attachment: {} bytes up ({text} of \
         TEXT), {} down, {} round trips",
        server.name(),
        cost.up,
        cost.down,
        cost.round_trips
    );
    assert!(
        cost.up <= text + UPLOAD_SLACK,
        "upload {} > TEXT {text} + {UPLOAD_SLACK}",
        cost.up
    );
    assert!(cost.down < 2_000, "download {}", cost.down);
    assert_eq!(cost.round_trips, 1, "LITERAL+: one flight");

    // The attachment's size does not show on the wire: a 10 KB one costs the same upload
    // (the URLs' UIDVALIDITY and UID may differ by a few digits).
    let (small, small_text) = forward_of(server, 10_000).await;
    println!(
        "{}: the same forward of a 10000-byte attachment: {} bytes up",
        server.name(),
        small.up
    );
    assert_eq!(small_text, text);
    assert!(
        cost.up.abs_diff(small.up) <= 16,
        "1.5 MB: {} up, 10 KB: {} up",
        cost.up,
        small.up
    );
}

async fn catenate_refusals_are_clear(server: &dyn TestServer) {
    let original = original(server.name());
    let (uid_validity, uid) = seed(server, &original).await;
    let mut session = imap_login(server, "alice").await;

    // A UID that does not exist: BADURL, naming the part, not the URL.
    let missing = url::relative("INBOX", uid_validity, uid + 100, Some("2")).unwrap();
    let err = session
        .append_catenate(
            "Sent",
            &[],
            &[CatPart::Text(b"Subject: x\r\n\r\n"), CatPart::Url(&missing)],
        )
        .await
        .unwrap_err();
    println!("{}: {err}", server.name());
    let Error::ServerNo { text, .. } = &err else {
        panic!("{}: {err:?}", server.name())
    };
    assert!(text.starts_with(BADURL), "{}: {text}", server.name());
    assert!(text.contains("URL part 2 of 2"), "{text}");
    assert!(!err.to_string().contains(&missing), "{err}");

    // An absolute URL where CATENATE wants a relative one.
    let absolute = format!("imap://alice@localhost{missing}");
    let err = session
        .append_catenate("Sent", &[], &[CatPart::Url(&absolute)])
        .await
        .unwrap_err();
    println!("{}: {err}", server.name());
    assert!(!err.to_string().contains(&absolute), "{err}");

    // The session goes on, and a good CATENATE of the whole message works.
    let whole = url::relative("INBOX", uid_validity, uid, None).unwrap();
    let out = session
        .append_catenate("Sent", &[], &[CatPart::Url(&whole)])
        .await
        .unwrap();
    let (_, copy) = out.uid.unwrap();
    session.logout().await.unwrap();
    assert!(fetch_raw(server, "Sent", copy).await == original.raw);
}

on_each_server!(forward_assembled_on_the_server, catenate_refusals_are_clear);

/// GENURLAUTH over a session through a tap, so connected to another port than the server's:
/// the URL must name the server as it signs URLs (`authority`), not the address connected
/// to. A rump naming the tap's address is refused, and the refusal does not quote it. The
/// signed `submit+alice` URL extends the rump; a `user+alice` one is returned for a
/// URLFETCH as alice.
async fn genurlauth_signs(server: &dyn TestServer, authority: &str) -> String {
    let original = original(server.name());
    let (uid_validity, uid) = seed(server, &original).await;
    let tap = Tap::start(server.imaps_addr()).unwrap();
    let mut session = tapped_session(server, &tap).await;
    assert!(
        session.capabilities().urlauth(),
        "{} offers URLAUTH",
        server.name()
    );
    let wrong =
        url::submit_rump(&tap.addr().to_string(), "alice", "INBOX", uid_validity, uid).unwrap();
    let err = session.genurlauth(&wrong).await.unwrap_err();
    println!("{}: a rump naming the tap: {err}", server.name());
    assert!(
        matches!(err, Error::ServerNo { .. } | Error::ServerBad { .. }),
        "{err:?}"
    );
    assert!(!err.to_string().contains("imap://"), "{err}");

    let rump = url::submit_rump(authority, "alice", "INBOX", uid_validity, uid).unwrap();
    let mark = tap.mark();
    let signed = session
        .genurlauth(&rump)
        .await
        .unwrap_or_else(|e| panic!("GENURLAUTH on {}: {e}\n{}", server.name(), server.log()));
    let cost = tap.stats_since(&mark);
    println!(
        "{}: GENURLAUTH {} bytes up, {} down, {} round trip(s)",
        server.name(),
        cost.up,
        cost.down,
        cost.round_trips
    );
    assert_eq!(cost.round_trips, 1);
    let token = signed
        .strip_prefix(&format!("{rump}:internal:"))
        .expect("the signed URL extends the rump");
    assert!(token.len() >= 32 && token.bytes().all(|b| b.is_ascii_hexdigit()));

    let rump = rump.replace(";urlauth=submit+alice", ";urlauth=user+alice");
    let signed = session.genurlauth(&rump).await.unwrap();
    session.logout().await.unwrap();
    signed
}

/// What a raw URLFETCH of `signed` returned holds the original message.
fn assert_urlfetched(server: &dyn TestServer, lines: &[String]) {
    let joined = lines.join("\n");
    assert!(
        joined.contains("* URLFETCH"),
        "{}: {joined:.300}",
        server.name()
    );
    assert!(
        joined.contains(&format!(
            "Message-ID: <original-{}@example.com>",
            server.name()
        )),
        "{}: the message comes back",
        server.name()
    );
}

mod genurlauth_signs_and_urlfetch_reads {
    use anvert_tests::{
        cyrus::Cyrus,
        dovecot::{Dovecot, SubmissionOptions},
    };

    /// Cyrus signs URLs for its `servername` only (no port); any other host is
    /// `NO Error authorizing …: not a cyrusdb error`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cyrus() {
        let server = Cyrus::start();
        let signed = super::genurlauth_signs(&server, "imap://anvert-test").await;
        let lines = server.imap_as("alice", &[&format!("URLFETCH \"{signed}\"")]);
        super::assert_urlfetched(&server, &lines);
    }

    /// Dovecot with URLAUTH configured (the submission harness): URLs must name
    /// `imap_urlauth_host` and `imap_urlauth_port`, the authority BURL announces.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dovecot() {
        let server = Dovecot::with_submission(SubmissionOptions::default());
        let authority = server.urlauth_authority();
        let signed = super::genurlauth_signs(&server, &authority).await;
        let answers = server
            .imap_script("alice", &[&format!("URLFETCH \"{signed}\"")])
            .await;
        assert!(answers[0].tagged.starts_with("OK"), "{answers:?}");
        super::assert_urlfetched(&server, &answers[0].untagged);
    }
}

/// Folder names that must be percent-encoded in a URL (a space), and one that is not ASCII
/// (modified UTF-7 on the wire, UTF-8 in the URL: both servers refuse `/Entw&APw-rfe` as a
/// mailbox that does not exist): CATENATE resolves both from `url::relative`.
async fn urls_name_folders_as_the_server_does(server: &dyn TestServer) {
    let original = original(server.name());
    let mut session = imap_login(server, "alice").await;
    for wire in ["Old Mail", "Entw&APw-rfe"] {
        server.imap_as("alice", &[&format!("CREATE \"{wire}\"")]);
        let (uid_validity, uid) = session
            .append(wire, &[], &original.raw)
            .await
            .unwrap()
            .uid
            .unwrap();
        let whole = url::relative(wire, uid_validity, uid, None).unwrap();
        let (_, copy) = session
            .append_catenate("Sent", &[], &[CatPart::Url(&whole)])
            .await
            .unwrap_or_else(|e| panic!("{} {wire}: {e}", server.name()))
            .uid
            .unwrap();
        assert!(fetch_raw(server, "Sent", copy).await == original.raw);
    }
    session.logout().await.unwrap();
}

on_each_server!(urls_name_folders_as_the_server_does);

/// Everything traced at any level while a URL is signed, on this thread.
#[derive(Clone, Default)]
struct Traces(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Traces {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The signed URL's token reaches no trace at any level (async-imap's own `log` output of
/// responses is compiled out: `log`'s `max_level_debug`), and no error.
// Current-thread: the trace subscriber is the test thread's.
#[tokio::test(flavor = "current_thread")]
async fn the_signed_url_is_never_traced() {
    let server = anvert_tests::cyrus::Cyrus::start();
    let original = original("trace");
    let (uid_validity, uid) = seed(&server, &original).await;
    let traces = Traces::default();
    let writer = traces.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("trace")
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    let mut session = imap_login(&server, "alice").await;
    let rump = url::submit_rump("imap://anvert-test", "alice", "INBOX", uid_validity, uid).unwrap();
    let signed = session.genurlauth(&rump).await.unwrap();
    let parts = [CatPart::Url(&signed)];
    // A signed URL where CATENATE wants a relative one: refused, and not quoted either.
    let err = session
        .append_catenate("Sent", &[], &parts)
        .await
        .unwrap_err();
    session.logout().await.unwrap();
    drop(guard);
    let token = signed.rsplit(':').next().unwrap();
    assert!(token.len() >= 32);
    let traced = String::from_utf8_lossy(&traces.0.lock().unwrap()).into_owned();
    assert!(
        traced.contains("GENURLAUTH"),
        "the capture works: {traced:.2000}"
    );
    assert!(!traced.contains(token), "the token was traced");
    assert!(!format!("{err} {err:?}").contains(token), "{err:?}");
}
