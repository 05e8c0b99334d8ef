//! A logged-in SMTP session: one transaction per `send` (MAIL FROM, RCPT TO per recipient,
//! then DATA and the streamed body, or BURL), RSET and QUIT. Everything the envelope asks
//! for that the server does not offer (SIZE, 8BITMIME, SMTPUTF8, BURL imap) is refused
//! before the first byte of the transaction. With PIPELINING the commands up to DATA (or
//! BURL) go in one write and their replies are read in order (RFC 2920); without it, one
//! at a time. Addresses and message content never reach an error or a log line.

use tracing::debug;

use super::{
    Delivery, Envelope, Payload, RecipientRejection, SendError, SmtpCaps, SmtpOptions,
    conn::Conn,
    connect::rejected,
    reply::{Reply, Verb},
};
use crate::{
    error::{Error, Result},
    net::{Purpose, WireMeter},
};

/// A logged-in SMTP submission session.
#[derive(Debug)]
pub struct SmtpSession {
    conn: Conn,
    caps: SmtpCaps,
    meter: WireMeter,
    options: SmtpOptions,
    /// The connection died or fell out of step: nothing more is sent on it.
    broken: bool,
}

/// Where a transaction stands, for what an error means.
#[derive(Debug, Default)]
struct Progress {
    /// The final `.` (or `BURL … LAST`) has been (or is being) written: from here on, a
    /// transaction without a final reply may have been delivered.
    terminal_written: bool,
}

impl SmtpSession {
    pub(super) fn new(conn: Conn, caps: SmtpCaps, meter: WireMeter, options: SmtpOptions) -> Self {
        SmtpSession {
            conn,
            caps,
            meter,
            options,
            broken: false,
        }
    }

    /// What the server announced (in the EHLO after AUTH, where it announced BURL).
    pub fn caps(&self) -> &SmtpCaps {
        &self.caps
    }

    /// The connection died or fell out of step (a socket error, a timeout, a reply that
    /// broke the protocol): every later call fails at once. Drop the session.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// The meter this session's bytes are counted on.
    pub fn meter(&self) -> &WireMeter {
        &self.meter
    }

    /// Submits one message. `Ok` when the server took it for at least one recipient, or
    /// when it refused every recipient (then nothing was sent: `Delivery::accepted` is
    /// empty). `Err` when the server refused the transaction (MAIL FROM, DATA, the final
    /// reply) or the connection failed; `maybe_delivered` tells whether the final dot (or
    /// `BURL … LAST`) had been written without its reply being read.
    pub async fn send(
        &mut self,
        envelope: &Envelope,
        payload: Payload<'_>,
    ) -> std::result::Result<Delivery, SendError> {
        if self.broken {
            return Err(Error::ConnectionClosed.into());
        }
        self.meter.set_purpose(Purpose::Send);
        let mail = self.mail_command(envelope, payload)?;
        let mut progress = Progress::default();
        let result = if self.caps.pipelining {
            self.pipelined(&mail, envelope, payload, &mut progress)
                .await
        } else {
            self.one_by_one(&mail, envelope, payload, &mut progress)
                .await
        };
        result.map_err(|error| {
            if error.leaves_connection_unusable() {
                self.broken = true;
            }
            SendError {
                maybe_delivered: progress.terminal_written && error.leaves_connection_unusable(),
                error,
            }
        })
    }

    /// `RSET`: abandons a transaction.
    pub async fn reset(&mut self) -> Result<()> {
        if self.broken {
            return Err(Error::ConnectionClosed);
        }
        self.meter.set_purpose(Purpose::Send);
        let result = self.rset().await;
        if let Err(e) = &result
            && e.leaves_connection_unusable()
        {
            self.broken = true;
        }
        result
    }

