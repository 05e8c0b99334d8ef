//! The IMAP half of issue 13's robustness test: seeded mutations (`crate::mutate`) of whole
//! server transcripts — greeting, LOGIN, LIST with LIST-STATUS and SPECIAL-USE, SELECT with
//! QRESYNC data, summary windows (ENVELOPE, nested BODYSTRUCTUREs, PREVIEW, MODSEQ, the
//! References header as a literal), a summary without structure, a CHANGEDSINCE flag fetch,
//! ESEARCH, a body section in a literal, UID STORE with MODIFIED, UID MOVE with COPYUID,
//! LOGOUT — fed through the real session code (`connect::establish` and `ImapSession`, over
//! our reader in vendored async-imap and imap-proto) from an in-memory stream that replays the
//! server's bytes in random chunk sizes and swallows what the client writes. No sockets, no
//! timers fire: a case ends when the session has done its calls or the bytes run out.
//!
//! Each case must end without a panic or an abort, within a bounded time, with every call
//! answering `Ok` or `Err`, and no error text carrying the password or message content. A
//! failure prints the seed and the case to replay alone (`ANVERT_FUZZ_SEED`,
//! `ANVERT_FUZZ_CASE`; `ANVERT_FUZZ_CASES` runs longer).

use std::{
    panic::AssertUnwindSafe,
    time::{Duration, Instant},
};

use futures::FutureExt;

use super::{
    ConnectOptions, ImapSession, SectionRequest, SummaryItems, connect::establish, recover::SeqSet,
};
use crate::{
    error::Error,
    mutate::{FuzzRun, Mutator, Replay},
    net::{Credential, Endpoint, Purpose, Security, TlsConnector, Trust, WireMeter},
};

/// Cases in a default run (the POP3 half runs as many again).
const CASES: u64 = 50_000;
/// The default seed; `ANVERT_FUZZ_SEED` picks another.
const SEED: u64 = 0x1313_0013;
/// The longest a case may take (CPU time, when its wall time was over).
const CASE_LIMIT: Duration = Duration::from_millis(100);
const PASSWORD: &str = "s3cret-pass";
/// Words of the transcripts' message content that no error may quote.
const CONTENT: [&str; 3] = ["Confidential", "quarterly", "hunter2"];

fn envelope(n: u32) -> String {
    format!(
        "ENVELOPE (\"Wed, 17 Jul 2024 10:0{n}:00 +0000\" \"=?utf-8?q?Confidential_{n}?=\" \
         ((\"Ann\" NIL \"ann\" \"example.com\")) NIL NIL ((\"Bob Q\" NIL \"bob\" \"example.com\") \
         (NIL NIL \"team\" NIL)(NIL NIL \"x\" \"y\")(NIL NIL NIL NIL)) \
         NIL NIL \"<p{n}@example.com>\" \"<m{n}@example.com>\")"
    )
}

/// A multipart/mixed of text/alternative, an attachment, and a forwarded message with its
/// own envelope and body.
fn structure() -> &'static str {
    "BODYSTRUCTURE (((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"quoted-printable\" \
     120 4 NIL NIL NIL NIL)(\"text\" \"html\" (\"charset\" \"utf-8\") NIL NIL \"base64\" 300 5 \
     NIL NIL NIL NIL) \"alternative\" (\"boundary\" \"b2\") NIL NIL NIL)\
     (\"application\" \"pdf\" (\"name\" \"=?utf-8?b?cXVhcnRlcmx5LnBkZg==?=\") NIL NIL \"base64\" \
     40000 NIL (\"attachment\" (\"filename*\" \"utf-8''quarterly%20report.pdf\")) NIL NIL)\
     (\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 900 (\"Tue, 1 Jan 2019 00:00:00 +0000\" \
     \"inner\" NIL NIL NIL NIL NIL NIL NIL \"<i@x>\") (\"text\" \"plain\" NIL NIL NIL \"7bit\" \
     10 1 NIL NIL NIL NIL) 20 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"b1\") NIL NIL NIL)"
}

