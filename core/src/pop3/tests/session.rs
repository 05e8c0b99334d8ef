//! Transcripts of a logged-in session: listings, streamed bodies, `-ERR`s, pipelining, and
//! hostile or vanishing servers poisoning the session.

use super::*;
use crate::{
    error::Error,
    net::Purpose,
    pop3::{Delivered, ListedSize},
};

/// A message whose wire form needs dot-stuffing, and its content.
const STUFFED: &str =
    "Subject: dots\r\n\r\n..\r\n..leading dot\r\nplain . line\r\n...\r\n\r\n.\r\n";
const CONTENT: &str = "Subject: dots\r\n\r\n.\r\n.leading dot\r\nplain . line\r\n..\r\n\r\n";

fn is_unusable(e: &Error) -> bool {
    matches!(e, Error::Protocol { reason } if reason.contains("unusable"))
}

#[tokio::test]
async fn stat_list_uidl_dele_quit() {
    let script = vec![
        expect("STAT\r\n"),
        send("+OK 2 320\r\n"),
        expect("LIST\r\n"),
        send("+OK 2 messages (320 octets)\r\n1 120\r\n2 200 extra\r\n.\r\n"),
        expect("LIST 2\r\n"),
        send("+OK 2 200\r\n"),
        expect("UIDL\r\n"),
        send("+OK\r\n1 whqtswO00WBw418f9t5JxYwZ\r\n2 QhdPYR:00WBw1Ph7x7\r\n.\r\n"),
        expect("UIDL 1\r\n"),
        send("+OK 1 whqtswO00WBw418f9t5JxYwZ\r\n"),
        expect("DELE 1\r\n"),
        send("+OK message 1 deleted\r\n"),
        expect("RSET\r\n"),
        send("+OK\r\n"),
        expect("NOOP\r\n"),
        send("+OK\r\n"),
        expect("QUIT\r\n"),
        send("+OK bye\r\n"),
    ];
    let (mut s, server, meter) = session_with(BASIC_CAPS, script).await;
    let before = meter.totals();
    assert_eq!(s.stat().await.unwrap(), (2, 320));
    assert_eq!(s.list().await.unwrap(), vec![(1, 120), (2, 200)]);
    assert_eq!(s.list_one(2).await.unwrap(), 200);
    assert_eq!(
        s.uidl().await.unwrap(),
        vec![
            (1, "whqtswO00WBw418f9t5JxYwZ".to_string()),
            (2, "QhdPYR:00WBw1Ph7x7".to_string())
        ]
    );
    assert_eq!(s.uidl_one(1).await.unwrap(), "whqtswO00WBw418f9t5JxYwZ");
    let metadata = meter.totals().since(&before);
    assert_eq!(metadata.total(), metadata.total_for(Purpose::SyncMetadata));
    s.dele(1).await.unwrap();
    s.rset().await.unwrap();
    s.noop().await.unwrap();
    s.quit().await.unwrap();
    assert!(server.await.unwrap().is_empty());
}

#[tokio::test]
async fn err_replies_keep_text_and_session() {
    let script = vec![
        expect("DELE 9\r\n"),
        send("-ERR no such message\r\n"),
        expect("LIST 9\r\n"),
        send("-ERR no such message, only 2 messages in maildrop\r\n"),
        expect("RETR 9\r\n"),
        send("-ERR\r\n"),
        expect("NOOP\r\n"),
        send("+OK\r\n"),
        expect("QUIT\r\n"),
        send("-ERR [SYS/TEMP] could not delete\r\n"),
    ];
    let (mut s, server, _) = session_with(BASIC_CAPS, script).await;
    let err = s.dele(9).await.unwrap_err();
    assert!(
        matches!(&err, Error::ServerNo { command, text } if command == "DELE" && text == "no such message")
    );
    assert!(
        matches!(s.list_one(9).await, Err(Error::ServerNo { command, .. }) if command == "LIST")
    );
    let mut sink = Vec::new();
    assert!(
        matches!(s.retr(9, &mut sink).await, Err(Error::ServerNo { command, text }) if command == "RETR" && text.is_empty())
    );
    assert!(sink.is_empty() && !s.is_poisoned());
    s.noop().await.unwrap();
    assert!(
        matches!(s.quit().await, Err(Error::ServerNo { command, text }) if command == "QUIT" && text.starts_with("[SYS/TEMP]"))
    );
    assert!(server.await.unwrap().is_empty());
}

