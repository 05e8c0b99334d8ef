//! BINARY downloads (RFC 3516) against a scripted server that offers BINARY, for what the
//! real servers do not do on demand: answers in literal8 (`~{n}`) with `BINARY.SIZE` are
//! taken byte-identical; a part the server cannot decode (`NO [UNKNOWN-CTE]`) falls back to
//! BODY.PEEK, and a resume of it (after a cut) stays on BODY even when BINARY would now
//! work; a server that ends a part before its BINARY.SIZE is refused, and the download then
//! resumes from the last good chunk.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use anvert_core::{
    Error,
    engine::{CancellationToken, Engine},
    policy::{ContentPolicy, NetworkKind, SyncRequest},
    store::{MessageId, TransferMode},
};
use anvert_tests::scripted::{Reply, Script, ScriptedImap, ok};
use base64::Engine as _;
use sha2::{Digest, Sha256};

const UID: u32 = 102;
const TEXT: &[u8] = b"Hello, see the notes.\r\n";
const TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// BINARY and BODY answered as the RFCs say.
    Good,
    /// `NO [UNKNOWN-CTE]` to every BINARY fetch; the connection closes at a BODY chunk past
    /// offset 0.
    UnknownCteThenCut,
    /// The BINARY chunk at offset > 0 comes back a third of its length.
    ShortBinary,
}

/// One part fetch the server received: BINARY or not, offset, length, with BINARY.SIZE.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fetch {
    binary: bool,
    offset: u64,
    len: u32,
    size: bool,
}

fn parse_fetch(command: &str) -> Option<Fetch> {
    let rest = command.strip_prefix(&format!("UID FETCH {UID} (UID "))?;
    let (size, rest) = match rest.strip_prefix("BINARY.SIZE[2] ") {
        Some(rest) => (true, rest),
        None => (false, rest),
    };
    let (binary, rest) = if let Some(r) = rest.strip_prefix("BINARY.PEEK[2]<") {
        (true, r)
    } else {
        (false, rest.strip_prefix("BODY.PEEK[2]<")?)
    };
    let (range, _) = rest.split_once('>')?;
    let (o, l) = range.split_once('.')?;
    Some(Fetch {
        binary,
        offset: o.parse().ok()?,
        len: l.parse().ok()?,
        size,
    })
}

struct Mailbox {
    attachment: Vec<u8>,
    encoded: Vec<u8>,
}

impl Mailbox {
    /// Pseudo-random bytes with no `TAG` in either form (the scripted server puts the tag in
    /// place of that word where it begins a line, literals included).
    fn new() -> Mailbox {
        (1u64..)
            .map(|seed| {
                let mut x = seed.wrapping_mul(0x2545_f491_4f6c_dd1d) | 1;
                let attachment: Vec<u8> = (0..300_000)
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
            })
            .find(|m| {
                !m.encoded.windows(3).any(|w| w == b"TAG")
                    && !m.attachment.windows(3).any(|w| w == b"TAG")
            })
            .unwrap()
    }

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