fn summary(seq: u32, uid: u32) -> String {
    let refs = format!("References: <r{seq}@x>\r\n <m{uid}@example.com>\r\n\r\n");
    format!(
        "* {seq} FETCH (UID {uid} MODSEQ ({}) FLAGS (\\Seen $Forwarded) INTERNALDATE \
         \"17-Jul-2024 10:00:00 +0000\" RFC822.SIZE 4{seq}00 {} {} PREVIEW \"hunter2 said hi\" \
         BODY[HEADER.FIELDS (REFERENCES)] {{{}}}\r\n{refs})\r\n",
        100 + seq,
        envelope(seq),
        structure(),
        refs.len()
    )
}

/// The server's side of one session, tagged as async-imap and `exchange` number commands.
fn transcript(variant: usize) -> Vec<u8> {
    let caps = "IMAP4rev1 LITERAL+ ENABLE CONDSTORE QRESYNC ESEARCH LIST-EXTENDED LIST-STATUS \
                SPECIAL-USE MOVE UIDPLUS";
    let mut t = String::new();
    t += "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n";
    t += &format!("A0001 OK [CAPABILITY {caps}] Logged in\r\n");
    // ENABLE, LIST and SELECT in one flight.
    t += "* ENABLED CONDSTORE QRESYNC\r\nA0002 OK enabled\r\n";
    t += "* LIST (\\HasNoChildren) \"/\" INBOX\r\n* STATUS INBOX (MESSAGES 3 UIDNEXT 104 \
          UIDVALIDITY 7 HIGHESTMODSEQ 900)\r\n* LIST (\\Sent \\Subscribed) \"/\" \"Sent Items\"\r\n\
          * LIST (\\Noselect) \"/\" {5}\r\nA/B/C\r\n* LIST (\\Trash) \".\" \"&AMk-l&AOk-ments\"\r\n\
          A0003 OK list done\r\n";
    t += "* 3 EXISTS\r\n* FLAGS (\\Seen \\Answered $Forwarded)\r\n* OK [PERMANENTFLAGS (\\Seen \\*)] ok\r\n\
          * OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT 104] ok\r\n* OK [HIGHESTMODSEQ 900] ok\r\n\
          * VANISHED (EARLIER) 1:5,9\r\n* 2 FETCH (UID 102 FLAGS (\\Seen) MODSEQ (880))\r\n\
          A0004 OK [READ-WRITE] selected\r\n";
    if variant.is_multiple_of(2) {
        t += &summary(3, 103);
        t += &summary(2, 102);
        t += "A0005 OK fetched\r\n";
        t += &summary(1, 101);
        t += "A0006 OK fetched\r\n";
    } else {
        t += &summary(3, 103);
        t += "* 2 FETCH (UID 102 BODYSTRUCTURE (\"text\" \"plain\" NIL NIL NIL \"7bit\" twenty 1))\r\n";
        t += "A0005 OK fetched\r\nA0006 OK fetched\r\n";
    }
    t += &format!(
        "* 2 FETCH (UID 102 FLAGS () INTERNALDATE \"17-Jul-2024 10:00:00 +0000\" \
         RFC822.SIZE 200 {})\r\nA0007 OK fetched\r\n",
        envelope(2)
    );
    t += "* 1 FETCH (UID 101 FLAGS (\\Flagged) MODSEQ (901))\r\nA0008 OK fetched\r\n";
    t += "* ESEARCH (TAG \"A0009\") UID ALL 101:103\r\nA0009 OK searched\r\n";
    t += "* 3 FETCH (UID 103 BODY[2]<0> {24}\r\nQ29uZmlkZW50aWFsIHBkZg==)\r\nA0010 OK fetched\r\n";
    t += "* 1 FETCH (UID 101 FLAGS (\\Seen) MODSEQ (905))\r\nA0011 OK [MODIFIED 102] stored\r\n";
    t += "* OK [COPYUID 9 101:102 5:6] moved\r\n* 1 EXPUNGE\r\n* 1 EXPUNGE\r\nA0012 OK done\r\n";
    t += "* BYE logging out\r\nA0013 OK bye\r\n";
    t.into_bytes()
}