#[tokio::test]
async fn retr_unstuffs_a_body_sent_byte_by_byte() {
    let script = vec![
        expect("RETR 1\r\n"),
        Step::SendSlowly(format!("+OK 74 octets\r\n{STUFFED}").into_bytes()),
        expect("TOP 1 0\r\n"),
        send(format!("+OK\r\n{STUFFED}")),
        expect("NOOP\r\n"),
        send("+OK\r\n"),
    ];
    let (mut s, server, meter) = session_with(BASIC_CAPS, script).await;
    meter.set_purpose(Purpose::Bodies);
    let before = meter.totals();
    let mut body = Vec::new();
    assert_eq!(s.retr(1, &mut body).await.unwrap(), CONTENT.len() as u64);
    assert_eq!(String::from_utf8(body).unwrap(), CONTENT);
    let used = meter.totals().since(&before);
    assert_eq!(used.total(), used.total_for(Purpose::Bodies));
    let mut head = Vec::new();
    assert_eq!(s.top(1, 0, &mut head).await.unwrap(), CONTENT.len() as u64);
    assert_eq!(head, CONTENT.as_bytes());
    s.noop().await.unwrap();
    drop(s);
    assert!(server.await.unwrap().is_empty());
}

/// A server that sends one byte at a time costs the client work in proportion to the bytes,
/// never a buffer's worth per read (a guard: each read appends into the read buffer).
#[tokio::test]
async fn a_trickled_response_costs_work_per_byte_not_per_buffer() {
    let line = "x".repeat(70);
    let body: String = (0..1_000).map(|_| format!("{line}\r\n")).collect();
    let script = vec![
        expect("RETR 1\r\n"),
        Step::SendSlowly(format!("+OK\r\n{body}.\r\n").into_bytes()),
    ];
    let (mut s, _server, _) = session_with(BASIC_CAPS, script).await;
    let cpu = thread_cpu();
    let mut sink = tokio::io::sink();
    assert_eq!(s.retr(1, &mut sink).await.unwrap(), body.len() as u64);
    let spent = thread_cpu().saturating_sub(cpu);
    eprintln!("{} bytes one at a time: {spent:?}", body.len());
    assert!(spent < Duration::from_millis(700), "{spent:?}");
}

#[tokio::test]
async fn retr_streams_into_a_file() {
    let mut message = String::from("+OK\r\n");
    let mut expected = String::new();
    for i in 0..20_000 {
        let line = if i % 7 == 0 {
            format!(".line {i}\r\n")
        } else {
            format!("line {i}\r\n")
        };
        expected.push_str(&line);
        message.push_str(if line.starts_with('.') { "." } else { "" });
        message.push_str(&line);
    }
    message.push_str(".\r\n");
    let (mut s, server, _) =
        session_with(BASIC_CAPS, vec![expect("RETR 3\r\n"), send(message)]).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("3.eml");
    let mut file = tokio::fs::File::create(&path).await.unwrap();
    let n = s.retr(3, &mut file).await.unwrap();
    drop(file);
    assert_eq!(n, expected.len() as u64);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), expected);
    drop(s);
    server.await.unwrap();
}

#[tokio::test]
async fn disconnect_mid_retr_poisons_the_session() {
    let script = vec![
        expect("RETR 1\r\n"),
        send("+OK\r\nSubject: half\r\n\r\nsome bo"),
        Step::Close,
    ];
    let (mut s, _server, _) = session_with(BASIC_CAPS, script).await;
    let mut body = Vec::new();
    assert!(matches!(
        s.retr(1, &mut body).await,
        Err(Error::ConnectionClosed)
    ));
    assert!(s.is_poisoned());
    assert!(is_unusable(&s.noop().await.unwrap_err()));
    assert!(is_unusable(&s.retr(1, &mut body).await.unwrap_err()));
}