    /// `QUIT`, bounded by the session timeout; errors are ignored (the message is sent or
    /// not whatever QUIT's fate).
    pub async fn quit(mut self) {
        self.meter.set_purpose(Purpose::Send);
        if !self.broken {
            let timeout = self.options.timeout;
            let conn = &mut self.conn;
            let _ = tokio::time::timeout(timeout, async {
                conn.write(b"QUIT\r\n", Verb::Quit).await?;
                conn.read_reply(Verb::Quit).await
            })
            .await;
        }
        self.conn.shutdown().await;
    }

    /// Checks the envelope and the payload against the server's capabilities, and builds
    /// MAIL FROM. Nothing has been sent when this fails.
    fn mail_command(&self, envelope: &Envelope, payload: Payload<'_>) -> Result<String> {
        if envelope.to.is_empty() {
            return Err(Error::Config {
                reason: "a message needs at least one recipient".into(),
            });
        }
        let addresses = std::iter::once(&envelope.from).chain(&envelope.to);
        let mut non_ascii = false;
        for (i, address) in addresses.enumerate() {
            if (i > 0 && address.is_empty()) || !carriable(address) {
                return Err(Error::Config {
                    reason: "a sender or recipient address is empty or has characters SMTP \
                             cannot carry (spaces, control characters, angle brackets)"
                        .into(),
                });
            }
            non_ascii |= !address.is_ascii();
        }
        let size = match payload {
            Payload::Data(bytes) => envelope.size.max(bytes.len() as u64),
            Payload::Burl { .. } => envelope.size,
        };
        if let Some(limit) = self.caps.size.filter(|l| *l > 0)
            && size > limit
        {
            return Err(Error::MessageTooLarge { size, limit });
        }
        if envelope.eight_bit && !self.caps.eight_bit_mime {
            return Err(Error::Unsupported {
                what: "8BITMIME (send the message as 7-bit MIME)",
            });
        }
        let utf8 = envelope.utf8 || non_ascii;
        if utf8 && !self.caps.smtp_utf8 {
            return Err(Error::Unsupported {
                what: "SMTPUTF8 (needed for UTF-8 addresses or headers)",
            });
        }
        if let Payload::Burl { url } = payload {
            if !self.caps.burl.as_ref().is_some_and(|b| b.imap) {
                return Err(Error::Unsupported { what: "BURL imap" });
            }
            let imap = url
                .get(..5)
                .is_some_and(|s| s.eq_ignore_ascii_case("imap:"));
            if !imap || !carriable(url) || url.contains(['<', '>']) {
                return Err(Error::Config {
                    reason: "the BURL URL is not an imap: URL SMTP can carry".into(),
                });
            }
        }
        let mut line = format!("MAIL FROM:<{}>", envelope.from);
        if self.caps.size.is_some() {
            line.push_str(&format!(" SIZE={size}"));
        }
        if envelope.eight_bit {
            line.push_str(" BODY=8BITMIME");
        }
        if utf8 {
            line.push_str(" SMTPUTF8");
        }
        line.push_str("\r\n");
        Ok(line)
    }

