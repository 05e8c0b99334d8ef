//! Transcripts of `send`: the pipelined flight, per-recipient results, refusals before any
//! upload (SIZE, 8BITMIME, SMTPUTF8, BURL), the body's transparency, the final reply, a
//! connection lost after the final dot, and BURL.

use super::*;
use crate::{
    error::Error,
    net::Purpose,
    smtp::{Delivery, Envelope, Payload, RecipientRejection, SendError},
};

const PIPELINED: &[&str] = &[
    "PIPELINING",
    "SIZE 1000",
    "AUTH PLAIN",
    "ENHANCEDSTATUSCODES",
    "8BITMIME",
    "SMTPUTF8",
];
const ONE_BY_ONE: &[&str] = &["SIZE 1000", "AUTH PLAIN", "ENHANCEDSTATUSCODES"];

fn envelope(to: &[&str], size: u64) -> Envelope {
    Envelope {
        from: "alice@example.test".into(),
        to: to.iter().map(|s| s.to_string()).collect(),
        size,
        eight_bit: false,
        utf8: false,
    }
}

const MESSAGE: &[u8] = b"Subject: hi\r\n\r\nHello.\r\n";

/// The server's leftovers once the session is dropped.
async fn rest(opened: Opened, session: SmtpSession) -> String {
    drop(session);
    String::from_utf8_lossy(&opened.server.await.unwrap()).into_owned()
}

#[tokio::test]
async fn one_recipient_refused_others_accepted_in_one_flight() {
    let mut opened = session_with(
        PIPELINED,
        vec![
            expect(
                "MAIL FROM:<alice@example.test> SIZE=23\r\n\
                 RCPT TO:<bob@example.test>\r\n\
                 RCPT TO:<nobody@example.test>\r\n\
                 RCPT TO:<carol@example.test>\r\n\
                 DATA\r\n",
            ),
            send(
                "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n\
                 550-5.1.1 <nobody@example.test>: Recipient address rejected:\r\n\
                 550 5.1.1 User unknown in virtual mailbox table\r\n\
                 250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n",
            ),
            expect(MESSAGE),
            expect(".\r\n"),
            send("250 2.0.0 Ok: queued as 4F2A1\r\n"),
        ],
    )
    .await;
    let mut session = opened.result.unwrap();
    opened.result = Err(Error::Cancelled);
    let writes = opened.writes.count();
    let delivery = session
        .send(
            &envelope(
                &[
                    "bob@example.test",
                    "nobody@example.test",
                    "carol@example.test",
                ],
                MESSAGE.len() as u64,
            ),
            Payload::Data(MESSAGE),
        )
        .await
        .unwrap();
    assert_eq!(
        delivery,
        Delivery {
            accepted: vec!["bob@example.test".into(), "carol@example.test".into()],
            rejected: vec![RecipientRejection {
                address: "nobody@example.test".into(),
                code: 550,
                enhanced: Some("5.1.1".into()),
                text: "<nobody@example.test>: Recipient address rejected: User unknown in \
                       virtual mailbox table"
                    .into(),
                permanent: true,
            }],
            reply: "Ok: queued as 4F2A1".into(),
        }
    );
    // The flight, then the body with its terminator: two writes.
    assert_eq!(opened.writes.count() - writes, 2);
    assert!(opened.meter.totals().written_for(Purpose::Send) > MESSAGE.len() as u64);
    assert_eq!(rest(opened, session).await, "");
}