#[tokio::test]
async fn megabyte_status_line_is_bounded() {
    let mut line = b"+OK ".to_vec();
    line.extend(std::iter::repeat_n(b'A', 1024 * 1024));
    line.extend_from_slice(b"\r\n");
    let script = vec![expect("STAT\r\n"), send(line)];
    let (mut s, _server, _) = session_with(BASIC_CAPS, script).await;
    let err = s.stat().await.unwrap_err();
    assert!(
        matches!(&err, Error::Protocol { reason } if reason.contains("longer than")),
        "{err:?}"
    );
    assert!(is_unusable(&s.stat().await.unwrap_err()));
}

#[tokio::test]
async fn garbage_status_line_poisons_without_touching_the_socket() {
    let script = vec![expect("NOOP\r\n"), send("HTTP/1.1 400 Bad Request\r\n")];
    let (mut s, server, _) = session_with(BASIC_CAPS, script).await;
    assert!(
        matches!(s.noop().await, Err(Error::Protocol { reason }) if reason.contains("neither +OK nor -ERR"))
    );
    assert!(is_unusable(&s.noop().await.unwrap_err()));
    let mut sink = Vec::new();
    assert!(is_unusable(&s.top(1, 0, &mut sink).await.unwrap_err()));
    assert!(is_unusable(&s.quit().await.unwrap_err()));
    // Nothing was written after the NOOP.
    assert!(server.await.unwrap().is_empty());
}

#[tokio::test]
async fn invalid_utf8_in_status_text_is_lossy() {
    let script = vec![
        expect("DELE 1\r\n"),
        send(b"-ERR caf\xe9 \xff\x00 locked\r\n"),
    ];
    let (mut s, _server, _) = session_with(BASIC_CAPS, script).await;
    let err = s.dele(1).await.unwrap_err();
    assert!(
        matches!(&err, Error::ServerNo { text, .. } if text == "caf\u{fffd} \u{fffd} locked"),
        "{err:?}"
    );
}

#[tokio::test]
async fn bad_listings_are_protocol_errors() {
    for listing in [
        "+OK\r\n1 abc\r\n.\r\n",
        "+OK\r\n0 120\r\n.\r\n",
        "+OK\r\n1\r\n.\r\n",
        "+OK\r\n-1 5\r\n.\r\n",
        "+OK\r\n1 18446744073709551616\r\n.\r\n",
    ] {
        let (mut s, _server, _) =
            session_with(BASIC_CAPS, vec![expect("LIST\r\n"), send(listing)]).await;
        assert!(
            matches!(s.list().await, Err(Error::Protocol { .. })),
            "{listing:?}"
        );
        assert!(s.is_poisoned());
    }
    for listing in [
        "+OK\r\nx uid\r\n.\r\n",
        "+OK\r\n1 bad\x01uid\r\n.\r\n",
        "+OK\r\n1 caf\u{e9}\r\n.\r\n",
    ] {
        let (mut s, _server, _) =
            session_with(BASIC_CAPS, vec![expect("UIDL\r\n"), send(listing)]).await;
        assert!(
            matches!(s.uidl().await, Err(Error::Protocol { .. })),
            "{listing:?}"
        );
    }
    let long_uid = format!("+OK\r\n1 {}\r\n.\r\n", "u".repeat(5_000));
    let (mut s, _server, _) =
        session_with(BASIC_CAPS, vec![expect("UIDL\r\n"), send(long_uid)]).await;
    assert!(matches!(s.uidl().await, Err(Error::Protocol { .. })));
    let (mut s, _server, _) = session_with(
        BASIC_CAPS,
        vec![expect("UIDL 2\r\n"), send("+OK 3 other-message\r\n")],
    )
    .await;
    assert!(matches!(s.uidl_one(2).await, Err(Error::Protocol { .. })));
    let (mut s, _server, _) =
        session_with(BASIC_CAPS, vec![expect("STAT\r\n"), send("+OK lots\r\n")]).await;
    assert!(matches!(s.stat().await, Err(Error::Protocol { .. })));
}