    /// MAIL, every RCPT and DATA (or BURL) in one write; then the replies in order.
    async fn pipelined(
        &mut self,
        mail: &str,
        envelope: &Envelope,
        payload: Payload<'_>,
        progress: &mut Progress,
    ) -> Result<Delivery> {
        let mut flight = mail.to_string();
        for to in &envelope.to {
            flight.push_str(&format!("RCPT TO:<{to}>\r\n"));
        }
        let last = match payload {
            Payload::Data(_) => {
                flight.push_str("DATA\r\n");
                Verb::Data
            }
            Payload::Burl { url } => {
                flight.push_str(&format!("BURL {url} LAST\r\n"));
                progress.terminal_written = true;
                Verb::Burl
            }
        };
        debug!(
            target: "anvert::smtp::flight",
            recipients = envelope.to.len(),
            last = last.name(),
            "MAIL RCPT.. {}",
            last.name()
        );
        self.conn.write(flight.as_bytes(), Verb::Mail).await?;

        let mail_reply = self.conn.read_reply(Verb::Mail).await?;
        let rest = self
            .flight_replies(envelope, last, mail_reply.is_positive())
            .await;
        if !mail_reply.is_positive() {
            // The refusal is the answer, even where the server then hung up (421) before
            // answering the rest of the flight.
            if rest.as_ref().is_err_and(Error::leaves_connection_unusable) {
                self.broken = true;
            }
            self.rset_quietly().await;
            return Err(rejected(Verb::Mail, &mail_reply));
        }
        let (accepted, refused, last_reply) = rest?;
        if accepted.is_empty() {
            self.rset_quietly().await;
            return Ok(Delivery {
                accepted,
                rejected: refused,
                reply: String::new(),
            });
        }
        match payload {
            Payload::Burl { .. } => self.finish(last_reply, Verb::Burl, accepted, refused).await,
            Payload::Data(bytes) => {
                self.body(last_reply, bytes, accepted, refused, progress)
                    .await
            }
        }
    }

    /// MAIL, each RCPT, then DATA (or BURL), each waiting for its reply.
    async fn one_by_one(
        &mut self,
        mail: &str,
        envelope: &Envelope,
        payload: Payload<'_>,
        progress: &mut Progress,
    ) -> Result<Delivery> {
        self.conn.write(mail.as_bytes(), Verb::Mail).await?;
        let reply = self.conn.read_reply(Verb::Mail).await?;
        if !reply.is_positive() {
            self.rset_quietly().await;
            return Err(rejected(Verb::Mail, &reply));
        }
        let mut accepted = Vec::new();
        let mut refused = Vec::new();
        for to in &envelope.to {
            self.conn
                .write(format!("RCPT TO:<{to}>\r\n").as_bytes(), Verb::Rcpt)
                .await?;
            let reply = self.conn.read_reply(Verb::Rcpt).await?;
            sort_recipient(to, &reply, &mut accepted, &mut refused);
        }
        if accepted.is_empty() {
            self.rset_quietly().await;
            return Ok(Delivery {
                accepted,
                rejected: refused,
                reply: String::new(),
            });
        }
        match payload {
            Payload::Data(bytes) => {
                self.conn.write(b"DATA\r\n", Verb::Data).await?;
                let reply = self.conn.read_reply(Verb::Data).await?;
                self.body(reply, bytes, accepted, refused, progress).await
            }
            Payload::Burl { url } => {
                progress.terminal_written = true;
                self.conn
                    .write(format!("BURL {url} LAST\r\n").as_bytes(), Verb::Burl)
                    .await?;
                let reply = self
                    .conn
                    .read_reply_within(Verb::Burl, self.options.final_reply_timeout)
                    .await?;
                self.finish(reply, Verb::Burl, accepted, refused).await
            }
        }
    }

    /// The rest of a flight's replies: each RCPT's, then DATA's (or BURL's). A DATA accepted
    /// without a transaction (MAIL refused or no recipient) gets an empty message, which the
    /// server then refuses for want of recipients (RFC 2920 §3.1).
    async fn flight_replies(
        &mut self,
        envelope: &Envelope,
        last: Verb,
        mail_accepted: bool,
    ) -> Result<(Vec<String>, Vec<RecipientRejection>, Reply)> {
        let (accepted, refused) = self.recipient_replies(envelope).await?;
        let timeout = match last {
            Verb::Burl => self.options.final_reply_timeout,
            _ => self.options.timeout,
        };
        let last_reply = match self.conn.read_reply_within(last, timeout).await {
            Ok(reply) => reply,
            // Every recipient was refused, so nothing can be delivered whatever became of
            // the DATA or BURL behind them (Dovecot 2.3.19's submission hangs up there after
            // its relay refused): the refusals are the answer, and the session is over.
            Err(e) if accepted.is_empty() && e.leaves_connection_unusable() => {
                self.broken = true;
                Reply {
                    code: 554,
                    enhanced: None,
                    lines: vec!["no valid recipients".into()],
                }
            }
            Err(e) => return Err(e),
        };
        let open = mail_accepted && !accepted.is_empty();
        if last == Verb::Data && last_reply.code == 354 && !open {
            self.conn.write(b".\r\n", Verb::Body).await?;
            self.conn.read_reply(Verb::Body).await?;
        }
        Ok((accepted, refused, last_reply))
    }

