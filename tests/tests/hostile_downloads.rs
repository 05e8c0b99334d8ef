//! Hostile answers to content fetches (issue 13: "a download is complete only when it is
//! provably complete"), through the scripted IMAP server against the whole engine. The
//! server holds one message (UID 102): a short text part 1 and `notes.pdf`, part 2, a
//! 300 KB attachment in base64 whose encoded size BODYSTRUCTURE states. Each test first
//! answers the part's `BODY.PEEK[2]<offset.length>` chunks wrongly (a short chunk, another
//! message's answer, another section, another origin, garbage, no end, a cut before the
//! first chunk) and asserts a clear error or the correct result within the timeout, the
//! download not complete and no file at the destination, a thread CPU time under 2 s; then
//! a well-behaved server finishes the same download with the right SHA-256.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed setup should fail loudly

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};

use anvert_core::{
    Error,
    engine::{CancellationToken, Engine},
    policy::{ContentPolicy, NetworkKind, SyncRequest},
    store::{DownloadState, MessageId},
};
use anvert_tests::scripted::{Reply, Script, ScriptedImap, ok, thread_cpu};
use base64::Engine as _;
use sha2::{Digest, Sha256};

const UID: u32 = 102;
/// The text of part 1.
const TEXT: &[u8] = b"Hello, see the notes.\r\n";
/// The decoded size of part 2.
const ATTACHMENT_BYTES: usize = 300_000;
/// What one operation may take, at most.
const TIMEOUT: Duration = Duration::from_secs(20);
/// The engine's CPU time for one hostile exchange, at most.
const CPU: Duration = Duration::from_secs(2);

/// How the server answers a fetch of part 2 (the answer to a `BODY.PEEK[2]<o.l>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// As RFC 3501 says.
    Good,
    /// The chunk at offset > 0 comes back a third of its length (issue 13: 23 KB saved of
    /// a 300 KB attachment).
    ShortSecond,
    /// Every answer is preceded by `* 1 FETCH (UID 101 BODY[2]<0> NIL)`: another message's.
    ForeignFirst,
    /// Only the other message's answer comes back.
    ForeignOnly,
    /// `BODY[1]` carries the data where part 2 was asked for (and `BODY[2]` where part 1).
    WrongSection,
    /// The chunk at offset > 0 carries the right length from origin 0; a whole part comes
    /// with an origin.
    WrongOrigin,
    /// `BODY[section] NIL`.
    Nil,
    /// The right answer, then a second one for the same section and origin, other bytes.
    Twice,
    /// The last chunk is the right length of something that is not base64.
    GarbageLast,
    /// Full chunks of blank lines, past the part's end, forever.
    Endless,
    /// The connection closes at the first chunk, before anything arrives.
    CutFirst,
}

/// One `BODY.PEEK[section]<offset.length>` the server received.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fetch {
    section: String,
    range: Option<(u64, u32)>,
}

fn parse_fetch(command: &str) -> Option<Fetch> {
    let rest = command.strip_prefix(&format!("UID FETCH {UID} (UID BODY.PEEK["))?;
    let (section, rest) = rest.split_once(']')?;
    let range = rest
        .strip_prefix('<')
        .and_then(|r| r.split_once('>'))
        .and_then(|(r, _)| r.split_once('.'))
        .map(|(o, l)| (o.parse().unwrap(), l.parse().unwrap()));
    Some(Fetch {
        section: section.to_string(),
        range,
    })
}

/// `* 1 FETCH (UID uid BODY[section]<origin> {n}\r\n data)\r\n`.
fn body_answer(uid: u32, section: &str, origin: Option<u64>, data: &[u8]) -> Vec<u8> {
    let origin = origin.map(|o| format!("<{o}>")).unwrap_or_default();
    let mut out = format!(
        "* 1 FETCH (UID {uid} BODY[{section}]{origin} {{{}}}\r\n",
        data.len()
    )
    .into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b")\r\n");
    out
}

/// The message on the scripted server.
struct Mailbox {
    attachment: Vec<u8>,
    encoded: Vec<u8>,
}

impl Mailbox {
    /// Pseudo-random content whose encoding never holds `TAG` (the scripted server puts the
    /// command's tag in place of that word where it begins a line, literals included).
    fn new() -> Mailbox {
        (1..)
            .map(Mailbox::from_seed)
            .find(|m| !m.encoded.windows(3).any(|w| w == b"TAG"))
            .unwrap()
    }