#[tokio::test]
async fn listing_and_body_sizes_are_bounded() {
    let options = Pop3Options {
        max_listing_entries: 2,
        max_message_bytes: 10,
        ..options()
    };
    let script = vec![
        expect("UIDL\r\n"),
        send("+OK\r\n1 a\r\n2 b\r\n3 c\r\n.\r\n"),
    ];
    let (mut s, _server, _) = session_with_options(BASIC_CAPS, script, &options).await;
    assert!(
        matches!(s.uidl().await, Err(Error::Protocol { reason }) if reason.contains("more than 2"))
    );
    let script = vec![expect("RETR 1\r\n"), send("+OK\r\n0123456789\r\n.\r\n")];
    let (mut s, _server, _) = session_with_options(BASIC_CAPS, script, &options).await;
    let mut sink = Vec::new();
    assert!(
        matches!(s.retr(1, &mut sink).await, Err(Error::Protocol { reason }) if reason.contains("more than 10"))
    );
}

/// A line with no end inside a body is refused once it passes `max_line`, before the rest
/// arrives; a caller's own limit (from a LIST size) bounds a response below the session's.
#[tokio::test]
async fn body_lines_and_per_call_limits_are_bounded() {
    let options = Pop3Options {
        max_line: 1000,
        ..options()
    };
    // 1,500 bytes with no line end, then silence: refused without waiting for more.
    let script = vec![
        expect("RETR 1\r\n"),
        send(format!("+OK\r\n{}", "x".repeat(1_500))),
    ];
    let (mut s, _server, _) = session_with_options(BASIC_CAPS, script, &options).await;
    let mut sink = Vec::new();
    let err = s.retr(1, &mut sink).await.unwrap_err();
    assert!(
        matches!(&err, Error::Protocol { reason } if reason.contains("longer than 1000")),
        "{err:?}"
    );
    assert!(sink.len() < 1_000, "the long line never reached the sink");
    assert!(s.is_poisoned());

    let body = format!("{}\r\n{}\n", "y".repeat(998), "z".repeat(10));
    let script = vec![
        expect("RETR 1\r\n"),
        send(format!("+OK\r\n{body}.\r\n")),
        expect("RETR 2\r\n"),
        send(format!("+OK\r\n{body}.\r\n")),
    ];
    let (mut s, _server, _) = session_with_options(BASIC_CAPS, script, &options).await;
    let mut sink = Vec::new();
    let got = s.retr_within(1, 1_011, &mut sink).await.unwrap();
    assert_eq!(
        got,
        Delivered {
            octets: 1_011,
            line_ends: 2,
            bare_lf: 1
        }
    );
    assert_eq!(got.against(1_012), ListedSize::Agrees);
    assert_eq!(got.against(1_013), ListedSize::Shorter);
    let err = s.retr_within(2, 1_010, &mut Vec::new()).await.unwrap_err();
    assert!(
        matches!(&err, Error::Protocol { reason } if reason.contains("more than 1010")),
        "{err:?}"
    );
    assert!(s.is_poisoned());
    let (mut s, _server, _) = session_with_options(
        BASIC_CAPS,
        vec![expect("TOP 3 0\r\n"), send(format!("+OK\r\n{body}.\r\n"))],
        &options,
    )
    .await;
    let err = s
        .top_many_within(&[(3, 0, 100)], |_| tokio::io::sink())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Protocol { reason } if reason.contains("more than 100")),
        "{err:?}"
    );
}

#[tokio::test]
async fn pipelined_top_keeps_request_order() {
    let caps = "TOP\r\nUIDL\r\nUSER\r\nPIPELINING\r\n";
    let script = vec![
        // All three commands arrive before any answer is sent.
        expect("TOP 3 0\r\nTOP 1 5\r\nTOP 2 0\r\n"),
        send(
            "+OK\r\nSubject: three\r\n\r\n.\r\n-ERR no such message\r\n+OK\r\nSubject: two\r\n..\r\n.\r\n",
        ),
        expect("NOOP\r\n"),
        send("+OK\r\n"),
    ];
    let (mut s, server, meter) = session_with(caps, script).await;
    meter.set_purpose(Purpose::Bodies);
    let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut opened = Vec::new();
    let results = s
        .top_many(&[(3, 0), (1, 5), (2, 0)], |n| {
            opened.push(n);
            Recorder {
                msgno: n,
                into: bodies.clone(),
                buf: Vec::new(),
            }
        })
        .await
        .unwrap();
    assert_eq!(
        opened,
        [3, 2],
        "sinks are made only for +OK answers, in order"
    );
    let bodies = std::mem::take(&mut *bodies.lock().unwrap());
    assert_eq!(results.len(), 3);
    assert_eq!(
        *results[0].as_ref().unwrap(),
        "Subject: three\r\n\r\n".len() as u64
    );
    assert!(
        matches!(&results[1], Err(Error::ServerNo { command, text }) if command == "TOP" && text == "no such message")
    );
    assert_eq!(
        *results[2].as_ref().unwrap(),
        "Subject: two\r\n.\r\n".len() as u64
    );
    assert_eq!(
        bodies,
        vec![
            (3, b"Subject: three\r\n\r\n".to_vec()),
            (2, b"Subject: two\r\n.\r\n".to_vec())
        ]
    );
    assert_eq!(
        meter.totals().total_for(Purpose::Bodies),
        0,
        "TOP counts as metadata"
    );
    s.noop().await.unwrap();
    drop(s);
    assert!(server.await.unwrap().is_empty());
}