    fn answer(&self, fetch: &Fetch, mode: Mode) -> Reply {
        let whole: &[u8] = if fetch.binary {
            &self.attachment
        } else {
            &self.encoded
        };
        let start = (fetch.offset as usize).min(whole.len());
        let mut end = (start + fetch.len as usize).min(whole.len());
        match mode {
            Mode::UnknownCteThenCut if fetch.binary => {
                return Reply::Raw(b"TAG NO [UNKNOWN-CTE] cannot decode part 2\r\n".to_vec());
            }
            Mode::UnknownCteThenCut if fetch.offset > 0 => return Reply::Close(Vec::new()),
            Mode::ShortBinary if fetch.binary && fetch.offset > 0 => {
                end = start + (end - start) / 3;
            }
            _ => {}
        }
        let data = &whole[start..end];
        let mut out = if fetch.binary {
            let size = if fetch.size {
                format!("BINARY.SIZE[2] {} ", self.attachment.len())
            } else {
                String::new()
            };
            format!(
                "* 1 FETCH (UID {UID} {size}BINARY[2]<{}> ~{{{}}}\r\n",
                fetch.offset,
                data.len()
            )
        } else {
            format!(
                "* 1 FETCH (UID {UID} BODY[2]<{}> {{{}}}\r\n",
                fetch.offset,
                data.len()
            )
        }
        .into_bytes();
        out.extend_from_slice(data);
        out.extend_from_slice(b")\r\n");
        ok(out)
    }
}

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
        let script = Script {
            capabilities: "IMAP4rev1 LITERAL+ UIDPLUS MOVE BINARY".into(),
            ..Script::default()
        };
        let server = ScriptedImap::start(script, move |command| {
            if command.starts_with("LIST") {
                ok("* LIST () \"/\" INBOX\r\n")
            } else if command.starts_with("SELECT") || command.starts_with("EXAMINE") {
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
    }

    /// The fetches since the last call.
    fn take_fetches(&self) -> Vec<Fetch> {
        std::mem::take(&mut *self.fetches.lock().unwrap())
    }

    async fn download(&self) -> anvert_core::Result<PathBuf> {
        tokio::time::timeout(
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
        .expect("the download ends within the timeout")
    }

    async fn record(&self) -> anvert_core::store::DownloadRecord {
        self.engine
            .store()
            .download(self.message, "2")
            .await
            .unwrap()
            .unwrap()
    }

    fn assert_identical(&self, path: &PathBuf) {
        assert_eq!(
            hex::encode(Sha256::digest(std::fs::read(path).unwrap())),
            hex::encode(Sha256::digest(&self.mailbox.attachment))
        );
    }
}

#[tokio::test]
async fn literal8_answers_with_binary_size_are_taken_byte_identical() {
    let s = Setup::new(Mode::Good).await;
    let path = s.download().await.unwrap();
    s.assert_identical(&path);
    let fetches = s.take_fetches();
    assert!(fetches.iter().all(|f| f.binary), "{fetches:?}");
    assert!(fetches[0].size && fetches[1..].iter().all(|f| !f.size));
    // Ranges of decoded bytes, one after the other from 0, and nothing past the
    // BINARY.SIZE once it is known.
    let mut offset = 0;
    for f in &fetches {
        assert_eq!(f.offset, offset, "{fetches:?}");
        offset += u64::from(f.len);
    }
    assert!(
        fetches.last().unwrap().offset <= s.mailbox.attachment.len() as u64,
        "{fetches:?}"
    );
    let record = s.record().await;
    assert_eq!(record.mode, TransferMode::Binary);
}

#[tokio::test]
async fn unknown_cte_falls_back_to_body_and_a_resume_stays_there() {
    let s = Setup::new(Mode::UnknownCteThenCut).await;
    let err = s.download().await.unwrap_err();
    assert!(
        matches!(err, Error::ConnectionClosed | Error::Io(_)),
        "{err:?}"
    );
    let fetches = s.take_fetches();
    let first_body = fetches.iter().position(|f| !f.binary).unwrap();
    assert!(first_body > 0, "BINARY first: {fetches:?}");
    assert!(
        fetches[first_body..].iter().all(|f| !f.binary),
        "{fetches:?}"
    );
    assert_eq!(fetches[first_body].offset, 0);
    let record = s.record().await;
    assert_eq!(record.mode, TransferMode::Body, "remembered");
    assert_eq!(record.encoded_offset, 65536, "the first BODY chunk is kept");

    // The server would answer BINARY now; the resume keeps to BODY, from the good chunk.
    s.set_mode(Mode::Good);
    let path = s.download().await.unwrap();
    s.assert_identical(&path);
    let fetches = s.take_fetches();
    assert!(fetches.iter().all(|f| !f.binary), "{fetches:?}");
    assert_eq!(fetches[0].offset, 65536);
}

#[tokio::test]
async fn a_binary_part_ended_before_its_size_is_refused_and_resumes() {
    let s = Setup::new(Mode::ShortBinary).await;
    let err = s.download().await.unwrap_err();
    let Error::Protocol { reason } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(
        reason,
        &format!(
            "the server ended part 2 after {} of its {} decoded bytes",
            65536 + 65536 / 3,
            s.mailbox.attachment.len()
        )
    );
    let record = s.record().await;
    assert_eq!(
        (record.mode, record.encoded_offset, record.decoded_len),
        (TransferMode::Binary, 65536, 65536),
        "the good first chunk is kept"
    );
    s.take_fetches();
    s.set_mode(Mode::Good);
    let path = s.download().await.unwrap();
    s.assert_identical(&path);
    let fetches = s.take_fetches();
    assert_eq!(fetches[0].offset, 65536);
    assert!(fetches.iter().all(|f| f.binary));
}