#[tokio::test]
async fn without_pipelining_one_command_at_a_time() {
    let mut opened = session_with(
        ONE_BY_ONE,
        vec![
            expect("MAIL FROM:<alice@example.test> SIZE=23\r\n"),
            send("250 2.1.0 Ok\r\n"),
            expect("RCPT TO:<bob@example.test>\r\n"),
            send("450 4.2.0 Mailbox busy\r\n"),
            expect("RCPT TO:<carol@example.test>\r\n"),
            send("250 2.1.5 Ok\r\n"),
            expect("DATA\r\n"),
            send("354 Go ahead\r\n"),
            expect(MESSAGE),
            expect(".\r\n"),
            send("250 2.0.0 Ok\r\n"),
        ],
    )
    .await;
    let mut session = opened.result.unwrap();
    opened.result = Err(Error::Cancelled);
    let delivery = session
        .send(
            &envelope(&["bob@example.test", "carol@example.test"], 23),
            Payload::Data(MESSAGE),
        )
        .await
        .unwrap();
    assert_eq!(delivery.accepted, vec!["carol@example.test".to_string()]);
    let refused = &delivery.rejected[0];
    assert_eq!(
        (refused.code, refused.permanent, refused.enhanced.as_deref()),
        (450, false, Some("4.2.0"))
    );
    assert_eq!(rest(opened, session).await, "");
}

/// Over the announced SIZE: refused before MAIL FROM, not one byte written.
#[tokio::test]
async fn a_message_over_size_is_refused_before_anything_is_sent() {
    let mut opened = session_with(PIPELINED, vec![]).await;
    let mut session = opened.result.unwrap();
    opened.result = Err(Error::Cancelled);
    let before = opened.meter.totals();
    let big = vec![b'x'; 1001];
    let err = session
        .send(&envelope(&["bob@example.test"], 1001), Payload::Data(&big))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            SendError {
                error: Error::MessageTooLarge {
                    size: 1001,
                    limit: 1000
                },
                maybe_delivered: false
            }
        ),
        "{err:?}"
    );
    // A declared size below the real one does not sneak past the limit.
    let err = session
        .send(&envelope(&["bob@example.test"], 10), Payload::Data(&big))
        .await
        .unwrap_err();
    assert!(matches!(err.error, Error::MessageTooLarge { .. }));
    assert_eq!(opened.meter.totals().since(&before).total(), 0);
    assert_eq!(rest(opened, session).await, "");
}

#[tokio::test]
async fn what_the_server_lacks_is_refused_before_anything_is_sent() {
    let mut opened = session_with(ONE_BY_ONE, vec![]).await;
    let mut session = opened.result.unwrap();
    opened.result = Err(Error::Cancelled);
    let mut eight_bit = envelope(&["bob@example.test"], 23);
    eight_bit.eight_bit = true;
    let mut utf8 = envelope(&["bob@example.test"], 23);
    utf8.utf8 = true;
    let utf8_address = envelope(&["jörg@example.test"], 23);
    let bad_address = envelope(&["bob@example.test>\r\nRCPT TO:<eve@example.test"], 23);
    let nobody = envelope(&[], 23);
    for (envelope, payload) in [
        (&eight_bit, Payload::Data(MESSAGE)),
        (&utf8, Payload::Data(MESSAGE)),
        (&utf8_address, Payload::Data(MESSAGE)),
        (
            &envelope(&["bob@example.test"], 23),
            Payload::Burl {
                url: "imap://alice@localhost/Sent;UIDVALIDITY=1/;UID=1;urlauth=submit+alice:internal:91354a473744909de610943775f92038",
            },
        ),
    ] {
        let err = session.send(envelope, payload).await.unwrap_err();
        assert!(
            matches!(err.error, Error::Unsupported { .. }) && !err.maybe_delivered,
            "{err:?}"
        );
    }
    for envelope in [&bad_address, &nobody] {
        let err = session
            .send(envelope, Payload::Data(MESSAGE))
            .await
            .unwrap_err();
        assert!(matches!(err.error, Error::Config { .. }), "{err:?}");
        assert!(!err.to_string().contains("eve"));
    }
    assert_eq!(rest(opened, session).await, "");
}