    fn from_seed(seed: u64) -> Mailbox {
        let mut x = seed.wrapping_mul(0x2545_f491_4f6c_dd1d) | 1;
        let attachment: Vec<u8> = (0..ATTACHMENT_BYTES)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        let flat = base64::engine::general_purpose::STANDARD.encode(&attachment);
        let mut encoded = Vec::new();
        for line in flat.as_bytes().chunks(76) {
            encoded.extend_from_slice(line);
            encoded.extend_from_slice(b"\r\n");
        }
        Mailbox {
            attachment,
            encoded,
        }
    }

    fn sha256(&self) -> String {
        hex::encode(Sha256::digest(&self.attachment))
    }

    /// The summary FETCH answer: a real BODYSTRUCTURE with both parts and their sizes.
    fn summary(&self) -> Vec<u8> {
        let structure = format!(
            "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" {} 1 NIL NIL NIL NIL)\
             (\"application\" \"pdf\" (\"name\" \"notes.pdf\") NIL NIL \"base64\" {} NIL \
             (\"attachment\" (\"filename\" \"notes.pdf\")) NIL NIL) \
             \"mixed\" (\"boundary\" \"b1\") NIL NIL NIL)",
            TEXT.len(),
            self.encoded.len()
        );
        format!(
            "* 1 FETCH (UID {UID} FLAGS (\\Seen) INTERNALDATE \"17-Jul-2024 10:00:00 +0000\" \
             RFC822.SIZE {} ENVELOPE (\"Wed, 17 Jul 2024 10:00:00 +0000\" \"Notes\" \
             ((\"Ann\" NIL \"ann\" \"example.com\")) NIL NIL ((\"Bob\" NIL \"bob\" \"example.com\")) \
             NIL NIL NIL \"<notes@example.com>\") BODYSTRUCTURE {structure})\r\n",
            self.encoded.len() + TEXT.len() + 400
        )
        .into_bytes()
    }

    /// The bytes of part `section` at `range`, as a well-behaved server has them.
    fn slice(&self, section: &str, range: Option<(u64, u32)>) -> &[u8] {
        let whole: &[u8] = if section == "1" { TEXT } else { &self.encoded };
        match range {
            None => whole,
            Some((offset, len)) => {
                let start = (offset as usize).min(whole.len());
                let end = (start + len as usize).min(whole.len());
                &whole[start..end]
            }
        }
    }

    /// The answer to `fetch` in `mode`.
    fn answer(&self, fetch: &Fetch, mode: Mode) -> Reply {
        let origin = fetch.range.map(|(o, _)| o);
        let good = body_answer(
            UID,
            &fetch.section,
            origin,
            self.slice(&fetch.section, fetch.range),
        );
        let later = origin.is_some_and(|o| o > 0);
        let foreign = b"* 1 FETCH (UID 101 BODY[2]<0> NIL)\r\n".to_vec();
        match (mode, fetch.range) {
            (Mode::ShortSecond, Some((offset, len))) if later => {
                let third = Some((offset, len / 3));
                ok(body_answer(UID, "2", origin, self.slice("2", third)))
            }
            (Mode::ForeignFirst, _) => ok([foreign, good].concat()),
            (Mode::ForeignOnly, _) => ok(foreign),
            (Mode::WrongSection, _) => {
                let other = if fetch.section == "1" { "2" } else { "1" };
                ok(body_answer(
                    UID,
                    other,
                    origin,
                    self.slice(&fetch.section, fetch.range),
                ))
            }
            (Mode::WrongOrigin, Some((_, len))) if later => ok(body_answer(
                UID,
                "2",
                Some(0),
                self.slice("2", Some((0, len))),
            )),
            (Mode::WrongOrigin, None) => ok(body_answer(
                UID,
                &fetch.section,
                Some(0),
                self.slice(&fetch.section, None),
            )),
            (Mode::Nil, _) => {
                let origin = origin.map(|o| format!("<{o}>")).unwrap_or_default();
                ok(format!(
                    "* 1 FETCH (UID {UID} BODY[{}]{origin} NIL)\r\n",
                    fetch.section
                ))
            }
            (Mode::GarbageLast, Some((offset, len)))
                if offset + u64::from(len) >= self.encoded.len() as u64 =>
            {
                let size = self.slice("2", fetch.range).len();
                let garbage: Vec<u8> = b"%PDF-1.7 not base64 %%EOF\r\n"
                    .iter()
                    .copied()
                    .cycle()
                    .take(size)
                    .collect();
                ok(body_answer(UID, "2", origin, &garbage))
            }
            (Mode::Endless, Some((_, len))) => {
                let blank: Vec<u8> = b"\r\n".iter().copied().cycle().take(len as usize).collect();
                ok(body_answer(UID, "2", origin, &blank))
            }
            (Mode::Twice, _) => {
                let spliced = body_answer(UID, &fetch.section, origin, b"A spliced-in answer");
                ok([good, spliced].concat())
            }
            (Mode::CutFirst, _) => Reply::Close(Vec::new()),
            _ => ok(good),
        }
    }
}

