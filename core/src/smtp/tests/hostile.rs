//! Hostile and broken servers: an overlong line, an endless multi-line reply, a garbage
//! code, lines whose codes differ, a line that never ends, silence. Each is a clear error
//! (`Protocol`, or `Timeout` for silence) within its bound, never a hang or a panic.

use super::*;
use crate::{
    error::Error,
    smtp::{Envelope, MAX_REPLY_LINE, MAX_REPLY_LINES, Payload, SmtpOptions, connect::establish},
};

async fn greeting_then(reply: Vec<u8>) -> Result<SmtpSession> {
    let mut script = vec![
        send("220 fake.test ESMTP\r\n"),
        expect("EHLO [127.0.0.1]\r\n"),
    ];
    script.push(Step::Send(reply));
    open(Security::DangerPlaintext, script).await.result
}

fn assert_protocol(result: Result<SmtpSession>, what: &str) {
    let err = result.map(drop).unwrap_err();
    assert!(matches!(err, Error::Protocol { .. }), "{what}: {err:?}");
}

#[tokio::test]
async fn an_overlong_reply_line() {
    let mut line = b"250-".to_vec();
    line.extend(std::iter::repeat_n(b'x', MAX_REPLY_LINE + 10));
    line.extend_from_slice(b"\r\n250 ok\r\n");
    assert_protocol(greeting_then(line).await, "overlong line");
}

#[tokio::test]
async fn a_line_that_never_ends_is_refused_at_the_bound() {
    // 1 MiB without a line end: refused once the bound is passed, not read to the end.
    let flood = vec![b'2'; 1024 * 1024];
    assert_protocol(greeting_then(flood).await, "endless line");
}

#[tokio::test]
async fn an_endless_multi_line_reply() {
    let mut reply = Vec::new();
    for i in 0..MAX_REPLY_LINES + 5 {
        reply.extend_from_slice(format!("250-X-KEYWORD-{i}\r\n").as_bytes());
    }
    reply.extend_from_slice(b"250 last\r\n");
    assert_protocol(greeting_then(reply).await, "endless multi-line");
}

#[tokio::test]
async fn garbage_codes() {
    for reply in [
        &b"abc hello\r\n"[..],
        b"2500 ok\r\n",
        b"099 ok\r\n",
        b"650 ok\r\n",
        b"25\r\n",
        b"\r\n",
        b"250\tok\r\n",
        b"\xff\xfe\xfd\r\n",
    ] {
        assert_protocol(
            greeting_then(reply.to_vec()).await,
            &String::from_utf8_lossy(reply),
        );
    }
}

#[tokio::test]
async fn a_multi_line_reply_whose_codes_differ() {
    assert_protocol(
        greeting_then(b"250-fake.test\r\n251-PIPELINING\r\n250 SIZE 10\r\n".to_vec()).await,
        "mixed codes",
    );
}

#[tokio::test]
async fn a_garbage_final_reply_after_the_dot_may_have_delivered() {
    let mut script = prelude(&["PIPELINING", "AUTH PLAIN"]);
    script.extend([
        expect("MAIL FROM:<a@x.test>\r\nRCPT TO:<b@x.test>\r\nDATA\r\n"),
        send("250 Ok\r\n250 Ok\r\n354 Go\r\n"),
        expect("m\r\n.\r\n"),
        send("2xx queued\r\n"),
    ]);
    let opened = open(Security::DangerPlaintext, script).await;
    let mut session = opened.result.unwrap();
    let envelope = Envelope {
        from: "a@x.test".into(),
        to: vec!["b@x.test".into()],
        size: 1,
        eight_bit: false,
        utf8: false,
    };
    let err = session
        .send(&envelope, Payload::Data(b"m"))
        .await
        .unwrap_err();
    assert!(
        matches!(err.error, Error::Protocol { .. }) && err.maybe_delivered,
        "{err:?}"
    );
}

/// A server that goes silent: each read has its deadline.
#[tokio::test]
async fn silence_is_a_timeout() {
    let (io, server) = server(vec![
        send("220 fake.test ESMTP\r\n"),
        expect("EHLO [127.0.0.1]\r\n"),
    ]);
    let options = SmtpOptions {
        timeout: Duration::from_millis(200),
        final_reply_timeout: Duration::from_millis(200),
    };
    let meter = WireMeter::new();
    let result = establish(
        BoxedIo::new(io),
        &endpoint(Security::DangerPlaintext),
        &credential(),
        &tls(),
        &meter,
        &options,
    )
    .await;
    assert!(
        matches!(result, Err(Error::Timeout { .. })),
        "{:?}",
        result.map(drop)
    );
    server.abort();
}