#[tokio::test]
async fn eight_bit_and_utf8_parameters_where_offered() {
    let body = "Subject: Grüße\r\n\r\nÀ bientôt\r\n".as_bytes();
    let mut opened = session_with(
        PIPELINED,
        vec![
            expect(format!(
                "MAIL FROM:<jörg@example.test> SIZE={} BODY=8BITMIME SMTPUTF8\r\n\
                 RCPT TO:<bob@example.test>\r\nDATA\r\n",
                body.len()
            )),
            send("250 Ok\r\n250 Ok\r\n354 Go\r\n"),
            expect(body),
            expect(".\r\n"),
            send("250 Ok\r\n"),
        ],
    )
    .await;
    let mut session = opened.result.unwrap();
    opened.result = Err(Error::Cancelled);
    let envelope = Envelope {
        from: "jörg@example.test".into(),
        to: vec!["bob@example.test".into()],
        size: body.len() as u64,
        eight_bit: true,
        utf8: false,
    };
    session.send(&envelope, Payload::Data(body)).await.unwrap();
    assert_eq!(rest(opened, session).await, "");
}

/// Lines starting with a dot are stuffed; bare LF and bare CR become CRLF; a message
/// without a final line end gets one before the terminator.
#[tokio::test]
async fn dot_stuffing_and_line_ends() {
    let body: &[u8] = b"Subject: dots\n\n.hidden line\n..two\r\nbare\rcr\n.";
    let wire = "Subject: dots\r\n\r\n..hidden line\r\n...two\r\nbare\r\ncr\r\n..\r\n.\r\n";
    let mut opened = session_with(
        PIPELINED,
        vec![
            expect(format!(
                "MAIL FROM:<alice@example.test> SIZE={}\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n",
                body.len()
            )),
            send("250 Ok\r\n250 Ok\r\n354 Go\r\n"),
            expect(wire),
            send("250 Ok\r\n"),
        ],
    )
    .await;
    let mut session = opened.result.unwrap();
    opened.result = Err(Error::Cancelled);
    session
        .send(
            &envelope(&["bob@example.test"], body.len() as u64),
            Payload::Data(body),
        )
        .await
        .unwrap();
    assert_eq!(rest(opened, session).await, "");
}

/// Every recipient refused: no body; DATA's 554 read, RSET, and a `Delivery` that says so.
#[tokio::test]
async fn no_recipient_accepted_sends_no_body() {
    let mut opened = session_with(
        PIPELINED,
        vec![
            expect(
                "MAIL FROM:<alice@example.test> SIZE=23\r\nRCPT TO:<x@example.test>\r\n\
                 RCPT TO:<y@example.test>\r\nDATA\r\n",
            ),
            send(
                "250 Ok\r\n550 5.1.1 No such user\r\n451 4.3.0 Try later\r\n\
                 554 5.5.1 Error: no valid recipients\r\n",
            ),
            expect("RSET\r\n"),
            send("250 2.0.0 Ok\r\n"),
        ],
    )
    .await;
    let mut session = opened.result.unwrap();
    opened.result = Err(Error::Cancelled);
    let delivery = session
        .send(
            &envelope(&["x@example.test", "y@example.test"], 23),
            Payload::Data(MESSAGE),
        )
        .await
        .unwrap();
    assert!(delivery.accepted.is_empty() && delivery.reply.is_empty());
    let permanence: Vec<_> = delivery
        .rejected
        .iter()
        .map(|r| (r.address.as_str(), r.code, r.permanent))
        .collect();
    assert_eq!(
        permanence,
        [
            ("x@example.test", 550, true),
            ("y@example.test", 451, false)
        ]
    );
    assert_eq!(rest(opened, session).await, "");
}