/// A scripted server with the mailbox, answering part fetches in the current mode, and an
/// engine that has synced it.
struct Setup {
    _server: ScriptedImap,
    mode: Arc<Mutex<Mode>>,
    fetches: Arc<Mutex<Vec<Fetch>>>,
    mailbox: Arc<Mailbox>,
    engine: Engine,
    message: MessageId,
    _data: tempfile::TempDir,
    downloads: tempfile::TempDir,
}

impl Setup {
    async fn new(mode: Mode) -> Setup {
        let mailbox = Arc::new(Mailbox::new());
        let mode = Arc::new(Mutex::new(mode));
        let fetches = Arc::new(Mutex::new(Vec::new()));
        let (m, current, seen) = (mailbox.clone(), mode.clone(), fetches.clone());
        let server = ScriptedImap::start(Script::default(), move |command| {
            if command.starts_with("LIST") {
                ok("* LIST () \"/\" INBOX\r\n")
            } else if command.starts_with("SELECT") || command.starts_with("EXAMINE") {
                // Reads EXAMINE the folder when a new connection has nothing selected.
                ok(format!(
                    "* 1 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT {}] ok\r\n",
                    UID + 1
                ))
            } else if command.starts_with("FETCH 1 (UID FLAGS") {
                ok(m.summary())
            } else if let Some(fetch) = parse_fetch(command) {
                seen.lock().unwrap().push(fetch.clone());
                let mode = *current.lock().unwrap();
                m.answer(&fetch, mode)
            } else {
                ok("")
            }
        })
        .await;
        let data = tempfile::tempdir().unwrap();
        let (engine, account) = server.engine(data.path()).await;
        let request = SyncRequest {
            network: NetworkKind::Metered,
            content: Some(ContentPolicy {
                snippets: false,
                prefetch_bodies: 0,
                prefetch_attachments_max: None,
                ..ContentPolicy::for_network(NetworkKind::Metered)
            }),
            ..SyncRequest::default()
        };
        engine.sync(account, &request).await.unwrap();
        let folders = engine.folders(account).await.unwrap();
        let inbox = folders.iter().find(|f| f.name == "INBOX").unwrap();
        let page = engine.messages(inbox.id, None, 10).await.unwrap();
        assert_eq!(page.items.len(), 1, "{:?}", server.commands());
        let message = page.items[0].id;
        let parts = engine.message(message).await.unwrap().unwrap().parts;
        assert_eq!(
            parts
                .iter()
                .map(|p| (p.section.as_str(), p.size))
                .collect::<Vec<_>>(),
            [
                ("1", TEXT.len() as u32),
                ("2", mailbox.encoded.len() as u32)
            ],
            "the engine knows both parts and their sizes"
        );
        Setup {
            _server: server,
            mode,
            fetches,
            mailbox,
            engine,
            message,
            _data: data,
            downloads: tempfile::tempdir().unwrap(),
        }
    }

    fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
        self.fetches.lock().unwrap().clear();
    }

    fn fetches(&self) -> Vec<Fetch> {
        self.fetches.lock().unwrap().clone()
    }

    /// `download_part` of part 2, within the timeout, and the engine thread's CPU time.
    async fn download(&self) -> (anvert_core::Result<PathBuf>, Duration) {
        let before = thread_cpu();
        let result = tokio::time::timeout(
            TIMEOUT,
            self.engine.download_part(
                self.message,
                "2",
                self.downloads.path(),
                NetworkKind::Metered,
                None,
                &CancellationToken::new(),
            ),
        )
        .await
        .expect("the download ends within the timeout");
        (result, thread_cpu() - before)
    }

    async fn state(&self) -> DownloadState {
        let detail = self.engine.message(self.message).await.unwrap().unwrap();
        detail
            .parts
            .iter()
            .find(|p| p.section == "2")
            .unwrap()
            .download_state
    }

    /// Every file in the download directory.
    fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.downloads.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// After a refused answer: a clear error, in time and cheaply, and nothing complete.
    async fn assert_refused(&self, result: anvert_core::Result<PathBuf>, cpu: Duration) -> Error {
        let err = result.expect_err("a hostile answer is never a finished download");
        assert!(cpu < CPU, "engine CPU {cpu:?}");
        assert_ne!(self.state().await, DownloadState::Complete, "{err:?}");
        let record = self
            .engine
            .store()
            .download(self.message, "2")
            .await
            .unwrap();
        assert!(
            record
                .as_ref()
                .is_none_or(|r| r.state == DownloadState::Partial),
            "{record:?}"
        );
        assert!(
            !self.downloads.path().join("notes.pdf").exists(),
            "no file at the destination: {:?}",
            self.files()
        );
        err
    }

    /// A well-behaved server now: the same download finishes, byte-identical, in the same
    /// name, with no partial file left.
    async fn assert_resumes(&self) -> PathBuf {
        self.set_mode(Mode::Good);
        let (result, _) = self.download().await;
        let path = result.unwrap();
        assert_eq!(path, self.downloads.path().join("notes.pdf"));
        assert_eq!(sha256_file(&path), self.mailbox.sha256());
        assert_eq!(self.state().await, DownloadState::Complete);
        assert_eq!(
            self.files(),
            ["notes.pdf"],
            "no stray partial file or second name"
        );
        path
    }
}

fn sha256_file(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

fn protocol_reason(err: &Error) -> &str {
    match err {
        Error::Protocol { reason } => reason,
        other => panic!("expected a protocol error, got {other:?}"),
    }
}

/// Issue 13: a short chunk was taken as the end of the part (23 KB saved of 300 KB). The
/// part's size says it is not: an error, the first chunk kept, and the resume continues
/// from it.
#[tokio::test]
async fn a_short_chunk_before_the_end_is_an_error_and_the_download_resumes() {
    let s = Setup::new(Mode::ShortSecond).await;
    let (result, cpu) = s.download().await;
    let err = s.assert_refused(result, cpu).await;
    let total = s.mailbox.encoded.len();
    let second = s.fetches()[1].range.unwrap();
    let end = second.0 + u64::from(second.1 / 3);
    assert_eq!(
        protocol_reason(&err),
        format!("the server ended part 2 after {end} of its {total} bytes")
    );
    let record = s
        .engine
        .store()
        .download(s.message, "2")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        record.encoded_offset, 65536,
        "the good first chunk is kept, not the short one"
    );
    assert_eq!(s.state().await, DownloadState::Partial);

    s.assert_resumes().await;
    assert_eq!(
        s.fetches()[0].range.map(|(o, _)| o),
        Some(65536),
        "resumed from the last good chunk"
    );
}

/// Issue 13: `* 1 FETCH (UID 101 BODY[2]<0> NIL)` for another message arrived first and was
/// taken as the answer (a 0-byte file). It is ignored: the real answer that follows makes
/// the right file; and when it is the only answer, the download fails and is not complete.
#[tokio::test]
async fn another_messages_answer_is_ignored() {
    let s = Setup::new(Mode::ForeignOnly).await;
    let (result, cpu) = s.download().await;
    let err = s.assert_refused(result, cpu).await;
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");

    s.set_mode(Mode::ForeignFirst);
    let before = thread_cpu();
    let (result, _) = s.download().await;
    assert!(thread_cpu() - before < CPU);
    let path = result.unwrap();
    assert_eq!(path, s.downloads.path().join("notes.pdf"));
    assert_eq!(sha256_file(&path), s.mailbox.sha256());
    assert_eq!(s.state().await, DownloadState::Complete);
    assert_eq!(s.files(), ["notes.pdf"]);
}

/// Issue 13: the answer carried `BODY[1]` when part 2 was asked for.
#[tokio::test]
async fn an_answer_for_another_section_is_an_error() {
    let s = Setup::new(Mode::WrongSection).await;
    let (result, cpu) = s.download().await;
    let err = s.assert_refused(result, cpu).await;
    assert_eq!(
        protocol_reason(&err),
        "the server answered BODY[1]<0> for UID 102, which was not asked for"
    );
    s.assert_resumes().await;
}

/// Two answers for one chunk (the second spliced in with other bytes): neither is taken.
#[tokio::test]
async fn an_answer_given_twice_is_an_error() {
    let s = Setup::new(Mode::Twice).await;
    let (result, cpu) = s.download().await;
    let err = s.assert_refused(result, cpu).await;
    assert_eq!(
        protocol_reason(&err),
        "the server answered BODY[2]<0> for UID 102 twice"
    );
    s.assert_resumes().await;
}