    /// The replies to the RCPT commands of a flight, in order.
    async fn recipient_replies(
        &mut self,
        envelope: &Envelope,
    ) -> Result<(Vec<String>, Vec<RecipientRejection>)> {
        let mut accepted = Vec::new();
        let mut refused = Vec::new();
        for to in &envelope.to {
            let reply = self.conn.read_reply(Verb::Rcpt).await?;
            sort_recipient(to, &reply, &mut accepted, &mut refused);
        }
        Ok((accepted, refused))
    }

    /// After DATA's reply: the body and its terminator where it is 354, then the final reply.
    async fn body(
        &mut self,
        data_reply: Reply,
        bytes: &[u8],
        accepted: Vec<String>,
        refused: Vec<RecipientRejection>,
        progress: &mut Progress,
    ) -> Result<Delivery> {
        if data_reply.code != 354 {
            self.rset_quietly().await;
            return Err(rejected(Verb::Data, &data_reply));
        }
        self.conn
            .write_message(bytes, &mut progress.terminal_written)
            .await?;
        let reply = self
            .conn
            .read_reply_within(Verb::Body, self.options.final_reply_timeout)
            .await?;
        self.finish(reply, Verb::Body, accepted, refused).await
    }

    /// The final reply: 2xx is the delivery; otherwise the transaction is over, refused.
    async fn finish(
        &mut self,
        reply: Reply,
        verb: Verb,
        accepted: Vec<String>,
        refused: Vec<RecipientRejection>,
    ) -> Result<Delivery> {
        if !reply.is_positive() {
            if verb == Verb::Burl {
                // A refused BURL LAST may leave the transaction open (RFC 4468 §3.4).
                self.rset_quietly().await;
            }
            return Err(rejected(verb, &reply));
        }
        Ok(Delivery {
            accepted,
            rejected: refused,
            reply: reply.text(),
        })
    }

    async fn rset(&mut self) -> Result<()> {
        self.conn.write(b"RSET\r\n", Verb::Rset).await?;
        let reply = self.conn.read_reply(Verb::Rset).await?;
        if reply.is_positive() {
            Ok(())
        } else {
            Err(rejected(Verb::Rset, &reply))
        }
    }

    /// RSET where the outcome is already known; a failure only marks the session broken.
    /// Also after a refused MAIL FROM, where RFC 5321 needs none: a second MAIL without it
    /// makes Dovecot 2.3.19's submission process panic and drop the client.
    async fn rset_quietly(&mut self) {
        if self.broken {
            return;
        }
        if let Err(e) = self.rset().await {
            debug!(error = %e, "SMTP RSET failed");
            self.broken = true;
        }
    }
}

/// 2xx accepts the recipient; anything else refuses it (5xx for good).
fn sort_recipient(
    to: &str,
    reply: &Reply,
    accepted: &mut Vec<String>,
    refused: &mut Vec<RecipientRejection>,
) {
    if reply.is_positive() {
        accepted.push(to.to_string());
    } else {
        refused.push(RecipientRejection {
            address: to.to_string(),
            code: reply.code,
            enhanced: reply.enhanced.clone(),
            text: reply.text(),
            permanent: reply.is_permanent(),
        });
    }
}

/// An address or URL that cannot break out of its command line: no spaces, no control
/// characters, no angle brackets, at most 1 KiB.
fn carriable(s: &str) -> bool {
    s.len() <= 1024
        && !s
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '<' || c == '>')
}