/// A server that says 354 to a pipelined DATA with no valid recipient gets a lone dot.
#[tokio::test]
async fn a_354_without_recipients_gets_an_empty_message() {
    let mut opened = session_with(
        PIPELINED,
        vec![
            expect(
                "MAIL FROM:<alice@example.test> SIZE=23\r\nRCPT TO:<x@example.test>\r\nDATA\r\n",
            ),
            send("250 Ok\r\n550 No\r\n354 Go\r\n"),
            expect(".\r\n"),
            send("554 No valid recipients\r\n"),
            expect("RSET\r\n"),
            send("250 Ok\r\n"),
        ],
    )
    .await;
    let mut session = opened.result.unwrap();
    opened.result = Err(Error::Cancelled);
    let delivery = session
        .send(&envelope(&["x@example.test"], 23), Payload::Data(MESSAGE))
        .await
        .unwrap();
    assert!(delivery.accepted.is_empty());
    assert_eq!(rest(opened, session).await, "");
}

/// A 4xx at MAIL FROM is temporary; the next session's send goes through.
#[tokio::test]
async fn a_temporary_mail_from_refusal_then_success_on_a_new_session() {
    let mut opened = session_with(
        ONE_BY_ONE,
        vec![
            expect("MAIL FROM:<alice@example.test> SIZE=23\r\n"),
            send("451 4.3.2 System not accepting network messages\r\n"),
            expect("RSET\r\n"),
            send("250 2.0.0 Ok\r\n"),
        ],
    )
    .await;
    let mut session = opened.result.unwrap();
    opened.result = Err(Error::Cancelled);
    let err = session
        .send(&envelope(&["bob@example.test"], 23), Payload::Data(MESSAGE))
        .await
        .unwrap_err();
    let SendError {
        error:
            Error::SmtpRejected {
                stage,
                code,
                enhanced,
                text,
                permanent,
            },
        maybe_delivered,
    } = err
    else {
        panic!("{err:?}")
    };
    assert_eq!(
        (
            stage,
            code,
            enhanced.as_deref(),
            text.as_str(),
            permanent,
            maybe_delivered
        ),
        (
            "MAIL FROM",
            451,
            Some("4.3.2"),
            "System not accepting network messages",
            false,
            false
        )
    );
    assert_eq!(rest(opened, session).await, "");

    let mut opened = session_with(
        ONE_BY_ONE,
        vec![
            expect("MAIL FROM:<alice@example.test> SIZE=23\r\n"),
            send("250 Ok\r\n"),
            expect("RCPT TO:<bob@example.test>\r\n"),
            send("250 Ok\r\n"),
            expect("DATA\r\n"),
            send("354 Go\r\n"),
            expect(MESSAGE),
            expect(".\r\n"),
            send("250 2.0.0 Ok: queued as ABC\r\n"),
        ],
    )
    .await;
    let mut session = opened.result.unwrap();
    opened.result = Err(Error::Cancelled);
    let delivery = session
        .send(&envelope(&["bob@example.test"], 23), Payload::Data(MESSAGE))
        .await
        .unwrap();
    assert_eq!(delivery.reply, "Ok: queued as ABC");
    assert_eq!(rest(opened, session).await, "");
}

/// The connection drops right after the final dot: the message may have been delivered.
#[tokio::test]
async fn connection_dropped_after_the_final_dot_may_have_delivered() {
    let mut opened = session_with(
        PIPELINED,
        vec![
            expect(
                "MAIL FROM:<alice@example.test> SIZE=23\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n",
            ),
            send("250 Ok\r\n250 Ok\r\n354 Go\r\n"),
            expect(MESSAGE),
            expect(".\r\n"),
            Step::Close,
        ],
    )
    .await;
    let mut session = opened.result.unwrap();
    opened.result = Err(Error::Cancelled);
    let err = session
        .send(&envelope(&["bob@example.test"], 23), Payload::Data(MESSAGE))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            SendError {
                error: Error::ConnectionClosed,
                maybe_delivered: true
            }
        ),
        "{err:?}"
    );
    // The session is done for: nothing more is sent on it.
    let again = session
        .send(&envelope(&["bob@example.test"], 23), Payload::Data(MESSAGE))
        .await
        .unwrap_err();
    assert!(matches!(again.error, Error::ConnectionClosed) && !again.maybe_delivered);
}