/// Issue 13: the right length from the wrong origin (`<0>` where `<65536>` was asked).
#[tokio::test]
async fn an_answer_from_another_origin_is_an_error() {
    let s = Setup::new(Mode::WrongOrigin).await;
    let (result, cpu) = s.download().await;
    let err = s.assert_refused(result, cpu).await;
    assert_eq!(
        protocol_reason(&err),
        "the server answered BODY[2]<0> for UID 102, which was not asked for"
    );
    let record = s
        .engine
        .store()
        .download(s.message, "2")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.encoded_offset, 65536);
    s.assert_resumes().await;
    assert_eq!(s.fetches()[0].range.map(|(o, _)| o), Some(65536));
}

/// The right origin and length of something that is not base64: strict decoding refuses it.
#[tokio::test]
async fn garbage_in_a_base64_part_is_an_error() {
    let s = Setup::new(Mode::GarbageLast).await;
    let (result, cpu) = s.download().await;
    let err = s.assert_refused(result, cpu).await;
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
    s.assert_resumes().await;
}

/// A server that never ends the part (full chunks of blank lines, which decode to nothing)
/// is stopped at the bound derived from the part's size.
#[tokio::test]
async fn a_part_that_never_ends_is_stopped() {
    let s = Setup::new(Mode::Endless).await;
    let (result, cpu) = s.download().await;
    let err = s.assert_refused(result, cpu).await;
    assert!(matches!(err, Error::TooLarge { .. }), "{err:?}");
    assert!(s.fetches().len() < 30, "{} chunks", s.fetches().len());
}

/// Issue 13, item 7: a download cut before its first chunk was committed started over under
/// a new name (`notes (2).pdf`) and left a 0-byte `notes.pdf.anvert-part`. It resumes into
/// the same name and leaves nothing behind.
#[tokio::test]
async fn a_cut_before_the_first_chunk_resumes_into_the_same_name() {
    let s = Setup::new(Mode::CutFirst).await;
    let (result, cpu) = s.download().await;
    let err = s.assert_refused(result, cpu).await;
    assert!(
        matches!(err, Error::ConnectionClosed | Error::Io(_)),
        "{err:?}"
    );
    let record = s
        .engine
        .store()
        .download(s.message, "2")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.encoded_offset, 0);
    assert_eq!(record.destination, s.downloads.path().join("notes.pdf"));

    // Twice, to be sure a second cut does not pick another name either.
    let (result, _) = s.download().await;
    result.unwrap_err();
    assert_eq!(s.files(), ["notes.pdf.anvert-part"]);
    s.assert_resumes().await;
}

/// Issue 13's 0-byte file, from our own message: `BODY[2]<0> NIL` is no data, and the part
/// has bytes.
#[tokio::test]
async fn a_nil_answer_is_not_an_empty_part() {
    let s = Setup::new(Mode::Nil).await;
    let (result, cpu) = s.download().await;
    let err = s.assert_refused(result, cpu).await;
    let total = s.mailbox.encoded.len();
    assert_eq!(
        protocol_reason(&err),
        format!("the server ended part 2 after 0 of its {total} bytes")
    );
    s.assert_resumes().await;
}

/// `fetch_body` takes the readable part only when the answer is the one asked for: another
/// message's, another section, an origin on a whole-part answer, NIL and a second answer
/// store nothing.
#[tokio::test]
async fn the_readable_body_is_checked_the_same_way() {
    let s = Setup::new(Mode::Good).await;
    for (mode, wanted) in [
        (Mode::ForeignOnly, None),
        (
            Mode::WrongSection,
            Some("the server answered BODY[2] for UID 102, which was not asked for"),
        ),
        (
            Mode::WrongOrigin,
            Some("the server answered BODY[1]<0> for UID 102, which was not asked for"),
        ),
        (
            Mode::Nil,
            Some("the server returned no data for part 1 of 23 bytes"),
        ),
        (
            Mode::Twice,
            Some("the server answered BODY[1] for UID 102 twice"),
        ),
    ] {
        s.set_mode(mode);
        let before = thread_cpu();
        let result = tokio::time::timeout(
            TIMEOUT,
            s.engine.fetch_body(s.message, NetworkKind::Metered),
        )
        .await
        .unwrap();
        assert!(thread_cpu() - before < CPU);
        let err = result.expect_err("a hostile answer is never the body");
        match wanted {
            Some(reason) => assert_eq!(protocol_reason(&err), reason, "{mode:?}"),
            None => assert!(matches!(err, Error::NotFound { .. }), "{mode:?}: {err:?}"),
        }
        assert!(
            s.engine.store().body(s.message).await.unwrap().is_none(),
            "{mode:?}"
        );
        assert_eq!(
            s.fetches(),
            [Fetch {
                section: "1".into(),
                range: None
            }],
            "{mode:?}"
        );
    }
    s.set_mode(Mode::Good);
    let body = s
        .engine
        .fetch_body(s.message, NetworkKind::Metered)
        .await
        .unwrap();
    assert_eq!(body.text.as_deref(), Some("Hello, see the notes.\n"));
    assert!(s.engine.store().body(s.message).await.unwrap().is_some());
}