#[tokio::test]
async fn top_many_without_pipelining_goes_one_at_a_time() {
    let script = vec![
        expect("TOP 1 0\r\n"),
        send("+OK\r\nA\r\n.\r\n"),
        expect("TOP 2 0\r\n"),
        send("+OK\r\nB\r\n.\r\n"),
    ];
    let (mut s, server, _) = session_with(BASIC_CAPS, script).await;
    let results = s.top_many(&[(1, 0), (2, 0)], |_| Vec::new()).await.unwrap();
    assert!(results.iter().all(|r| matches!(r, Ok(3))));
    drop(s);
    assert!(server.await.unwrap().is_empty());
}

#[tokio::test]
async fn pipelined_retr_window_and_many_messages() {
    let caps = "USER\r\nPIPELINING\r\n";
    let count = 100u32;
    let mut script = Vec::new();
    // The first window goes out at once; then one more command per answer.
    let first: String = (1..=32).map(|n| format!("RETR {n}\r\n")).collect();
    script.push(expect(first));
    for n in 1..=count {
        script.push(send(format!("+OK\r\nmessage {n}\r\n.\r\n")));
        if n + 32 <= count {
            script.push(expect(format!("RETR {}\r\n", n + 32)));
        }
    }
    let (mut s, server, _) = session_with(caps, script).await;
    let msgnos: Vec<u32> = (1..=count).collect();
    let results = s.retr_many(&msgnos, |_| Vec::new()).await.unwrap();
    assert_eq!(results.len(), count as usize);
    assert!(
        results
            .iter()
            .zip(1..)
            .all(|(r, n)| *r.as_ref().unwrap() == format!("message {n}\r\n").len() as u64)
    );
    drop(s);
    assert!(server.await.unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn silent_server_times_out_and_poisons() {
    let (mut s, _server, _) =
        session_with(BASIC_CAPS, vec![expect("NOOP\r\n"), Step::Capture]).await;
    assert!(matches!(s.noop().await, Err(Error::Timeout { during }) if during.contains("NOOP")));
    assert!(is_unusable(&s.noop().await.unwrap_err()));
}

#[tokio::test]
async fn cancelled_retr_poisons() {
    let script = vec![
        expect("RETR 1\r\n"),
        send("+OK\r\nstarted\r\n"),
        Step::Capture,
    ];
    let (mut s, _server, _) = session_with(BASIC_CAPS, script).await;
    let mut body = Vec::new();
    let cancelled =
        tokio::time::timeout(std::time::Duration::from_millis(50), s.retr(1, &mut body)).await;
    assert!(cancelled.is_err());
    assert!(s.is_poisoned());
    assert!(is_unusable(&s.noop().await.unwrap_err()));
}

/// Bodies seen by `Recorder`s: (message number, content).
type Seen = std::sync::Arc<std::sync::Mutex<Vec<(u32, Vec<u8>)>>>;

/// A sink that hands its bytes to a shared list when flushed.
struct Recorder {
    msgno: u32,
    into: Seen,
    buf: Vec<u8>,
}

impl tokio::io::AsyncWrite for Recorder {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.buf.extend_from_slice(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let body = std::mem::take(&mut self.buf);
        let msgno = self.msgno;
        self.into.lock().unwrap().push((msgno, body));
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}