/// Dropped before the final dot (DATA refused by a closed connection): not delivered.
#[tokio::test]
async fn connection_dropped_before_the_body_was_not_delivered() {
    let mut opened = session_with(
        PIPELINED,
        vec![
            expect(
                "MAIL FROM:<alice@example.test> SIZE=23\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n",
            ),
            send("250 Ok\r\n250 Ok\r\n"),
            Step::Close,
        ],
    )
    .await;
    let mut session = opened.result.unwrap();
    opened.result = Err(Error::Cancelled);
    let err = session
        .send(&envelope(&["bob@example.test"], 23), Payload::Data(MESSAGE))
        .await
        .unwrap_err();
    assert!(matches!(err.error, Error::ConnectionClosed) && !err.maybe_delivered);
}

/// A refusal of the message itself is final: not delivered, not "maybe".
#[tokio::test]
async fn a_refused_message_is_not_delivered() {
    let mut opened = session_with(
        PIPELINED,
        vec![
            expect(
                "MAIL FROM:<alice@example.test> SIZE=23\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n",
            ),
            send("250 Ok\r\n250 Ok\r\n354 Go\r\n"),
            expect(MESSAGE),
            expect(".\r\n"),
            send("554 5.7.1 Message rejected as spam\r\n"),
            expect(
                "MAIL FROM:<alice@example.test> SIZE=23\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n",
            ),
            send("250 Ok\r\n250 Ok\r\n503 5.5.1 Not now\r\n"),
            expect("RSET\r\n"),
            send("250 Ok\r\n"),
        ],
    )
    .await;
    let mut session = opened.result.unwrap();
    opened.result = Err(Error::Cancelled);
    let err = session
        .send(&envelope(&["bob@example.test"], 23), Payload::Data(MESSAGE))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err.error,
            Error::SmtpRejected {
                stage: "end of DATA",
                code: 554,
                permanent: true,
                ..
            }
        ) && !err.maybe_delivered,
        "{err:?}"
    );
    // The session stays usable; a DATA refusal is reported as such, after RSET.
    let err = session
        .send(&envelope(&["bob@example.test"], 23), Payload::Data(MESSAGE))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err.error,
            Error::SmtpRejected {
                stage: "DATA",
                code: 503,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(rest(opened, session).await, "");
}

const URL: &str = "imap://alice@localhost:15993/Sent;UIDVALIDITY=1/;UID=7;urlauth=submit+alice:internal:91354a473744909de610943775f92038";

/// BURL with the caps of the EHLO after AUTH: `BURL <url> LAST` rides in the flight, no DATA,
/// no body.
#[tokio::test]
async fn burl_in_the_flight_with_caps_from_after_auth() {
    let mut script = prelude(&["AUTH PLAIN", "BURL imap", "PIPELINING", "SIZE 1000"]);
    script.extend([
        expect("EHLO [127.0.0.1]\r\n"),
        send(ehlo_reply(&[
            "BURL imap imap://localhost:15993",
            "PIPELINING",
            "SIZE 1000",
        ])),
        expect(format!(
            "MAIL FROM:<alice@example.test> SIZE=900\r\nRCPT TO:<bob@example.test>\r\n\
             BURL {URL} LAST\r\n"
        )),
        send("250 Ok\r\n250 Ok\r\n250 2.0.0 Ok: queued as B1\r\n"),
    ]);
    let opened = open(Security::DangerPlaintext, script).await;
    let mut session = opened.result.unwrap();
    let writes = opened.writes.count();
    let delivery = session
        .send(
            &envelope(&["bob@example.test"], 900),
            Payload::Burl { url: URL },
        )
        .await
        .unwrap();
    assert_eq!(delivery.reply, "Ok: queued as B1");
    assert_eq!(opened.writes.count() - writes, 1);
    drop(session);
    assert_eq!(opened.server.await.unwrap(), b"");
}