/// Snippets fetched by a sync are checked the same way (here: the answer comes twice, the
/// second with other bytes), but a mismatch does not end the sync: the message gets no
/// snippet (asked for again next time), the other folder, on the same session, gets its own.
#[tokio::test]
async fn a_mismatched_snippet_is_dropped_without_ending_the_sync() {
    let mailbox = Arc::new(Mailbox::new());
    let mode = Arc::new(Mutex::new(Mode::Twice));
    let selected = Arc::new(Mutex::new(String::new()));
    let (m, current, folder) = (mailbox.clone(), mode.clone(), selected.clone());
    let server = ScriptedImap::start(Script::default(), move |command| {
        if command.starts_with("LIST") {
            ok("* LIST () \"/\" INBOX\r\n* LIST () \"/\" Archive\r\n")
        } else if let Some(name) = command.strip_prefix("SELECT ") {
            *folder.lock().unwrap() = name.trim_matches('"').to_string();
            let validity = if name.contains("INBOX") { 7 } else { 8 };
            ok(format!(
                "* 1 EXISTS\r\n* OK [UIDVALIDITY {validity}] ok\r\n* OK [UIDNEXT {}] ok\r\n",
                UID + 1
            ))
        } else if command.starts_with("FETCH 1 (UID FLAGS") {
            ok(m.summary())
        } else if command.starts_with("UID FETCH 1:* (UID FLAGS)") {
            ok(format!("* 1 FETCH (UID {UID} FLAGS (\\Seen))\r\n"))
        } else if command.starts_with("UID SEARCH ALL") {
            ok(format!("* SEARCH {UID}\r\n"))
        } else if let Some(fetch) = parse_fetch(command) {
            let in_inbox = *folder.lock().unwrap() == "INBOX";
            let mode = if in_inbox {
                *current.lock().unwrap()
            } else {
                Mode::Good
            };
            m.answer(&fetch, mode)
        } else {
            ok("")
        }
    })
    .await;
    let data = tempfile::tempdir().unwrap();
    let (engine, account) = server.engine(data.path()).await;
    let request = SyncRequest {
        network: NetworkKind::Metered,
        ..SyncRequest::default()
    };
    let preview = |name: &'static str| {
        let engine = &engine;
        async move {
            let folders = engine.folders(account).await.unwrap();
            let folder = folders.iter().find(|f| f.name == name).unwrap();
            let page = engine.messages(folder.id, None, 10).await.unwrap();
            page.items[0].preview.clone()
        }
    };

    let before = thread_cpu();
    let report = tokio::time::timeout(TIMEOUT, engine.sync(account, &request))
        .await
        .unwrap()
        .unwrap();
    assert!(thread_cpu() - before < CPU);
    assert!(report.errors.is_empty(), "{report:?}");
    assert_eq!(
        preview("INBOX").await,
        None,
        "no snippet from an ambiguous answer"
    );
    assert_eq!(
        preview("Archive").await.as_deref(),
        Some("Hello, see the notes.")
    );
    assert_eq!(server.count("LOGIN"), 1, "one session: it stayed in step");

    *mode.lock().unwrap() = Mode::Good;
    let report = engine.sync(account, &request).await.unwrap();
    assert!(report.errors.is_empty(), "{report:?}");
    assert_eq!(
        server.count(&format!("UID FETCH {UID} (UID BODY.PEEK[1])")),
        3,
        "INBOX's snippet asked for again, Archive's not: {:?}",
        server.commands()
    );
    assert_eq!(
        preview("INBOX").await.as_deref(),
        Some("Hello, see the notes.")
    );
}
