//! SMTP submission client (RFC 6409), written in-house: implicit TLS (465) and STARTTLS (587,
//! never a silent fallback to plaintext), EHLO capabilities, AUTH PLAIN / XOAUTH2 /
//! OAUTHBEARER, SIZE, 8BITMIME, SMTPUTF8, PIPELINING, ENHANCEDSTATUSCODES, per-recipient
//! results, a streamed and dot-stuffed DATA body, and BURL (RFC 4468), which lettre and
//! mail-send do not send (ARCHITECTURE.md, section smtp, says why we do not use them). It is
//! the protocol layer only: it knows nothing of the store or the outbox, never copies a whole
//! message, and never puts a user name, a password, a token or message content into an error
//! or a log line.
//!
//! Byte accounting: every byte of an SMTP session, from the TLS handshake to QUIT, counts as
//! `Purpose::Send`.

mod conn;
mod connect;
mod data;
mod reply;
mod session;

#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
mod tests;

use std::{fmt, time::Duration};

pub use conn::{MAX_REPLY_LINE, MAX_REPLY_LINES};
pub use connect::{EHLO_NAME, connect};
pub use session::SmtpSession;

use crate::error::Error;

/// Knobs for an SMTP session. `Default` suits a phone on a slow link.
#[derive(Debug, Clone)]
pub struct SmtpOptions {
    /// How long the server may stay silent while a reply is expected (each line of a reply),
    /// and the deadline for each write, the TCP connect and the TLS handshake.
    pub timeout: Duration,
    /// How long the server may take to answer the end of DATA or BURL: it may scan the
    /// message or fetch it from the IMAP server first (RFC 5321 §4.5.3.2.6 suggests 10
    /// minutes).
    pub final_reply_timeout: Duration,
}

impl Default for SmtpOptions {
    fn default() -> Self {
        SmtpOptions {
            timeout: Duration::from_secs(30),
            final_reply_timeout: Duration::from_secs(180),
        }
    }
}

/// What the server's EHLO announced (after TLS, and after AUTH where it announced BURL).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SmtpCaps {
    /// `SIZE n`: the largest message accepted; `Some(0)` when announced without a limit.
    pub size: Option<u64>,
    pub pipelining: bool,
    pub eight_bit_mime: bool,
    pub smtp_utf8: bool,
    pub enhanced_status_codes: bool,
    pub chunking: bool,
    /// The SASL mechanisms of `AUTH`, uppercase.
    pub auth: Vec<String>,
    pub starttls: bool,
    /// `BURL imap ...`: Some with the authorities announced (Dovecot announces
    /// `imap://localhost:PORT` only in the EHLO after AUTH).
    pub burl: Option<Burl>,
}

/// The `BURL` keyword's parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Burl {
    /// `imap`: the server fetches IMAP URLAUTH URLs.
    pub imap: bool,
    /// The `imap://host:port` authorities the server will fetch from (URLs must name one).
    pub authorities: Vec<String>,
}

/// The envelope of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The reverse path (`MAIL FROM:<from>`); may be empty for a null sender.
    pub from: String,
    /// The recipients, one `RCPT TO` each; at least one.
    pub to: Vec<String>,
    /// The message's size in bytes, for `SIZE=` and the check against the server's limit.
    pub size: u64,
    /// The message has 8-bit content (`BODY=8BITMIME`; refused where not offered).
    pub eight_bit: bool,
    /// An address or header needs UTF-8 (`SMTPUTF8`; refused where not offered).
    pub utf8: bool,
}

/// What is submitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload<'a> {
    /// The message's bytes, sent with DATA (line ends normalised, dot-stuffed).
    Data(&'a [u8]),
    /// `BURL <url> LAST`: the server fetches the message from the IMAP URL.
    Burl { url: &'a str },
}

/// The outcome of a transaction the server took, or that no recipient was accepted for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivery {
    pub accepted: Vec<String>,
    pub rejected: Vec<RecipientRejection>,
    /// The final reply's text (often the queue id); empty when no recipient was accepted
    /// and so nothing was sent.
    pub reply: String,
}

/// A recipient the server refused at `RCPT TO`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientRejection {
    pub address: String,
    pub code: u16,
    /// The enhanced status code (RFC 3463), e.g. `5.1.1`.
    pub enhanced: Option<String>,
    pub text: String,
    /// 5xx: do not retry. 4xx: retry later.
    pub permanent: bool,
}

/// An error of `send`, with whether the message may have been delivered anyway
/// (the final "." or BURL LAST was written and no final reply was read).
#[derive(Debug)]
pub struct SendError {
    pub error: Error,
    pub maybe_delivered: bool,
}

impl SendError {
    pub(crate) fn before_delivery(error: Error) -> Self {
        SendError {
            error,
            maybe_delivered: false,
        }
    }
}

impl From<Error> for SendError {
    fn from(error: Error) -> Self {
        SendError::before_delivery(error)
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.maybe_delivered {
            write!(f, "{} (the message may have been delivered)", self.error)
        } else {
            self.error.fmt(f)
        }
    }
}

impl std::error::Error for SendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}