#[tokio::test]
async fn burl_refused_is_final_and_the_transaction_reset() {
    let mut script = prelude(&["AUTH PLAIN", "BURL imap"]);
    script.extend([
        expect("EHLO [127.0.0.1]\r\n"),
        send(ehlo_reply(&["BURL imap imap://localhost:15993"])),
        expect("MAIL FROM:<alice@example.test>\r\n"),
        send("250 Ok\r\n"),
        expect("RCPT TO:<bob@example.test>\r\n"),
        send("250 Ok\r\n"),
        expect(format!("BURL {URL} LAST\r\n")),
        send("554 5.6.6 IMAP URL resolution failed\r\n"),
        expect("RSET\r\n"),
        send("250 Ok\r\n"),
    ]);
    let opened = open(Security::DangerPlaintext, script).await;
    let mut session = opened.result.unwrap();
    let err = session
        .send(
            &envelope(&["bob@example.test"], 900),
            Payload::Burl { url: URL },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err.error,
            Error::SmtpRejected {
                stage: "BURL",
                code: 554,
                enhanced: Some(e),
                ..
            } if e == "5.6.6"
        ) && !err.maybe_delivered,
        "{err:?}"
    );
    drop(session);
    assert_eq!(opened.server.await.unwrap(), b"");
}

#[tokio::test]
async fn reset_and_quit() {
    let mut opened = session_with(
        ONE_BY_ONE,
        vec![
            expect("RSET\r\n"),
            send("250 Ok\r\n"),
            expect("QUIT\r\n"),
            send("221 Bye\r\n"),
        ],
    )
    .await;
    let mut session = opened.result.unwrap();
    opened.result = Err(Error::Cancelled);
    session.reset().await.unwrap();
    session.quit().await;
    assert_eq!(opened.server.await.unwrap(), b"");
}

/// A 421 at MAIL FROM in a flight, the server hanging up before the rest: the refusal is
/// what `send` reports (temporary), and the session is done for.
#[tokio::test]
async fn a_421_at_mail_from_then_hang_up() {
    let mut opened = session_with(
        PIPELINED,
        vec![
            expect(
                "MAIL FROM:<alice@example.test> SIZE=23\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n",
            ),
            send("421 4.3.2 Shutting down\r\n"),
            Step::Close,
        ],
    )
    .await;
    let mut session = opened.result.unwrap();
    opened.result = Err(Error::Cancelled);
    let err = session
        .send(&envelope(&["bob@example.test"], 23), Payload::Data(MESSAGE))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err.error,
            Error::SmtpRejected {
                stage: "MAIL FROM",
                code: 421,
                permanent: false,
                ..
            }
        ) && !err.maybe_delivered,
        "{err:?}"
    );
    assert!(session.is_broken());
}

/// A body of several 64 KiB chunks, with dots and bare line ends across the chunk
/// boundaries: the wire carries exactly the whole message stuffed at once.
#[tokio::test]
async fn a_body_of_many_chunks() {
    let mut body = Vec::new();
    let mut i = 0u32;
    while body.len() < 3 * 64 * 1024 + 100 {
        body.extend_from_slice(format!(".{i} dotted\nx{i}\r\n").as_bytes());
        i += 1;
    }
    let mut wire = Vec::new();
    let mut stuffer = crate::smtp::data::Stuffer::new();
    stuffer.encode(&body, &mut wire);
    stuffer.finish(&mut wire);
    let mut opened = session_with(
        &["PIPELINING", "AUTH PLAIN"],
        vec![
            expect("MAIL FROM:<alice@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n"),
            send("250 Ok\r\n250 Ok\r\n354 Go\r\n"),
            Step::Expect(wire),
            send("250 Ok\r\n"),
        ],
    )
    .await;
    let mut session = opened.result.unwrap();
    opened.result = Err(Error::Cancelled);
    session
        .send(&envelope(&["bob@example.test"], 0), Payload::Data(&body))
        .await
        .unwrap();
    assert_eq!(rest(opened, session).await, "");
}