fn foreign() -> Vec<Vec<u8>> {
    [
        "* 1 FETCH (UID 101 BODY[2]<0> NIL)\r\n",
        "* 4294967295 EXISTS\r\n",
        "* 7 FETCH (UID 999 FLAGS (\\Deleted))\r\n",
        "A0007 OK stray\r\n",
        "+ go ahead\r\n",
        "* BYE going away\r\n",
        "* NO [ALERT] disk full\r\n",
        "* OK [UIDVALIDITY 8] changed\r\n",
        "* VANISHED 1:4294967295\r\n",
        "* 2 FETCH (UID 102 BODY[HEADER.FIELDS (REFERENCES)] {4294967295}\r\n",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

/// What a session's calls brought back, for the check of the base transcripts.
#[derive(Debug, Default, PartialEq, Eq)]
struct Got {
    folders: usize,
    exists: u32,
    summaries: usize,
    flag_updates: usize,
    uids: Vec<u32>,
    section: Vec<u8>,
    modified: Vec<u32>,
}

/// The calls of one session; every answer is noted, the first error that ends the session
/// stops the case.
async fn drive(session: &mut ImapSession, errors: &mut Vec<Error>) -> Got {
    let mut got = Got::default();
    macro_rules! call {
        ($e:expr) => {
            match $e.await {
                Ok(v) => Some(v),
                Err(e) => {
                    let fatal = matches!(e, Error::ConnectionClosed | Error::Protocol { .. });
                    errors.push(e);
                    if fatal {
                        return got;
                    }
                    None
                }
            }
        };
    }
    if let Some((folders, selected)) = call!(session.list_and_select(true, Some(("INBOX", None)))) {
        got.folders = folders.len();
        got.exists = selected.map_or(0, |s| s.exists);
    }
    let items = SummaryItems {
        preview: true,
        modseq: true,
        references: true,
        objectid: false,
    };
    let mut fetch = session.start_summaries(&["2:3".into(), "1".into()], false, items, 2);
    for _ in 0..4 {
        match session.next_window(&mut fetch).await {
            Ok(Some(window)) => got.summaries += window.messages.len(),
            Ok(None) => break,
            Err(e) => {
                errors.push(e);
                return got;
            }
        }
    }
    if let Some(window) = call!(session.summaries_of(&SeqSet::of([2]), None)) {
        got.summaries += window.messages.len();
    }
    if let Some(updates) = call!(session.fetch_flags(Some(880))) {
        got.flag_updates = updates.len();
    }
    if let Some(uids) = call!(session.all_uids()) {
        got.uids = uids;
    }
    let request = SectionRequest {
        uid: 103,
        section: "2".into(),
        range: Some((0, 24)),
        binary: false,
    };
    if let Some(data) =
        call!(session.fetch_sections(Purpose::Attachments, std::slice::from_ref(&request)))
    {
        got.section = data.into_iter().flat_map(|d| d.data).collect();
    }
    if let Some(outcome) =
        call!(session.store_flags(&[101, 102], true, &["\\Seen".into()], Some(900)))
    {
        got.modified = outcome.modified;
    }
    call!(session.move_uids(&[101, 102], "Archive"));
    got
}

async fn run_case(
    run: &FuzzRun,
    case: u64,
    transcripts: &[Vec<u8>],
    tls: &TlsConnector,
) -> std::result::Result<(), String> {
    let mut m = Mutator::for_case(run.seed, case).with_foreign(foreign());
    let base = m.pick(transcripts).clone();
    let input = m.mutate(&base);
    let replay = Replay::new(input, m.next_u64());
    let endpoint = Endpoint {
        host: "fuzz.test".into(),
        port: 143,
        security: Security::DangerPlaintext,
    };
    let options = ConnectOptions {
        timeout: Duration::from_secs(5),
        compress: false,
        ..ConnectOptions::default()
    };
    let credential = Credential::password("alice", PASSWORD);
    let mut errors = Vec::new();
    let outcome = AssertUnwindSafe(async {
        match establish(
            replay,
            &endpoint,
            &credential,
            tls,
            &WireMeter::new(),
            &options,
        )
        .await
        {
            Ok(mut session) => {
                drive(&mut session, &mut errors).await;
            }
            Err(e) => errors.push(e),
        }
    })
    .catch_unwind()
    .await;
    if outcome.is_err() {
        return Err("panicked".into());
    }
    for e in &errors {
        let shown = format!("{e} {e:?}");
        if shown.contains(PASSWORD) || CONTENT.iter().any(|w| shown.contains(w)) {
            return Err(format!("an error quotes a secret or content: {shown}"));
        }
    }
    Ok(())
}

/// Sanity for the base transcripts: unmutated, the whole session succeeds, so mutations
/// start from bytes that reach every call.
#[tokio::test]
async fn the_base_transcripts_drive_every_call_to_success() {
    let tls = TlsConnector::new(&Trust::default()).unwrap();
    let endpoint = Endpoint {
        host: "fuzz.test".into(),
        port: 143,
        security: Security::DangerPlaintext,
    };
    for variant in 0..2 {
        let replay = Replay::new(transcript(variant), 7);
        let options = ConnectOptions {
            compress: false,
            ..ConnectOptions::default()
        };
        let credential = Credential::password("alice", PASSWORD);
        let mut session = establish(
            replay,
            &endpoint,
            &credential,
            &tls,
            &WireMeter::new(),
            &options,
        )
        .await
        .unwrap();
        let mut errors = Vec::new();
        let got = drive(&mut session, &mut errors).await;
        let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(errors, Vec::<String>::new(), "variant {variant}");
        assert_eq!(
            got,
            Got {
                folders: 4,
                exists: 3,
                // Variant 1's second message has a broken structure: left out of its window.
                summaries: if variant == 0 { 4 } else { 2 },
                flag_updates: 1,
                uids: vec![101, 102, 103],
                section: b"Q29uZmlkZW50aWFsIHBkZg==".to_vec(),
                modified: vec![102],
            },
            "variant {variant}"
        );
    }
}

#[test]
fn mutated_imap_transcripts_end_cleanly_and_quickly() {
    let run = FuzzRun::from_env(SEED, CASES);
    let transcripts: Vec<Vec<u8>> = (0..2).map(transcript).collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let tls = TlsConnector::new(&Trust::default()).unwrap();
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    for case in run.cases() {
        let wall = Instant::now();
        let outcome = rt.block_on(run_case(&run, case, &transcripts, &tls));
        let mut took = wall.elapsed();
        if took > CASE_LIMIT {
            // A busy machine: measure this thread's CPU on a second run of the same case.
            let cpu = crate::mutate::thread_cpu();
            let _ = rt.block_on(run_case(&run, case, &transcripts, &tls));
            took = crate::mutate::thread_cpu().saturating_sub(cpu);
            assert!(
                took <= CASE_LIMIT,
                "case {case} took {took:?} of CPU; {}",
                run.replay_hint(case)
            );
        }
        slowest = slowest.max(took);
        if let Err(broken) = outcome {
            panic!("case {case}: {broken}; {}", run.replay_hint(case));
        }
    }
    eprintln!(
        "imap robustness: {} cases from seed {:#x} in {:?}, slowest {:?}",
        run.count,
        run.seed,
        started.elapsed(),
        slowest
    );
}
